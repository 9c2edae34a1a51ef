//! The host objects behind the guest's `client`, `transaction`, `row-stream`, `copy-sink` and
//! `copy-source` handles, and the rule that keeps the pool clean: a connection that may still
//! be inside a transaction is never returned to the pool; it is closed (the server rolls back).

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use deadpool_postgres::{ClientWrapper, Object, Pool};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_postgres::{CopyInSink, CopyOutStream};

use super::copy::RowCounter;
use super::errors::{error, from_pg};
use super::settings::PgSettings;
use crate::host::bindings::postgres::Column;
use crate::host::bindings::types::{ConnectorError, ErrorKind};

/// A guest's `client`: a connector profile's pool.
pub struct PgClient {
    pub pool: Pool,
    pub settings: Arc<PgSettings>,
}

/// A pooled connection held across calls (a transaction, a client-level stream).
pub struct PinnedConn {
    object: Option<Object>,
    /// True while the connection may be inside a transaction.
    in_transaction: bool,
}

impl PinnedConn {
    pub fn new(object: Object, in_transaction: bool) -> Self {
        PinnedConn { object: Some(object), in_transaction }
    }

    /// The connection, unless the transaction already ended.
    pub fn client(&self) -> Result<&ClientWrapper, ConnectorError> {
        self.object.as_deref().ok_or_else(|| error(ErrorKind::InvalidInput, "the transaction has already ended"))
    }

    /// Ends the transaction with `sql` (COMMIT / ROLLBACK) and returns the connection to the
    /// pool; on failure the connection is closed instead.
    pub async fn finish(&mut self, sql: &str) -> Result<(), ConnectorError> {
        let result = self.client()?.batch_execute(sql).await.map_err(|e| from_pg(&e));
        if result.is_ok() {
            self.in_transaction = false;
        }
        if let Some(object) = self.object.take() {
            if self.in_transaction {
                drop(Object::take(object));
            }
        }
        self.in_transaction = false;
        result
    }
}

impl Drop for PinnedConn {
    fn drop(&mut self) {
        if self.in_transaction {
            if let Some(object) = self.object.take() {
                // Detach from the pool and drop: the connection closes and the server rolls
                // the transaction back. Runs when a guest traps or times out mid-transaction.
                drop(Object::take(object));
                tracing::debug!("closed a connection left inside a transaction");
            }
        }
    }
}

/// A connection shared by a transaction and the streams opened inside it.
pub type SharedConn = Arc<Mutex<PinnedConn>>;

/// Locks a shared connection without waiting: the guest is single-threaded, so a held lock
/// means an unfinished COPY on the same transaction.
pub fn lock(conn: &SharedConn) -> Result<OwnedMutexGuard<PinnedConn>, ConnectorError> {
    conn.clone().try_lock_owned().map_err(|_| {
        error(ErrorKind::InvalidInput, "the transaction is busy with an unfinished COPY: finish or drop it first")
    })
}

/// A guest's `transaction`.
pub struct PgTransaction {
    pub conn: SharedConn,
    pub settings: Arc<PgSettings>,
}

/// A guest's `row-stream`: a server-side cursor.
pub struct PgRowStream {
    pub conn: SharedConn,
    pub cursor: String,
    pub fetch_sql: String,
    /// Rows per FETCH; a shorter batch means the result is exhausted.
    pub batch: u32,
    pub columns: Vec<Column>,
    pub done: bool,
    /// The stream began its own transaction (client-level) and ends it.
    pub owns_transaction: bool,
}

/// The connection a COPY holds for its whole duration.
pub enum CopyConn {
    /// Checked out for a client-level COPY (autocommit).
    Pooled(Object),
    /// A transaction's connection, locked until the COPY ends.
    Transaction(OwnedMutexGuard<PinnedConn>),
}

/// A guest's `copy-sink`.
pub struct PgCopySink {
    pub sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    pub _conn: CopyConn,
}

/// A guest's `copy-source`.
pub struct PgCopySource {
    pub stream: Option<Pin<Box<CopyOutStream>>>,
    pub counter: RowCounter,
    pub _conn: CopyConn,
}
