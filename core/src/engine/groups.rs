//! Groups (MGR-005) and group operations: one operation per member, at most `concurrency` in
//! flight, with a live aggregate (GwCap FORA-001 / FORA-002).

use std::collections::{BTreeSet, HashMap};

use futures::StreamExt as _;
use serde::Serialize;
use unidm_models::{
    Action, Aggregate, DeviceId, ErrorKind, Group, GroupOperation, MemberResult, OperationError, OperationId,
    OperationState,
};

use super::ops::{CreateOptions, GroupRun};
use super::Engine;
use crate::store::{OperationQuery, Write};
use crate::CoreError;

/// A group operation with its aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupOperationView {
    /// The group operation.
    #[serde(flatten)]
    pub operation: GroupOperation,
    /// Counts per state and per-member results.
    pub aggregate: Aggregate,
}

/// Ids of groups and rules appear in URLs: keep them to a safe alphabet.
pub(crate) fn check_name(field: &str, id: &str) -> Result<(), CoreError> {
    if !crate::is_safe_name(id) {
        return Err(CoreError::bad_input(field, crate::NAME_RULE));
    }
    Ok(())
}

impl Engine {
    /// Creates or replaces a group.
    pub async fn put_group(&self, group: Group) -> Result<Group, CoreError> {
        check_name("id", &group.id)?;
        let inner = self.inner();
        let commit = {
            let mut groups = inner.groups.write().map_err(|_| CoreError::Shutdown)?;
            groups.insert(group.id.clone(), group.clone());
            inner.persist(vec![Write::group(&group)], Vec::new())
        };
        commit.wait().await?;
        Ok(group)
    }

    /// One group.
    pub fn group(&self, id: &str) -> Result<Group, CoreError> {
        let groups = self.inner().groups.read().map_err(|_| CoreError::Shutdown)?;
        groups.get(id).cloned().ok_or_else(|| CoreError::not_found("group", id))
    }

    /// Every group.
    pub fn groups(&self) -> Result<Vec<Group>, CoreError> {
        Ok(self.inner().groups.read().map_err(|_| CoreError::Shutdown)?.values().cloned().collect())
    }

    /// Deletes a group (its past group operations stay).
    pub async fn delete_group(&self, id: &str) -> Result<(), CoreError> {
        let inner = self.inner();
        let commit = {
            let mut groups = inner.groups.write().map_err(|_| CoreError::Shutdown)?;
            groups.remove(id).ok_or_else(|| CoreError::not_found("group", id))?;
            inner.persist(vec![Write::DeleteGroup(id.to_owned())], Vec::new())
        };
        commit.wait().await
    }

    /// The group's members now: its explicit members and every device its selector matches.
    pub fn group_members(&self, id: &str) -> Result<Vec<DeviceId>, CoreError> {
        let group = self.group(id)?;
        let mut members: BTreeSet<DeviceId> = group.members.clone();
        if group.selector.is_some() {
            let devs = self.inner().devices.read().map_err(|_| CoreError::Shutdown)?;
            members.extend(devs.values().filter(|d| group.contains(d)).map(|d| d.id.clone()));
        }
        Ok(members.into_iter().collect())
    }

    /// Starts `action` on every member of a group, at most `concurrency` at a time. Every
    /// member operation is committed with the group operation before this returns; members
    /// that lack the function fail at once with `notSupported`.
    pub async fn start_group_operation(
        &self,
        group: &str,
        action: Action,
        concurrency: Option<u32>,
        opts: CreateOptions,
    ) -> Result<GroupOperation, CoreError> {
        action.validate().map_err(|(field, msg)| CoreError::bad_input(format!("action.{field}"), msg))?;
        let concurrency = concurrency.unwrap_or(self.inner().config.default_group_concurrency);
        if concurrency == 0 {
            return Err(CoreError::bad_input("concurrency", "must be at least 1"));
        }
        let members = self.group_members(group)?;
        if members.is_empty() {
            return Err(CoreError::Conflict(format!("group `{group}` has no members")));
        }
        let inner = self.inner();
        if members.len() > inner.config.max_group_members {
            return Err(CoreError::bad_input("group", format!("more than {} members", inner.config.max_group_members)));
        }
        let mut ids = inner.allocate_ids(members.len() + 1).await?.into_iter();
        let gid = ids.next().ok_or(CoreError::Shutdown)?;
        let now = inner.clock.now();
        let function = action.function();
        let mut ops = Vec::with_capacity(members.len());
        for (m, id) in members.iter().zip(ids) {
            let mut op = inner.new_operation(id, m.clone(), action.clone(), &opts, now);
            op.group_operation = Some(gid);
            if inner.device(m).is_some_and(|d| !d.supports(function)) {
                op.state = OperationState::Failed;
                op.error = Some(OperationError::new(
                    ErrorKind::NotSupported,
                    format!("the device does not support {}", function.as_str()),
                ));
            }
            ops.push(op);
        }
        let gop = GroupOperation {
            id: gid,
            group: group.to_owned(),
            action,
            concurrency,
            members: ops.iter().map(|o| o.id).collect(),
            cancelled: false,
            created_at: now,
        };
        let (commit, start) = {
            let mut state = inner.ops.lock().map_err(|_| CoreError::Shutdown)?;
            let states: HashMap<_, _> = ops.iter().map(|o| (o.id, o.state)).collect();
            let mut run = GroupRun::new(gop.clone(), states);
            let start = run.pump();
            let mut writes = vec![Write::group_operation(&gop)];
            for op in &ops {
                writes.push(Write::operation(op));
                if !op.state.is_terminal() {
                    state.active.insert(op.id, op.clone());
                }
            }
            let events = vec![run.event()];
            state.runs.insert(gid, run);
            (inner.persist(writes, events), start)
        };
        inner.created.fetch_add(ops.len() as u64, std::sync::atomic::Ordering::Relaxed);
        commit.wait().await?;
        for id in start {
            inner.dispatch(id);
        }
        Ok(gop)
    }

    /// A group operation with its aggregate.
    pub async fn group_operation(&self, id: OperationId) -> Result<GroupOperationView, CoreError> {
        let store = &self.inner().store;
        let gop = store.get_group_operation(id).await?.ok_or_else(|| CoreError::not_found("group operation", id))?;
        let members = store
            .list_operations(OperationQuery { group_operation: Some(id), limit: usize::MAX >> 1, ..Default::default() })
            .await?;
        let mut results: Vec<MemberResult> = members
            .items
            .into_iter()
            .map(|o| MemberResult {
                device: o.device,
                operation: o.id,
                state: o.state,
                result: o.result,
                error: o.error,
            })
            .collect();
        results.sort_by_key(|r| r.operation);
        Ok(GroupOperationView { operation: gop, aggregate: Aggregate::from_members(results) })
    }

    /// Group operations, newest first, optionally of one group.
    pub async fn group_operations(&self, group: Option<&str>) -> Result<Vec<GroupOperation>, CoreError> {
        let mut all = self.inner().store.load_group_operations().await?;
        all.retain(|g| group.is_none_or(|name| g.group == name));
        all.reverse();
        Ok(all)
    }

    /// Cancels every unfinished member of a group operation.
    pub async fn cancel_group_operation(&self, id: OperationId) -> Result<GroupOperationView, CoreError> {
        let mut view = self.group_operation(id).await?;
        view.operation.cancelled = true;
        let commit = {
            let mut state = self.inner().ops.lock().map_err(|_| CoreError::Shutdown)?;
            if let Some(run) = state.runs.get_mut(&id) {
                run.op.cancelled = true;
            }
            self.inner().persist(vec![Write::group_operation(&view.operation)], Vec::new())
        };
        commit.wait().await?;
        // Members held here are cancelled in one go; members other nodes hold, many at a time.
        let unfinished: Vec<OperationId> =
            view.aggregate.results.iter().filter(|m| !m.state.is_terminal()).map(|m| m.operation).collect();
        let inner = self.inner();
        let (here, elsewhere): (Vec<OperationId>, Vec<OperationId>) = {
            let state = inner.ops.lock().map_err(|_| CoreError::Shutdown)?;
            unfinished.into_iter().partition(|id| state.active.contains_key(id))
        };
        inner.cancel_all(here).await?;
        let results: Vec<Result<_, CoreError>> = futures::stream::iter(elsewhere)
            .map(|id| async move { self.cancel_operation(id).await })
            .buffer_unordered(64)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(_) | Err(CoreError::Conflict(_)) | Err(CoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.group_operation(id).await
    }
}
