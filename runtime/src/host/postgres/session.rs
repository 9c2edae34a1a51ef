//! What the statement methods of `client` and `transaction` have in common: where the
//! connection comes from. A client checks one out per statement; a transaction uses its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use deadpool_postgres::{ClientWrapper, Pool};
use futures_util::SinkExt;
use tracing::Instrument;

use super::cancel::Canceller;
use super::copy::RowCounter;
use super::errors::{after_commit, error, from_commit, from_pg, from_pool};
use super::resources::{lock, CopyConn, PgCopySink, PgCopySource, PinnedConn, SharedConn};
use super::settings::PgSettings;
use super::sql;
use super::statements::{self, wrapped, Wrap};
use super::stream::{BatchLimits, Cursor, PgRowStream};
use crate::bindings::postgres::{
    CopyFormat, CopyFrom, Row, RowSet, StatementOptions, StatementResult, Value,
};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::budget::Budget;

type Result<T> = std::result::Result<T, ConnectorError>;

/// Rows fetched per `row-stream.next` when the guest asks for 0.
const DEFAULT_BATCH_ROWS: u32 = 1000;

/// Where a statement runs.
pub enum Session {
    Pool {
        pool: Pool,
        settings: Arc<PgSettings>,
        cancel: Canceller,
    },
    Transaction {
        conn: SharedConn,
        settings: Arc<PgSettings>,
    },
}

impl Session {
    fn settings(&self) -> &PgSettings {
        match self {
            Session::Pool { settings, .. } | Session::Transaction { settings, .. } => settings,
        }
    }

    /// Runs `f` on this session's connection with the statement's wrapping.
    async fn run<T>(
        &self,
        sql: &str,
        options: Option<StatementOptions>,
        atomic: bool,
        f: impl AsyncFnOnce(&ClientWrapper) -> Result<T>,
    ) -> Result<T> {
        let span = tracing::debug_span!("pg_statement", profile = %self.settings().profile, sqlstate = tracing::field::Empty);
        let result = self.in_span(&span, sql, options, atomic, f).await;
        if let Err(e) = &result {
            span.record("sqlstate", e.code.as_deref().unwrap_or(""));
        }
        result
    }

    /// [`Session::run_in`] inside `span`. Built here, outside an `async fn`, so that the
    /// statement's future (kilobytes: the checkout and the query) is stored once in the
    /// caller's: a temporary moved into an awaited combinator keeps its own slot across the
    /// await, and the generated bindings allocate the whole future anew for every call.
    fn in_span<'a, T: 'a>(
        &'a self,
        span: &tracing::Span,
        sql: &'a str,
        options: Option<StatementOptions>,
        atomic: bool,
        f: impl AsyncFnOnce(&ClientWrapper) -> Result<T> + 'a,
    ) -> tracing::instrument::Instrumented<impl std::future::Future<Output = Result<T>> + 'a> {
        self.run_in(sql, options, atomic, f)
            .instrument(span.clone())
    }

    async fn run_in<T>(
        &self,
        sql: &str,
        options: Option<StatementOptions>,
        atomic: bool,
        f: impl AsyncFnOnce(&ClientWrapper) -> Result<T>,
    ) -> Result<T> {
        let timeout_ms = options.and_then(|o| o.timeout_ms);
        if let Some(command) = statements::transaction_control(sql) {
            return Err(error(
                ErrorKind::Denied,
                format!(
                    "`{command}` in SQL would start or end a transaction behind the host's back: use the SDK's transaction (begin, then commit or rollback) instead"
                ),
            ));
        }
        match self {
            Session::Pool {
                pool,
                settings,
                cancel,
            } => {
                let object = pool
                    .get()
                    .await
                    .map_err(|e| from_pool(&e, &settings.profile))?;
                let mut pinned = PinnedConn::new_for_statement(object, cancel);
                if statements::may_change_session(sql) {
                    pinned.needs_reset();
                }
                let wrap = Wrap {
                    in_transaction: false,
                    timeout_ms,
                    read_only: settings.read_only,
                    atomic,
                };
                // Without a transaction of its own, the statement commits as it completes.
                let commits_itself = !wrap.owns_transaction() && statements::may_write(sql);
                let mut result = wrapped(pinned.client()?, wrap, f).await;
                if commits_itself {
                    result =
                        result.map_err(|e| after_commit(e, "a statement that commits on its own"));
                }
                // Reached only when the call ran to its end (a cancelled call drops `pinned`
                // dirty, and the connection is closed rather than reused).
                pinned.mark_clean();
                result
            }
            Session::Transaction { conn, .. } => {
                let mut guard = lock(conn)?;
                let wrap = Wrap {
                    in_transaction: true,
                    timeout_ms,
                    read_only: false,
                    atomic,
                };
                let result = wrapped(guard.client()?, wrap, f).await;
                guard.record(&result);
                result
            }
        }
    }

    pub async fn query(
        &self,
        sql: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<RowSet> {
        let StatementResult { columns, rows, .. } = self.statement(sql, params, options).await?;
        Ok(RowSet { columns, rows })
    }

    /// Any statement, rows and count (`run` in the WIT).
    pub async fn statement(
        &self,
        sql: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<StatementResult> {
        let settings = self.settings();
        let (stmt, rows, rows_affected) = self
            .run(&sql, options, false, async |c| {
                statements::query(c, settings, &sql, params, None).await
            })
            .await?;
        Ok(StatementResult {
            columns: statements::columns(&stmt),
            rows,
            rows_affected,
        })
    }

    pub async fn query_one(
        &self,
        sql: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<Option<Row>> {
        let (stmt, rows, _) = self.first_row(sql, params, options).await?;
        Ok(rows.into_iter().next().map(|values| Row {
            columns: statements::columns(&stmt),
            values,
        }))
    }

    pub async fn query_value(
        &self,
        sql: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<Option<Value>> {
        let (_, rows, _) = self.first_row(sql, params, options).await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|values| values.into_iter().next()))
    }

    async fn first_row(
        &self,
        sql: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<statements::Buffered> {
        let settings = self.settings();
        self.run(&sql, options, false, async |c| {
            statements::query(c, settings, &sql, params, Some(1)).await
        })
        .await
    }

    pub async fn execute(
        &self,
        sql: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<u64> {
        self.run(&sql, options, false, async |c| {
            statements::execute(c, &sql, params).await
        })
        .await
    }

    pub async fn execute_many(
        &self,
        sql: String,
        lists: Vec<Vec<Value>>,
        options: Option<StatementOptions>,
    ) -> Result<u64> {
        self.run(&sql, options, true, async |c| {
            statements::execute_many(c, &sql, lists).await
        })
        .await
    }

    /// Opens a cursor over `sql`. A client-level stream begins a transaction of its own on a
    /// connection it keeps until the stream ends. Batches are at most the profile's `max_rows`
    /// rows (a larger `batch_rows` is lowered to it) and `max_bytes` bytes, and what they hold
    /// counts against `budget`.
    pub async fn query_stream(
        &self,
        sql: String,
        params: Vec<Value>,
        batch_rows: u32,
        budget: Budget,
    ) -> Result<PgRowStream> {
        static CURSORS: AtomicU64 = AtomicU64::new(0);
        let cursor = format!("aw_cursor_{}", CURSORS.fetch_add(1, Ordering::Relaxed));
        let settings = self.settings();
        let batch = match batch_rows {
            0 => DEFAULT_BATCH_ROWS,
            n => n,
        }
        .min(u32::try_from(settings.max_rows).unwrap_or(u32::MAX).max(1));
        let limits = BatchLimits {
            max_bytes: settings.max_bytes,
            profile: settings.profile.clone(),
            budget,
        };
        match self {
            Session::Pool {
                pool,
                settings,
                cancel,
            } => {
                let object = pool
                    .get()
                    .await
                    .map_err(|e| from_pool(&e, &settings.profile))?;
                let begin = if settings.read_only {
                    "BEGIN READ ONLY"
                } else {
                    "BEGIN"
                };
                object.batch_execute(begin).await.map_err(|e| from_pg(&e))?;
                let conn = PinnedConn::new(object, cancel);
                let (cursor, columns) =
                    Cursor::declare(conn.client()?, cursor, &sql, params, batch, limits).await?;
                Ok(PgRowStream::owned(conn, cursor, columns))
            }
            Session::Transaction { conn, .. } => {
                let (cursor, columns) = {
                    let mut guard = lock(conn)?;
                    let declared =
                        Cursor::declare(guard.client()?, cursor, &sql, params, batch, limits).await;
                    guard.record(&declared);
                    declared?
                };
                Ok(PgRowStream::shared(conn.clone(), cursor, columns))
            }
        }
    }

    /// Starts `COPY ... FROM STDIN`.
    pub async fn copy_in(
        &self,
        table: String,
        columns: Vec<String>,
        format: CopyFormat,
    ) -> Result<PgCopySink> {
        let statement = sql::copy_in(&table, &columns, &format)
            .map_err(|m| error(ErrorKind::InvalidInput, m))?;
        statements::no_nul(&statement, "the COPY's table, columns or options")?;
        let mut conn = self.copy_conn().await?;
        let started = copy_client(&conn)?
            .copy_in::<_, Bytes>(&statement)
            .await
            .map_err(|e| from_pg(&e));
        conn.record(&started);
        let sink = started?;
        Ok(PgCopySink {
            sink: Some(Box::pin(sink)),
            conn,
        })
    }

    /// Starts `COPY ... TO STDOUT`.
    pub async fn copy_out(
        &self,
        source: CopyFrom,
        columns: Vec<String>,
        format: CopyFormat,
    ) -> Result<PgCopySource> {
        let statement = match source {
            CopyFrom::Table(table) => sql::copy_out_table(&table, &columns, &format),
            CopyFrom::Query(_) if !columns.is_empty() => {
                Err("`columns` applies to a table; select the columns in the query".into())
            }
            CopyFrom::Query(query) => sql::copy_out_query(&query, &format),
        }
        .map_err(|m| error(ErrorKind::InvalidInput, m))?;
        statements::no_nul(&statement, "the COPY's query, table, columns or options")?;
        let mut conn = self.copy_conn().await?;
        let started = copy_client(&conn)?
            .copy_out(&statement)
            .await
            .map_err(|e| from_pg(&e));
        conn.record(&started);
        let stream = started?;
        Ok(PgCopySource {
            stream: Some(Box::pin(stream)),
            counter: RowCounter::new(&format),
            conn,
        })
    }

    async fn copy_conn(&self) -> Result<CopyConn> {
        match self {
            Session::Pool {
                pool,
                settings,
                cancel,
            } => {
                if settings.read_only {
                    return Err(error(ErrorKind::Denied, format!("postgres profile `{}` is read-only: COPY needs a transaction (begin one)", settings.profile)));
                }
                Ok(CopyConn::Pooled(PinnedConn::new(
                    pool.get()
                        .await
                        .map_err(|e| from_pool(&e, &settings.profile))?,
                    cancel,
                )))
            }
            Session::Transaction { conn, .. } => Ok(CopyConn::Transaction(lock(conn)?)),
        }
    }
}

fn copy_client(conn: &CopyConn) -> Result<&ClientWrapper> {
    match conn {
        CopyConn::Pooled(pinned) => pinned.client(),
        CopyConn::Transaction(guard) => guard.client(),
        CopyConn::Released => Err(error(
            ErrorKind::InvalidInput,
            "the copy has already finished",
        )),
    }
}

/// Sends one chunk into a COPY.
pub async fn copy_write(sink: &mut PgCopySink, data: Vec<u8>) -> Result<()> {
    let s = sink
        .sink
        .as_mut()
        .ok_or_else(|| error(ErrorKind::InvalidInput, "the copy has already finished"))?;
    let sent = s.send(Bytes::from(data)).await.map_err(|e| from_pg(&e));
    sink.conn.record(&sent);
    sent
}

/// Completes a COPY; returns the server's row count.
pub async fn copy_finish(sink: &mut PgCopySink) -> Result<u64> {
    let mut s = sink
        .sink
        .take()
        .ok_or_else(|| error(ErrorKind::InvalidInput, "the copy has already finished"))?;
    let finished = s.as_mut().finish().await.map_err(|e| match sink.conn {
        CopyConn::Pooled(_) => {
            from_commit(&e, "a COPY outside a transaction (it commits on its own)")
        }
        _ => from_pg(&e),
    });
    sink.conn.record(&finished);
    let rows = finished?;
    sink.conn.completed();
    Ok(rows)
}

/// Reads the next chunk of a COPY OUT.
pub async fn copy_read(source: &mut PgCopySource) -> Result<Option<Vec<u8>>> {
    use futures_util::StreamExt;
    let Some(stream) = source.stream.as_mut() else {
        return Ok(None);
    };
    match stream.next().await {
        Some(Ok(chunk)) => {
            source.counter.feed(&chunk);
            Ok(Some(chunk.to_vec()))
        }
        Some(Err(e)) => {
            source.stream = None;
            let failed = Err(from_pg(&e));
            source.conn.record(&failed);
            failed
        }
        None => {
            source.stream = None;
            source.conn.record(&Ok(()));
            source.conn.completed();
            Ok(None)
        }
    }
}
