//! unidm's shared test kit: the one way tests wait for something to happen.
//!
//! Tests never sleep and hope: they poll a condition until it holds or a generous deadline
//! passes, and a timeout names what was awaited. [`eventually`] is the primitive;
//! [`operation_end`] and [`device_where`] are the two waits nearly every test needs.
#![deny(missing_docs)]

pub mod balancer;
pub mod logs;
pub mod postgres;
pub mod process;
pub mod tls;
pub mod tools;

use std::future::Future;
use std::time::Duration;

use unidm_core::Engine;
use unidm_models::{Device, DeviceId, Operation, OperationId};

/// How long a wait lasts before it fails the test: long enough for a loaded 2-core CI machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `f` until it gives a value, for at most [`DEADLINE`]; panics naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(DEADLINE, what, f).await
}

/// [`eventually`] with another deadline.
pub async fn eventually_within<T, F, Fut>(deadline: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls a synchronous condition ([`eventually`] for a `bool`).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    eventually(what, || std::future::ready(cond().then_some(()))).await
}

/// Waits until the operation has ended and returns it.
pub async fn operation_end(engine: &Engine, id: OperationId) -> Operation {
    eventually(&format!("operation {id} to end"), || async move {
        engine.operation(id).await.ok().filter(|o| o.state.is_terminal())
    })
    .await
}

/// Waits until the operation satisfies `pred` and returns it.
pub async fn operation_where(engine: &Engine, id: OperationId, pred: impl Fn(&Operation) -> bool) -> Operation {
    let pred = &pred;
    eventually(&format!("operation {id} to reach the expected state"), || async move {
        engine.operation(id).await.ok().filter(|o| pred(o))
    })
    .await
}

/// Waits until the device exists and satisfies `pred`, and returns it.
pub async fn device_where(engine: &Engine, id: &DeviceId, pred: impl Fn(&Device) -> bool) -> Device {
    let pred = &pred;
    eventually(&format!("device {id} to reach the expected state"), || async move {
        engine.device(id).ok().filter(|d| pred(d))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_first_value() {
        let mut n = 0;
        let v = eventually("n to reach 3", || {
            n += 1;
            std::future::ready((n >= 3).then_some(n))
        })
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 50ms waiting for the impossible")]
    async fn a_timeout_names_what_was_awaited() {
        eventually_within(Duration::from_millis(50), "the impossible", || std::future::ready(None::<()>)).await;
    }
}
