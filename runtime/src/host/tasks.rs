//! The WIT `tasks` interface: spawn into the run's scheduler, join, join-all, cancel.
//! An instance without a scheduler (a `task`-world run) is told that spawning needs a flow.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::connector_error;
use crate::bindings::tasks::{self as wit, Host, HostTaskHandle, TaskError, TaskOptions};
use crate::bindings::types::ErrorKind;
use crate::config::FailurePolicy;
use crate::flow::slots::Slot;
use crate::flow::{Scheduler, TaskCell, TaskOutcome};
use crate::host::{HostState, WitResult};

/// Who a run is, as every instance of it is told (`tasks.run-info`): the same in all of them.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// A UUID made for the run.
    pub run_id: String,
    /// The flow `aw-run` runs (none: the component names no flows).
    pub flow: Option<String>,
    /// `--params`: a JSON object.
    pub params: String,
    pub started_ms: u64,
    pub failure_policy: FailurePolicy,
}

impl RunInfo {
    /// A new run of `flow` with `params` (JSON text; `{}` for none), starting now.
    pub fn new(
        flow: Option<String>,
        params: Option<String>,
        failure_policy: FailurePolicy,
    ) -> RunInfo {
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        RunInfo {
            run_id: super::artifacts::random_uuid(),
            flow,
            params: params.unwrap_or_else(|| "{}".to_string()),
            started_ms,
            failure_policy,
        }
    }
}

/// Which task attempt an instance runs (`tasks.attempt-info`).
#[derive(Debug, Clone)]
pub struct AttemptIdentity {
    pub task: String,
    /// The task's spawn sequence number in the run.
    pub sequence: u64,
    /// The attempt's number, from 1.
    pub number: u32,
}

/// The guest's handle on a spawned task.
pub struct TaskHandle(pub Arc<TaskCell>);

/// What an instance may do with `tasks`: the run's scheduler and the instance's spawn depth.
#[derive(Clone)]
pub struct TaskScope {
    pub scheduler: Arc<Scheduler>,
    pub depth: u32,
    /// The attempt's concurrency slot (none for the flow itself, which holds none).
    pub slot: Option<Arc<Slot>>,
}

impl Host for HostState {
    async fn spawn(
        &mut self,
        name: String,
        input: String,
        options: Option<TaskOptions>,
    ) -> WitResult<Resource<TaskHandle>> {
        let scope = self.scope()?;
        let parent = scope.slot.as_ref().map(|s| s.id);
        let spawned = scope
            .scheduler
            .spawn(name, input, options, scope.depth + 1, parent);
        Ok(self.table.push(TaskHandle(spawned?))?)
    }

    async fn spawn_after(
        &mut self,
        name: String,
        input: String,
        after: Vec<Resource<TaskHandle>>,
        options: Option<TaskOptions>,
    ) -> WitResult<Resource<TaskHandle>> {
        let scope = self.scope()?;
        let after = after
            .iter()
            .map(|h| Ok(self.table.get(h)?.0.clone()))
            .collect::<wasmtime::Result<Vec<_>>>()?;
        let parent = scope.slot.as_ref().map(|s| s.id);
        let spawned =
            scope
                .scheduler
                .spawn_after(name, input, options, scope.depth + 1, parent, after)?;
        Ok(self.table.push(TaskHandle(spawned))?)
    }

    async fn join_all(
        &mut self,
        handles: Vec<Resource<TaskHandle>>,
    ) -> wasmtime::Result<Vec<TaskOutcome>> {
        let cells = handles
            .iter()
            .map(|h| Ok(self.table.get(h)?.0.clone()))
            .collect::<wasmtime::Result<Vec<_>>>()?;
        let slot = self.waiting(&cells);
        let mut results = Vec::with_capacity(cells.len());
        for cell in cells {
            results.push(cell.join().await);
        }
        if let Some(slot) = slot {
            slot.reclaim().await;
        }
        Ok(results)
    }

    async fn run_info(&mut self) -> wasmtime::Result<wit::RunContext> {
        let info = self.run_identity();
        Ok(wit::RunContext {
            run_id: info.run_id.clone(),
            flow: info.flow.clone(),
            params: info.params.clone(),
            started_ms: info.started_ms,
            failure_policy: info.failure_policy.name().to_string(),
        })
    }

    async fn attempt_info(&mut self) -> wasmtime::Result<Option<wit::AttemptContext>> {
        let Some(attempt) = &self.attempt else {
            return Ok(None);
        };
        let run_id = &self.run_identity().run_id;
        // The same text as the attempt's `Nats-Msg-Id` on a cluster.
        let task_key = format!("{run_id}.{}", attempt.sequence);
        Ok(Some(wit::AttemptContext {
            task: attempt.task.clone(),
            task_id: attempt.sequence,
            attempt: attempt.number,
            attempt_key: format!("{task_key}.{}", attempt.number),
            task_key,
        }))
    }
}

impl HostState {
    /// Who the run is: a remote coordinator's run on a worker, else the context's own.
    fn run_identity(&self) -> &RunInfo {
        match self.info.as_deref() {
            Some(remote) => remote,
            None => self
                .run
                .info
                .get_or_init(|| RunInfo::new(None, None, FailurePolicy::default())),
        }
    }

    /// The run's scheduler and this instance's depth; spawning outside a flow is refused.
    fn scope(&self) -> WitResult<TaskScope> {
        self.tasks.clone().ok_or_else(|| {
            let why = if self.info.is_some() {
                "this task runs on a cluster worker, where spawning tasks is not supported yet: spawn them from the flow, or run without --cluster"
            } else {
                "spawning tasks needs a flow: export `run-task` and `describe` (the `flow` world)"
            };
            connector_error(ErrorKind::Config, why).into()
        })
    }

    /// A task about to wait for `cells` lends its slot, so they can run: to its own children,
    /// or to any task if one of them is not its child (a spawn answered by a running task of
    /// the cache). Nothing is lent when they have all settled already.
    fn waiting(&self, cells: &[Arc<TaskCell>]) -> Option<Arc<Slot>> {
        let slot = self.tasks.as_ref()?.slot.clone()?;
        if cells.iter().all(|c| c.is_settled()) {
            return None;
        }
        let open = cells
            .iter()
            .any(|c| !c.is_settled() && c.parent != Some(slot.id));
        slot.lend(open);
        Some(slot)
    }
}

impl HostTaskHandle for HostState {
    async fn join(
        &mut self,
        r: Resource<TaskHandle>,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        let cell = self.table.get(&r)?.0.clone();
        let slot = self.waiting(std::slice::from_ref(&cell));
        let outcome = cell.join().await;
        if let Some(slot) = slot {
            slot.reclaim().await;
        }
        Ok(outcome)
    }

    async fn cancel(&mut self, r: Resource<TaskHandle>) -> wasmtime::Result<()> {
        self.table.get(&r)?.0.cancel();
        Ok(())
    }

    async fn name(&mut self, r: Resource<TaskHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.0.name.clone())
    }

    async fn drop(&mut self, r: Resource<TaskHandle>) -> wasmtime::Result<()> {
        // Dropping a handle does not cancel the task: the run waits for it at the end.
        self.table.delete(r)?;
        Ok(())
    }
}
