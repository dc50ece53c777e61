//! Provisioning rules (MGR-006, MGR-012): on first contact or boot, matching rules enqueue
//! operations for the device.

use std::sync::Arc;

use unidm_models::{Action, Device, Rule, Trigger};

use super::groups::check_name;
use super::ops::CreateOptions;
use super::{Engine, Inner};
use crate::store::Write;
use crate::CoreError;

impl Inner {
    pub(crate) async fn fire_rules(self: &Arc<Self>, device: &Device, triggers: &[Trigger]) {
        let rules: Vec<Rule> = match self.rules.read() {
            Ok(r) => r
                .values()
                .filter(|r| r.enabled && r.triggers.iter().any(|t| triggers.contains(t)) && r.selector.matches(device))
                .cloned()
                .collect(),
            Err(_) => return,
        };
        for rule in rules {
            for action in &rule.actions {
                if let Action::Firmware(fw) = action {
                    if fw.version.is_some() && fw.version.as_deref() == device.firmware_version() {
                        tracing::debug!(device = %device.id, rule = %rule.id, "already at the target firmware");
                        continue;
                    }
                }
                if self.has_active(device, &rule.id, action) {
                    continue;
                }
                let created = self
                    .create_operation(&device.id, action.clone(), CreateOptions::default(), Some(rule.id.clone()))
                    .await;
                match created {
                    Ok(op) => tracing::info!(device = %device.id, rule = %rule.id, operation = %op.id, "rule enqueued"),
                    Err(e) => {
                        tracing::warn!(device = %device.id, rule = %rule.id, error = %e, "rule could not enqueue")
                    }
                }
            }
        }
    }

    /// Whether the same rule already has this action under way for the device (a device that
    /// reboots in a loop must not pile up copies).
    fn has_active(&self, device: &Device, rule: &str, action: &Action) -> bool {
        self.ops.lock().is_ok_and(|ops| {
            ops.active.values().any(|o| o.device == device.id && o.rule.as_deref() == Some(rule) && &o.action == action)
        })
    }
}

impl Engine {
    /// Creates or replaces a rule.
    pub async fn put_rule(&self, rule: Rule) -> Result<Rule, CoreError> {
        check_name("id", &rule.id)?;
        if rule.triggers.is_empty() {
            return Err(CoreError::bad_input("triggers", "name at least one of firstContact, boot"));
        }
        if rule.actions.is_empty() {
            return Err(CoreError::bad_input("actions", "a rule needs at least one action"));
        }
        for (i, a) in rule.actions.iter().enumerate() {
            a.validate().map_err(|(f, m)| CoreError::bad_input(format!("actions[{i}].{f}"), m))?;
        }
        let inner = self.inner();
        let commit = {
            let mut rules = inner.rules.write().map_err(|_| CoreError::Shutdown)?;
            rules.insert(rule.id.clone(), rule.clone());
            inner.persist(vec![Write::rule(&rule)], Vec::new())
        };
        commit.wait().await?;
        Ok(rule)
    }

    /// One rule.
    pub fn rule(&self, id: &str) -> Result<Rule, CoreError> {
        let rules = self.inner().rules.read().map_err(|_| CoreError::Shutdown)?;
        rules.get(id).cloned().ok_or_else(|| CoreError::not_found("rule", id))
    }

    /// Every rule.
    pub fn rules(&self) -> Result<Vec<Rule>, CoreError> {
        Ok(self.inner().rules.read().map_err(|_| CoreError::Shutdown)?.values().cloned().collect())
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, id: &str) -> Result<(), CoreError> {
        let inner = self.inner();
        let commit = {
            let mut rules = inner.rules.write().map_err(|_| CoreError::Shutdown)?;
            rules.remove(id).ok_or_else(|| CoreError::not_found("rule", id))?;
            inner.persist(vec![Write::DeleteRule(id.to_owned())], Vec::new())
        };
        commit.wait().await
    }
}
