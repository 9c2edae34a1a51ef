//! The bytes the host buffers on a guest's behalf (stream batches read ahead, download and
//! reader chunks, upload blocks), counted against a budget per instance and one per run.
//!
//! Without it host memory follows what a guest asks for: many open streams, readers or
//! writers each holding a batch or a block add up to far more than the guest's own memory
//! limit. An instance's budget is its memory limit, the run's is that times the tasks it may
//! run at once, so a run's worst-case host memory is a formula of its limits (README, Limits).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::bindings::connector_error;
use crate::bindings::types::{ConnectorError, ErrorKind};

/// A byte budget, shared by everything that buffers for one instance (or one run).
#[derive(Clone, Debug)]
pub struct Budget(Arc<Account>);

#[derive(Debug)]
struct Account {
    limit: u64,
    used: AtomicU64,
    /// Names the budget and the setting that raises it, for the limit error.
    scope: &'static str,
    /// The run's budget, for an instance's.
    parent: Option<Budget>,
}

impl Budget {
    /// The budget of a run whose instances may hold `limit` bytes between them.
    pub fn for_run(limit: u64) -> Budget {
        Budget(Arc::new(Account {
            limit,
            used: AtomicU64::new(0),
            scope: "the run's (limits.memory x limits.max_tasks)",
            parent: None,
        }))
    }

    /// The budget of one instance inside this run's, of `limit` bytes.
    pub fn for_instance(&self, limit: u64) -> Budget {
        Budget(Arc::new(Account {
            limit,
            used: AtomicU64::new(0),
            scope: "the task's (limits.memory)",
            parent: Some(self.clone()),
        }))
    }

    /// Bytes this budget allows.
    pub fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Holds `bytes` more for `what`, or says which budget they would exceed.
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<Held, ConnectorError> {
        self.take(bytes, what)?;
        Ok(Held {
            budget: Some(self.clone()),
            bytes,
        })
    }

    fn take(&self, bytes: u64, what: &str) -> Result<(), ConnectorError> {
        let account = &self.0;
        let mut used = account.used.load(Ordering::Relaxed);
        loop {
            let total = used.saturating_add(bytes);
            if total > account.limit {
                return Err(over_budget(what, bytes, used, account));
            }
            match account.used.compare_exchange_weak(
                used,
                total,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => used = now,
            }
        }
        if let Some(parent) = &account.parent {
            if let Err(e) = parent.take(bytes, what) {
                account.used.fetch_sub(bytes, Ordering::AcqRel);
                return Err(e);
            }
        }
        Ok(())
    }

    fn give_back(&self, bytes: u64) {
        self.0.used.fetch_sub(bytes, Ordering::AcqRel);
        if let Some(parent) = &self.0.parent {
            parent.give_back(bytes);
        }
    }
}

fn over_budget(what: &str, bytes: u64, used: u64, account: &Account) -> ConnectorError {
    connector_error(
        ErrorKind::Limit,
        format!(
            "{what}: the host would buffer {bytes} more bytes for the guest ({used} held already), past {} budget of {} bytes; read or write in smaller pieces (fewer rows per batch, a smaller chunk-size), close streams, readers and writers sooner, or raise limits.memory",
            account.scope, account.limit
        ),
    )
}

/// Bytes held in a [`Budget`], given back when dropped.
#[derive(Debug, Default)]
pub struct Held {
    budget: Option<Budget>,
    bytes: u64,
}

impl Held {
    /// Holds `more` bytes besides these.
    pub fn grow(&mut self, more: u64, what: &str) -> Result<(), ConnectorError> {
        if let Some(budget) = &self.budget {
            budget.take(more, what)?;
            self.bytes += more;
        }
        Ok(())
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(budget) = self.budget.take() {
            budget.give_back(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_the_instance_and_the_run_and_are_given_back() {
        let run = Budget::for_run(100);
        let (a, b) = (run.for_instance(60), run.for_instance(60));
        let held = a.reserve(50, "a").expect("fits");
        assert!(a.reserve(20, "a").is_err(), "past the instance's budget");
        let mut other = b.reserve(40, "b").expect("fits both");
        let refused = other.grow(20, "b").expect_err("past the run's budget");
        assert!(
            refused.message.contains("the run's") && refused.message.contains("100 bytes"),
            "{}",
            refused.message
        );
        assert_eq!(
            (b.used(), run.used()),
            (40, 90),
            "a refused growth holds nothing"
        );
        drop(held);
        other.grow(20, "b").expect("fits once a's bytes are back");
        assert_eq!((a.used(), b.used(), run.used()), (0, 60, 60));
        drop(other);
        assert_eq!(run.used(), 0);
    }
}
