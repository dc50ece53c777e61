//! Built-in object models: the resource types and multiplicity of the objects the adapter maps
//! (/1 Server, /3 Device, /4 Connectivity Monitoring, /5 Firmware Update, /6 Location,
//! /7 Connectivity Statistics, /9 Software Management), taken from the OMA registry DDF files
//! (`OpenMobileAlliance/lwm2m-registry`; the copies in `models/data/lwm2m-registry` check them)
//! so that TLV and text payloads decode to the right types and JSON values written by a user
//! encode to them.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::codec::{ResourceType, TypeHints};
use crate::path::Path;

use ResourceType::{
    Boolean as B, Float as F, Integer as I, None as E, Objlnk as L, Opaque as O, String as S, Time as T,
    UnsignedInteger as U,
};

type Resources = &'static [(u16, ResourceType, bool)];

/// `(object, [(resource, type, multiple)])`, generated from the registry's `N.xml`.
static OBJECTS: &[(u16, Resources)] = &[
    (
        1,
        &[
            (0, I, false),
            (1, I, false),
            (2, I, false),
            (3, I, false),
            (4, E, false),
            (5, I, false),
            (6, B, false),
            (7, S, false),
            (8, E, false),
            (9, E, false),
            (10, L, false),
            (11, U, false),
            (12, T, false),
            (13, U, false),
            (14, U, false),
            (15, B, false),
            (16, B, false),
            (17, U, false),
            (18, U, false),
            (19, U, false),
            (20, U, false),
            (21, B, false),
            (22, S, false),
            (23, B, false),
            (24, L, true),
            (25, S, true),
            (26, I, false),
            (27, U, false),
        ],
    ),
    (
        3,
        &[
            (0, S, false),
            (1, S, false),
            (2, S, false),
            (3, S, false),
            (4, E, false),
            (5, E, false),
            (6, I, true),
            (7, I, true),
            (8, I, true),
            (9, I, false),
            (10, I, false),
            (11, I, true),
            (12, E, false),
            (13, T, false),
            (14, S, false),
            (15, S, false),
            (16, S, false),
            (17, S, false),
            (18, S, false),
            (19, S, false),
            (20, I, false),
            (21, I, false),
            (22, L, true),
        ],
    ),
    (
        4,
        &[
            (0, I, false),
            (1, I, true),
            (2, I, false),
            (3, I, false),
            (4, S, true),
            (5, S, true),
            (6, I, false),
            (7, S, true),
            (8, I, false),
            (9, I, false),
            (10, I, false),
            (11, I, false),
            (12, I, false),
            (13, I, false),
        ],
    ),
    (
        5,
        &[
            (0, O, false),
            (1, S, false),
            (2, E, false),
            (3, I, false),
            (5, I, false),
            (6, S, false),
            (7, S, false),
            (8, I, true),
            (9, I, false),
            (10, E, false),
            (11, I, false),
            (12, T, false),
            (13, U, false),
            (14, B, false),
        ],
    ),
    (6, &[(0, F, false), (1, F, false), (2, F, false), (3, F, false), (4, O, false), (5, T, false), (6, F, false)]),
    (
        7,
        &[
            (0, I, false),
            (1, I, false),
            (2, I, false),
            (3, I, false),
            (4, I, false),
            (5, I, false),
            (6, E, false),
            (7, E, false),
            (8, I, false),
        ],
    ),
    (
        9,
        &[
            (0, S, false),
            (1, S, false),
            (2, O, false),
            (3, S, false),
            (4, E, false),
            (5, L, false),
            (6, E, false),
            (7, I, false),
            (8, B, false),
            (9, I, false),
            (10, E, false),
            (11, E, false),
            (12, B, false),
            (13, L, false),
            (14, S, false),
            (15, S, false),
            (16, S, false),
            (17, L, true),
            (18, I, false),
        ],
    ),
];

fn resource(object: u16, resource: u16) -> Option<(ResourceType, bool)> {
    let (_, resources) = OBJECTS.iter().find(|(o, _)| *o == object)?;
    resources.iter().find(|(r, _, _)| *r == resource).map(|(_, t, m)| (*t, *m))
}

/// The DDF type of a resource of a built-in object.
pub fn resource_type(object: u16, res: u16) -> Option<ResourceType> {
    resource(object, res).map(|(t, _)| t)
}

/// Whether a built-in resource is multiple-instance (DDF `MultipleInstances`).
pub fn is_multiple(object: u16, res: u16) -> Option<bool> {
    resource(object, res).map(|(_, m)| m)
}

/// Type hints from the built-in object models.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinModels;

impl TypeHints for BuiltinModels {
    fn resource_type(&self, path: &Path) -> Option<ResourceType> {
        match *path {
            Path::Resource(o, _, r) | Path::ResourceInstance(o, _, r, _) => resource_type(o, r),
            _ => None,
        }
    }
}

/// The built-in models plus object definitions loaded from DDF XML files (the OMA registry's
/// `N.xml`, schema `LWM2M-v1_1.xsd`). Loaded definitions take precedence.
#[derive(Debug, Clone, Default)]
pub struct ObjectModels {
    loaded: HashMap<(u16, u16), (ResourceType, bool)>,
}

impl ObjectModels {
    /// The built-in models only.
    pub fn builtin() -> Self {
        ObjectModels::default()
    }

    /// Number of resources loaded from DDF files.
    pub fn loaded_resources(&self) -> usize {
        self.loaded.len()
    }

    /// Reads one DDF document (`<LWM2M><Object>...<Resources><Item ID="n">` with `<Type>` and
    /// `<MultipleInstances>`) and returns the object id it defined.
    pub fn load_ddf(&mut self, xml: &str) -> Result<u16, String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Vec<u8>> = Vec::new();
        let mut object: Option<u16> = None;
        let mut items: Vec<(u16, Option<ResourceType>, bool, bool)> = Vec::new();
        loop {
            match reader.read_event().map_err(|e| format!("DDF XML: {e}"))? {
                Event::Start(e) => {
                    if e.name().as_ref() == b"Item" {
                        let id = e
                            .try_get_attribute("ID")
                            .map_err(|e| e.to_string())?
                            .and_then(|a| std::str::from_utf8(&a.value).ok().and_then(|v| v.trim().parse().ok()))
                            .ok_or("Item without a numeric ID")?;
                        items.push((id, None, false, false));
                    }
                    stack.push(e.name().as_ref().to_vec());
                }
                Event::Empty(e) if e.name().as_ref() == b"Type" => {
                    if let Some(item) = items.last_mut() {
                        item.1 = Some(ResourceType::None);
                    }
                }
                Event::End(_) => {
                    stack.pop();
                }
                Event::Text(t) => {
                    let text = String::from_utf8_lossy(&t).trim().to_owned();
                    let in_item = stack.iter().any(|n| n == b"Item");
                    match stack.last().map(Vec::as_slice) {
                        Some(b"ObjectID") if !in_item => object = text.parse().ok(),
                        Some(b"Type") if in_item => {
                            if let Some(item) = items.last_mut() {
                                item.1 = ResourceType::from_ddf(&text);
                                item.3 = item.1.is_none();
                            }
                        }
                        Some(b"MultipleInstances") if in_item => {
                            if let Some(item) = items.last_mut() {
                                item.2 = text == "Multiple";
                            }
                        }
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let object = object.ok_or("DDF without ObjectID")?;
        for (id, ty, multiple, unknown) in items {
            // An Item whose <Type> is empty is executable; an unknown type name gives no hint.
            if !unknown {
                self.loaded.insert((object, id), (ty.unwrap_or(ResourceType::None), multiple));
            }
        }
        Ok(object)
    }

    /// Loads every `*.xml` file of `dir`; files that are not DDFs are skipped with a warning.
    pub fn load_dir(&mut self, dir: &std::path::Path) -> std::io::Result<usize> {
        let mut objects = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            match std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|x| self.load_ddf(&x)) {
                Ok(_) => objects += 1,
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "skipping DDF file"),
            }
        }
        Ok(objects)
    }
}

impl TypeHints for ObjectModels {
    fn resource_type(&self, path: &Path) -> Option<ResourceType> {
        match *path {
            Path::Resource(o, _, r) | Path::ResourceInstance(o, _, r, _) => {
                self.loaded.get(&(o, r)).map(|(t, _)| *t).or_else(|| resource_type(o, r))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_object_types_follow_the_registry() {
        assert_eq!(resource_type(3, 0), Some(ResourceType::String));
        assert_eq!(resource_type(3, 4), Some(ResourceType::None));
        assert_eq!(resource_type(3, 13), Some(ResourceType::Time));
        assert_eq!(is_multiple(3, 11), Some(true));
        assert_eq!(resource_type(5, 4), None, "there is no /5/x/4");
        assert_eq!(BuiltinModels.resource_type(&Path::ResourceInstance(3, 0, 6, 1)), Some(ResourceType::Integer));
    }

    #[test]
    fn ddf_files_extend_the_models() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition"><Name>Temperature</Name><ObjectID>3303</ObjectID>
<Resources>
<Item ID="5700"><Name>Sensor Value</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances><Type>Float</Type></Item>
<Item ID="5605"><Name>Reset</Name><Operations>E</Operations><MultipleInstances>Single</MultipleInstances><Type></Type></Item>
<Item ID="5701"><Name>Units</Name><MultipleInstances>Multiple</MultipleInstances><Type>String</Type></Item>
</Resources></Object></LWM2M>"#;
        let mut m = ObjectModels::builtin();
        assert_eq!(m.load_ddf(xml), Ok(3303));
        assert_eq!(m.loaded_resources(), 3);
        assert_eq!(m.resource_type(&Path::Resource(3303, 0, 5700)), Some(ResourceType::Float));
        assert_eq!(m.resource_type(&Path::Resource(3303, 0, 5605)), Some(ResourceType::None));
        assert_eq!(m.resource_type(&Path::ResourceInstance(3303, 0, 5701, 2)), Some(ResourceType::String));
        assert_eq!(m.resource_type(&Path::Resource(3, 0, 9)), Some(ResourceType::Integer));
        assert!(m.load_ddf("<LWM2M><Object></Object></LWM2M>").is_err());
        let odd = "<LWM2M><Object><ObjectID>9999</ObjectID><Item ID=\"1\"><Type>Decimal</Type></Item></Object></LWM2M>";
        assert_eq!(m.load_ddf(odd), Ok(9999));
        assert_eq!(m.resource_type(&Path::Resource(9999, 0, 1)), None);
        assert!(m.load_ddf("<a><b></a>").is_err());
    }

    /// The OMA registry DDFs kept in the repository (`models/data/README.md` says which and where
    /// they come from).
    fn registry_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/data/lwm2m-registry")
    }

    /// Every DDF of the registry copy loads.
    #[test]
    fn registry_ddfs_load() {
        let dir = registry_dir();
        let files = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "xml")))
            .count();
        let mut m = ObjectModels::builtin();
        let n = m.load_dir(&dir).expect("registry directory");
        assert_eq!(n, files, "every file of {} is a DDF", dir.display());
        assert!(n >= 8, "{n} objects");
        assert_eq!(m.resource_type(&Path::Resource(3303, 0, 5700)), Some(ResourceType::Float));
    }

    /// The built-in tables say what the registry's `N.xml` says, resource by resource.
    #[test]
    fn builtin_models_match_the_registry() {
        for (object, resources) in OBJECTS {
            let path = registry_dir().join(format!("{object}.xml"));
            let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut m = ObjectModels::builtin();
            assert_eq!(m.load_ddf(&xml), Ok(*object));
            let mut builtin: Vec<_> = resources.iter().map(|(r, t, multi)| ((*object, *r), (*t, *multi))).collect();
            let mut loaded: Vec<_> = m.loaded.into_iter().collect();
            builtin.sort_by_key(|(k, _)| *k);
            loaded.sort_by_key(|(k, _)| *k);
            assert_eq!(builtin, loaded, "object /{object}");
        }
    }

    /// The registry copy is read from inside the repository, never from a folder beside it.
    #[test]
    fn registry_lives_in_the_repository() {
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.join("../..").canonicalize().expect("workspace root");
        assert!(root.join("Cargo.lock").is_file(), "{} is not the workspace root", root.display());
        let dir = registry_dir().canonicalize().expect("registry directory");
        assert!(dir.starts_with(&root), "{} is outside {}", dir.display(), root.display());
    }
}
