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
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    /// A bus keeping up to `capacity` events for slow consumers.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        EventBus { tx }
    }

    /// Publishes an event (dropped when nobody listens).
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// A new subscription, receiving events published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription { rx: self.tx.subscribe() }
    }
}

/// A consumer's view of the bus.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Event>,
}

impl Subscription {
    /// The next event, a lag notice, or `None` once the engine has shut down.
    pub async fn recv(&mut self) -> Option<Received> {
        match self.rx.recv().await {
            Ok(e) => Some(Received::Event(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Received::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
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
    async fn closed_bus_ends_subscription() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        bus.publish(ev(1));
        drop(bus);
        assert_eq!(sub.recv().await, Some(Received::Event(ev(1))));
        assert_eq!(sub.recv().await, None);
    }
}
