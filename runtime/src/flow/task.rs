//! One spawned task as the run sees it: the cell its joiners wait on and its cancel switch,
//! and the errors, hashes and cache keys that describe it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};

use super::slots::{Expected, Slots};
use super::TaskOutcome;
use crate::bindings::connector_error;
use crate::bindings::tasks::TaskError;
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::Held;
use crate::engine::cache::hex;
use crate::error::{LimitHit, RunError};

/// One task: its result once settled, and its cancel switch.
pub struct TaskCell {
    pub name: String,
    /// The spawn's sequence number in the run: its `id` in the report's task graph.
    pub id: u64,
    pub(super) result: watch::Sender<Option<TaskOutcome>>,
    pub(super) cancel: watch::Sender<bool>,
    /// The run's budget bytes its result holds while the run keeps it.
    pub(super) held: Mutex<Held>,
    /// The slot id of the attempt that spawned it (none: the flow, or a cache hit).
    pub parent: Option<u64>,
    /// The tasks waiting for this one's result; `None` once settled.
    dependents: Mutex<Option<Vec<Arc<Readiness>>>>,
}

/// A task waiting for its dependencies: how many have still to settle, and the signal (with
/// its announced slot claim) once none has.
pub(super) struct Readiness {
    remaining: AtomicUsize,
    ready: Notify,
    claim: Mutex<Option<Expected>>,
}

impl Readiness {
    /// Waits behind `after`. Registered with each at once, so the task that settles the last
    /// of them announces this one's slot claim in the same step as its other dependents'.
    pub(super) fn behind(after: &[Arc<TaskCell>], slots: &Arc<Slots>) -> Arc<Readiness> {
        let readiness = Arc::new(Readiness {
            remaining: AtomicUsize::new(after.len() + 1),
            ready: Notify::new(),
            claim: Mutex::new(None),
        });
        let mut settled = 1;
        for dep in after {
            let mut dependents = lock(&dep.dependents);
            match dependents.as_mut() {
                Some(list) => list.push(readiness.clone()),
                None => settled += 1,
            }
        }
        if readiness.count_down(settled) {
            readiness.announce(slots);
        }
        readiness
    }

    /// Counts `n` dependencies as settled; true when that was the last.
    fn count_down(&self, n: usize) -> bool {
        self.remaining.fetch_sub(n, Ordering::AcqRel) == n
    }

    fn announce(&self, slots: &Arc<Slots>) {
        self.signal(slots.announce());
    }

    /// Hands the task its announced claim and wakes it.
    fn signal(&self, claim: Expected) {
        *lock(&self.claim) = Some(claim);
        self.ready.notify_one();
    }

    /// Resolves once every dependency has settled, with the task's announced slot claim.
    pub(super) async fn wait(&self) -> Option<Expected> {
        self.ready.notified().await;
        lock(&self.claim).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TaskCell {
    /// Waits for the task to settle.
    pub async fn join(&self) -> TaskOutcome {
        let mut rx = self.result.subscribe();
        loop {
            if let Some(outcome) = rx.borrow_and_update().clone() {
                return outcome;
            }
            if rx.changed().await.is_err() {
                return Err(cancelled_error(&self.name, 0, "the run ended"));
            }
        }
    }

    /// Whether the task has settled already.
    pub fn is_settled(&self) -> bool {
        self.result.borrow().is_some()
    }

    /// Settles the task; the dependents it was the last wait of are announced to `slots`
    /// together, before any of them runs, so they start by priority.
    pub(super) fn settle(&self, outcome: TaskOutcome, slots: &Arc<Slots>) {
        let dependents = {
            let mut dependents = lock(&self.dependents);
            self.result.send_replace(Some(outcome));
            dependents.take().unwrap_or_default()
        };
        let ready: Vec<_> = dependents.into_iter().filter(|r| r.count_down(1)).collect();
        let claims: Vec<_> = ready.iter().map(|_| slots.announce()).collect();
        for (readiness, claim) in ready.iter().zip(claims) {
            readiness.signal(claim);
        }
    }

    /// Asks the task to stop; a settled task is not affected.
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }
}

impl TaskCell {
    /// A task not settled yet, spawned by the attempt whose slot is `parent`.
    pub(super) fn new(name: &str, id: u64, parent: Option<u64>) -> Arc<TaskCell> {
        Arc::new(TaskCell {
            name: name.to_string(),
            id,
            result: watch::Sender::new(None),
            cancel: watch::Sender::new(false),
            held: Mutex::new(Held::default()),
            parent,
            dependents: Mutex::new(Some(Vec::new())),
        })
    }
}

/// A task that is already settled (a cache hit), its copy of the result counted in `held`.
pub(super) fn settled(name: &str, id: u64, outcome: TaskOutcome, held: Held) -> Arc<TaskCell> {
    let cell = TaskCell::new(name, id, None);
    *lock(&cell.held) = held;
    cell.result.send_replace(Some(outcome));
    *lock(&cell.dependents) = None;
    cell
}

/// The first 16 hex digits of the input's SHA-256, for reports.
pub(super) fn short_hash(input: &str) -> String {
    hex(&Sha256::digest(input.as_bytes())[..8])
}

/// The default cache key: a hash of the component, the task name and the input.
pub(super) fn cache_key(component: &str, name: &str, input: &str) -> String {
    let mut h = Sha256::new();
    for part in [component, name, input] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

pub(super) fn cancelled_error(name: &str, attempts: u32, why: &str) -> TaskError {
    TaskError {
        error: ConnectorError {
            kind: ErrorKind::Permanent,
            message: format!("task `{name}` {why}"),
            code: None,
            retryable: false,
        },
        attempts,
        limit: None,
        cancelled: true,
    }
}

/// The task error for an attempt's run error.
pub(super) fn task_error(error: &RunError, attempts: u32) -> TaskError {
    let (error, limit) = match error {
        RunError::Guest(g) => (g.clone(), None),
        RunError::Limit(hit) => {
            let name = match hit {
                LimitHit::Timeout { .. } => "timeout",
                LimitHit::Memory { .. } => "memory",
                LimitHit::Fuel { .. } => "fuel",
                LimitHit::HostCall { .. } => "host-call",
            };
            let kind = if name == "timeout" {
                ErrorKind::Timeout
            } else {
                ErrorKind::Limit
            };
            (
                connector_error(kind, hit.to_string()),
                Some(name.to_string()),
            )
        }
        other => (
            connector_error(ErrorKind::Permanent, other.to_string()),
            None,
        ),
    };
    TaskError {
        error,
        attempts,
        limit,
        cancelled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_separate_their_parts() {
        assert_ne!(cache_key("c", "ab", "c"), cache_key("c", "a", "bc"));
        assert_eq!(cache_key("c", "t", "{}"), cache_key("c", "t", "{}"));
    }
}
