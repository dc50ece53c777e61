//! Mapping tables: which protocol path or RPC serves each attribute of the common model.
//!
//! One table per protocol data model, as data: adapters read them to know where an attribute
//! lives, and `docs/mapping.md` shows the same tables (a test renders these and checks that the
//! document holds them verbatim). Sources: oneM2M TS-0005 "Management Enablement (OMA)" Table
//! 5.3.2-1 (FUMO) and §6.3.2 (LwM2M Firmware Update object) for the rows marked normative; the
//! other rows are derived from the protocol data models: the LwM2M registry objects 3 and 5
//! (`models/data/lwm2m-registry`), BBF TR-181 Issue 2 Amendment 17 and TR-098 Amendment 8, OMA DM
//! 1.2.1 DevInfo / DevDetail, FUMO and LAWMO; oneM2M TS-0006 "Management Enablement (BBF)" §8.2
//! defines the deviceInfo resource they fill.
//!
//! Adapters extend the common tables with their own rows in the same format.

use crate::{Function, Protocol};

/// One attribute of a management function and where a protocol keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingRow {
    /// The management function (`deviceInfo`, `firmware`, ...).
    pub function: Function,
    /// The oneM2M attribute short name (`man`, `url`, `uds`, ...).
    pub attribute: &'static str,
    /// The protocol path, RPC or command.
    pub path: &'static str,
    /// The protocol operation used on it.
    pub operation: &'static str,
    /// Units, conditions, conversions.
    pub note: &'static str,
}

/// A protocol data model's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingTable {
    /// Short name used in docs (`lwm2m`, `tr181`, `tr098`, `omadm`).
    pub name: &'static str,
    /// Title shown in docs.
    pub title: &'static str,
    /// The protocol.
    pub protocol: Protocol,
    /// The rows.
    pub rows: &'static [MappingRow],
}

impl MappingTable {
    /// The row for `function` / `attribute`.
    pub fn lookup(&self, function: Function, attribute: &str) -> Option<&'static MappingRow> {
        self.rows.iter().find(|r| r.function == function && r.attribute == attribute)
    }

    /// Rows of one function.
    pub fn rows_for(&self, function: Function) -> impl Iterator<Item = &'static MappingRow> {
        self.rows.iter().filter(move |r| r.function == function)
    }

    /// The table as Markdown, as `docs/mapping.md` shows it.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| function | attribute | path | operation | note |\n|---|---|---|---|---|\n");
        for r in self.rows {
            s.push_str(&format!(
                "| {} | `{}` | `{}` | {} | {} |\n",
                r.function.as_str(),
                r.attribute,
                r.path,
                r.operation,
                r.note
            ));
        }
        s
    }
}

const fn row(
    function: Function,
    attribute: &'static str,
    path: &'static str,
    operation: &'static str,
    note: &'static str,
) -> MappingRow {
    MappingRow { function, attribute, path, operation, note }
}

use Function::{DeviceInfo as DI, FactoryReset as FR, Firmware as FW, Reboot as RB};

/// LwM2M objects 3 (Device) and 5 (Firmware Update).
pub const LWM2M: MappingTable = MappingTable {
    name: "lwm2m",
    title: "LwM2M (objects /3 Device, /5 Firmware Update)",
    protocol: Protocol::Lwm2m,
    rows: &[
        row(DI, "man", "/3/0/0", "Read", "Manufacturer"),
        row(DI, "mod", "/3/0/1", "Read", "Model Number"),
        row(DI, "dlb", "/3/0/2", "Read", "Serial Number"),
        row(DI, "fwv", "/3/0/3", "Read", "Firmware Version"),
        row(DI, "syst", "/3/0/13", "Read", "Current Time, seconds since the Unix epoch"),
        row(DI, "dty", "/3/0/17", "Read", "Device Type"),
        row(DI, "hwv", "/3/0/18", "Read", "Hardware Version"),
        row(DI, "swv", "/3/0/19", "Read", "Software Version"),
        row(DI, "ptl", "-", "-", "constant `LWM2M`"),
        row(FW, "url", "/5/0/1", "Write", "Package URI (pull); push writes /5/0/0 block-wise instead"),
        row(FW, "ud", "/5/0/2", "Execute", "only once /5/0/3 State = 2 (Downloaded)"),
        row(FW, "uds", "/5/0/3", "Observe", "State 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating"),
        row(FW, "uds", "/5/0/5", "Read", "Update Result: 1 success, 2-9 failure, 10 cancelled, 11 deferred"),
        row(FW, "fwn", "/5/0/6", "Read", "PkgName"),
        row(FW, "vr", "/5/0/7", "Read", "PkgVersion"),
        row(RB, "rbo", "/3/0/4", "Execute", "Reboot"),
        row(FR, "far", "/3/0/5", "Execute", "Factory Reset"),
    ],
};

/// TR-181 `Device:2` over CWMP.
pub const TR181: MappingTable = MappingTable {
    name: "tr181",
    title: "TR-069 with the TR-181 `Device.` root",
    protocol: Protocol::Tr069,
    rows: &[
        row(DI, "man", "Device.DeviceInfo.Manufacturer", "GetParameterValues", "also in Inform DeviceId"),
        row(DI, "mod", "Device.DeviceInfo.ModelName", "GetParameterValues", ""),
        row(DI, "dlb", "Device.DeviceInfo.SerialNumber", "GetParameterValues", "also in Inform DeviceId"),
        row(DI, "dty", "Device.DeviceInfo.ProductClass", "GetParameterValues", "also in Inform DeviceId"),
        row(DI, "hwv", "Device.DeviceInfo.HardwareVersion", "GetParameterValues", ""),
        row(DI, "swv", "Device.DeviceInfo.SoftwareVersion", "GetParameterValues", ""),
        row(
            DI,
            "fwv",
            "Device.DeviceInfo.SoftwareVersion",
            "GetParameterValues",
            "or FirmwareImage.{i}.Version of the active image",
        ),
        row(DI, "dvnm", "Device.DeviceInfo.HostName", "GetParameterValues", ""),
        row(DI, "ptl", "-", "-", "constant `TR-069`"),
        row(FW, "url", "Download", "RPC", "FileType `1 Firmware Upgrade Image`, URL"),
        row(FW, "ud", "Download", "RPC", "sending the Download is the trigger"),
        row(
            FW,
            "uds",
            "TransferComplete",
            "CPE RPC",
            "FaultCode 0 success, 9010-9020 failure; then `1 BOOT` + `M Download`",
        ),
        row(FW, "fwn", "Download", "RPC", "TargetFileName"),
        row(FW, "vr", "Device.DeviceInfo.SoftwareVersion", "GetParameterValues", "read after the `M Download` inform"),
        row(RB, "rbo", "Reboot", "RPC", "completion seen as `1 BOOT` + `M Reboot`"),
        row(FR, "far", "FactoryReset", "RPC", "optional RPC"),
    ],
};

/// TR-098 `InternetGatewayDevice:1` over CWMP.
pub const TR098: MappingTable = MappingTable {
    name: "tr098",
    title: "TR-069 with the TR-098 `InternetGatewayDevice.` root",
    protocol: Protocol::Tr069,
    rows: &[
        row(
            DI,
            "man",
            "InternetGatewayDevice.DeviceInfo.Manufacturer",
            "GetParameterValues",
            "also in Inform DeviceId",
        ),
        row(DI, "mod", "InternetGatewayDevice.DeviceInfo.ModelName", "GetParameterValues", ""),
        row(
            DI,
            "dlb",
            "InternetGatewayDevice.DeviceInfo.SerialNumber",
            "GetParameterValues",
            "also in Inform DeviceId",
        ),
        row(
            DI,
            "dty",
            "InternetGatewayDevice.DeviceInfo.ProductClass",
            "GetParameterValues",
            "also in Inform DeviceId",
        ),
        row(DI, "hwv", "InternetGatewayDevice.DeviceInfo.HardwareVersion", "GetParameterValues", ""),
        row(DI, "swv", "InternetGatewayDevice.DeviceInfo.SoftwareVersion", "GetParameterValues", ""),
        row(DI, "fwv", "InternetGatewayDevice.DeviceInfo.SoftwareVersion", "GetParameterValues", ""),
        row(DI, "ptl", "-", "-", "constant `TR-069`"),
        row(FW, "url", "Download", "RPC", "FileType `1 Firmware Upgrade Image`, URL"),
        row(FW, "ud", "Download", "RPC", "sending the Download is the trigger"),
        row(
            FW,
            "uds",
            "TransferComplete",
            "CPE RPC",
            "FaultCode 0 success, 9010-9020 failure; then `1 BOOT` + `M Download`",
        ),
        row(FW, "fwn", "Download", "RPC", "TargetFileName"),
        row(
            FW,
            "vr",
            "InternetGatewayDevice.DeviceInfo.SoftwareVersion",
            "GetParameterValues",
            "read after the `M Download` inform",
        ),
        row(RB, "rbo", "Reboot", "RPC", "completion seen as `1 BOOT` + `M Reboot`"),
        row(FR, "far", "FactoryReset", "RPC", "optional RPC"),
    ],
};

/// OMA DM standard objects, FUMO and LAWMO.
pub const OMADM: MappingTable = MappingTable {
    name: "omadm",
    title: "OMA DM (DevInfo, DevDetail, FUMO, LAWMO)",
    protocol: Protocol::Omadm,
    rows: &[
        row(DI, "man", "./DevInfo/Man", "Get", ""),
        row(DI, "mod", "./DevInfo/Mod", "Get", ""),
        row(DI, "dlb", "./DevInfo/DevId", "Get", "also the device's id"),
        row(DI, "dty", "./DevDetail/DevTyp", "Get", ""),
        row(DI, "hwv", "./DevDetail/HwV", "Get", ""),
        row(DI, "swv", "./DevDetail/SwV", "Get", ""),
        row(DI, "fwv", "./DevDetail/FwV", "Get", ""),
        row(DI, "ptl", "-", "-", "constant `OMA-DM`"),
        row(FW, "url", "<FUMO>/DownloadAndUpdate/PkgURL", "Replace", "normative (TS-0005 Table 5.3.2-1)"),
        row(FW, "ud", "<FUMO>/DownloadAndUpdate", "Exec", "normative (TS-0005)"),
        row(FW, "uds", "<FUMO>/State", "Get", "plus Generic Alert 1226 result code"),
        row(FW, "fwn", "<FUMO>/PkgName", "Get", "normative (TS-0005)"),
        row(FW, "vr", "<FUMO>/PkgVersion", "Get", "normative (TS-0005)"),
        row(FR, "far", "<LAWMO>/Operations/FactoryReset", "Exec", ""),
    ],
};

/// Every common table, in the order `docs/mapping.md` shows them.
pub const TABLES: [MappingTable; 4] = [LWM2M, TR181, TR098, OMADM];

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = include_str!("../../docs/mapping.md");

    /// The document shows each table exactly as the code holds it.
    #[test]
    fn doc_tables_match_code() {
        for t in TABLES {
            let start = format!("<!-- mapping:{} -->\n", t.name);
            let end = format!("<!-- /mapping:{} -->", t.name);
            let at = DOC.find(&start).unwrap_or_else(|| panic!("docs/mapping.md lacks the `{}` table", t.name));
            let body = &DOC[at + start.len()..];
            let stop = body.find(&end).unwrap_or_else(|| panic!("`{}` table not closed", t.name));
            assert_eq!(
                &body[..stop],
                t.to_markdown(),
                "docs/mapping.md `{}` differs from models/src/mapping.rs; paste the right side",
                t.name
            );
        }
    }

    #[test]
    fn every_table_covers_the_core_functions() {
        for t in TABLES {
            assert!(t.lookup(Function::DeviceInfo, "man").is_some(), "{}", t.name);
            assert!(t.lookup(Function::Firmware, "url").is_some(), "{}", t.name);
            assert!(t.lookup(Function::FactoryReset, "far").is_some(), "{}", t.name);
        }
        assert_eq!(LWM2M.lookup(Function::Reboot, "rbo").unwrap().path, "/3/0/4");
        assert_eq!(
            TR098.lookup(Function::DeviceInfo, "swv").unwrap().path,
            "InternetGatewayDevice.DeviceInfo.SoftwareVersion"
        );
    }
}
