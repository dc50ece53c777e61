//! Who waits for what: procedures waiting for a device to register ([`Wakers`], one waker per
//! endpoint) and for the notifications of one observed path ([`Routes`], keyed by device and
//! path). A registration wakes only the waiters of its endpoint and a notification reaches only
//! the procedures that wait on that endpoint and path: the cost per packet does not grow with
//! the number of running procedures.

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use crate::server::{DmResponse, Observed};

/// One [`Notify`] per endpoint somebody waits for; the entry goes when its last waiter does.
/// A registration when nobody waits (the usual case) costs one atomic load.
#[derive(Default)]
pub(crate) struct Wakers {
    watches: AtomicUsize,
    map: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    /// Wakes whoever waits for `endpoint` (it registered, updated, or an end device of that
    /// name was listed by its gateway).
    pub fn wake(&self, endpoint: &str) {
        // Store (the caller's new registration); fence; load (the count) here, and store (the
        // count); fence; load (the registration) in a watcher: one of the two sees the other.
        fence(Ordering::SeqCst);
        if self.watches.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Ok(map) = self.map.lock() {
            if let Some(notify) = map.get(endpoint) {
                notify.notify_waiters();
            }
        }
    }

    /// A watch on `endpoint`: its [`Watch::notified`] futures complete at the next
    /// [`Wakers::wake`] of it after they were created. Look at what you wait for after
    /// creating the future: a change made before the wake is then seen one way or the other.
    pub fn watch(&self, endpoint: &str) -> Watch<'_> {
        // Counted before the entry exists: a wake that finds the count 0 came before the
        // watch, and the watcher looks at the registration after this returns.
        self.watches.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let notify = match self.map.lock() {
            Ok(mut map) => map.entry(endpoint.to_owned()).or_default().clone(),
            // A poisoned map wakes nobody; the caller's own timers still run.
            Err(_) => Arc::new(Notify::new()),
        };
        Watch { wakers: self, endpoint: endpoint.to_owned(), notify }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or_default()
    }
}

/// A waiter's hold on an endpoint's waker ([`Wakers::watch`]).
pub(crate) struct Watch<'a> {
    wakers: &'a Wakers,
    endpoint: String,
    notify: Arc<Notify>,
}

impl Watch<'_> {
    /// Completes at the next wake of the endpoint after this call.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.wakers.map.lock() {
            // The map's clone and ours: no other watcher. Clones are made under this lock only.
            if Arc::strong_count(&self.notify) == 2 {
                map.remove(&self.endpoint);
            }
        }
        self.wakers.watches.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The procedures waiting on one device and path, each with its subscription's id.
type Waiting = Vec<(u64, mpsc::UnboundedSender<DmResponse>)>;

/// Notifications routed to the procedures that wait for them, by device (an endpoint or an
/// end device's `{gateway}/{device id}`) and observed path.
#[derive(Default)]
pub(crate) struct Routes {
    next: AtomicU64,
    /// By device, then observed path: a notification is looked up by reference.
    map: Mutex<HashMap<String, HashMap<Observed, Waiting>>>,
}

impl Routes {
    /// Starts routing the notifications of `observed` on `device` to the returned
    /// subscription, until it is dropped.
    pub fn subscribe(&self, device: &str, observed: Observed) -> Subscription<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        match self.map.lock() {
            Ok(mut map) => {
                map.entry(device.to_owned()).or_default().entry(observed.clone()).or_default().push((id, tx))
            }
            Err(_) => tracing::error!(device, "notification routes poisoned; the procedure polls instead"),
        }
        Subscription { routes: self, device: device.to_owned(), observed, id, rx }
    }

    /// Hands a notification to the procedures waiting on `device` and `observed`; false when
    /// none waits.
    pub fn route(&self, device: &str, observed: &Observed, response: &DmResponse) -> bool {
        let Ok(map) = self.map.lock() else { return false };
        let Some(waiting) = map.get(device).and_then(|paths| paths.get(observed)) else { return false };
        for (_, tx) in waiting {
            // A closed receiver is a subscription being dropped; its Drop removes it.
            if tx.send(response.clone()).is_err() {
                tracing::debug!(device, %observed, "a notification's waiter went away");
            }
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or_default()
    }
}

/// The notifications of one device and path for one procedure ([`Routes::subscribe`]).
pub(crate) struct Subscription<'a> {
    routes: &'a Routes,
    device: String,
    observed: Observed,
    id: u64,
    rx: mpsc::UnboundedReceiver<DmResponse>,
}

impl Subscription<'_> {
    /// The next notification; pending forever once the routes are gone.
    pub async fn next(&mut self) -> DmResponse {
        match self.rx.recv().await {
            Some(response) => response,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.routes.map.lock() {
            if let Some(paths) = map.get_mut(&self.device) {
                if let Some(list) = paths.get_mut(&self.observed) {
                    list.retain(|(id, _)| *id != self.id);
                    if list.is_empty() {
                        paths.remove(&self.observed);
                    }
                }
                if paths.is_empty() {
                    map.remove(&self.device);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Path;
    use coap_lite::ResponseType;

    fn response() -> DmResponse {
        DmResponse { code: ResponseType::Content, content_format: None, payload: vec![1], location: Vec::new() }
    }

    #[tokio::test]
    async fn a_notification_reaches_only_the_waiter_of_its_device_and_path() {
        let routes = Routes::default();
        let state = Observed::Path(Path::Resource(5, 0, 3));
        let mut a = routes.subscribe("a", state.clone());
        let mut b = routes.subscribe("b", state.clone());
        assert!(routes.route("a", &state, &response()));
        assert!(!routes.route("a", &Observed::Path(Path::Resource(3, 0, 9)), &response()), "nobody waits");
        assert_eq!(a.next().await.payload, vec![1]);
        assert!(b.rx.try_recv().is_err(), "b is another device");
        drop(a);
        drop(b);
        assert_eq!(routes.len(), 0, "dropped subscriptions leave no route");
        assert!(!routes.route("a", &state, &response()));
    }

    #[tokio::test]
    async fn a_wake_reaches_the_watchers_of_its_endpoint_only() {
        let wakers = Wakers::default();
        let a = wakers.watch("a");
        let b = wakers.watch("b");
        {
            let (woken_a, woken_b) = (a.notified(), b.notified());
            wakers.wake("a");
            tokio::time::timeout(std::time::Duration::from_secs(5), woken_a).await.expect("a woken");
            tokio::pin!(woken_b);
            assert!(futures_now(woken_b.as_mut()).is_none(), "b not woken");
        }
        drop(a);
        assert_eq!(wakers.len(), 1);
        drop(b);
        assert_eq!(wakers.len(), 0, "no watcher, no entry");
    }

    /// Polls a future once.
    fn futures_now<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match f.poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
