//! Groups of devices (MGR-005) and group operations fanned out to their members.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Action, Device, DeviceId, OperationError, OperationId, OperationState, Protocol, Timestamp};

/// Matches devices on protocol, identity and labels. Every field given must match; an empty
/// selector matches every device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// Protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Manufacturer, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Firmware version, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// Whether `device` matches.
    pub fn matches(&self, device: &Device) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        self.protocol.is_none_or(|p| p == device.protocol)
            && eq(&self.manufacturer, &device.identity.manufacturer)
            && eq(&self.model, &device.identity.model)
            && eq(&self.version, &device.identity.fw_version)
            && self.labels.iter().all(|(k, v)| device.labels.get(k) == Some(v))
    }
}

/// A group: an explicit member list, a selector, or both (their union).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The group's id (URL-safe name).
    pub id: String,
    /// Words for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Explicit members.
    #[serde(default)]
    pub members: BTreeSet<DeviceId>,
    /// Devices matching this selector are members too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Group {
    /// Whether `device` belongs to the group.
    pub fn contains(&self, device: &Device) -> bool {
        self.members.contains(&device.id) || self.selector.as_ref().is_some_and(|s| s.matches(device))
    }
}

/// An action run on every member of a group, at most `concurrency` at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupOperation {
    /// Its id (from the same space as operation ids).
    pub id: OperationId,
    /// The group it was started on.
    pub group: String,
    /// What each member does.
    pub action: Action,
    /// Most member operations in flight at once.
    pub concurrency: u32,
    /// The member operations, one per device, fixed when the group operation starts.
    pub members: Vec<OperationId>,
    /// Cancelled by a user: members not yet finished are cancelled.
    #[serde(default)]
    pub cancelled: bool,
    /// When it was started.
    pub created_at: Timestamp,
}

/// The live aggregate of a group operation (GwCap FORA-002: one answer for many devices).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Aggregate {
    /// Members in all.
    pub total: usize,
    /// Members per state (`pending`, `running`, `succeeded`, ...).
    pub counts: BTreeMap<String, usize>,
    /// Whether every member has ended.
    pub done: bool,
    /// One line per member.
    pub results: Vec<MemberResult>,
}

/// One member's outcome within a group operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberResult {
    /// The device.
    pub device: DeviceId,
    /// Its operation.
    pub operation: OperationId,
    /// Where it stands.
    pub state: OperationState,
    /// Its result, if it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Its error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
}

impl Aggregate {
    /// Builds the aggregate from member results.
    pub fn from_members(results: Vec<MemberResult>) -> Self {
        let mut counts = BTreeMap::new();
        for r in &results {
            *counts.entry(r.state.as_str().to_owned()).or_insert(0) += 1;
        }
        Aggregate { total: results.len(), done: results.iter().all(|r| r.state.is_terminal()), counts, results }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ep: &str, man: &str, labels: &[(&str, &str)]) -> Device {
        let mut d = Device::new(DeviceId::lwm2m(ep).unwrap(), Timestamp(0));
        d.identity.manufacturer = Some(man.into());
        d.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        d
    }

    #[test]
    fn selector_matches_all_given_fields() {
        let d = dev("a", "Acme", &[("site", "north"), ("tier", "1")]);
        assert!(Selector::default().matches(&d));
        let s = Selector {
            manufacturer: Some("Acme".into()),
            labels: [("site".into(), "north".into())].into(),
            ..Default::default()
        };
        assert!(s.matches(&d));
        let s = Selector { manufacturer: Some("Other".into()), ..Default::default() };
        assert!(!s.matches(&d));
        let s = Selector { labels: [("site".into(), "south".into())].into(), ..Default::default() };
        assert!(!s.matches(&d));
        let s = Selector { protocol: Some(Protocol::Tr069), ..Default::default() };
        assert!(!s.matches(&d));
    }

    #[test]
    fn group_is_union_of_members_and_selector() {
        let a = dev("a", "Acme", &[]);
        let b = dev("b", "Other", &[]);
        let g = Group {
            id: "g".into(),
            description: None,
            members: [b.id.clone()].into(),
            selector: Some(Selector { manufacturer: Some("Acme".into()), ..Default::default() }),
            created_at: Timestamp(0),
        };
        assert!(g.contains(&a) && g.contains(&b));
        assert!(!g.contains(&dev("c", "Else", &[])));
    }

    #[test]
    fn aggregate_counts_states() {
        let m = |i: u64, state| MemberResult {
            device: DeviceId::lwm2m(&format!("d{i}")).unwrap(),
            operation: OperationId(i),
            state,
            result: None,
            error: None,
        };
        let a = Aggregate::from_members(vec![
            m(1, OperationState::Succeeded),
            m(2, OperationState::Running),
            m(3, OperationState::Succeeded),
        ]);
        assert_eq!(a.total, 3);
        assert_eq!(a.counts["succeeded"], 2);
        assert_eq!(a.counts["running"], 1);
        assert!(!a.done);
    }
}
