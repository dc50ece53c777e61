//! # unidm-interop: conformance catalogues, their runner and reports
//!
//! Test labs and device makers point a device at unidm and want to know, case by case, what it
//! does right and wrong. This crate holds:
//!
//! - **Catalogues** ([`lwm2m::catalogue`], [`tr069::catalogue`], [`omadm::catalogue`]): cases as data (official id,
//!   title, requirement labels, reference) plus steps in code. Steps act through the
//!   [`unidm_core::Engine`] as an operator's operations would ([`Ctx::operation`],
//!   [`Ctx::native`]); they read the device's messages from the engine's wire tap
//!   ([`unidm_core::WireTap`]). A protocol adds its catalogue by adding a module and a line to
//!   [`catalogue`]; the runner does not change.
//! - **The runner** ([`runner::run`], [`runner::run_case`]): cases in order, one verdict each
//!   ([`Verdict`]: pass, fail with what was expected and what came, inconclusive when a
//!   precondition is missing, error when the case could not run), the values a case wrote put
//!   back, the message exchange recorded.
//! - **Reports** ([`Report`]): JSON, JUnit XML and a self-contained HTML page.
//!
//! `unidm conformance` (the binary) and `POST /api/v1/conformance-runs` (the API) are built on
//! these; the crate's tests also hold unidm's cross-protocol end-to-end tests.
#![deny(missing_docs)]

/// A [`Case`] from its id, title, requirement labels, reference and the `async fn` of its steps.
macro_rules! case {
    ($id:literal, $title:literal, [$($req:literal),*], $reference:literal, $steps:ident) => {{
        fn run(ctx: &$crate::Ctx) -> $crate::case::CaseFuture<'_> {
            Box::pin($steps(ctx))
        }
        $crate::Case { id: $id, title: $title, requirements: &[$($req),*], reference: $reference, run }
    }};
}

pub mod case;
pub mod ctx;
pub mod lwm2m;
pub mod omadm;
pub mod report;
pub mod runner;
pub mod tr069;

pub use case::{select, Case, Finding, Outcome, Verdict};
pub use ctx::Ctx;
pub use report::{CaseReport, Report, Summary};
pub use runner::Progress;

use unidm_models::Protocol;

/// Firmware error-case packages as `N=URL` (the Update Result `N` each must end with), as the
/// command line gives them; an error names a malformed one.
pub fn firmware_cases<S: AsRef<str>>(
    items: impl IntoIterator<Item = S>,
) -> Result<std::collections::BTreeMap<u16, String>, String> {
    items
        .into_iter()
        .map(|item| {
            let item = item.as_ref();
            let (n, url) = item.split_once('=').ok_or_else(|| format!("`{item}`: expected N=URL"))?;
            let n: u16 = n.trim().parse().map_err(|_| format!("`{item}`: N is an Update Result number"))?;
            if !lwm2m::FIRMWARE_ERROR_RESULTS.contains(&n) {
                return Err(format!("`{item}`: no firmware error case ends with Update Result {n}"));
            }
            let url = url.trim();
            if !url.contains("://") {
                return Err(format!("`{item}`: not a URL"));
            }
            Ok((n, url.to_owned()))
        })
        .collect()
}

/// The catalogue of `protocol`.
pub fn catalogue(protocol: Protocol) -> Vec<Case> {
    match protocol {
        Protocol::Lwm2m => lwm2m::catalogue(),
        Protocol::Tr069 => tr069::catalogue(),
        Protocol::Omadm => omadm::catalogue(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn firmware_case_packages_are_parsed_and_checked() {
        let m = firmware_cases(["5=http://lab/corrupt.bin", " 8 = http://lab/fails.bin"]).unwrap();
        assert_eq!(m[&5], "http://lab/corrupt.bin");
        assert_eq!(m[&8], "http://lab/fails.bin");
        assert!(firmware_cases(["5"]).unwrap_err().contains("N=URL"));
        assert!(firmware_cases(["x=http://a"]).unwrap_err().contains("Update Result number"));
        assert!(firmware_cases(["1=http://a"]).unwrap_err().contains("no firmware error case"));
        assert!(firmware_cases(["5=corrupt.bin"]).unwrap_err().contains("not a URL"));
    }

    #[test]
    fn case_ids_are_unique_and_official_in_shape() {
        for protocol in [Protocol::Lwm2m, Protocol::Tr069, Protocol::Omadm] {
            let cases = catalogue(protocol);
            let ids: HashSet<&str> = cases.iter().map(|c| c.id).collect();
            assert_eq!(ids.len(), cases.len(), "{protocol}: duplicate ids");
            for c in &cases {
                assert!(!c.title.is_empty() && !c.requirements.is_empty() && !c.reference.is_empty(), "{}", c.id);
                match protocol {
                    Protocol::Lwm2m => assert!(
                        c.id.starts_with("LightweightM2M-1.0-int-") || c.id.starts_with("LightweightM2M-1.1-int-"),
                        "{}",
                        c.id
                    ),
                    Protocol::Tr069 => assert!(c.id.starts_with("TR069-"), "{}", c.id),
                    _ => assert!(c.id.starts_with("OMADM-"), "{}", c.id),
                }
            }
        }
    }
}
