//! A conformance case and its verdict.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ctx::Ctx;

/// What a case concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The device did what the case expects.
    Pass,
    /// The device did something else; the case says what was expected and what came.
    Fail,
    /// The case could not be judged: a precondition is missing (the device has no /5, does not
    /// announce the format, does not list the RPC). Not a failure.
    Inconclusive,
    /// The case could not run: the device went away, a step timed out, unidm failed.
    Error,
}

impl Verdict {
    /// Lowercase name, as in the reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
        }
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Fail, inconclusive or error.
    pub verdict: Verdict,
    /// One sentence.
    pub reason: String,
    /// What the case expected (a fail).
    pub expected: Option<String>,
    /// What came instead (a fail).
    pub got: Option<String>,
}

impl Finding {
    /// The device did not do what was expected.
    pub fn fail(reason: impl Into<String>, expected: impl Into<String>, got: impl Into<String>) -> Finding {
        Finding {
            verdict: Verdict::Fail,
            reason: reason.into(),
            expected: Some(expected.into()),
            got: Some(got.into()),
        }
    }

    /// A precondition is missing.
    pub fn inconclusive(reason: impl Into<String>) -> Finding {
        Finding { verdict: Verdict::Inconclusive, reason: reason.into(), expected: None, got: None }
    }

    /// The case could not run.
    pub fn error(reason: impl Into<String>) -> Finding {
        Finding { verdict: Verdict::Error, reason: reason.into(), expected: None, got: None }
    }
}

/// A case's conclusion: `Ok` with a note of what was checked, or why it did not pass.
pub type Outcome = Result<String, Finding>;

/// The future a case's steps run in.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One case of a catalogue: its official id, what it covers, and its steps. Steps go through
/// the engine ([`Ctx`]), as an operator's operations would, never around it.
#[derive(Clone, Copy)]
pub struct Case {
    /// The official id (`LightweightM2M-1.0-int-101`) or, where there is none, ours citing the
    /// spec section (`TR069-A.3.2.1-SetParameterValues`).
    pub id: &'static str,
    /// Title, as the test specification words it.
    pub title: &'static str,
    /// Requirement labels the case covers (REQUIREMENTS.md: HLF-*, DSE-*, MGR-*).
    pub requirements: &'static [&'static str],
    /// Where the expected behaviour is specified.
    pub reference: &'static str,
    /// The steps.
    pub run: for<'a> fn(&'a Ctx) -> CaseFuture<'a>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("id", &self.id).field("title", &self.title).finish()
    }
}

impl Case {
    /// Whether `pattern` selects this case: the whole id or its end (`1.0-int-101`, `int-101`),
    /// case-insensitively, where an `x` in the pattern stands for any digit (`1.0-int-1xx`) and
    /// `*` for anything.
    pub fn matches(&self, pattern: &str) -> bool {
        let pattern = pattern.trim().to_ascii_lowercase();
        if pattern.is_empty() {
            return false;
        }
        let id = self.id.to_ascii_lowercase();
        (0..=id.len())
            .filter(|&i| i == 0 || id.as_bytes()[i - 1] == b'-')
            .any(|i| glob(pattern.as_bytes(), &id.as_bytes()[i..]))
    }
}

/// `x` matches a digit, `*` any run of characters; everything else itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..])),
        (Some(b'x'), Some(c)) if c.is_ascii_digit() => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(c)) if p == c => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// The cases of `catalogue` that any of `patterns` selects, in catalogue order; all of them
/// when `patterns` is empty. A pattern that selects nothing is an error naming it.
pub fn select(catalogue: &[Case], patterns: &[String]) -> Result<Vec<Case>, String> {
    if patterns.is_empty() {
        return Ok(catalogue.to_vec());
    }
    if let Some(unknown) = patterns.iter().find(|p| !catalogue.iter().any(|c| c.matches(p))) {
        return Err(format!("no case matches `{unknown}`"));
    }
    Ok(catalogue.iter().filter(|c| patterns.iter().any(|p| c.matches(p))).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &'static str) -> Case {
        Case { id, title: "", requirements: &[], reference: "", run: |_| Box::pin(async { Ok(String::new()) }) }
    }

    #[test]
    fn cases_are_selected_by_id_suffix_with_digit_wildcards() {
        let c = case("LightweightM2M-1.0-int-101");
        assert!(c.matches("LightweightM2M-1.0-int-101"));
        assert!(c.matches("1.0-int-101"));
        assert!(c.matches("int-101"));
        assert!(c.matches("1.0-int-1xx"));
        assert!(c.matches("1.0-*"));
        assert!(!c.matches("1.1-int-101"));
        assert!(!c.matches("01"), "a suffix starts at a dash");
        assert!(!c.matches("1.0-int-2xx"));
        let all = [
            case("LightweightM2M-1.0-int-101"),
            case("LightweightM2M-1.0-int-201"),
            case("LightweightM2M-1.1-int-229"),
        ];
        let picked = select(&all, &["1.0-int-1xx".into(), "int-229".into()]).unwrap();
        assert_eq!(
            picked.iter().map(|c| c.id).collect::<Vec<_>>(),
            ["LightweightM2M-1.0-int-101", "LightweightM2M-1.1-int-229"]
        );
        assert_eq!(select(&all, &[]).unwrap().len(), 3);
        assert_eq!(select(&all, &["int-999".into()]).unwrap_err(), "no case matches `int-999`");
    }
}
