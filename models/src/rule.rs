//! Provisioning rules (MGR-006, MGR-012): when a matching device first appears or boots,
//! enqueue operations for it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Action, Selector, Timestamp};

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// The first time unidm hears from the device (or it was pre-provisioned and now makes
    /// its first contact).
    FirstContact,
    /// The device reports a boot (LwM2M registration, CWMP `1 BOOT`, OMA DM session after boot).
    Boot,
}

/// A provisioning rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The rule's id (URL-safe name).
    pub id: String,
    /// Words for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which devices it applies to.
    #[serde(default)]
    pub selector: Selector,
    /// When it fires.
    #[schema(min_items = 1)]
    pub triggers: Vec<Trigger>,
    /// What it enqueues, in order. A firmware action whose `version` the device already runs is
    /// skipped, so a rule can hold a fleet at a target version.
    #[schema(min_items = 1)]
    pub actions: Vec<Action>,
    /// Disabled rules do not fire.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

fn default_true() -> bool {
    true
}
