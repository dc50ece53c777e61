//! LwM2M paths: `/`, `/o`, `/o/i`, `/o/i/r`, `/o/i/r/ri` (LwM2M TS Core 1.1 §6 "Object Model",
//! Core 1.0 §5.1 "Resource Model").
//!
//! Every id is a `u16`; a CoAP Uri-Path segment or SenML name holding anything else is rejected
//! with a [`PathError`] rather than truncated, because a wrapped id would address another
//! resource on the device.

use std::fmt;
use std::str::FromStr;

/// A path in the LwM2M resource tree, from the root down to a resource instance.
///
/// Paths order like their id sequences (`/3` < `/3/0` < `/3/0/1` < `/4`), i.e. tree order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// `/`: the whole client (Bootstrap-Delete, Discover, composite operations).
    Root,
    /// `/o`: an Object.
    Object(u16),
    /// `/o/i`: an Object Instance.
    ObjectInstance(u16, u16),
    /// `/o/i/r`: a Resource.
    Resource(u16, u16, u16),
    /// `/o/i/r/ri`: a Resource Instance of a multiple-instance Resource.
    ResourceInstance(u16, u16, u16, u16),
}

/// Why a string or a list of segments is not a valid LwM2M path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("path must start with '/': {0:?}")]
    NoLeadingSlash(String),
    /// A segment is empty (`//`) where an id was expected.
    #[error("empty segment in path {0:?}")]
    EmptySegment(String),
    /// A segment is not a decimal number in `0..=65535`.
    #[error("segment {segment:?} of path {path:?} is not an id in 0..=65535")]
    InvalidId {
        /// The whole path as received.
        path: String,
        /// The offending segment.
        segment: String,
    },
    /// More than four ids.
    #[error("path {0:?} is deeper than /o/i/r/ri")]
    TooDeep(String),
}

impl Path {
    /// Builds a path from up to four ids, root for an empty slice.
    pub fn from_ids(ids: &[u16]) -> Option<Path> {
        match *ids {
            [] => Some(Path::Root),
            [o] => Some(Path::Object(o)),
            [o, i] => Some(Path::ObjectInstance(o, i)),
            [o, i, r] => Some(Path::Resource(o, i, r)),
            [o, i, r, ri] => Some(Path::ResourceInstance(o, i, r, ri)),
            _ => None,
        }
    }

    /// Parses CoAP Uri-Path segments (`["3", "0", "1"]`), as found in a request.
    pub fn from_segments<S: AsRef<str>>(segments: &[S]) -> Result<Path, PathError> {
        let joined = || {
            let mut s = String::new();
            for seg in segments {
                s.push('/');
                s.push_str(seg.as_ref());
            }
            s
        };
        if segments.len() > 4 {
            return Err(PathError::TooDeep(joined()));
        }
        let mut ids = [0u16; 4];
        for (slot, seg) in ids.iter_mut().zip(segments) {
            *slot = parse_id(seg.as_ref())
                .ok_or_else(|| PathError::InvalidId { path: joined(), segment: seg.as_ref().to_owned() })?;
        }
        Path::from_ids(&ids[..segments.len()]).ok_or_else(|| PathError::TooDeep(joined()))
    }

    fn id_array(&self) -> ([u16; 4], usize) {
        match *self {
            Path::Root => ([0; 4], 0),
            Path::Object(o) => ([o, 0, 0, 0], 1),
            Path::ObjectInstance(o, i) => ([o, i, 0, 0], 2),
            Path::Resource(o, i, r) => ([o, i, r, 0], 3),
            Path::ResourceInstance(o, i, r, ri) => ([o, i, r, ri], 4),
        }
    }

    /// The ids from the object down, empty for the root.
    pub fn ids(&self) -> Vec<u16> {
        let (ids, len) = self.id_array();
        ids[..len].to_vec()
    }

    /// Number of ids: 0 for the root, 4 for a resource instance.
    pub fn depth(&self) -> usize {
        self.id_array().1
    }

    /// The id at `level` (1 = object … 4 = resource instance), if the path is that deep.
    pub fn id_at(&self, level: usize) -> Option<u16> {
        let (ids, len) = self.id_array();
        (1..=len).contains(&level).then(|| ids[level - 1])
    }

    /// Object id, `None` for the root.
    pub fn object_id(&self) -> Option<u16> {
        self.id_at(1)
    }

    /// Object instance id, if the path reaches an instance.
    pub fn instance_id(&self) -> Option<u16> {
        self.id_at(2)
    }

    /// Resource id, if the path reaches a resource.
    pub fn resource_id(&self) -> Option<u16> {
        self.id_at(3)
    }

    /// Resource instance id, if the path reaches a resource instance.
    pub fn resource_instance_id(&self) -> Option<u16> {
        self.id_at(4)
    }

    /// The path one level down, `None` below a resource instance.
    pub fn child(&self, id: u16) -> Option<Path> {
        let (mut ids, len) = self.id_array();
        *ids.get_mut(len)? = id;
        Path::from_ids(&ids[..=len])
    }

    /// The path one level up, `None` for the root.
    pub fn parent(&self) -> Option<Path> {
        let (ids, len) = self.id_array();
        Path::from_ids(&ids[..len.checked_sub(1)?])
    }

    /// The ancestor at `depth` (itself when `depth` is its own depth), `None` when deeper.
    pub fn truncate(&self, depth: usize) -> Option<Path> {
        let (ids, len) = self.id_array();
        if depth > len {
            return None;
        }
        Path::from_ids(&ids[..depth])
    }

    /// True when `self` equals `other` or is one of its ancestors.
    pub fn is_prefix_of(&self, other: &Path) -> bool {
        other.truncate(self.depth()).as_ref() == Some(self)
    }

    /// True for `/o/i/r` and `/o/i/r/ri`, the levels that carry a value.
    pub fn is_resource_level(&self) -> bool {
        self.depth() >= 3
    }
}

/// Parses a decimal id; rejects signs, spaces and `+`, which `u16::from_str` would accept for `+`.
fn parse_id(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Ord for Path {
    fn cmp(&self, other: &Path) -> std::cmp::Ordering {
        let (a, la) = self.id_array();
        let (b, lb) = other.id_array();
        a[..la].cmp(&b[..lb])
    }
}

impl PartialOrd for Path {
    fn partial_cmp(&self, other: &Path) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for Path {
    type Err = PathError;

    /// Parses `/`, `/3`, `/3/0`, `/3/0/1`, `/3/0/6/1`; one trailing `/` is tolerated because
    /// LwM2M JSON and SenML base names end with one.
    fn from_str(s: &str) -> Result<Path, PathError> {
        let rest = s.strip_prefix('/').ok_or_else(|| PathError::NoLeadingSlash(s.to_owned()))?;
        if rest == "/" {
            return Err(PathError::EmptySegment(s.to_owned()));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Path::Root);
        }
        let segments: Vec<&str> = rest.split('/').take(5).collect();
        if segments.iter().any(|seg| seg.is_empty()) {
            return Err(PathError::EmptySegment(s.to_owned()));
        }
        Path::from_segments(&segments).map_err(|e| match e {
            PathError::InvalidId { segment, .. } => PathError::InvalidId { path: s.to_owned(), segment },
            _ => PathError::TooDeep(s.to_owned()),
        })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Path::Root = self {
            return f.write_str("/");
        }
        for id in self.ids() {
            write!(f, "/{id}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_level() {
        assert_eq!("/".parse(), Ok(Path::Root));
        assert_eq!("/3".parse(), Ok(Path::Object(3)));
        assert_eq!("/3/0".parse(), Ok(Path::ObjectInstance(3, 0)));
        assert_eq!("/3/0/1".parse(), Ok(Path::Resource(3, 0, 1)));
        assert_eq!("/3/0/6/1".parse(), Ok(Path::ResourceInstance(3, 0, 6, 1)));
        assert_eq!("/3/0/".parse(), Ok(Path::ObjectInstance(3, 0)));
        assert_eq!("/65535".parse(), Ok(Path::Object(65535)));
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(matches!("3/0".parse::<Path>(), Err(PathError::NoLeadingSlash(_))));
        assert!(matches!("/3//1".parse::<Path>(), Err(PathError::EmptySegment(_))));
        assert!(matches!("/65536".parse::<Path>(), Err(PathError::InvalidId { .. })));
        assert!(matches!("/+3".parse::<Path>(), Err(PathError::InvalidId { .. })));
        assert!(matches!("/-1".parse::<Path>(), Err(PathError::InvalidId { .. })));
        assert!(matches!("/1/2/3/4/5".parse::<Path>(), Err(PathError::TooDeep(_))));
        assert!("".parse::<Path>().is_err());
        assert!("//".parse::<Path>().is_err());
        assert!("/3//".parse::<Path>().is_err());
    }

    #[test]
    fn navigates() {
        let p = Path::Resource(3, 0, 6);
        assert_eq!(p.parent(), Some(Path::ObjectInstance(3, 0)));
        assert_eq!(p.child(2), Some(Path::ResourceInstance(3, 0, 6, 2)));
        assert_eq!(Path::ResourceInstance(1, 2, 3, 4).child(5), None);
        assert_eq!(Path::Root.parent(), None);
        assert!(Path::Object(3).is_prefix_of(&p));
        assert!(Path::Root.is_prefix_of(&p));
        assert!(!Path::Object(4).is_prefix_of(&p));
        assert_eq!(p.resource_id(), Some(6));
        assert_eq!(p.resource_instance_id(), None);
        assert!(Path::Object(3) < Path::ObjectInstance(3, 0));
        assert!(Path::Resource(3, 0, 1) < Path::Object(4));
        assert!(Path::Root < Path::Object(0));
        assert_eq!(p.truncate(1), Some(Path::Object(3)));
        assert_eq!(p.truncate(4), None);
        assert_eq!(p.id_at(0), None);
        assert_eq!(p.id_at(3), Some(6));
        assert_eq!(Path::from_segments(&["5", "0", "0"]), Ok(Path::Resource(5, 0, 0)));
    }

    fn any_path() -> impl Strategy<Value = Path> {
        proptest::collection::vec(any::<u16>(), 0..=4).prop_map(|ids| Path::from_ids(&ids).unwrap_or(Path::Root))
    }

    proptest! {
        #[test]
        fn display_parse_roundtrip(p in any_path()) {
            prop_assert_eq!(p.to_string().parse::<Path>(), Ok(p));
        }

        #[test]
        fn navigation_is_consistent(p in any_path(), q in any_path(), id in any::<u16>()) {
            prop_assert_eq!(p.cmp(&q), p.ids().cmp(&q.ids()));
            if let Some(c) = p.child(id) {
                prop_assert_eq!(c.parent(), Some(p));
                prop_assert!(p.is_prefix_of(&c));
                prop_assert_eq!(c.id_at(c.depth()), Some(id));
            } else {
                prop_assert_eq!(p.depth(), 4);
            }
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = s.parse::<Path>();
        }
    }
}
