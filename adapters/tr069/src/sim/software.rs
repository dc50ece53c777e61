//! The simulated CPE's software modules (TR-157 `SoftwareModules.`, CWMP 1.2 ChangeDUState):
//! Install creates a Deployment Unit and its Execution Unit, Uninstall removes them.

use super::tree::ParameterTree;
use crate::digest::md5_hex;
use crate::rpc::change_du_state::OperationStruct;
use crate::rpc::common::FaultStruct;
use crate::rpc::du_state_change_complete::OpResultStruct;
use crate::rpc::fault::FaultCode;
use crate::soap::Value;

const UNKNOWN_TIME: &str = "0001-01-01T00:00:00Z";

/// A UUID-shaped id derived from the URL (BBF `DeploymentUnitUUID` format).
fn uuid_for(url: &str) -> String {
    let h = md5_hex(url.as_bytes());
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn failed(uuid: &str, code: FaultCode) -> OpResultStruct {
    OpResultStruct {
        uuid: uuid.into(),
        current_state: "Failed".into(),
        start_time: UNKNOWN_TIME.into(),
        complete_time: UNKNOWN_TIME.into(),
        fault: FaultStruct { fault_code: code.code(), fault_string: code.standard_string().unwrap_or_default().into() },
        ..OpResultStruct::default()
    }
}

/// Carries out one ChangeDUState operation on the tree.
pub(crate) fn apply(tree: &mut ParameterTree, op: &OperationStruct) -> OpResultStruct {
    let base = format!("{}SoftwareModules.", tree.root());
    let du = format!("{base}DeploymentUnit.");
    match op {
        OperationStruct::Install(i) => {
            let uuid = i.uuid.clone().unwrap_or_else(|| uuid_for(&i.url));
            let exists =
                tree.nodes.iter().any(|(k, n)| k.starts_with(&du) && k.ends_with(".UUID") && n.value.text == uuid);
            if exists {
                return failed(&uuid, FaultCode::DuplicateDeploymentUnit);
            }
            let n = (1..).find(|n| !tree.nodes.contains_key(&format!("{du}{n}."))).unwrap_or(1);
            let name = i.url.rsplit('/').next().unwrap_or("module").to_owned();
            let eu = format!("{base}ExecutionUnit.{n}.");
            for (leaf, v) in [("UUID", uuid.as_str()), ("Name", &name), ("Version", "1.0"), ("URL", &i.url)] {
                tree.insert(&format!("{du}{n}.{leaf}"), Value::string(v), false);
            }
            tree.insert(&format!("{du}{n}.Status"), Value::string("Installed"), false);
            tree.insert(&format!("{eu}Name"), Value::string(name.as_str()), false);
            tree.insert(&format!("{eu}Status"), Value::string("Idle"), false);
            tree.insert(&format!("{eu}RequestedState"), Value::string("Idle"), true);
            OpResultStruct {
                uuid,
                deployment_unit_ref: format!("{du}{n}"),
                version: "1.0".into(),
                current_state: "Installed".into(),
                resolved: true,
                execution_unit_ref_list: eu.trim_end_matches('.').to_owned(),
                start_time: UNKNOWN_TIME.into(),
                complete_time: UNKNOWN_TIME.into(),
                fault: FaultStruct::default(),
            }
        }
        OperationStruct::Uninstall(u) => {
            let found = tree
                .nodes
                .iter()
                .find(|(k, n)| k.starts_with(&du) && k.ends_with(".UUID") && n.value.text == u.uuid)
                .map(|(k, _)| k.trim_end_matches("UUID").to_owned());
            let Some(instance) = found else { return failed(&u.uuid, FaultCode::UnknownDeploymentUnit) };
            let n = instance.trim_end_matches('.').rsplit('.').next().unwrap_or_default().to_owned();
            let _ = tree.delete_object(&instance);
            let _ = tree.delete_object(&format!("{base}ExecutionUnit.{n}."));
            OpResultStruct {
                uuid: u.uuid.clone(),
                deployment_unit_ref: instance.trim_end_matches('.').to_owned(),
                current_state: "Uninstalled".into(),
                start_time: UNKNOWN_TIME.into(),
                complete_time: UNKNOWN_TIME.into(),
                ..OpResultStruct::default()
            }
        }
        OperationStruct::Update(u) => failed(u.uuid.as_deref().unwrap_or_default(), FaultCode::MethodNotSupported),
    }
}
