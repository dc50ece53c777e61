//! Large objects the client sends in chunks (OMA DM Protocol 1.2 §6.2 "Large object handling";
//! SyncML Representation Protocol 1.2 §5.1.19 `MoreData`, SyncML Meta-Information 1.2 §5.11
//! `Size`): every chunk but the last carries `MoreData`, the first carries the total `Size`;
//! each intermediate chunk is answered 213, a total that does not match `Size` 424, an object
//! larger than the server's `MaxObjSize` 413, and a chunk that never gets its successor
//! Alert 1225.

use crate::codec::{Data, Item};

/// Status 213: chunk accepted and buffered.
pub const CHUNK_BUFFERED: u16 = 213;
/// Status 424: size mismatch.
pub const SIZE_MISMATCH: u16 = 424;
/// Status 413: request entity too large.
pub const TOO_LARGE: u16 = 413;

/// An object being assembled.
#[derive(Debug, Clone)]
pub(crate) struct Assembly {
    /// The command it comes in (`Results` / `Replace`) and, for Results, the Get's `CmdRef`.
    pub cmd: String,
    pub cmd_ref: Option<String>,
    /// The node URI (item Source or Target).
    pub uri: String,
    /// The first chunk, without its data.
    first: Item,
    bytes: Vec<u8>,
    opaque: bool,
    size: Option<u64>,
}

/// What one chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Buffered; more to come (213).
    Buffered,
    /// The whole object.
    Complete(Box<Item>),
    /// Refused with this status (413 / 424); the assembly is dropped.
    Refused(u16),
}

/// The node URI of an item (Source, else Target).
pub(crate) fn item_uri(item: &Item) -> String {
    item.source.as_ref().or(item.target.as_ref()).map(|l| l.loc_uri.clone()).unwrap_or_default()
}

fn append(bytes: &mut Vec<u8>, opaque: &mut bool, data: &Option<Data>) {
    match data {
        Some(Data::Text(t)) => bytes.extend_from_slice(t.as_bytes()),
        Some(Data::Opaque(b)) => {
            *opaque = true;
            bytes.extend_from_slice(b);
        }
        // Markup cannot be chunked meaningfully; it travels in one piece.
        Some(Data::Markup(_)) | None => {}
    }
}

fn data_len(data: &Option<Data>) -> usize {
    match data {
        Some(Data::Text(t)) => t.len(),
        Some(Data::Opaque(b)) => b.len(),
        _ => 0,
    }
}

impl Assembly {
    /// Starts an object from its first chunk (which has `MoreData`), or refuses it.
    pub fn start(cmd: &str, cmd_ref: Option<&str>, item: &Item, size: Option<u64>, max: u64) -> Result<Assembly, u16> {
        if size.is_some_and(|s| s > max) || data_len(&item.data) as u64 > max {
            return Err(TOO_LARGE);
        }
        let mut first = item.clone();
        first.data = None;
        first.more_data = false;
        let (mut bytes, mut opaque) = (Vec::new(), false);
        append(&mut bytes, &mut opaque, &item.data);
        Ok(Assembly {
            cmd: cmd.to_owned(),
            cmd_ref: cmd_ref.map(str::to_owned),
            uri: item_uri(item),
            first,
            bytes,
            opaque,
            size,
        })
    }

    /// Whether a chunk continues this object: same command, same Get, same node.
    pub fn continues(&self, cmd: &str, cmd_ref: Option<&str>, item: &Item) -> bool {
        self.cmd == cmd && self.cmd_ref.as_deref() == cmd_ref && self.uri == item_uri(item)
    }

    /// Takes the next chunk.
    pub fn push(&mut self, item: &Item, max: u64) -> Chunk {
        if (self.bytes.len() + data_len(&item.data)) as u64 > max {
            return Chunk::Refused(TOO_LARGE);
        }
        append(&mut self.bytes, &mut self.opaque, &item.data);
        if self.size.is_some_and(|s| self.bytes.len() as u64 > s) {
            return Chunk::Refused(SIZE_MISMATCH);
        }
        if item.more_data {
            return Chunk::Buffered;
        }
        if self.size.is_some_and(|s| self.bytes.len() as u64 != s) {
            return Chunk::Refused(SIZE_MISMATCH);
        }
        let mut whole = self.first.clone();
        let bytes = std::mem::take(&mut self.bytes);
        whole.data = Some(if self.opaque {
            Data::Opaque(bytes)
        } else {
            match String::from_utf8(bytes) {
                Ok(t) => Data::Text(t),
                Err(e) => Data::Opaque(e.into_bytes()),
            }
        });
        Chunk::Complete(Box::new(whole))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Location;

    fn chunk(text: &str, more: bool) -> Item {
        Item {
            source: Some(Location::uri("./Big")),
            data: Some(Data::Text(text.into())),
            more_data: more,
            ..Item::default()
        }
    }

    #[test]
    fn assembles_checks_size_and_bounds() {
        let mut a = Assembly::start("Results", Some("3"), &chunk("abc", true), Some(7), 100).unwrap();
        assert!(a.continues("Results", Some("3"), &chunk("", true)));
        assert!(!a.continues("Results", Some("4"), &chunk("", true)));
        assert_eq!(a.push(&chunk("de", true), 100), Chunk::Buffered);
        let Chunk::Complete(item) = a.push(&chunk("fg", false), 100) else { panic!("complete") };
        assert_eq!(item.data, Some(Data::Text("abcdefg".into())));
        assert!(!item.more_data);

        let mut short = Assembly::start("Results", None, &chunk("abc", true), Some(9), 100).unwrap();
        assert_eq!(short.push(&chunk("d", false), 100), Chunk::Refused(SIZE_MISMATCH));
        let mut long = Assembly::start("Results", None, &chunk("abc", true), Some(4), 100).unwrap();
        assert_eq!(long.push(&chunk("de", true), 100), Chunk::Refused(SIZE_MISMATCH));
        assert_eq!(Assembly::start("Results", None, &chunk("a", true), Some(101), 100).err(), Some(TOO_LARGE));
        let mut unsized_ = Assembly::start("Results", None, &chunk("abc", true), None, 4).unwrap();
        assert_eq!(unsized_.push(&chunk("de", true), 4), Chunk::Refused(TOO_LARGE));
    }
}
