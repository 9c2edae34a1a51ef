//! Running statements on one connection: prepare (cached), convert parameters, read rows
//! within the buffered-result limits, and wrap a statement in its own transaction when it has a
//! timeout or the profile is read-only.

use deadpool_postgres::ClientWrapper;
use futures_util::{future::try_join_all, pin_mut, TryStreamExt};
use tokio_postgres::Statement;

use super::errors::{error, from_commit, from_pg};
use super::settings::PgSettings;
use super::values::{read_column, to_param, Param};
use crate::bindings::postgres::{Column, Value};
use crate::bindings::types::{ConnectorError, ErrorKind};

/// Prepared statements kept per connection before the cache is cleared (a guest that builds
/// SQL text dynamically must not grow host memory without bound).
const STATEMENT_CACHE_LIMIT: usize = 256;

type Result<T> = std::result::Result<T, ConnectorError>;

/// Parameters one statement may have: the protocol counts them in 16 bits.
const MAX_PARAMS: usize = u16::MAX as usize;

/// Refuses text the protocol cannot carry: PostgreSQL strings end at a NUL byte, so one
/// inside SQL or a name would cut it short (a guest's mistake, not worth a retry).
pub fn no_nul(text: &str, what: &str) -> Result<()> {
    match text.find('\0') {
        None => Ok(()),
        Some(at) => Err(error(ErrorKind::InvalidInput, format!("{what} contains a NUL byte (at byte {at}); PostgreSQL cannot take one in SQL text or names"))),
    }
}

/// Refuses a placeholder past `$65535`: the server would accept it, but the protocol's 16-bit
/// count of the statement's parameters would wrap, and the connection lose its place. Only
/// placeholders count: `$` inside string literals, quoted identifiers, dollar-quoted bodies,
/// comments or names (`x$1`) is left alone.
fn placeholders_in_range(sql: &str) -> Result<()> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        i = match bytes[i] {
            b'\'' => skip_quoted(
                bytes,
                i + 1,
                b'\'',
                i > 0 && bytes[i - 1].eq_ignore_ascii_case(&b'e'),
            ),
            b'"' => skip_quoted(bytes, i + 1, b'"', false),
            b'-' if rest.starts_with(b"--") => {
                sql[i..].find('\n').map_or(bytes.len(), |j| i + j + 1)
            }
            b'/' if rest.starts_with(b"/*") => skip_block_comment(bytes, i),
            b'$' => {
                let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                let tag = rest[1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                let in_name = i > 0
                    && (bytes[i - 1].is_ascii_alphanumeric()
                        || bytes[i - 1] == b'_'
                        || bytes[i - 1] >= 0x80);
                if in_name {
                    i + 1
                } else if digits > 0 {
                    let number = &sql[i + 1..i + 1 + digits];
                    if digits > 5 || number.parse::<usize>().is_ok_and(|n| n > MAX_PARAMS) {
                        return Err(error(ErrorKind::InvalidInput, format!("placeholder ${number} is past ${MAX_PARAMS}, the most parameters one statement can take (send more rows with execute-many or COPY)")));
                    }
                    i + 1 + digits
                } else if rest.get(1 + tag) == Some(&b'$') {
                    // A dollar-quoted body: $tag$ ... $tag$.
                    let delimiter = &sql[i..i + tag + 2];
                    let from = i + tag + 2;
                    sql[from..]
                        .find(delimiter)
                        .map_or(bytes.len(), |j| from + j + delimiter.len())
                } else {
                    i + 1
                }
            }
            _ => i + 1,
        };
    }
    Ok(())
}

/// The index past a quoted run that opened before `from` (`''` or `""` doubled inside;
/// backslash escapes in `E'...'` strings).
fn skip_quoted(bytes: &[u8], mut from: usize, quote: u8, backslashes: bool) -> usize {
    while from < bytes.len() {
        match bytes[from] {
            b'\\' if backslashes => from += 2,
            b if b == quote && bytes.get(from + 1) == Some(&quote) => from += 2,
            b if b == quote => return from + 1,
            _ => from += 1,
        }
    }
    bytes.len()
}

/// The index past a (nested) block comment starting at `from`.
fn skip_block_comment(bytes: &[u8], mut from: usize) -> usize {
    let mut depth = 0usize;
    while from < bytes.len() {
        if bytes[from..].starts_with(b"/*") {
            depth += 1;
            from += 2;
        } else if bytes[from..].starts_with(b"*/") {
            depth = depth.saturating_sub(1);
            from += 2;
            if depth == 0 {
                return from;
            }
        } else {
            from += 1;
        }
    }
    bytes.len()
}

/// Prepares `sql` through the connection's statement cache.
pub async fn prepare(conn: &ClientWrapper, sql: &str) -> Result<Statement> {
    no_nul(sql, "the SQL")?;
    placeholders_in_range(sql)?;
    if conn.statement_cache.size() > STATEMENT_CACHE_LIMIT {
        conn.statement_cache.clear();
    }
    conn.prepare_cached(sql).await.map_err(|e| from_pg(&e))
}

/// Converts `values` to the statement's parameter types.
pub fn params(stmt: &Statement, values: Vec<Value>) -> Result<Vec<Param>> {
    let types = stmt.params();
    if values.len() > MAX_PARAMS {
        return Err(error(
            ErrorKind::InvalidInput,
            format!("{} parameter values were given; a statement takes at most {MAX_PARAMS} (send more rows with execute-many or COPY)", values.len()),
        ));
    }
    if types.len() != values.len() {
        return Err(error(
            ErrorKind::InvalidInput,
            format!(
                "the statement has {} parameter(s) but {} value(s) were given",
                types.len(),
                values.len()
            ),
        ));
    }
    values
        .into_iter()
        .zip(types)
        .enumerate()
        .map(|(i, (v, ty))| to_param(v, ty, i + 1).map_err(|m| error(ErrorKind::InvalidInput, m)))
        .collect()
}

/// The statement's result columns.
pub fn columns(stmt: &Statement) -> Vec<Column> {
    stmt.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            type_name: c.type_().name().to_string(),
        })
        .collect()
}

/// A buffered result: the statement (for its columns), its rows, and the server's row count.
pub type Buffered = (Statement, Vec<Vec<Value>>, u64);

/// Runs a query and buffers up to `take` rows (all when `None`), within the profile's
/// `max_rows` / `max_bytes`.
pub async fn query(
    conn: &ClientWrapper,
    settings: &PgSettings,
    sql: &str,
    values: Vec<Value>,
    take: Option<usize>,
) -> Result<Buffered> {
    let stmt = prepare(conn, sql).await?;
    let params = params(&stmt, values)?;
    let stream = conn
        .query_raw(&stmt, params.iter())
        .await
        .map_err(|e| from_pg(&e))?;
    pin_mut!(stream);
    let mut rows = Vec::new();
    let mut bytes: u64 = 0;
    while let Some(row) = stream.try_next().await.map_err(|e| from_pg(&e))? {
        if take.is_some_and(|n| rows.len() >= n) {
            continue; // drain: the connection must finish reading the result
        }
        let values = read_row(&row)?;
        bytes += values.iter().map(value_size).sum::<u64>();
        if rows.len() as u64 >= settings.max_rows || bytes > settings.max_bytes {
            return Err(error(
                ErrorKind::Limit,
                format!(
                    "the result is larger than the buffered-query limit of postgres profile `{}` ({} rows, {} bytes): use query-stream",
                    settings.profile, settings.max_rows, settings.max_bytes
                ),
            ));
        }
        rows.push(values);
    }
    let affected = stream.rows_affected().unwrap_or(rows.len() as u64);
    Ok((stmt, rows, affected))
}

/// Every column of `row` as WIT values.
pub fn read_row(row: &tokio_postgres::Row) -> Result<Vec<Value>> {
    (0..row.len())
        .map(|i| read_column(row, i).map_err(|m| error(ErrorKind::InvalidInput, m)))
        .collect()
}

/// Runs a statement; returns the rows it affected.
pub async fn execute(conn: &ClientWrapper, sql: &str, values: Vec<Value>) -> Result<u64> {
    let stmt = prepare(conn, sql).await?;
    let params = params(&stmt, values)?;
    conn.execute_raw(&stmt, params.iter())
        .await
        .map_err(|e| from_pg(&e))
}

/// Parameter lists of an `execute-many` sent ahead of their answers: enough to keep the
/// server busy, few enough that the encoded statements waiting on the connection stay small
/// however many lists the guest sends.
const PIPELINE_WINDOW: usize = 256;

/// Runs one statement per parameter list, pipelined on this connection a window at a time;
/// the caller provides the transaction. Every list is converted before any is sent, so a bad
/// value fails the call with nothing run (inside a guest transaction too).
pub async fn execute_many(conn: &ClientWrapper, sql: &str, lists: Vec<Vec<Value>>) -> Result<u64> {
    let stmt = prepare(conn, sql).await?;
    let converted = lists
        .into_iter()
        .enumerate()
        .map(|(row, values)| {
            params(&stmt, values).map_err(|mut e| {
                e.message = format!("parameter list {}: {}", row + 1, e.message);
                e
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut total = 0;
    for window in converted.chunks(PIPELINE_WINDOW) {
        let counts = try_join_all(window.iter().map(|p| conn.execute_raw(&stmt, p.iter())))
            .await
            .map_err(|e| from_pg(&e))?;
        total += counts.into_iter().sum::<u64>();
    }
    Ok(total)
}

/// Approximate in-memory size of a value, for the buffered-result limit.
pub fn value_size(v: &Value) -> u64 {
    use crate::bindings::postgres::Element;
    let text = |s: &String| s.len() as u64 + 8;
    match v {
        Value::Text(s)
        | Value::Numeric(s)
        | Value::Json(s)
        | Value::Uuid(s)
        | Value::Date(s)
        | Value::Time(s)
        | Value::Timestamp(s)
        | Value::Timestamptz(s)
        | Value::Interval(s) => text(s),
        Value::Bytea(b) => b.len() as u64 + 8,
        Value::Array(items) => items
            .iter()
            .map(|e| match e {
                Element::Text(s) | Element::Numeric(s) | Element::Json(s) => text(s),
                Element::Bytea(b) => b.len() as u64 + 8,
                _ => 16,
            })
            .sum(),
        _ => 16,
    }
}

/// Checks, before a read-only profile's transaction commits, that it wrote nothing: a write
/// gets the transaction an ID, whatever statement lifted its read-only rule (some, such as
/// `RESET transaction_read_only`, the server lets through after the first query).
pub async fn wrote_nothing(conn: &ClientWrapper) -> Result<()> {
    let row = conn
        .query_one("SELECT txid_current_if_assigned() IS NULL", &[])
        .await
        .map_err(|e| from_pg(&e))?;
    if row.try_get::<_, bool>(0).unwrap_or(false) {
        return Ok(());
    }
    Err(error(
        ErrorKind::Denied,
        "the profile is read-only, and this transaction wrote (a statement lifted its read-only rule): rolled back, nothing was committed",
    ))
}

/// How a statement is wrapped on a connection.
pub struct Wrap {
    /// The connection is inside a guest transaction.
    pub in_transaction: bool,
    pub timeout_ms: Option<u32>,
    pub read_only: bool,
    /// Outside a guest transaction, run in a transaction of its own even without a timeout
    /// (`execute-many`: all rows or none).
    pub atomic: bool,
}

impl Wrap {
    /// Outside a guest transaction, whether the statement runs in a transaction of its own.
    pub fn owns_transaction(&self) -> bool {
        self.timeout_ms.is_some() || self.read_only || self.atomic
    }
}

/// Runs `f` on `conn` with the statement's timeout applied to it alone.
///
/// Outside a guest transaction, a statement with a timeout (or any statement of a read-only
/// profile) runs in its own transaction with `SET LOCAL`, so nothing outlives it. Inside one,
/// the timeout is set locally and restored afterwards, so later statements keep theirs. The
/// wrappings are boxed: their statements' futures are kilobytes, and a plain statement (the
/// common case) should not carry them.
pub async fn wrapped<T>(
    conn: &ClientWrapper,
    wrap: Wrap,
    f: impl AsyncFnOnce(&ClientWrapper) -> Result<T>,
) -> Result<T> {
    if wrap.in_transaction {
        return match wrap.timeout_ms {
            None => f(conn).await,
            Some(ms) => Box::pin(with_local_timeout(conn, ms, f)).await,
        };
    }
    if !wrap.owns_transaction() {
        return f(conn).await;
    }
    Box::pin(in_own_transaction(conn, wrap, f)).await
}

/// Inside a guest transaction: `f` under a timeout of `ms`, the transaction's own restored after.
async fn with_local_timeout<T>(
    conn: &ClientWrapper,
    ms: u32,
    f: impl AsyncFnOnce(&ClientWrapper) -> Result<T>,
) -> Result<T> {
    let previous = conn
        .query_one("SHOW statement_timeout", &[])
        .await
        .map_err(|e| from_pg(&e))?;
    let previous: String = previous.try_get(0).map_err(|e| from_pg(&e))?;
    conn.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))
        .await
        .map_err(|e| from_pg(&e))?;
    let result = f(conn).await;
    // Fails only when the statement aborted the transaction, which ends the setting too.
    let _ = conn
        .execute(
            "SELECT set_config('statement_timeout', $1, true)",
            &[&previous],
        )
        .await;
    result
}

/// Outside a guest transaction: `f` in a transaction of its own (read-only for a read-only
/// profile, with the timeout set locally), committed when it succeeds.
async fn in_own_transaction<T>(
    conn: &ClientWrapper,
    wrap: Wrap,
    f: impl AsyncFnOnce(&ClientWrapper) -> Result<T>,
) -> Result<T> {
    let begin = if wrap.read_only {
        "BEGIN READ ONLY"
    } else {
        "BEGIN"
    };
    let sql = match wrap.timeout_ms {
        Some(ms) => format!("{begin}; SET LOCAL statement_timeout = {ms}"),
        None => begin.to_string(),
    };
    conn.batch_execute(&sql).await.map_err(|e| from_pg(&e))?;
    let done = match f(conn).await {
        Ok(value) if wrap.read_only => wrote_nothing(conn).await.map(|()| value),
        other => other,
    };
    match done {
        Ok(value) => {
            conn.batch_execute("COMMIT")
                .await
                .map_err(|e| from_commit(&e, "the COMMIT of the statement's own transaction"))?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Whether `sql`, run outside any transaction, may commit a write of its own: anything but a
/// statement that starts with SELECT, VALUES, TABLE or SHOW (a SELECT calling a function that
/// writes is the one miss; WITH can hold an INSERT, so it counts as a write).
pub fn may_write(sql: &str) -> bool {
    let words = leading_words(sql, 1);
    let first = words.first().copied().unwrap_or_default();
    !["select", "values", "table", "show"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
}

/// Whether `sql` may leave session state behind (settings, temp tables, cursors, prepared
/// statements, listeners, advisory locks), so its connection must be reset before reuse.
///
/// Conservative: anything but a plain SELECT / INSERT / UPDATE / DELETE / WITH / VALUES / TABLE /
/// MERGE counts, and so does one of those that mentions a session-changing function. Pools are
/// per run, so this guards the tasks of one run from each other, not other users.
pub fn may_change_session(sql: &str) -> bool {
    let sql = sql.trim_start();
    let first = sql
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    let plain = [
        "select", "insert", "update", "delete", "with", "values", "table", "merge",
    ]
    .iter()
    .any(|w| first.eq_ignore_ascii_case(w));
    !plain || mentions_session_word(sql.as_bytes())
}

/// The transaction-control command `sql` is, if any (`COMMIT`, `END`, `ROLLBACK` but not
/// `ROLLBACK TO`, `ABORT`, `BEGIN`, `START TRANSACTION`, `PREPARE TRANSACTION`, `COMMIT` /
/// `ROLLBACK PREPARED`): run by a guest, it would end or start a transaction behind the host's
/// back (lifting a read-only profile's rule, or leaving a pooled connection inside a
/// transaction). Guest SQL is one statement (the extended protocol takes no more), so its
/// first words decide.
pub fn transaction_control(sql: &str) -> Option<String> {
    let words = leading_words(sql, 2);
    let first = words.first()?.to_ascii_uppercase();
    let second = words
        .get(1)
        .map(|w| w.to_ascii_uppercase())
        .unwrap_or_default();
    let hit = match first.as_str() {
        "COMMIT" | "END" | "ABORT" | "BEGIN" | "START" => true,
        "ROLLBACK" => second != "TO",
        "PREPARE" => second == "TRANSACTION",
        _ => false,
    };
    hit.then(|| words.join(" ").to_ascii_uppercase())
}

/// The first `n` words of `sql` (ASCII letters), past whitespace and comments (`--`, nested
/// `/* */`).
fn leading_words(sql: &str, n: usize) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() && words.len() < n {
        match bytes[i] {
            // An empty statement before the first one is dropped by the server's parser, so
            // `;COMMIT` is a COMMIT.
            b if b.is_ascii_whitespace() || b == b';' || b == 0x0B => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |j| i + j + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b if b.is_ascii_alphabetic() => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !c.is_ascii_alphabetic())
                    .map_or(bytes.len(), |j| i + j);
                words.push(&sql[i..end]);
                i = end;
            }
            _ => break,
        }
    }
    words
}

/// Words whose mention makes a plain statement suspect (lowercase ASCII).
const SESSION_WORDS: [&[u8]; 7] = [
    b"set_config",
    b"advisory",
    b"temp",
    b"listen",
    b"prepare",
    b"dblink",
    b"declare",
];

/// Whether `sql` contains one of [`SESSION_WORDS`], in any case: one pass over the text,
/// comparing a word only where its first letter is (this runs for every statement).
fn mentions_session_word(sql: &[u8]) -> bool {
    (0..sql.len()).any(|i| {
        let rest = &sql[i..];
        let first = rest[0].to_ascii_lowercase();
        SESSION_WORDS.iter().any(|w| {
            w[0] == first
                && rest
                    .get(..w.len())
                    .is_some_and(|r| r.eq_ignore_ascii_case(w))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::may_change_session;

    #[test]
    fn placeholders_past_the_protocol_limit_are_refused_and_only_placeholders_count() {
        use super::{placeholders_in_range, ErrorKind};
        for fine in [
            "SELECT $1, $65535, '$', $$x$$",
            "SELECT 'paid $1000000', E'it\\'s $999999', \"col$123456\", x$123456 FROM t -- $70000\n",
            "SELECT /* $70000 /* nested $80000 */ */ $body$ $99999999 $body$, $1",
        ] {
            assert!(placeholders_in_range(fine).is_ok(), "{fine}");
        }
        for sql in [
            "SELECT $65536",
            "SELECT $0000001",
            "SELECT $99999999999999999999999",
            "SELECT 'a', $70000",
        ] {
            let refused = placeholders_in_range(sql).expect_err(sql);
            assert_eq!(refused.kind, ErrorKind::InvalidInput, "{sql}");
        }
    }

    #[test]
    fn transaction_control_is_found_past_comments_and_case() {
        use super::transaction_control as tc;
        assert_eq!(tc("COMMIT").as_deref(), Some("COMMIT"));
        assert_eq!(
            tc("  /* a /* nested */ comment */ -- line\n commit;").as_deref(),
            Some("COMMIT")
        );
        assert_eq!(tc("rollback and chain").as_deref(), Some("ROLLBACK AND"));
        assert_eq!(tc("Begin Read Write").as_deref(), Some("BEGIN READ"));
        assert_eq!(
            tc("START TRANSACTION").as_deref(),
            Some("START TRANSACTION")
        );
        assert_eq!(tc("end").as_deref(), Some("END"));
        assert_eq!(
            tc("PREPARE TRANSACTION 'x'").as_deref(),
            Some("PREPARE TRANSACTION")
        );
        assert_eq!(tc("ABORT").as_deref(), Some("ABORT"));
        assert_eq!(tc("ROLLBACK TO SAVEPOINT s"), None);
        assert_eq!(tc("PREPARE q AS SELECT 1"), None);
        assert_eq!(tc("SELECT 'COMMIT'"), None);
        assert_eq!(tc("committed_rows"), None);
        assert_eq!(tc("/* unterminated"), None);
        assert_eq!(tc(""), None);
    }

    #[test]
    fn only_plain_statements_skip_the_session_reset() {
        assert!(!may_change_session("SELECT $1::int8"));
        assert!(!may_change_session("  insert into t values (1)"));
        assert!(may_change_session("SET search_path = x"));
        assert!(may_change_session("CREATE TEMP TABLE t (x int)"));
        assert!(may_change_session(
            "select set_config('search_path', 'x', false)"
        ));
        assert!(may_change_session("SELECT pg_advisory_lock(1)"));
        assert!(may_change_session("/* hi */ SELECT 1"));
        assert!(may_change_session("DO $$ BEGIN PERFORM 1; END $$"));
        assert!(may_change_session("Select Set_Config('x', 'y', false)"));
        assert!(may_change_session("SELECT 1 FROM x; LISTEN chan"));
        assert!(!may_change_session("WITH t AS (SELECT 1) SELECT * FROM t"));
        // A word at the very end, and a word's prefix ending the text.
        assert!(may_change_session("insert into t select * from DBLink"));
        assert!(!may_change_session("SELECT tem FROM t WHERE x = 'list'"));
    }
}
