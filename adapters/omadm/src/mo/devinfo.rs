//! `./DevInfo` (`urn:oma:mo:oma-dm-devinfo:1.0`) and `./DevDetail`
//! (`urn:oma:mo:oma-dm-devdetail:1.0`) as the device's identity (OMA DM 1.2 Standardized Objects
//! §7.1.3.2 - §7.1.3.3; oneM2M TS-0005 §5.3 `dvi`).

use unidm_models::Identity;

/// The DevInfo nodes a client sends in Package #1.
pub const DEVINFO_NODES: [&str; 5] =
    ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"];

/// The DevDetail leaves the server reads for the identity.
pub const DEVDETAIL_NODES: [&str; 6] = [
    "./DevDetail/DevTyp",
    "./DevDetail/OEM",
    "./DevDetail/FwV",
    "./DevDetail/SwV",
    "./DevDetail/HwV",
    "./DevDetail/LrgObj",
];

/// What DevInfo and DevDetail say of a device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    /// `DevId`: the unique id (a URN such as `IMEI:…`).
    pub dev_id: Option<String>,
    /// `Man`.
    pub manufacturer: Option<String>,
    /// `Mod`.
    pub model: Option<String>,
    /// `DmV`: the client's DM version.
    pub dm_version: Option<String>,
    /// `Lang`.
    pub language: Option<String>,
    /// `DevTyp`.
    pub device_type: Option<String>,
    /// `OEM`.
    pub oem: Option<String>,
    /// `FwV`.
    pub fw_version: Option<String>,
    /// `SwV`.
    pub sw_version: Option<String>,
    /// `HwV`.
    pub hw_version: Option<String>,
    /// `LrgObj`: the client takes large objects.
    pub large_objects: Option<bool>,
}

impl DeviceFacts {
    /// Takes one node's value, by its URI (`./DevInfo/Man`, also without `./`, any case of the
    /// leaf name); unknown nodes are ignored. Empty values count as absent.
    pub fn set(&mut self, uri: &str, value: &str) {
        let value = value.trim();
        let v = (!value.is_empty()).then(|| value.to_owned());
        let path = uri.trim_start_matches("./").to_ascii_lowercase();
        match path.as_str() {
            "devinfo/devid" => self.dev_id = v,
            "devinfo/man" => self.manufacturer = v,
            "devinfo/mod" => self.model = v,
            "devinfo/dmv" => self.dm_version = v,
            "devinfo/lang" => self.language = v,
            "devdetail/devtyp" => self.device_type = v,
            "devdetail/oem" => self.oem = v,
            "devdetail/fwv" => self.fw_version = v,
            "devdetail/swv" => self.sw_version = v,
            "devdetail/hwv" => self.hw_version = v,
            "devdetail/lrgobj" => self.large_objects = v.map(|s| s.eq_ignore_ascii_case("true") || s == "1"),
            _ => {}
        }
    }

    /// Writes what is known into the device's identity (absent facts keep what was there).
    pub fn apply(&self, identity: &mut Identity) {
        let keep = |slot: &mut Option<String>, v: &Option<String>| {
            if v.is_some() {
                slot.clone_from(v);
            }
        };
        keep(&mut identity.manufacturer, &self.manufacturer);
        keep(&mut identity.model, &self.model);
        keep(&mut identity.serial, &self.dev_id);
        keep(&mut identity.device_type, &self.device_type);
        keep(&mut identity.fw_version, &self.fw_version);
        keep(&mut identity.sw_version, &self.sw_version);
        keep(&mut identity.hw_version, &self.hw_version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_fill_the_identity_liberally() {
        let mut f = DeviceFacts::default();
        f.set("./DevInfo/DevId", "IMEI:493005100592800");
        f.set("DevInfo/Man", "Acme");
        f.set("./devinfo/MOD", " X1 ");
        f.set("./DevDetail/FwV", "2.0");
        f.set("./DevDetail/LrgObj", "true");
        f.set("./DevDetail/HwV", "");
        f.set("./Vendor/Thing", "ignored");
        assert_eq!(f.model.as_deref(), Some("X1"));
        assert_eq!(f.large_objects, Some(true));
        let mut id = Identity { hw_version: Some("r1".into()), ..Identity::default() };
        f.apply(&mut id);
        assert_eq!(id.manufacturer.as_deref(), Some("Acme"));
        assert_eq!(id.serial.as_deref(), Some("IMEI:493005100592800"));
        assert_eq!(id.fw_version.as_deref(), Some("2.0"));
        assert_eq!(id.hw_version.as_deref(), Some("r1"), "an empty value keeps what was known");
    }
}
