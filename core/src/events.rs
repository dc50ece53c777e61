//! The event bus: one typed stream for SSE, webhooks and embedding code.
//!
//! Events are published by the store's writer after the change they describe is committed, in
//! commit order, so a consumer never sees a state that a crash could take back. A consumer that
//! falls more than the bus capacity behind is told how many events it missed.

use tokio::sync::broadcast;
use unidm_models::Event;

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The next event.
    Event(Event),
    /// The consumer was too slow: this many events were dropped for it.
    Lagged(u64),
}

/// The sending side, shared by the engine.
#[derive(Debug, Clone)]
pub struct EventBus {
    // Shared, so that a subscriber skipping an event never copies it.
    tx: broadcast::Sender<std::sync::Arc<Event>>,
}

impl EventBus {
    /// A bus keeping up to `capacity` events for slow consumers.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        EventBus { tx }
    }

    /// Publishes an event (dropped when nobody listens).
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(std::sync::Arc::new(event));
    }

    /// A new subscription, receiving events published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription { rx: self.tx.subscribe() }
    }
}

/// A consumer's view of the bus.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<std::sync::Arc<Event>>,
}

impl Subscription {
    /// The next event, a lag notice, or `None` once the engine has shut down.
    pub async fn recv(&mut self) -> Option<Received> {
        self.recv_matching(|_| true).await
    }

    /// The next event `keep` takes (the others are skipped without being copied), a lag
    /// notice, or `None` once the engine has shut down.
    pub async fn recv_matching(&mut self, keep: impl Fn(&Event) -> bool) -> Option<Received> {
        loop {
            match self.rx.recv().await {
                Ok(e) if keep(&e) => return Some(Received::Event(std::sync::Arc::unwrap_or_clone(e))),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => return Some(Received::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unidm_models::DeviceId;

    fn ev(i: usize) -> Event {
        Event::DeviceExpired { device: DeviceId::lwm2m(&format!("d{i}")).unwrap() }
    }

    #[tokio::test]
    async fn slow_consumer_is_told_it_lagged() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        for i in 0..40 {
            bus.publish(ev(i));
        }
        assert_eq!(sub.recv().await, Some(Received::Lagged(24)));
        assert_eq!(sub.recv().await, Some(Received::Event(ev(24))));
    }

    #[tokio::test]
    async fn a_filtered_subscription_gets_only_what_it_keeps() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        for i in 0..5 {
            bus.publish(ev(i));
        }
        let odd = |e: &Event| matches!(e, Event::DeviceExpired { device } if device.native().ends_with(['1', '3']));
        assert_eq!(sub.recv_matching(odd).await, Some(Received::Event(ev(1))));
        assert_eq!(sub.recv_matching(odd).await, Some(Received::Event(ev(3))));
        assert_eq!(sub.recv().await, Some(Received::Event(ev(4))));
    }

    #[tokio::test]
    async fn closed_bus_ends_subscription() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        bus.publish(ev(1));
        drop(bus);
        assert_eq!(sub.recv().await, Some(Received::Event(ev(1))));
        assert_eq!(sub.recv().await, None);
    }
}
