//! Finding a LwM2M Gateway's end devices (object /25, LwM2M 1.1 GwCap; LwM2M Gateway TS §6) as a
//! sans-I/O state machine: read each `/25/x` instance the gateway registered; each instance's
//! Device ID `/25/x/0`, Prefix `/25/x/1` and IoT Device Objects `/25/x/3` (link-format) name
//! an end device. The outcome lists what was found and which instances could not be read (the
//! adapter keeps those end devices as they were).

use std::collections::VecDeque;

use unidm_models::OperationError;

use super::RequestId;
use crate::codec::{link_format, Content, Limits, Value};
use crate::path::Path;
use crate::server::ObjectLink;

/// An end device a `/25/x` instance names.
#[derive(Debug, Clone, PartialEq)]
pub struct EndDevice {
    /// Its name, `{gateway}/{device id}`.
    pub name: String,
    /// Its `/25/x` instance.
    pub instance: u16,
    /// The prefix `/25/x/1` its paths go under.
    pub prefix: String,
    /// Its objects and instances (`/25/x/3`).
    pub objects: Vec<ObjectLink>,
}

/// What a discovery found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Discovered {
    /// The end devices named, in instance order.
    pub found: Vec<EndDevice>,
    /// Instances whose read failed.
    pub unreadable: Vec<u16>,
}

/// A discovery of one gateway's end devices: see the module docs.
#[derive(Debug)]
pub struct Discovery {
    gateway: String,
    left: VecDeque<u16>,
    next_id: u64,
    outstanding: Option<(RequestId, u16)>,
    discovered: Discovered,
    done: bool,
}

impl Discovery {
    /// A discovery of `gateway`'s `/25` `instances` (as it registered them).
    pub fn new(gateway: &str, instances: impl IntoIterator<Item = u16>) -> Self {
        Discovery {
            gateway: gateway.to_owned(),
            left: instances.into_iter().collect(),
            next_id: 0,
            outstanding: None,
            discovered: Discovered::default(),
            done: false,
        }
    }

    /// The next instance to read (`/25/x`), one at a time.
    pub fn poll_request(&mut self) -> Option<(RequestId, Path)> {
        if self.outstanding.is_some() {
            return None;
        }
        let x = self.left.pop_front()?;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.outstanding = Some((id, x));
        Some((id, Path::ObjectInstance(25, x)))
    }

    /// The decoded answer to the read `id`.
    pub fn handle_response(&mut self, id: RequestId, answer: Result<Content, OperationError>) {
        let Some((_, x)) = self.outstanding.take_if(|(asked, _)| *asked == id) else { return };
        match answer {
            Ok(content) => self.discovered.found.extend(end_device(&self.gateway, x, &content)),
            Err(e) => {
                tracing::debug!(gateway = %self.gateway, instance = x, error = %e.message, "reading /25 failed");
                self.discovered.unreadable.push(x);
            }
        }
    }

    /// What was found, once every instance was read (given once).
    pub fn poll_outcome(&mut self) -> Option<Discovered> {
        if self.done || self.outstanding.is_some() || !self.left.is_empty() {
            return None;
        }
        self.done = true;
        Some(std::mem::take(&mut self.discovered))
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) | Value::CoreLink(s) => Some(s.clone()),
        Value::Opaque(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// The end device `/25/x` names, `None` when it names none (no Device ID or Prefix).
fn end_device(gateway: &str, x: u16, content: &Content) -> Option<EndDevice> {
    let field = |r| text(content.get(&Path::Resource(25, x, r)));
    let (device, prefix) = (field(0)?, field(1)?);
    let objects = field(3)
        .and_then(|l| link_format::parse(l.as_bytes(), &Limits::default()).ok())
        .map(|links| {
            links
                .into_iter()
                .filter(|l| l.target.parse::<Path>().is_ok())
                .map(|l| ObjectLink { version: l.attribute("ver").map(str::to_owned), path: l.target })
                .collect()
        })
        .unwrap_or_default();
    Some(EndDevice { name: format!("{gateway}/{device}"), instance: x, prefix, objects })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Record;
    use unidm_models::ErrorKind;

    fn instance(x: u16, device: Option<&str>, links: &str) -> Content {
        let mut records = vec![Record::new(Path::Resource(25, x, 1), Value::String(format!("dev{x}")))];
        if let Some(d) = device {
            records.push(Record::new(Path::Resource(25, x, 0), Value::String(d.into())));
        }
        records.push(Record::new(Path::Resource(25, x, 3), Value::CoreLink(links.into())));
        Content::new(records)
    }

    #[test]
    fn each_instance_is_read_and_what_it_names_is_found() {
        let mut d = Discovery::new("gw", [0, 1, 2, 3]);
        let mut answers = vec![
            Ok(instance(0, Some("child-0"), "</3/0>,</3303>;ver=1.1")),
            Err(OperationError::new(ErrorKind::Timeout, "no answer")),
            Ok(instance(2, None, "</3/0>")),
            Ok(instance(3, Some("child-3"), "")),
        ]
        .into_iter();
        let mut read = Vec::new();
        while let Some((id, path)) = d.poll_request() {
            assert!(d.poll_request().is_none(), "one read at a time");
            read.push(path);
            d.handle_response(id, answers.next().expect("an answer"));
        }
        assert_eq!(read, (0..4).map(|x| Path::ObjectInstance(25, x)).collect::<Vec<_>>());
        let out = d.poll_outcome().expect("done");
        assert_eq!(out.unreadable, [1]);
        let names: Vec<&str> = out.found.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["gw/child-0", "gw/child-3"], "instance 2 names no device");
        assert_eq!(out.found[0].prefix, "dev0");
        assert_eq!(
            out.found[0].objects,
            [
                ObjectLink { path: "/3/0".into(), version: None },
                ObjectLink { path: "/3303".into(), version: Some("1.1".into()) }
            ]
        );
        assert_eq!(d.poll_outcome(), None, "given once");
    }

    #[test]
    fn a_stale_answer_is_ignored_and_no_instance_means_nothing_found() {
        let mut d = Discovery::new("gw", [0]);
        let (id, _) = d.poll_request().unwrap();
        d.handle_response(RequestId(id.0 + 7), Ok(instance(0, Some("x"), "")));
        assert_eq!(d.poll_outcome(), None, "still waiting for its answer");
        d.handle_response(id, Ok(instance(0, Some("x"), "")));
        assert_eq!(d.poll_outcome().map(|o| o.found.len()), Some(1));
        assert_eq!(Discovery::new("gw", []).poll_outcome(), Some(Discovered::default()));
    }
}
