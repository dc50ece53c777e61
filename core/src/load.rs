//! What load tools measure, protocol-free: latencies kept for percentiles ([`Latencies`]) and a
//! process's CPU time and resident memory ([`usage`], Linux `/proc`). Used by `unidm bench` and
//! by the in-process benchmarks of every adapter.

use std::time::Duration;

/// Latencies kept for percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Records one.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds another set.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p`-th percentile (0 to 100, nearest rank), `None` when empty.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1])
    }

    /// The largest.
    pub fn max(&self) -> Option<Duration> {
        self.0.iter().max().copied()
    }

    /// `p50 …, p99 …, max …` in milliseconds, `-` where there is nothing.
    pub fn summary(&mut self) -> String {
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} ms", d.as_secs_f64() * 1000.0));
        let (p50, p99) = (self.percentile(50.0), self.percentile(99.0));
        format!("p50 {}, p99 {}, max {}", ms(p50), ms(p99), ms(self.max()))
    }
}

/// A process's CPU time (user + system) and resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// CPU time so far.
    pub cpu: Duration,
    /// Resident set size in bytes.
    pub rss: u64,
}

/// The usage of process `pid` (`"self"` for this one) from `/proc`; `None` when it is gone or
/// this is not Linux.
pub fn usage(pid: &str) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // USER_HZ is 100 and pages 4 KiB on Linux x86-64 / arm64.
    Some(Usage { cpu: Duration::from_millis(ticks * 10), rss: pages * 4096 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile(50.0), None);
        assert_eq!(l.summary(), "p50 -, p99 -, max -");
        for ms in (1..=100).rev() {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(l.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(l.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(l.percentile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(l.max(), Some(Duration::from_millis(100)));
        assert_eq!(l.summary(), "p50 50.00 ms, p99 99.00 ms, max 100.00 ms");
    }

    #[test]
    fn reads_its_own_usage_and_not_a_missing_process() {
        let u = usage("self").expect("/proc/self");
        assert!(u.rss > 0 && u.cpu < Duration::from_secs(3600));
        assert!(usage("999999999").is_none());
    }
}
