//! The host objects behind the guest's `client`, `transaction`, `row-stream`, `copy-sink` and
//! `copy-source` handles, and the rules that keep the pool clean:
//! - a connection goes back only when the work on it ended cleanly; one that may still be inside
//!   a transaction, a statement or a COPY (the guest trapped, timed out, or dropped a handle) is
//!   closed instead, and the server rolls back whatever was open;
//! - on the way back its session state is reset (`RESET ALL`, `CLOSE ALL`, `DISCARD TEMP`, ...)
//!   in the background, so nothing one task `SET` reaches the next, and the guest does not wait
//!   a round trip for it.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use deadpool_postgres::{ClientWrapper, Object, Pool};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_postgres::{CopyInSink, CopyOutStream};

use super::cancel::Canceller;
use super::copy::RowCounter;
use super::errors::{error, from_commit, from_pg};
use super::settings::PgSettings;
use crate::bindings::types::{ConnectorError, ErrorKind};

/// A guest's `client`: a connector profile's pool.
pub struct PgClient {
    pub pool: Pool,
    pub settings: Arc<PgSettings>,
    pub cancel: Canceller,
}

/// A checked-out connection that is closed, not returned, if dropped while dirty.
pub struct PinnedConn {
    object: Option<Object>,
    /// Sends the server a cancel request when the connection is closed while dirty.
    cancel: Canceller,
    /// True while the connection may be inside a transaction, a statement or a COPY.
    dirty: bool,
    /// The session may carry state a guest set; reset it before reuse.
    reset: bool,
    /// Inside a transaction: the server error that aborted it, until a statement succeeds
    /// again (only a rollback to a savepoint can). A commit then would be a silent rollback.
    aborted_by: Option<ConnectorError>,
}

impl PinnedConn {
    /// Holds `object`, dirty from the start: it becomes clean only when work on it completes.
    /// Reset on the way back unless [`PinnedConn::new_for_statement`] says it need not be.
    pub fn new(object: Object, cancel: &Canceller) -> Self {
        PinnedConn {
            object: Some(object),
            cancel: cancel.clone(),
            dirty: true,
            reset: true,
            aborted_by: None,
        }
    }

    /// Holds `object` for one statement that cannot change session state, so no reset is due
    /// unless [`PinnedConn::needs_reset`] is called.
    pub fn new_for_statement(object: Object, cancel: &Canceller) -> Self {
        PinnedConn {
            object: Some(object),
            cancel: cancel.clone(),
            dirty: true,
            reset: false,
            aborted_by: None,
        }
    }

    /// The session may now carry guest state.
    pub fn needs_reset(&mut self) {
        self.reset = true;
    }

    /// The work on the connection completed: it may go back to the pool.
    pub fn mark_clean(&mut self) {
        self.dirty = false;
    }

    /// The connection, unless the transaction already ended.
    pub fn client(&self) -> Result<&ClientWrapper, ConnectorError> {
        self.object
            .as_deref()
            .ok_or_else(|| error(ErrorKind::InvalidInput, "the transaction has already ended"))
    }

    /// Records the outcome of a statement run inside this connection's transaction. A server
    /// error aborts a PostgreSQL transaction: every later statement but a rollback fails, and a
    /// COMMIT is answered with a rollback. A success means it is not (or no longer) aborted.
    pub fn record<T>(&mut self, result: &Result<T, ConnectorError>) {
        match result {
            Ok(_) => self.aborted_by = None,
            Err(e) if e.code.is_some() && self.aborted_by.is_none() => {
                self.aborted_by = Some(e.clone())
            }
            Err(_) => {}
        }
    }

    /// Marks the transaction aborted by `error` (a COPY the guest dropped unfinished).
    pub fn aborted(&mut self, error: ConnectorError) {
        self.aborted_by.get_or_insert(error);
    }

    /// The error a commit must fail with when the server already rolled the transaction back:
    /// the earlier error's kind and code, its message saying nothing was committed.
    fn refused_commit(&mut self) -> Option<ConnectorError> {
        self.aborted_by.take().map(|mut e| {
            e.message = format!(
                "commit refused: the server rolled this transaction back after an earlier error, so none of it was committed (the earlier error: {})",
                e.message
            );
            e
        })
    }

    /// Ends the transaction: COMMIT, or ROLLBACK when `commit` is false or when the server
    /// already aborted it after an error the guest caught (then failing with that error: never
    /// success for lost writes). With `chain` the next transaction begins at once on the same
    /// connection (`AND CHAIN`), which stays pinned; without it the connection goes back. A
    /// `read_only` profile's transaction that wrote anyway is rolled back and refused.
    pub async fn end(
        &mut self,
        commit: bool,
        chain: bool,
        read_only: bool,
    ) -> Result<(), ConnectorError> {
        let mut refused = if commit { self.refused_commit() } else { None };
        if commit && read_only && refused.is_none() {
            refused = super::statements::wrote_nothing(self.client()?).await.err();
        }
        let verb = if commit && refused.is_none() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        if chain {
            let sql = format!("{verb} AND CHAIN");
            let done = self
                .client()?
                .batch_execute(&sql)
                .await
                .map_err(|e| ended_by(&e, &sql));
            self.record(&done);
            done?;
        } else {
            self.finish(verb).await?;
        }
        refused.map_or(Ok(()), Err)
    }

    /// Ends the transaction with `sql` (COMMIT / ROLLBACK) and returns the connection to the
    /// pool; on failure the connection is closed instead.
    pub async fn finish(&mut self, sql: &str) -> Result<(), ConnectorError> {
        let result = self
            .client()?
            .batch_execute(sql)
            .await
            .map_err(|e| ended_by(&e, sql));
        if result.is_ok() {
            self.dirty = false;
        }
        if let Some(object) = self.object.take() {
            give_back(object, self.dirty, self.reset, &self.cancel);
        }
        result
    }
}

/// The failure of `sql`, which ends a transaction: a COMMIT's broken connection is an unknown
/// outcome; a ROLLBACK's is not (the server rolls back a transaction whose client is gone).
fn ended_by(e: &tokio_postgres::Error, sql: &str) -> ConnectorError {
    if sql.starts_with("COMMIT") {
        from_commit(e, sql)
    } else {
        from_pg(e)
    }
}

impl Drop for PinnedConn {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            give_back(object, self.dirty, self.reset, &self.cancel);
        }
    }
}

/// What deadpool's `Clean` recycling runs, minus nothing: session state back to the
/// connection's defaults, prepared statements kept (they belong to the host's cache).
const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
    SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// Returns a connection to the pool (after resetting its session when `reset`), or closes it
/// when `dirty` or when the reset fails.
fn give_back(object: Object, dirty: bool, reset: bool, cancel: &Canceller) {
    if dirty {
        // A statement may still be running on it: cancel it (the server would go on until it
        // next writes to the closed connection), then detach from the pool and drop: the
        // connection closes and the server rolls back.
        cancel.cancel(object.cancel_token());
        drop(Object::take(object));
        tracing::debug!("closed a pooled connection that was left mid-work");
        return;
    }
    if !reset {
        drop(object);
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if let Err(e) = object.batch_execute(RESET_SESSION).await {
                    tracing::debug!("closing a pooled connection whose reset failed: {e}");
                    drop(Object::take(object));
                }
            });
        }
        Err(_) => drop(Object::take(object)),
    }
}

/// A connection shared by a transaction and the streams opened inside it.
pub type SharedConn = Arc<Mutex<PinnedConn>>;

/// Locks a shared connection without waiting: the guest is single-threaded, so a held lock
/// means an unfinished COPY on the same transaction.
pub fn lock(conn: &SharedConn) -> Result<OwnedMutexGuard<PinnedConn>, ConnectorError> {
    conn.clone().try_lock_owned().map_err(|_| {
        error(
            ErrorKind::InvalidInput,
            "the transaction is busy with an unfinished COPY: finish or drop it first",
        )
    })
}

/// A guest's `transaction`.
pub struct PgTransaction {
    pub conn: SharedConn,
    pub settings: Arc<PgSettings>,
}

/// The connection a COPY holds for its whole duration.
// One per open COPY, moved only when the COPY starts and ends: not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum CopyConn {
    /// Checked out for a client-level COPY (autocommit); clean once the COPY completed.
    Pooled(PinnedConn),
    /// A transaction's connection, locked until the COPY ends.
    Transaction(OwnedMutexGuard<PinnedConn>),
    /// The COPY ended and its connection went back (to the pool, or to the transaction).
    Released,
}

/// A guest's `copy-sink`.
pub struct PgCopySink {
    pub sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    pub conn: CopyConn,
}

/// A guest's `copy-source`.
pub struct PgCopySource {
    pub stream: Option<Pin<Box<CopyOutStream>>>,
    pub counter: RowCounter,
    pub conn: CopyConn,
}

impl CopyConn {
    /// The COPY completed: hand the connection back right away, not when the guest drops
    /// the handle (the transaction can run statements again; the pool can reuse it).
    /// Records a COPY step's outcome on the transaction it runs in (see [`PinnedConn::record`]).
    pub fn record<T>(&mut self, result: &Result<T, ConnectorError>) {
        if let CopyConn::Transaction(guard) = self {
            guard.record(result);
        }
    }

    pub fn completed(&mut self) {
        if let CopyConn::Pooled(pinned) = self {
            pinned.mark_clean();
        }
        *self = CopyConn::Released;
    }
}
