//! Where the engine gets time from: the system clock in production, a manual clock in tests.
//!
//! Two readings: [`Clock::now`], the wall-clock [`Timestamp`] stored with devices and
//! operations, and [`Clock::monotonic`], a duration since a fixed point that never goes back,
//! which adapters' timers measure (retransmissions, session timeouts, no-progress limits).
//! [`Clock::sleep_until`] waits on the monotonic reading, so a [`ManualClock`] drives adapter
//! timers as well as the engine's own.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use unidm_models::Timestamp;

/// A future returned by [`Clock::sleep_until`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Time since a fixed point of this clock, never going backwards.
    fn monotonic(&self) -> Duration {
        process_start().elapsed()
    }

    /// Resolves once [`Clock::monotonic`] has reached `at`.
    fn sleep_until(&self, at: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep_until((*process_start() + at).into()))
    }
}

fn process_start() -> &'static Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now)
}

/// The system's wall clock, and `Instant` for the monotonic reading.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }
}

/// A clock that moves only when told to, for tests. Its monotonic reading is the time it moved
/// since it was made; [`ManualClock::advance`] wakes whatever sleeps on it.
#[derive(Debug, Default)]
pub struct ManualClock {
    millis: AtomicI64,
    origin: i64,
    moved: Notify,
}

impl ManualClock {
    /// A clock standing at `t`.
    pub fn new(t: Timestamp) -> Self {
        ManualClock { millis: AtomicI64::new(t.millis()), origin: t.millis(), moved: Notify::new() }
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        self.millis.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }

    fn monotonic(&self) -> Duration {
        Duration::from_millis(self.millis.load(Ordering::SeqCst).saturating_sub(self.origin).max(0) as u64)
    }

    fn sleep_until(&self, at: Duration) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                let moved = self.moved.notified();
                tokio::pin!(moved);
                moved.as_mut().enable();
                if self.monotonic() >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_it_moves_past_their_time() {
        let clock = std::sync::Arc::new(ManualClock::new(Timestamp(1_000)));
        assert_eq!(clock.monotonic(), Duration::ZERO);
        let c = clock.clone();
        let sleeper = tokio::spawn(async move { c.sleep_until(Duration::from_secs(10)).await });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(9));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its time");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper).await.expect("woken").unwrap();
        assert_eq!(clock.monotonic(), Duration::from_secs(10));
        assert_eq!(clock.now(), Timestamp(11_000));
    }

    #[tokio::test]
    async fn the_system_clock_is_monotonic_and_sleeps() {
        let a = SystemClock.monotonic();
        SystemClock.sleep_until(a + Duration::from_millis(5)).await;
        assert!(SystemClock.monotonic() >= a + Duration::from_millis(5));
    }
}
