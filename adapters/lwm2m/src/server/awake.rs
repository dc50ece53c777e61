//! Queue-mode clients that are awake (TS Core 1.1 §6.5), each until its awake
//! window ends. Looked up per request and asked for the earliest end on every turn of the
//! server's loop, so both are cheap at any number of clients: a map by endpoint and a set
//! ordered by the end of the window.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Awake {
    until: HashMap<String, Instant>,
    by_end: BTreeSet<(Instant, String)>,
}

impl Awake {
    /// `endpoint` is awake until `until` (a later contact moves the end).
    pub fn insert(&mut self, endpoint: &str, until: Instant) {
        if let Some(old) = self.until.insert(endpoint.to_owned(), until) {
            self.by_end.remove(&(old, endpoint.to_owned()));
        }
        self.by_end.insert((until, endpoint.to_owned()));
    }

    /// Forgets `endpoint`; true when it was awake.
    pub fn remove(&mut self, endpoint: &str) -> bool {
        match self.until.remove(endpoint) {
            Some(old) => {
                self.by_end.remove(&(old, endpoint.to_owned()));
                true
            }
            None => false,
        }
    }

    /// Whether `endpoint` is awake at `now`.
    pub fn is_awake(&self, endpoint: &str, now: Instant) -> bool {
        self.until.get(endpoint).is_some_and(|until| *until > now)
    }

    /// When the next awake window ends.
    pub fn next_end(&self) -> Option<Instant> {
        self.by_end.first().map(|(at, _)| *at)
    }

    /// Removes and returns the endpoints whose window ended by `now`, earliest first.
    pub fn fall_asleep(&mut self, now: Instant) -> Vec<String> {
        let mut asleep = Vec::new();
        while let Some((at, _)) = self.by_end.first() {
            if *at > now {
                break;
            }
            let Some((_, ep)) = self.by_end.pop_first() else { break };
            self.until.remove(&ep);
            asleep.push(ep);
        }
        asleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn windows_end_in_order_and_a_later_contact_moves_the_end() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut awake = Awake::default();
        awake.insert("a", t0 + 3 * s);
        awake.insert("b", t0 + 2 * s);
        awake.insert("c", t0 + 5 * s);
        assert_eq!(awake.next_end(), Some(t0 + 2 * s));
        awake.insert("b", t0 + 4 * s);
        assert_eq!(awake.next_end(), Some(t0 + 3 * s));
        assert!(awake.is_awake("b", t0 + 3 * s));
        assert!(!awake.is_awake("a", t0 + 3 * s), "a window is open before its end only");
        assert_eq!(awake.fall_asleep(t0 + 4 * s), ["a", "b"]);
        assert!(awake.is_awake("c", t0 + 4 * s) && !awake.is_awake("b", t0));
        assert!(awake.remove("c"));
        assert!(!awake.remove("c"));
        assert_eq!(awake.next_end(), None);
        assert!(awake.fall_asleep(t0 + 10 * s).is_empty());
    }
}
