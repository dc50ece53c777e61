//! What `unidm sim` prints while its devices run: a line per device that comes up (stdout) or
//! fails (stderr), or for large fleets a summary line per second while something changes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

enum Report {
    /// Registered (LwM2M) or through its first session (TR-069).
    Up { name: String, line: String },
    /// No longer registered.
    Down { name: String, why: String },
    /// An attempt failed; the device retries. The hint is printed once per run.
    Failed { name: String, why: String, hint: Option<&'static str> },
}

/// Where devices report; cheap to clone.
#[derive(Clone)]
pub(super) struct Reporter(mpsc::UnboundedSender<Report>);

impl Reporter {
    pub fn up(&self, name: &str, line: String) {
        let _ = self.0.send(Report::Up { name: name.to_owned(), line });
    }

    pub fn down(&self, name: &str, why: String) {
        let _ = self.0.send(Report::Down { name: name.to_owned(), why });
    }

    pub fn failed(&self, name: &str, why: String, hint: Option<&'static str>) {
        let _ = self.0.send(Report::Failed { name: name.to_owned(), why, hint });
    }
}

/// The task that prints what devices report.
pub(super) struct Progress {
    reporter: Reporter,
    task: JoinHandle<()>,
}

/// The words of the messages: "registered 3/3 clients".
pub(super) struct Words {
    /// `clients`, `CPEs`.
    pub noun: &'static str,
    /// `registered`, `informed`.
    pub verb: &'static str,
    /// Printed once when every device is up.
    pub ready: String,
}

impl Progress {
    pub fn start(total: usize, each: bool, words: Words) -> Progress {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(print(total, each, words, rx));
        Progress { reporter: Reporter(tx), task }
    }

    pub fn reporter(&self) -> Reporter {
        self.reporter.clone()
    }

    /// Stops printing progress (what was reported a moment ago may not be printed).
    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn print(total: usize, each: bool, words: Words, mut rx: mpsc::UnboundedReceiver<Report>) {
    let mut up = HashSet::new();
    let mut failing: HashMap<String, String> = HashMap::new();
    let mut last_failure = String::new();
    let mut hinted = HashSet::new();
    let mut announced = false;
    // (up, failing) as last printed: a summary line only when they change.
    let mut printed = (0, 0);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            report = rx.recv() => {
                let Some(report) = report else { break };
                match report {
                    Report::Up { name, line } => {
                        failing.remove(&name);
                        up.insert(name);
                        if each {
                            println!("{line}");
                        }
                    }
                    Report::Down { name, why } => {
                        up.remove(&name);
                        if each {
                            eprintln!("{name}: {why}");
                        }
                        last_failure = format!("{name}: {why}");
                    }
                    Report::Failed { name, why, hint } => {
                        // Retries fail the same way: say it again only when the reason changes.
                        let new = failing.get(&name) != Some(&why);
                        if each && new {
                            eprintln!("{name}: {why}");
                        }
                        last_failure = format!("{name}: {why}");
                        failing.insert(name, why);
                        if let Some(hint) = hint.filter(|h| hinted.insert(*h)) {
                            eprintln!("hint: {hint}");
                        }
                    }
                }
            }
            _ = tick.tick() => {
                if !each && printed != (up.len(), failing.len()) {
                    let mut line = format!("{} {}/{total} {}", words.verb, up.len(), words.noun);
                    if !failing.is_empty() {
                        line.push_str(&format!(", {} failing (last: {last_failure})", failing.len()));
                    }
                    println!("{line}");
                    printed = (up.len(), failing.len());
                }
            }
        }
        if up.len() == total && !announced {
            println!("{} {total}/{total} {}; {}", words.verb, words.noun, words.ready);
            printed = (up.len(), failing.len());
        }
        announced = up.len() == total;
    }
}
