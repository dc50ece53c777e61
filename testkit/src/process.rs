//! What the benchmarks measure of their own process (Linux `/proc/self`; 0 elsewhere).

use std::time::Duration;

/// Resident set size in bytes (`/proc/self/statm` field 2, 4 KiB pages on x86-64 Linux).
pub fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// CPU time used by the process so far (user + system, `/proc/self/stat` fields 14-15, in
/// clock ticks of 10 ms).
pub fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
            Some(f.iter().sum::<u64>())
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_memory_and_its_cpu_time_grows_with_work() {
        assert!(super::rss() > 0, "Linux: /proc/self/statm");
        let (before, started) = (super::cpu_time(), std::time::Instant::now());
        let mut x = 0u64;
        while super::cpu_time() == before {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "CPU time never moved: /proc/self/stat unread?"
            );
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
    }
}
