//! A run's report, and its three renderings: JSON (the data), JUnit XML (for CI systems) and a
//! self-contained HTML page (a summary table, then per case its verdict, duration, reason and
//! message exchange).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use unidm_core::{Direction, WireRecord};
use unidm_models::{DeviceId, Protocol, Timestamp};
use utoipa::ToSchema;

use crate::case::Verdict;

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseReport {
    /// Case id.
    pub id: String,
    /// Case title.
    pub title: String,
    /// Requirement labels covered.
    pub requirements: Vec<String>,
    /// Where the expected behaviour is specified.
    pub reference: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was checked (a pass) or why it did not pass.
    pub reason: String,
    /// What was expected (a fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What came instead (a fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub got: Option<String>,
    /// When the case began.
    pub started_at: Timestamp,
    /// How long it took.
    pub duration_ms: u64,
    /// The messages exchanged with the device during the case, decoded.
    pub exchanges: Vec<WireRecord>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Cases run.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Could not run.
    pub errors: usize,
}

impl Summary {
    /// Counts of `cases`.
    pub fn of(cases: &[CaseReport]) -> Summary {
        let count = |v: Verdict| cases.iter().filter(|c| c.verdict == v).count();
        Summary {
            total: cases.len(),
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            inconclusive: count(Verdict::Inconclusive),
            errors: count(Verdict::Error),
        }
    }

    /// Nothing failed and nothing was in error: the exit status 0 of `unidm conformance`.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The catalogue's protocol.
    pub protocol: Protocol,
    /// The device under test.
    pub device: DeviceId,
    /// What the device said it is (manufacturer, model, firmware), for the report's reader.
    pub device_description: String,
    /// unidm's version.
    pub unidm_version: String,
    /// When the run began.
    pub started_at: Timestamp,
    /// When it ended (or the last case ended, while it runs).
    pub finished_at: Timestamp,
    /// Counts per verdict.
    pub summary: Summary,
    /// Per case, in the order run.
    pub cases: Vec<CaseReport>,
}

impl Report {
    /// A report of `cases`; `summary` is computed.
    pub fn new(
        protocol: Protocol,
        device: DeviceId,
        device_description: String,
        started_at: Timestamp,
        finished_at: Timestamp,
        cases: Vec<CaseReport>,
    ) -> Report {
        Report {
            protocol,
            device,
            device_description,
            unidm_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            finished_at,
            summary: Summary::of(&cases),
            cases,
        }
    }

    /// JUnit XML: one `testsuite` for the run, one `testcase` per case; a fail is a
    /// `failure`, an error an `error`, an inconclusive case `skipped`; the exchange goes to
    /// `system-out`.
    pub fn junit(&self) -> String {
        let s = &self.summary;
        let seconds = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
        let total_ms = (self.finished_at.millis() - self.started_at.millis()).max(0) as u64;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"unidm conformance\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            s.total,
            s.failed,
            s.errors,
            s.inconclusive,
            seconds(total_ms)
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\">",
            xml(&format!("{} {}", self.protocol, self.device)),
            s.total,
            s.failed,
            s.errors,
            s.inconclusive,
            seconds(total_ms),
            xml(self.started_at.to_string().trim_end_matches('Z')),
            xml(self.device.as_str())
        );
        let _ = writeln!(x, "    <properties>");
        for (name, value) in [
            ("device", self.device.as_str().to_owned()),
            ("device.description", self.device_description.clone()),
            ("unidm.version", self.unidm_version.clone()),
        ] {
            let _ = writeln!(x, "      <property name=\"{}\" value=\"{}\"/>", name, xml(&value));
        }
        let _ = writeln!(x, "    </properties>");
        for c in &self.cases {
            let _ = write!(
                x,
                "    <testcase classname=\"unidm.conformance.{}\" name=\"{}\" time=\"{}\">",
                self.protocol,
                xml(&format!("{} {}", c.id, c.title)),
                seconds(c.duration_ms)
            );
            let detail = match (&c.expected, &c.got) {
                (Some(e), Some(g)) => format!("expected: {e}\ngot: {g}"),
                _ => c.reason.clone(),
            };
            match c.verdict {
                Verdict::Pass => {}
                Verdict::Fail => {
                    let _ = write!(
                        x,
                        "\n      <failure message=\"{}\" type=\"fail\">{}</failure>",
                        xml(&c.reason),
                        xml(&detail)
                    );
                }
                Verdict::Error => {
                    let _ = write!(
                        x,
                        "\n      <error message=\"{}\" type=\"error\">{}</error>",
                        xml(&c.reason),
                        xml(&detail)
                    );
                }
                Verdict::Inconclusive => {
                    let _ = write!(x, "\n      <skipped message=\"{}\"/>", xml(&format!("inconclusive: {}", c.reason)));
                }
            }
            let _ =
                write!(x, "\n      <system-out>{}</system-out>\n    </testcase>\n", xml(&exchange_text(&c.exchanges)));
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }

    /// A self-contained HTML page (no script, no external resource).
    pub fn html(&self) -> String {
        let s = &self.summary;
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>unidm conformance: {device}</title><style>{CSS}</style></head><body>\n\
             <h1>Conformance of <code>{device}</code></h1>\n<p class=\"meta\">{desc} · {protocol} catalogue · \
             unidm {version} · {start} to {end}</p>\n",
            device = html(self.device.as_str()),
            desc = html(&self.device_description),
            protocol = self.protocol,
            version = html(&self.unidm_version),
            start = self.started_at,
            end = self.finished_at,
        );
        let _ = write!(
            h,
            "<table id=\"summary\" class=\"summary\"><tr><th>Cases</th><th>Passed</th><th>Failed</th>\
             <th>Inconclusive</th><th>Errors</th><th>Result</th></tr>\n<tr><td>{}</td><td class=\"pass\">{}</td>\
             <td class=\"fail\">{}</td><td class=\"inconclusive\">{}</td><td class=\"error\">{}</td><td>{}</td></tr></table>\n",
            s.total,
            s.passed,
            s.failed,
            s.inconclusive,
            s.errors,
            if s.ok() { "<strong class=\"pass\">OK</strong>" } else { "<strong class=\"fail\">FAILED</strong>" }
        );
        h.push_str("<h2>Cases</h2>\n<table class=\"cases\"><tr><th>Case</th><th>Title</th><th>Verdict</th><th>Duration</th><th>Requirements</th></tr>\n");
        for (i, c) in self.cases.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td><a href=\"#case-{i}\"><code>{}</code></a></td><td>{}</td><td class=\"{v}\">{v}</td><td>{} ms</td><td>{}</td></tr>",
                html(&c.id),
                html(&c.title),
                c.duration_ms,
                html(&c.requirements.join(", ")),
                v = c.verdict.as_str(),
            );
        }
        h.push_str("</table>\n<h2>Details</h2>\n");
        for (i, c) in self.cases.iter().enumerate() {
            let _ = write!(
                h,
                "<section class=\"case\" id=\"case-{i}\"><h3><code>{}</code> {} <span class=\"{v}\">{v}</span></h3>\n\
                 <p>{}</p><p class=\"meta\">{} · {} ms · {}</p>\n",
                html(&c.id),
                html(&c.title),
                html(&c.reason),
                html(&c.reference),
                c.duration_ms,
                c.started_at,
                v = c.verdict.as_str(),
            );
            if let (Some(e), Some(g)) = (&c.expected, &c.got) {
                let _ = writeln!(h, "<dl><dt>Expected</dt><dd>{}</dd><dt>Got</dt><dd>{}</dd></dl>", html(e), html(g));
            }
            let _ = writeln!(
                h,
                "<details{}><summary>{} messages</summary><ol class=\"wire\">",
                if c.verdict == Verdict::Fail { " open" } else { "" },
                c.exchanges.len()
            );
            for m in &c.exchanges {
                let arrow = match m.direction {
                    Direction::ToDevice => "unidm → device",
                    Direction::FromDevice => "device → unidm",
                };
                let _ = write!(h, "<li><span class=\"dir\">{arrow}</span> <code>{}</code>", html(&m.summary));
                if !m.body.is_empty() {
                    let _ = write!(h, "<pre>{}</pre>", html(&m.body));
                }
                h.push_str("</li>\n");
            }
            h.push_str("</ol></details></section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }

    /// Writes `report.json`, `report.xml` (JUnit) and `report.html` into `dir`, creating it.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let files = [
            (dir.join("report.json"), serde_json::to_string_pretty(self).map_err(std::io::Error::other)?),
            (dir.join("report.xml"), self.junit()),
            (dir.join("report.html"), self.html()),
        ];
        let mut written = Vec::new();
        for (path, text) in files {
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:600}.inconclusive{color:#9a6700}.error{color:#8250df;font-weight:600}\
.meta{color:#666;font-size:.9em}section.case{border-top:1px solid #ddd;margin-top:1em}\
pre{background:#f6f8fa;padding:.5em;overflow-x:auto;max-height:24em;font-size:12px}\
.dir{display:inline-block;min-width:9em;color:#555}ol.wire{padding-left:1.5em}table.cases td:first-child{white-space:nowrap}";

/// The exchange as plain text, one message per paragraph.
pub fn exchange_text(messages: &[WireRecord]) -> String {
    let mut t = String::new();
    for m in messages {
        let arrow = match m.direction {
            Direction::ToDevice => "->",
            Direction::FromDevice => "<-",
        };
        let _ = writeln!(t, "{} {arrow} {}", m.at, m.summary);
        if !m.body.is_empty() {
            let _ = writeln!(t, "{}", m.body);
        }
    }
    t
}

/// Escapes text for XML content and attributes; drops the characters XML 1.0 forbids.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn html(s: &str) -> String {
    xml(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, verdict: Verdict) -> CaseReport {
        CaseReport {
            id: id.into(),
            title: "Read <3/0> & more".into(),
            requirements: vec!["HLF-002".into()],
            reference: "TS Core 1.1 §5.4.1".into(),
            verdict,
            reason: "why \"quoted\"".into(),
            expected: (verdict == Verdict::Fail).then(|| "2.05".into()),
            got: (verdict == Verdict::Fail).then(|| "4.04".into()),
            started_at: Timestamp(1_700_000_000_000),
            duration_ms: 1234,
            exchanges: vec![WireRecord {
                at: Timestamp(1_700_000_000_100),
                direction: Direction::ToDevice,
                summary: "GET /3/0 Accept: 110".into(),
                body: "\u{1}<bad>".into(),
            }],
        }
    }

    fn report() -> Report {
        Report::new(
            Protocol::Lwm2m,
            DeviceId::parse("lwm2m:ep-1").unwrap(),
            "ACME sensor 1.0".into(),
            Timestamp(1_700_000_000_000),
            Timestamp(1_700_000_005_000),
            vec![
                case("A-1", Verdict::Pass),
                case("A-2", Verdict::Fail),
                case("A-3", Verdict::Inconclusive),
                case("A-4", Verdict::Error),
            ],
        )
    }

    #[test]
    fn the_summary_counts_verdicts_and_only_fails_and_errors_are_not_ok() {
        let r = report();
        assert_eq!(r.summary, Summary { total: 4, passed: 1, failed: 1, inconclusive: 1, errors: 1 });
        assert!(!r.summary.ok());
        assert!(Summary::of(&[case("x", Verdict::Pass), case("y", Verdict::Inconclusive)]).ok());
    }

    #[test]
    fn junit_maps_verdicts_and_escapes_everything() {
        let x = report().junit();
        assert!(x.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""), "{x}");
        assert!(
            x.contains("<failure message=\"why &quot;quoted&quot;\" type=\"fail\">expected: 2.05\ngot: 4.04</failure>"),
            "{x}"
        );
        assert!(x.contains("<skipped message=\"inconclusive: why &quot;quoted&quot;\"/>"));
        assert!(x.contains("name=\"A-1 Read &lt;3/0&gt; &amp; more\" time=\"1.234\""));
        assert!(x.contains("\u{fffd}&lt;bad&gt;") && !x.contains('\u{1}'), "control characters are replaced");
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let h = report().html();
        assert!(h.contains("<table id=\"summary\""));
        assert!(!h.contains("<script") && !h.contains("http://") && !h.contains("https://"));
        assert!(h.contains("Read &lt;3/0&gt; &amp; more") && !h.contains("<3/0>"));
        assert!(h.contains("<details open><summary>1 messages</summary>"), "a fail shows its exchange");
    }
}
