//! ChangeDUState and its response (TR-069 Amendment 6, Annex A.4 optional CPE methods; CWMP 1.2,
//! BBF `cwmp-1-2.xsd` `ChangeDUState`, `InstallOpStruct`, `UpdateOpStruct`,
//! `UninstallOpStruct`).
//!
//! The schema declares `Operations` as a repeated element of the abstract `OperationStruct`,
//! its concrete type given by `xsi:type`; that is what is written. Some stacks instead send one
//! `Operations` array holding `InstallOpStruct` / `UpdateOpStruct` / `UninstallOpStruct`
//! elements; both forms are read.

use super::common::{opt_text, text, text_or_empty};
use super::{empty_rpc, RpcMessage};
use crate::error::CwmpError;
use crate::soap::writer::XmlWriter;
use crate::soap::xml::Element;

/// `InstallOpStruct`: install a Deployment Unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct InstallOpStruct {
    /// `URL` (≤ 1024) of the DU.
    pub url: String,
    /// `UUID` to give the DU.
    pub uuid: Option<String>,
    /// `Username` (≤ 256).
    pub username: Option<String>,
    /// `Password` (≤ 256).
    pub password: Option<String>,
    /// `ExecutionEnvRef` (≤ 256), e.g. `Device.SoftwareModules.ExecEnv.1.`.
    pub execution_env_ref: Option<String>,
}

/// `UpdateOpStruct`: update one or all Deployment Units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UpdateOpStruct {
    /// `UUID` of the DU (all DUs when absent).
    pub uuid: Option<String>,
    /// `Version` (≤ 32).
    pub version: Option<String>,
    /// `URL` (≤ 1024).
    pub url: Option<String>,
    /// `Username` (≤ 256).
    pub username: Option<String>,
    /// `Password` (≤ 256).
    pub password: Option<String>,
}

/// `UninstallOpStruct`: remove a Deployment Unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UninstallOpStruct {
    /// `UUID` of the DU.
    pub uuid: String,
    /// `Version` (≤ 32); all versions when absent.
    pub version: Option<String>,
    /// `ExecutionEnvRef` (≤ 256).
    pub execution_env_ref: Option<String>,
}

/// One ChangeDUState operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OperationStruct {
    /// Install.
    Install(InstallOpStruct),
    /// Update.
    Update(UpdateOpStruct),
    /// Uninstall.
    Uninstall(UninstallOpStruct),
}

impl OperationStruct {
    fn type_name(&self) -> &'static str {
        match self {
            OperationStruct::Install(_) => "InstallOpStruct",
            OperationStruct::Update(_) => "UpdateOpStruct",
            OperationStruct::Uninstall(_) => "UninstallOpStruct",
        }
    }

    /// Reads an operation whose concrete type is `kind`.
    fn parse(kind: &str, el: &Element) -> Result<Option<Self>, CwmpError> {
        Ok(Some(match kind {
            "InstallOpStruct" => OperationStruct::Install(InstallOpStruct {
                url: text(el, "InstallOpStruct", "URL")?,
                uuid: opt_text(el, "UUID"),
                username: opt_text(el, "Username"),
                password: opt_text(el, "Password"),
                execution_env_ref: opt_text(el, "ExecutionEnvRef"),
            }),
            "UpdateOpStruct" => OperationStruct::Update(UpdateOpStruct {
                uuid: opt_text(el, "UUID"),
                version: opt_text(el, "Version"),
                url: opt_text(el, "URL"),
                username: opt_text(el, "Username"),
                password: opt_text(el, "Password"),
            }),
            "UninstallOpStruct" => OperationStruct::Uninstall(UninstallOpStruct {
                uuid: text(el, "UninstallOpStruct", "UUID")?,
                version: opt_text(el, "Version"),
                execution_env_ref: opt_text(el, "ExecutionEnvRef"),
            }),
            _ => return Ok(None),
        }))
    }

    fn encode(&self, w: &mut XmlWriter) {
        let ty = format!("cwmp:{}", self.type_name());
        w.start_with("Operations", &[("xsi:type", &ty)]);
        let mut opt = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                w.leaf(name, v);
            }
        };
        match self {
            OperationStruct::Install(o) => {
                opt("URL", &Some(o.url.clone()));
                opt("UUID", &o.uuid);
                opt("Username", &o.username);
                opt("Password", &o.password);
                opt("ExecutionEnvRef", &o.execution_env_ref);
            }
            OperationStruct::Update(o) => {
                opt("UUID", &o.uuid);
                opt("Version", &o.version);
                opt("URL", &o.url);
                opt("Username", &o.username);
                opt("Password", &o.password);
            }
            OperationStruct::Uninstall(o) => {
                opt("UUID", &Some(o.uuid.clone()));
                opt("Version", &o.version);
                opt("ExecutionEnvRef", &o.execution_env_ref);
            }
        }
        w.end("Operations");
    }
}

/// `ChangeDUState`, ACS to CPE: install, update or uninstall Deployment Units; the outcome
/// arrives later in a DUStateChangeComplete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ChangeDUState {
    /// `Operations`, carried out in order.
    pub operations: Vec<OperationStruct>,
    /// `CommandKey` (≤ 32), optional in the schema.
    pub command_key: Option<String>,
}

impl RpcMessage for ChangeDUState {
    const NAME: &'static str = "ChangeDUState";

    fn parse(el: &Element) -> Result<Self, CwmpError> {
        let mut operations = Vec::new();
        for ops in el.children_named("Operations") {
            let kind = ops.xsi_type.as_deref().unwrap_or_default();
            if let Some(op) = OperationStruct::parse(kind, ops)? {
                operations.push(op);
                continue;
            }
            // Array form: <Operations><InstallOpStruct>…</InstallOpStruct>…</Operations>.
            for member in &ops.children {
                let kind = member.xsi_type.as_deref().unwrap_or(member.name.as_str());
                let op = OperationStruct::parse(kind, member)?
                    .ok_or_else(|| CwmpError::invalid("Operations", format!("unknown operation {kind:?}")))?;
                operations.push(op);
            }
        }
        if operations.is_empty() {
            return Err(CwmpError::MissingElement { parent: "ChangeDUState", child: "Operations" });
        }
        let command_key = el.child("CommandKey").map(|_| text_or_empty(el, "CommandKey"));
        Ok(ChangeDUState { operations, command_key })
    }

    fn encode_body(&self, w: &mut XmlWriter) {
        for op in &self.operations {
            op.encode(w);
        }
        if let Some(k) = &self.command_key {
            w.leaf("CommandKey", k);
        }
    }
}

empty_rpc!(
    /// `ChangeDUStateResponse`, CPE to ACS (no arguments).
    ChangeDUStateResponse
);
