//! The WIT `postgres` interface: grant check at `open`, then every method delegates to a
//! [`Session`] (client: a pooled connection per statement; transaction: its pinned one).

use std::sync::Arc;

use tokio::sync::Mutex;
use wasmtime::component::Resource;

use super::errors::from_pool;
use super::resources::{lock, PgClient, PgCopySink, PgCopySource, PgTransaction, PinnedConn};
use super::session::{self, Session};
use super::sql::quote_ident;
use super::stream::{Batch, PgRowStream};
use crate::bindings::postgres::{
    Column, CopyFormat, CopyFrom, EncodedRows, Host, HostClient, HostCopySink, HostCopySource,
    HostRowStream, HostTransaction, Isolation, Row, RowSet, StatementOptions, StatementResult,
    TableInfo, TransactionOptions, Value,
};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::host::{HostState, WitResult};

impl HostState {
    fn client_session(&self, client: &Resource<PgClient>) -> wasmtime::Result<Session> {
        let c = self.table.get(client)?;
        Ok(Session::Pool {
            pool: c.pool.clone(),
            settings: c.settings.clone(),
            cancel: c.cancel.clone(),
        })
    }

    fn tx_session(&self, tx: &Resource<PgTransaction>) -> wasmtime::Result<Session> {
        let t = self.table.get(tx)?;
        Ok(Session::Transaction {
            conn: t.conn.clone(),
            settings: t.settings.clone(),
        })
    }
}

impl Host for HostState {
    async fn open(&mut self, profile: Option<String>) -> WitResult<Resource<PgClient>> {
        let name = profile
            .unwrap_or_else(|| self.run.grants.profile().to_string())
            .to_lowercase();
        self.run.grants.connector("postgres", &name)?;
        let (pool, settings, cancel) = self.run.postgres.get(&name)?;
        Ok(self.table.push(PgClient {
            pool,
            settings,
            cancel,
        })?)
    }
}

/// The statement methods, identical on `client` and `transaction` but for the session.
macro_rules! statement_methods {
    ($resource:ty, $session:ident) => {
        async fn query(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Value>,
            o: Option<StatementOptions>,
        ) -> WitResult<RowSet> {
            Ok(self.$session(&r)?.query(sql, params, o).await?)
        }

        async fn query_one(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Value>,
            o: Option<StatementOptions>,
        ) -> WitResult<Option<Row>> {
            Ok(self.$session(&r)?.query_one(sql, params, o).await?)
        }

        async fn query_value(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Value>,
            o: Option<StatementOptions>,
        ) -> WitResult<Option<Value>> {
            Ok(self.$session(&r)?.query_value(sql, params, o).await?)
        }

        async fn execute(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Value>,
            o: Option<StatementOptions>,
        ) -> WitResult<u64> {
            Ok(self.$session(&r)?.execute(sql, params, o).await?)
        }

        async fn run(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Value>,
            o: Option<StatementOptions>,
        ) -> WitResult<StatementResult> {
            Ok(self.$session(&r)?.statement(sql, params, o).await?)
        }

        async fn execute_many(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Vec<Value>>,
            o: Option<StatementOptions>,
        ) -> WitResult<u64> {
            Ok(self.$session(&r)?.execute_many(sql, params, o).await?)
        }

        async fn query_stream(
            &mut self,
            r: Resource<$resource>,
            sql: String,
            params: Vec<Value>,
            batch_rows: u32,
        ) -> WitResult<Resource<PgRowStream>> {
            let budget = self.budget.clone();
            let stream = self
                .$session(&r)?
                .query_stream(sql, params, batch_rows, budget)
                .await?;
            Ok(self.table.push(stream)?)
        }

        async fn copy_in(
            &mut self,
            r: Resource<$resource>,
            table: String,
            columns: Vec<String>,
            format: CopyFormat,
        ) -> WitResult<Resource<PgCopySink>> {
            let sink = self.$session(&r)?.copy_in(table, columns, format).await?;
            Ok(self.table.push(sink)?)
        }

        async fn copy_out(
            &mut self,
            r: Resource<$resource>,
            source: CopyFrom,
            columns: Vec<String>,
            format: CopyFormat,
        ) -> WitResult<Resource<PgCopySource>> {
            let source = self.$session(&r)?.copy_out(source, columns, format).await?;
            Ok(self.table.push(source)?)
        }
    };
}

impl HostClient for HostState {
    statement_methods!(PgClient, client_session);

    async fn begin(
        &mut self,
        r: Resource<PgClient>,
        options: TransactionOptions,
    ) -> WitResult<Resource<PgTransaction>> {
        let (pool, settings, cancel) = {
            let c = self.table.get(&r)?;
            (c.pool.clone(), c.settings.clone(), c.cancel.clone())
        };
        let made = async {
            let object = pool
                .get()
                .await
                .map_err(|e| from_pool(&e, &settings.profile))?;
            let mut sql = String::from("BEGIN");
            if let Some(level) = options.isolation {
                sql.push_str(match level {
                    Isolation::ReadCommitted => " ISOLATION LEVEL READ COMMITTED",
                    Isolation::RepeatableRead => " ISOLATION LEVEL REPEATABLE READ",
                    Isolation::Serializable => " ISOLATION LEVEL SERIALIZABLE",
                });
            }
            let read_only = options.read_only || settings.read_only;
            sql.push_str(if read_only {
                " READ ONLY"
            } else {
                " READ WRITE"
            });
            if options.deferrable {
                sql.push_str(" DEFERRABLE");
            }
            if settings.read_only {
                // Take the snapshot now: afterwards `SET TRANSACTION READ WRITE` is refused,
                // so a guest cannot lift the profile's read-only rule.
                sql.push_str("; SELECT 1");
            }
            object
                .batch_execute(&sql)
                .await
                .map_err(|e| super::errors::from_pg(&e))?;
            Ok::<_, ConnectorError>(PgTransaction {
                conn: Arc::new(Mutex::new(PinnedConn::new(object, &cancel))),
                settings,
            })
        }
        .await?;
        Ok(self.table.push(made)?)
    }

    async fn reflect(
        &mut self,
        r: Resource<PgClient>,
        schema: String,
        tables: Vec<String>,
    ) -> WitResult<Vec<TableInfo>> {
        Ok(super::reflect::reflect(self.client_session(&r)?, schema, tables).await?)
    }

    async fn drop(&mut self, r: Resource<PgClient>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl HostTransaction for HostState {
    statement_methods!(PgTransaction, tx_session);

    async fn savepoint(&mut self, r: Resource<PgTransaction>, name: String) -> WitResult<()> {
        self.tx_command(&r, format!("SAVEPOINT {}", quote_ident(&name)))
            .await
    }

    async fn rollback_to(&mut self, r: Resource<PgTransaction>, name: String) -> WitResult<()> {
        self.tx_command(&r, format!("ROLLBACK TO SAVEPOINT {}", quote_ident(&name)))
            .await
    }

    async fn release(&mut self, r: Resource<PgTransaction>, name: String) -> WitResult<()> {
        self.tx_command(&r, format!("RELEASE SAVEPOINT {}", quote_ident(&name)))
            .await
    }

    async fn commit(&mut self, r: Resource<PgTransaction>) -> WitResult<()> {
        self.tx_end(&r, true, false).await
    }

    async fn rollback(&mut self, r: Resource<PgTransaction>) -> WitResult<()> {
        self.tx_end(&r, false, false).await
    }

    async fn commit_and_chain(&mut self, r: Resource<PgTransaction>) -> WitResult<()> {
        self.tx_end(&r, true, true).await
    }

    async fn rollback_and_chain(&mut self, r: Resource<PgTransaction>) -> WitResult<()> {
        self.tx_end(&r, false, true).await
    }

    async fn drop(&mut self, r: Resource<PgTransaction>) -> wasmtime::Result<()> {
        let tx = self.table.delete(r)?;
        // Still open: roll back and return the connection (closed instead if that fails).
        if let Ok(mut guard) = lock(&tx.conn) {
            if guard.client().is_ok() {
                let _ = guard.finish("ROLLBACK").await;
            }
        }
        Ok(())
    }
}

impl HostState {
    async fn tx_command(&mut self, r: &Resource<PgTransaction>, sql: String) -> WitResult<()> {
        let conn = self.table.get(r)?.conn.clone();
        let done = async {
            super::statements::no_nul(&sql, "the savepoint name")?;
            let mut guard = lock(&conn)?;
            let done = guard
                .client()?
                .batch_execute(&sql)
                .await
                .map_err(|e| super::errors::from_pg(&e));
            guard.record(&done);
            done
        }
        .await;
        Ok(done?)
    }

    /// Ends the transaction (see [`super::resources::PinnedConn::end`]).
    async fn tx_end(
        &mut self,
        r: &Resource<PgTransaction>,
        commit: bool,
        chain: bool,
    ) -> WitResult<()> {
        let (conn, read_only) = {
            let tx = self.table.get(r)?;
            (tx.conn.clone(), tx.settings.read_only)
        };
        let ended = async {
            let mut guard = lock(&conn)?;
            guard.end(commit, chain, read_only).await
        }
        .await;
        Ok(ended?)
    }
}

impl HostRowStream for HostState {
    async fn columns(&mut self, r: Resource<PgRowStream>) -> wasmtime::Result<Vec<Column>> {
        Ok(self.table.get(&r)?.columns.clone())
    }

    async fn next(&mut self, r: Resource<PgRowStream>) -> WitResult<Option<Vec<Vec<Value>>>> {
        let stream = self.table.get_mut(&r)?;
        Ok(match stream.next(false).await? {
            Some(Batch::Values(rows, _)) => Some(rows),
            _ => None,
        })
    }

    async fn next_encoded(&mut self, r: Resource<PgRowStream>) -> WitResult<Option<EncodedRows>> {
        let stream = self.table.get_mut(&r)?;
        Ok(match stream.next(true).await? {
            Some(Batch::Encoded { count, data, .. }) => Some(EncodedRows { count, data }),
            _ => None,
        })
    }

    async fn drop(&mut self, r: Resource<PgRowStream>) -> wasmtime::Result<()> {
        let stream = self.table.delete(r)?;
        stream.close().await;
        Ok(())
    }
}

impl HostCopySink for HostState {
    async fn write(&mut self, r: Resource<PgCopySink>, data: Vec<u8>) -> WitResult<()> {
        Ok(session::copy_write(self.table.get_mut(&r)?, data).await?)
    }

    async fn finish(&mut self, r: Resource<PgCopySink>) -> WitResult<u64> {
        Ok(session::copy_finish(self.table.get_mut(&r)?).await?)
    }

    async fn drop(&mut self, r: Resource<PgCopySink>) -> wasmtime::Result<()> {
        // Dropping an unfinished sink sends CopyFail: nothing of the copy is kept, and a
        // transaction it ran in is aborted by the server, so its commit must fail.
        let mut sink = self.table.delete(r)?;
        if sink.sink.is_some() {
            if let super::resources::CopyConn::Transaction(guard) = &mut sink.conn {
                guard.aborted(ConnectorError {
                    kind: ErrorKind::Permanent,
                    message: "a COPY in this transaction was dropped unfinished, and the server aborted the transaction".into(),
                    code: Some("57014".into()),
                    retryable: false,
                });
            }
        }
        Ok(())
    }
}

impl HostCopySource for HostState {
    async fn read(&mut self, r: Resource<PgCopySource>) -> WitResult<Option<Vec<u8>>> {
        Ok(session::copy_read(self.table.get_mut(&r)?).await?)
    }

    async fn rows(&mut self, r: Resource<PgCopySource>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&r)?.counter.rows())
    }

    async fn drop(&mut self, r: Resource<PgCopySource>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}
