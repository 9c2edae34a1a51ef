//! A guest's `row-stream`: a server-side cursor read in batches of rows.
//!
//! Inside a guest transaction the cursor shares the transaction's connection, so each batch is
//! fetched when the guest asks for it and the transaction's own statements can run in between.
//!
//! A client-level stream has a connection and a transaction of its own. From the guest's first
//! pull a producer task reads it with two FETCHes in flight: the server computes the next batch
//! while the host converts this one and the guest works on the one before (a single FETCH at a
//! time left the server idle whenever the guest computed). Host memory stays at three batches
//! (one being read, one queued, one handed to the guest), and a guest that stops pulling stops
//! the producer, whose unread rows then stop the server through TCP back-pressure. Each FETCH is
//! its own statement, so a statement timeout bounds a batch, not the whole stream.

use deadpool_postgres::ClientWrapper;
use std::future::Future;
use std::task::Poll;

use futures_util::{pin_mut, TryStreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{RowStream, Statement};

use super::errors::{error, from_pg};
use super::resources::{lock, PinnedConn, SharedConn};
use super::{rowcodec, statements};
use crate::bindings::postgres::{Column, Value};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::{Budget, Held};

type Result<T> = std::result::Result<T, ConnectorError>;

/// One batch of rows, in the form the guest reads, with the budget bytes it holds until the
/// guest has it.
pub enum Batch {
    Values(Vec<Vec<Value>>, Held),
    Encoded {
        count: u32,
        data: Vec<u8>,
        held: Held,
    },
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Values(rows, _) => rows.len(),
            Batch::Encoded { count, .. } => *count as usize,
        }
    }
}

/// Bytes a batch may take in host memory, and the instance's budget they count against.
#[derive(Clone)]
pub struct BatchLimits {
    /// The profile's `max_bytes` (a batch is a buffered result too).
    pub max_bytes: u64,
    pub profile: String,
    pub budget: Budget,
}

/// Budget bytes taken at a time while a batch is read (not one reservation per row).
const BUDGET_STEP: u64 = 64 << 10;

/// A declared cursor and the FETCH that reads it.
pub struct Cursor {
    name: String,
    fetch_sql: String,
    /// Rows per FETCH; a shorter batch means the result is exhausted.
    batch: u32,
    limits: BatchLimits,
}

impl Cursor {
    /// Declares cursor `name` over `sql` with `params` on `client`, in its current transaction;
    /// returns it with the result's columns.
    pub async fn declare(
        client: &ClientWrapper,
        name: String,
        sql: &str,
        params: Vec<Value>,
        batch: u32,
        limits: BatchLimits,
    ) -> Result<(Cursor, Vec<Column>)> {
        let plain = statements::prepare(client, sql).await?;
        let declare = statements::prepare(
            client,
            &format!("DECLARE {name} NO SCROLL CURSOR FOR {sql}"),
        )
        .await?;
        let converted = statements::params(&declare, params)?;
        client
            .execute_raw(&declare, converted.iter())
            .await
            .map_err(|e| from_pg(&e))?;
        let fetch_sql = format!("FETCH FORWARD {batch} FROM {name}");
        Ok((
            Cursor {
                name,
                fetch_sql,
                batch,
                limits,
            },
            statements::columns(&plain),
        ))
    }
}

/// A guest's `row-stream`.
pub struct PgRowStream {
    pub columns: Vec<Column>,
    /// How the guest reads this stream, fixed by its first call: `next` or `next-encoded`.
    encoded: Option<bool>,
    state: State,
}

// One per open stream, moved only when it changes state: not worth a box.
#[allow(clippy::large_enum_variant)]
enum State {
    /// Inside a guest transaction, on its connection: FETCH on demand.
    Shared {
        conn: SharedConn,
        cursor: Cursor,
    },
    /// Client-level, not read yet: its own connection, inside its own transaction.
    Owned {
        conn: PinnedConn,
        cursor: Cursor,
    },
    /// Client-level, read by a producer task in batches of `batch` rows.
    Producing {
        batches: mpsc::Receiver<Result<Batch>>,
        batch: u32,
    },
    /// Failed: every later pull gets the same error.
    Failed(ConnectorError),
    Done,
}

impl PgRowStream {
    /// A stream over `cursor` inside a guest transaction.
    pub fn shared(conn: SharedConn, cursor: Cursor, columns: Vec<Column>) -> Self {
        PgRowStream {
            columns,
            encoded: None,
            state: State::Shared { conn, cursor },
        }
    }

    /// A client-level stream over `cursor`, whose transaction on `conn` it ends.
    pub fn owned(conn: PinnedConn, cursor: Cursor, columns: Vec<Column>) -> Self {
        PgRowStream {
            columns,
            encoded: None,
            state: State::Owned { conn, cursor },
        }
    }

    /// The next batch, as values (`encoded` false) or encoded; `None` at the end.
    pub async fn next(&mut self, encoded: bool) -> Result<Option<Batch>> {
        if *self.encoded.get_or_insert(encoded) != encoded {
            return Err(error(
                ErrorKind::InvalidInput,
                "a row stream is read with `next` or with `next-encoded`, not both",
            ));
        }
        if let State::Shared { conn, .. } = &self.state {
            lock(conn)?; // a transaction busy with a COPY fails this pull only, not the stream
        }
        let result = match std::mem::replace(&mut self.state, State::Done) {
            State::Done => return Ok(None),
            State::Failed(e) => Err(e),
            State::Shared { conn, cursor } => match fetch_shared(&conn, &cursor, encoded).await {
                Ok(batch) if batch.len() == cursor.batch as usize => {
                    self.state = State::Shared { conn, cursor };
                    Ok(batch)
                }
                other => other,
            },
            State::Owned { conn, cursor } => {
                let (sender, batches) = mpsc::channel(1);
                let batch = cursor.batch;
                tokio::spawn(produce(conn, cursor, encoded, sender));
                receive(&mut self.state, batches, batch).await
            }
            State::Producing { batches, batch } => receive(&mut self.state, batches, batch).await,
        };
        match result {
            Ok(batch) if batch.len() == 0 => Ok(None),
            Ok(batch) => Ok(Some(batch)),
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Releases a stream the guest dropped before its end: close the cursor, or end its own
    /// transaction (a running producer does that itself once it sees the guest hung up).
    pub async fn close(self) {
        match self.state {
            State::Shared { conn, cursor } => {
                if let Ok(guard) = lock(&conn) {
                    if let Ok(client) = guard.client() {
                        let _ = client
                            .batch_execute(&format!("CLOSE {}", cursor.name))
                            .await;
                    }
                }
            }
            State::Owned { mut conn, .. } => {
                let _ = conn.finish("ROLLBACK").await;
            }
            State::Producing { .. } | State::Failed(_) | State::Done => {}
        }
    }
}

/// Waits for the producer's next batch; after the last (short) one the stream is done.
async fn receive(
    state: &mut State,
    mut batches: mpsc::Receiver<Result<Batch>>,
    batch: u32,
) -> Result<Batch> {
    match batches.recv().await {
        Some(Ok(rows)) => {
            if rows.len() == batch as usize {
                *state = State::Producing { batches, batch };
            }
            Ok(rows)
        }
        Some(Err(e)) => Err(e),
        // Only a producer that died (the run is shutting down) hangs up before the last batch.
        None => Err(error(
            ErrorKind::Transient,
            "the row stream stopped before its last row",
        )),
    }
}

/// One FETCH on a transaction's connection; closes the cursor after the last batch.
async fn fetch_shared(conn: &SharedConn, cursor: &Cursor, encoded: bool) -> Result<Batch> {
    let guard = lock(conn)?;
    let client = guard.client()?;
    let fetch = statements::prepare(client, &cursor.fetch_sql).await?;
    let batch = read_batch(start_fetch(client, &fetch).await?, encoded, cursor).await?;
    if batch.len() < cursor.batch as usize {
        client
            .batch_execute(&format!("CLOSE {}", cursor.name))
            .await
            .map_err(|e| from_pg(&e))?;
    }
    Ok(batch)
}

/// Sends the cursor's FETCH (it has no parameters); resolves once the server starts answering.
async fn start_fetch(client: &ClientWrapper, fetch: &Statement) -> Result<RowStream> {
    client
        .query_raw(fetch, std::iter::empty::<i32>())
        .await
        .map_err(|e| from_pg(&e))
}

/// Converts the rows of one FETCH as they arrive, to values or to the compact encoding,
/// within the profile's `max_bytes` per batch and the instance's budget.
async fn read_batch(rows: RowStream, encoded: bool, cursor: &Cursor) -> Result<Batch> {
    pin_mut!(rows);
    let mut meter = Meter {
        limits: &cursor.limits,
        held: Held::default(),
        bytes: 0,
    };
    if encoded {
        let (mut count, mut data) = (0u32, Vec::new());
        while let Some(row) = rows.try_next().await.map_err(|e| from_pg(&e))? {
            let before = data.len();
            rowcodec::encode_row(&row, &mut data).map_err(|m| error(ErrorKind::InvalidInput, m))?;
            meter.add((data.len() - before) as u64)?;
            count += 1;
        }
        let held = meter.done()?;
        return Ok(Batch::Encoded { count, data, held });
    }
    // The guest's batch-rows is no reason to allocate: the rows decide.
    let mut out = Vec::with_capacity((cursor.batch as usize).min(1024));
    while let Some(row) = rows.try_next().await.map_err(|e| from_pg(&e))? {
        let values = statements::read_row(&row)?;
        meter.add(values.iter().map(statements::value_size).sum())?;
        out.push(values);
    }
    Ok(Batch::Values(out, meter.done()?))
}

/// Counts a batch's bytes as it is read.
struct Meter<'a> {
    limits: &'a BatchLimits,
    held: Held,
    bytes: u64,
}

impl Meter<'_> {
    fn add(&mut self, bytes: u64) -> Result<()> {
        self.bytes += bytes;
        if self.bytes > self.limits.max_bytes {
            return Err(error(
                ErrorKind::Limit,
                format!(
                    "one batch of this row stream passed max_bytes ({} bytes) of postgres profile `{}`: ask for fewer rows per batch (batch-rows) or raise max_bytes",
                    self.limits.max_bytes, self.limits.profile
                ),
            ));
        }
        if self.bytes >= self.held.bytes() + BUDGET_STEP {
            self.reserve()?;
        }
        Ok(())
    }

    fn reserve(&mut self) -> Result<()> {
        let more = self.bytes - self.held.bytes();
        if self.held.bytes() == 0 {
            self.held = self.limits.budget.reserve(more, "a row stream's batch")?;
            return Ok(());
        }
        self.held.grow(more, "a row stream's batch")
    }

    fn done(mut self) -> Result<Held> {
        if self.bytes > self.held.bytes() {
            self.reserve()?;
        }
        Ok(self.held)
    }
}

/// Reads a client-level stream to its end and ends its transaction: COMMIT after the last
/// batch, ROLLBACK when the guest hung up or a FETCH failed (the connection is closed instead
/// if that fails too).
async fn produce(
    mut conn: PinnedConn,
    cursor: Cursor,
    encoded: bool,
    batches: mpsc::Sender<Result<Batch>>,
) {
    let pumped = match conn.client() {
        Ok(client) => pump(client, &cursor, encoded, &batches).await,
        Err(e) => Err(e),
    };
    match pumped {
        Ok(Some(last)) => {
            let ended = conn.finish("COMMIT").await.map(|()| last);
            let _ = batches.send(ended).await;
        }
        Ok(None) => {
            let _ = conn.finish("ROLLBACK").await;
        }
        Err(e) => {
            let _ = batches.send(Err(e)).await;
            let _ = conn.finish("ROLLBACK").await;
        }
    }
}

/// Sends every full batch of the cursor to the guest, keeping the next FETCH queued on the
/// server behind the one being read. Returns the last (short) batch, or `None` when the guest
/// dropped the stream.
async fn pump(
    client: &ClientWrapper,
    cursor: &Cursor,
    encoded: bool,
    batches: &mpsc::Sender<Result<Batch>>,
) -> Result<Option<Batch>> {
    let fetch = statements::prepare(client, &cursor.fetch_sql).await?;
    let mut current = start_fetch(client, &fetch).await?;
    loop {
        let mut queued = Box::pin(start_fetch(client, &fetch));
        // One poll sends the FETCH to the connection; its rows are read after this batch's.
        let mut early = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(answer) = queued.as_mut().poll(cx) {
                early = Some(answer);
            }
            Poll::Ready(())
        })
        .await;
        let batch = read_batch(current, encoded, cursor).await?;
        let next = async move {
            match early {
                Some(answer) => answer,
                None => queued.await,
            }
        };
        if batch.len() < cursor.batch as usize {
            // The queued FETCH found the cursor exhausted; read its empty answer.
            read_batch(next.await?, encoded, cursor).await?;
            return Ok(Some(batch));
        }
        if batches.send(Ok(batch)).await.is_err() {
            return Ok(None); // the guest hung up; the connection discards the queued FETCH's rows
        }
        current = next.await?;
    }
}
