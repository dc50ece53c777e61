//! What the benchmarks measure of their own process (Linux `/proc/self`; 0 elsewhere).

use std::time::Duration;

/// Resident set size in bytes.
pub fn rss() -> u64 {
    unidm_core::load::usage("self").map_or(0, |u| u.rss)
}

/// CPU time used by the process so far (user + system).
pub fn cpu_time() -> Duration {
    unidm_core::load::usage("self").map_or(Duration::ZERO, |u| u.cpu)
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
