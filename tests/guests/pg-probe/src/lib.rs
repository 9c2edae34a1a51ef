//! pg-probe: a test guest that exercises the Postgres interface one scenario per `op`, so the
//! integration tests can check behaviour against a real server through a real guest.

use aw_guest::postgres::{self, CopyFormat, CopyFrom, Isolation, TransactionOptions, Value};
use aw_guest::Error;
use serde::Deserialize;
use serde_json::{json, Value as Json};

#[derive(Deserialize)]
struct Input {
    op: String,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    sql: String,
    #[serde(default)]
    rows: u64,
    #[serde(default)]
    format: String,
    #[serde(default)]
    table: String,
    #[serde(default)]
    timeout_ms: u32,
    #[serde(default)]
    batch: u32,
}

fn run(input: Input) -> aw_guest::Result<Json> {
    let db = postgres::open(input.profile.as_deref())?;
    match input.op.as_str() {
        "value" => Ok(json!({ "value": format!("{:?}", db.query_value(&input.sql, &[])?) })),
        "query" => Ok(json!({ "rows": db.query(&input.sql, &[])?.rows.len() })),
        "execute" => Ok(json!({ "rows": db.execute(&input.sql, &[])? })),
        "types" => types(&db),
        "copy" => copy(&db, &input),
        "stream" => stream(&db, &input),
        "stream-encoded" => stream_encoded(&db, &input),
        "stream-ends" => stream_ends(&db),
        "tx" => tx(&db),
        "trap-in-tx" => {
            let tx = db.begin(TransactionOptions::default())?;
            tx.execute(&format!("INSERT INTO {} VALUES (1)", input.table), &[])?;
            panic!("trapping with a transaction open");
        }
        "timeout" => timeout(&db, &input),
        "many" => {
            let lists: Vec<Vec<Value>> = (0..input.rows as i64).map(|i| vec![i.into()]).collect();
            Ok(json!({ "rows": db.execute_many(&input.sql, &lists)? }))
        }
        "reflect" => {
            let tables = db.reflect("public", &[input.table.as_str()])?;
            Ok(json!(tables.iter().map(|t| json!({
                "name": t.name, "pk": t.primary_key,
                "columns": t.columns.iter().map(|c| json!([c.name, c.type_name, c.nullable, c.default])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()))
        }
        "bench-select" => {
            let mut sum = 0i64;
            for i in 0..input.rows as i64 {
                sum += db
                    .query_value("SELECT $1::int8", &[Value::Int64(i)])?
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
            }
            Ok(json!({ "sum": sum }))
        }
        "bench-copy" => {
            // 4 columns in COPY text format, generated in the guest as the benchmark's native side
            // generates them (written into the chunk) and sent in 256 KiB chunks.
            use std::fmt::Write;
            let sink = db.copy_in(&input.table, &[], &CopyFormat::text())?;
            let mut chunk = String::with_capacity(300 * 1024);
            for i in 0..input.rows {
                let _ = writeln!(
                    chunk,
                    "{i}\tname {i}\t{}.{:02}\t2024-01-01 00:00:{:02}+00",
                    i % 1000,
                    i % 100,
                    i % 60
                );
                if chunk.len() >= 256 * 1024 {
                    sink.write(chunk.as_bytes())?;
                    chunk.clear();
                }
            }
            sink.write(chunk.as_bytes())?;
            Ok(json!({ "rows": sink.finish()? }))
        }
        "surface" => surface(&db),
        "session-leak" => {
            // Session state set by one statement must not reach the next checkout.
            db.execute("SET application_name = 'leaked'", &[])?;
            db.execute("CREATE TEMP TABLE leak_t (x int)", &[])?;
            let name = db.query_value("SHOW application_name", &[])?;
            let temp = db.query_value(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'leak_t'",
                &[],
            )?;
            Ok(
                json!({ "application_name": name.as_ref().and_then(|v| v.as_str()), "temp_tables": temp.and_then(|v| v.as_i64()) }),
            )
        }
        "tx-copy" => tx_copy(&db),
        "read-only" => read_only(&db),
        "tx-control" => tx_control(&db, &input.table),
        "commit-after-error" => commit_after_error(&db, &input.table),
        "exhaust" => {
            // Holds the only connection in a transaction, then asks the pool for another.
            let _tx = db.begin(TransactionOptions::default())?;
            Ok(json!({ "value": format!("{:?}", db.query_value("SELECT 1", &[])?) }))
        }
        "ssl" => Ok(
            json!({ "ssl": format!("{:?}", db.query_value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])?) }),
        ),
        "copy-in-table" => {
            let sink = db.copy_in(&input.table, &[], &CopyFormat::csv(false))?;
            sink.write(b"1\n")?;
            Ok(json!({ "rows": sink.finish()? }))
        }
        other => Err(Error::invalid_input(format!("unknown op {other}"))),
    }
}

#[derive(Deserialize)]
struct Surf {
    id: i64,
    v: Option<String>,
}

/// Every statement method once, plus typed decoding and transaction endings.
fn surface(db: &postgres::Client) -> aw_guest::Result<Json> {
    db.execute("DROP TABLE IF EXISTS surf", &[])?;
    db.execute("CREATE TABLE surf (id int8 PRIMARY KEY, v text)", &[])?;
    let inserted = db.execute_many(
        "INSERT INTO surf VALUES ($1, $2)",
        &[
            vec![1i64.into(), "a".into()],
            vec![2i64.into(), Value::Null],
        ],
    )?;
    let all: Vec<Surf> = db
        .query("SELECT id, v FROM surf ORDER BY id", &[])?
        .decode()?;
    let missing = db.query_one("SELECT id FROM surf WHERE id = $1", &[99i64.into()])?;
    let one = db
        .query_one("SELECT id, v FROM surf WHERE id = $1", &[1i64.into()])?
        .map(|r| r.decode::<Surf>())
        .transpose()?;
    let typed = db
        .query_one("SELECT id, v FROM surf WHERE id = 2", &[])?
        .ok_or("row 2 is missing")?;
    let typed_id: i64 = typed.get_as("id")?;
    let typed_v: Option<String> = typed.get_as("v")?;
    let wrong_type = typed.get_as::<bool>("id").err().map(|e| e.message);
    let t = db.begin(TransactionOptions::default())?;
    t.savepoint("a")?;
    t.execute("INSERT INTO surf VALUES (3, 'c')", &[])?;
    t.release("a")?;
    let in_tx = t
        .query_value("SELECT count(*) FROM surf", &[])?
        .and_then(|v| v.as_i64());
    t.commit()?;
    let t = db.begin(TransactionOptions::default())?;
    t.execute("INSERT INTO surf VALUES (4, 'd')", &[])?;
    t.rollback()?;
    let count = db
        .query_value("SELECT count(*) FROM surf", &[])?
        .and_then(|v| v.as_i64());
    Ok(json!({
        "inserted": inserted,
        "all": all.iter().map(|s| json!([s.id, s.v])).collect::<Vec<_>>(),
        "missing": missing.is_none(),
        "one": one.map(|s| json!([s.id, s.v])),
        "typed": [typed_id, typed_v],
        "wrong_type": wrong_type,
        "in_tx": in_tx,
        "count": count,
    }))
}

/// COPY and cursors inside a transaction: they share its connection and its fate.
fn tx_copy(db: &postgres::Client) -> aw_guest::Result<Json> {
    db.execute("DROP TABLE IF EXISTS txc", &[])?;
    db.execute("CREATE TABLE txc (id int8, v text)", &[])?;
    db.execute("DROP TABLE IF EXISTS txc_other", &[])?;
    db.execute("CREATE TABLE txc_other (id int8)", &[])?;
    let t = db.begin(TransactionOptions::default())?;
    let sink = t.copy_in("txc", &["id", "v"], &CopyFormat::csv(false))?;
    sink.write(b"1,a\n2,b\n")?;
    // The transaction's connection is busy until the COPY ends.
    let busy = t.query_value("SELECT 1", &[]).err().map(|e| e.message);
    sink.write(b"3,c\n")?;
    let copied = sink.finish()?;
    let stream = t.query_stream("SELECT id FROM txc ORDER BY id", &[], 2)?;
    let mut streamed: Vec<i64> = stream
        .next()?
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect();
    // A COPY holds the connection: pulling the stream meanwhile fails that pull, not the stream.
    let other = t.copy_in("txc_other", &["id"], &CopyFormat::csv(false))?;
    other.write(b"4\n")?;
    let stream_busy = stream.next().err().map(|e| e.message);
    other.finish()?;
    while let Some(batch) = stream.next()? {
        streamed.extend(batch.iter().filter_map(|r| r[0].as_i64()));
    }
    let source = t.copy_out(&CopyFrom::Table("txc".into()), &["v"], &CopyFormat::text())?;
    let mut out = Vec::new();
    while let Some(chunk) = source.read()? {
        out.extend_from_slice(&chunk);
    }
    let in_tx = String::from_utf8_lossy(&out).to_string();
    t.rollback()?;
    let after_rollback = db
        .query_value("SELECT count(*) FROM txc", &[])?
        .and_then(|v| v.as_i64());
    Ok(
        json!({ "busy": busy, "copied": copied, "streamed": streamed, "stream_busy": stream_busy, "copy_out": in_tx, "after_rollback": after_rollback }),
    )
}

/// A read-only profile: writes are refused however the guest tries.
fn read_only(db: &postgres::Client) -> aw_guest::Result<Json> {
    let attempt = |r: aw_guest::Result<u64>| {
        r.err()
            .map(|e| format!("{:?} {}", e.kind, e.code.unwrap_or_default()))
    };
    let plain = attempt(db.execute("CREATE TABLE ro_t (x int)", &[]));
    let _ = db.execute("SET default_transaction_read_only = off", &[]);
    let after_set = attempt(db.execute("CREATE TABLE ro_t (x int)", &[]));
    let t = db.begin(TransactionOptions::default())?;
    let switch = attempt(t.execute("SET TRANSACTION READ WRITE", &[]));
    drop(t);
    let t = db.begin(TransactionOptions::default())?;
    let in_tx = attempt(t.execute("CREATE TABLE ro_t (x int)", &[]));
    drop(t);
    let reads = db.query_value("SELECT 1", &[])?.and_then(|v| v.as_i64());
    Ok(
        json!({ "plain": plain, "after_set": after_set, "switch": switch, "in_tx": in_tx, "reads": reads }),
    )
}

/// Transaction control in guest SQL (issue 16): refused, so a read-only profile's transaction
/// cannot be ended and a writable one begun behind the host's back.
fn tx_control(db: &postgres::Client, table: &str) -> aw_guest::Result<Json> {
    let attempt = |r: aw_guest::Result<u64>| {
        r.err()
            .map(|e| format!("{:?} {}", e.kind, e.code.unwrap_or_default()))
    };
    let t = db.begin(TransactionOptions::default())?;
    let commit = attempt(t.execute("COMMIT", &[]));
    let hidden = attempt(t.execute("/* hi */ -- there\n commit and chain", &[]));
    let _ = t.execute("SET default_transaction_read_only = off", &[]);
    let begin = attempt(t.execute("BEGIN READ WRITE", &[]));
    let insert = attempt(t.execute(&format!("INSERT INTO {table} VALUES (1)"), &[]));
    drop(t);
    let start = attempt(db.execute("START TRANSACTION READ WRITE", &[]));
    let end = attempt(db.execute("END", &[]));
    let plain = attempt(db.execute(&format!("INSERT INTO {table} VALUES (2)"), &[]));
    Ok(
        json!({ "commit": commit, "hidden": hidden, "begin": begin, "insert": insert, "start": start, "end": end, "plain": plain }),
    )
}

/// A commit after the server rolled the transaction back must fail, never report success for
/// lost writes (issue 16); a rollback to a savepoint recovers the transaction.
fn commit_after_error(db: &postgres::Client, table: &str) -> aw_guest::Result<Json> {
    let describe = |r: aw_guest::Result<()>| {
        r.err().map(|e| json!({ "kind": format!("{:?}", e.kind), "code": e.code, "refused": e.message.contains("commit refused") }))
    };
    let t = db.begin(TransactionOptions::default())?;
    t.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])?;
    let _ = t.query_value("SELECT 1 / 0", &[]); // caught by the guest
    let caught = describe(t.commit());

    let t = db.begin(TransactionOptions::default())?;
    t.execute(&format!("INSERT INTO {table} VALUES (2)"), &[])?;
    t.savepoint("s")?;
    let _ = t.query_value("SELECT 1 / 0", &[]);
    t.rollback_to("s")?;
    t.execute(&format!("INSERT INTO {table} VALUES (3)"), &[])?;
    let recovered = describe(t.commit());

    let t = db.begin(TransactionOptions::default())?;
    t.execute(&format!("INSERT INTO {table} VALUES (4)"), &[])?;
    let sink = t.copy_in(table, &[], &CopyFormat::text())?;
    sink.write(b"5\n")?;
    drop(sink); // abandoned: the server aborts the transaction
    let abandoned = describe(t.commit());
    Ok(json!({ "caught": caught, "recovered": recovered, "abandoned": abandoned }))
}

/// Sends every value type as a parameter, reads it back, and reports mismatches.
fn types(db: &postgres::Client) -> aw_guest::Result<Json> {
    use postgres::Element as E;
    let cases: Vec<(&str, Value)> = vec![
        ("bool", Value::Boolean(true)),
        ("int2", Value::Int16(-32768)),
        ("int4", Value::Int32(2147483647)),
        ("int8", Value::Int64(-9223372036854775808)),
        ("float4", Value::Float32(1.5)),
        ("float8", Value::Float64(-2.25e300)),
        (
            "numeric",
            Value::Numeric("12345678901234567890.123456789012345678".into()),
        ),
        ("numeric", Value::Numeric("-0.0001000".into())),
        ("numeric", Value::Numeric("NaN".into())),
        ("text", Value::Text("héllo ☃ 'quoted'".into())),
        ("varchar", Value::Text("v".into())),
        ("bytea", Value::Bytea(vec![0, 1, 0, 255, 0])),
        ("json", Value::Json("{\"a\": [1, 2]}".into())),
        ("jsonb", Value::Json("{\"a\": [1, 2]}".into())),
        (
            "uuid",
            Value::Uuid("0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7".into()),
        ),
        ("date", Value::Date("2024-02-29".into())),
        ("time", Value::Time("13:45:00.123456".into())),
        (
            "timestamp",
            Value::Timestamp("2024-02-29T13:45:00.123456".into()),
        ),
        (
            "timestamptz",
            Value::Timestamptz("2024-02-29T13:45:00.123456Z".into()),
        ),
        ("interval", Value::Interval("P1Y2M3DT4H5M6.5S".into())),
        (
            "int4[]",
            Value::Array(vec![E::Int32(1), E::Null, E::Int32(3)]),
        ),
        (
            "text[]",
            Value::Array(vec![E::Text("a".into()), E::Null, E::Text("".into())]),
        ),
        ("numeric[]", Value::Array(vec![E::Numeric("1.10".into())])),
        (
            "timestamptz[]",
            Value::Array(vec![E::Timestamptz("2000-01-01T00:00:00Z".into())]),
        ),
        ("int4", Value::Null),
    ];
    let mut mismatches = Vec::new();
    for (ty, sent) in &cases {
        let got = db.query_value(&format!("SELECT $1::{ty}"), std::slice::from_ref(sent))?;
        let got = got.unwrap_or(Value::Null);
        let same = match (ty, sent, &got) {
            // jsonb normalises whitespace; compare parsed.
            (_, Value::Json(a), Value::Json(b)) => {
                serde_json::from_str::<Json>(a).ok() == serde_json::from_str::<Json>(b).ok()
            }
            _ => format!("{sent:?}") == format!("{got:?}"),
        };
        if !same {
            mismatches.push(format!("{ty}: sent {sent:?}, got {got:?}"));
        }
    }
    // Widening and narrowing to the server's inferred type.
    let narrowed = db.query_value("SELECT $1::int4 + 1", &[Value::Int64(41)])?;
    let too_big = db
        .query_value("SELECT $1::int4", &[Value::Int64(3_000_000_000)])
        .err()
        .map(|e| e.to_string());
    let unknown = db.query_value("SELECT 'ok'::name", &[])?;
    let text_bad_utf8 = db
        .query_value("SELECT convert_from('\\xff'::bytea, 'UTF8')", &[])
        .err()
        .map(|e| e.to_string());
    Ok(json!({
        "mismatches": mismatches,
        "narrowed": format!("{narrowed:?}"),
        "too_big": too_big,
        "name": format!("{unknown:?}"),
        "bad_utf8": text_bad_utf8,
    }))
}

/// COPY IN `rows` generated rows, then COPY OUT and compare byte for byte (same format).
fn copy(db: &postgres::Client, input: &Input) -> aw_guest::Result<Json> {
    let format = match input.format.as_str() {
        "csv" => CopyFormat::csv(true),
        "binary" => CopyFormat::binary(),
        _ => CopyFormat::text(),
    };
    let table = &input.table;
    db.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])?;
    db.execute(&format!("CREATE TABLE {table} (id int8 PRIMARY KEY, name text, amount numeric(12,2), at timestamptz)"), &[])?;
    // Produce the input with the server's own encoder for the format, from a generated set.
    let source_sql = format!(
        "SELECT g::int8 AS id, CASE WHEN g % 10 = 0 THEN NULL ELSE 'name ' || g || E' \"quoted\", tab\\t' END AS name, (g * 1.25)::numeric(12,2) AS amount, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at FROM generate_series(1, {}) g",
        input.rows
    );
    let mut data = Vec::new();
    let source = db.copy_out(&CopyFrom::Query(source_sql), &[], &format)?;
    while let Some(chunk) = source.read()? {
        data.extend_from_slice(&chunk);
    }
    let generated_rows = source.rows();
    let sink = db.copy_in(table, &["id", "name", "amount", "at"], &format)?;
    for chunk in data.chunks(64 * 1024) {
        sink.write(chunk)?;
    }
    let copied_in = sink.finish()?;
    let out = db.copy_out(
        &CopyFrom::Query(format!(
            "SELECT id, name, amount, at FROM {table} ORDER BY id"
        )),
        &[],
        &format,
    )?;
    let mut back = Vec::new();
    while let Some(chunk) = out.read()? {
        back.extend_from_slice(&chunk);
    }
    let table_out = db.copy_out(
        &CopyFrom::Table(table.clone()),
        &["id"],
        &CopyFormat::text(),
    )?;
    while table_out.read()?.is_some() {}
    Ok(json!({
        "generated_rows": generated_rows,
        "copied_in": copied_in,
        "copied_out": out.rows(),
        "table_rows": table_out.rows(),
        "identical": back == data,
        "bytes": data.len(),
    }))
}

/// A stream of `rows` numbered rows with a 100-character pad, in batches of `batch` (5000).
fn numbers(db: &postgres::Client, rows: u64, batch: u32) -> aw_guest::Result<postgres::RowStream> {
    db.query_stream(
        "SELECT g::int8 AS n, repeat('x', 100) AS pad FROM generate_series(1, $1::int8) g",
        &[Value::Int64(rows as i64)],
        if batch == 0 { 5000 } else { batch },
    )
}

/// Streams `rows` rows through a cursor and sums them in the guest.
fn stream(db: &postgres::Client, input: &Input) -> aw_guest::Result<Json> {
    let stream = numbers(db, input.rows, input.batch)?;
    let columns: Vec<String> = stream
        .columns()
        .iter()
        .map(|c| format!("{}:{}", c.name, c.type_name))
        .collect();
    let (mut count, mut sum, mut batches) = (0u64, 0i64, 0u64);
    while let Some(batch) = stream.next()? {
        batches += 1;
        for row in batch {
            count += 1;
            sum += row[0].as_i64().unwrap_or(0);
        }
    }
    Ok(json!({ "count": count, "sum": sum, "batches": batches, "columns": columns }))
}

/// The ways a client-level stream ends: dropped after one batch, failing mid-way, read to an
/// end that falls on a batch boundary. Run with a pool of one connection: after each the same
/// connection (same backend pid) must be back, with no cursor open, which it would have if the
/// stream's transaction were not over (a connection closed instead shows as a new pid).
fn stream_ends(db: &postgres::Client) -> aw_guest::Result<Json> {
    let clean = || -> aw_guest::Result<Option<i64>> {
        let sql = "SELECT pg_backend_pid()::int8 WHERE NOT EXISTS (SELECT FROM pg_cursors WHERE name LIKE 'aw_cursor%')";
        Ok(db.query_value(sql, &[])?.and_then(|v| v.as_i64()))
    };
    let before = clean()?;
    let dropped = numbers(db, 100_000, 1000)?;
    let first = dropped.next()?.map_or(0, |rows| rows.len());
    drop(dropped);
    let after_drop = clean()?;

    let failing = db.query_stream(
        "SELECT 1 / (7000 - g) AS q FROM generate_series(1, 10000) g",
        &[],
        1000,
    )?;
    let mut before_error = 0;
    let error = loop {
        match failing.next() {
            Ok(Some(rows)) => before_error += rows.len(),
            Ok(None) => break None,
            Err(e) => break e.code,
        }
    };
    let again = failing.next().err().and_then(|e| e.code);
    drop(failing);
    let after_error = clean()?;

    let exact = db.query_stream("SELECT g FROM generate_series(1, 3000) g", &[], 1000)?;
    let mut batches = Vec::new();
    while let Some(rows) = exact.next()? {
        batches.push(rows.len());
    }
    let ended = exact.next()?.is_none();
    drop(exact);
    Ok(json!({
        "before": before, "first": first, "after_drop": after_drop,
        "before_error": before_error, "error": error, "again": again, "after_error": after_error,
        "batches": batches, "ended": ended, "after_end": clean()?,
    }))
}

/// The same stream read in the compact encoding, plus one row of every kind of cell.
fn stream_encoded(db: &postgres::Client, input: &Input) -> aw_guest::Result<Json> {
    let stream = numbers(db, input.rows, input.batch)?;
    let columns = stream.columns().len();
    let (mut count, mut sum, mut pad_bytes) = (0u64, 0i64, 0usize);
    while let Some(batch) = stream.next_encoded()? {
        for row in batch.rows(columns) {
            let row = row?;
            count += 1;
            sum += row.get(0).and_then(|c| c.as_i64()).unwrap_or(0);
            pad_bytes += row.get(1).and_then(|c| c.as_str()).map_or(0, str::len);
        }
    }
    let kinds = db.query_stream(
        "SELECT NULL::int4, true, 7::int2, 2.5::float8, 1.5::float4, 'é'::text, '\\x00ff'::bytea, 12.50::numeric, ARRAY[1, NULL]::int4[], '{\"a\":1}'::jsonb, 'P1D'::interval",
        &[],
        10,
    )?;
    let n = kinds.columns().len();
    let mut cells = Vec::new();
    while let Some(batch) = kinds.next_encoded()? {
        for row in batch.rows(n) {
            cells = row?.cells().map(|c| format!("{c:?}")).collect();
        }
    }
    let mixed = kinds.next().err().map(|e| e.message);
    Ok(
        json!({ "count": count, "sum": sum, "pad_bytes": pad_bytes, "cells": cells, "mixed": mixed }),
    )
}

/// Transaction options reach the server; savepoints keep outer writes and drop inner ones.
fn tx(db: &postgres::Client) -> aw_guest::Result<Json> {
    let opts = TransactionOptions {
        isolation: Some(Isolation::Serializable),
        read_only: true,
        deferrable: true,
    };
    let t = db.begin(opts)?;
    let settings = t.query_one(
        "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), current_setting('transaction_deferrable')",
        &[],
    )?;
    let settings: Vec<String> = settings
        .map(|r| {
            r.values
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let write_in_ro = t
        .execute("CREATE TEMP TABLE nope (x int)", &[])
        .err()
        .map(|e| format!("{:?} {:?}", e.kind, e.code));
    drop(t);

    db.execute("DROP TABLE IF EXISTS sp", &[])?;
    db.execute("CREATE TABLE sp (v text)", &[])?;
    let t = db.begin(TransactionOptions::default())?;
    t.execute("INSERT INTO sp VALUES ('outer')", &[])?;
    t.savepoint("inner")?;
    t.execute("INSERT INTO sp VALUES ('inner')", &[])?;
    let failed = t.execute("INSERT INTO sp VALUES (1/0)", &[]).is_err();
    t.rollback_to("inner")?;
    t.execute("INSERT INTO sp VALUES ('after')", &[])?;
    t.commit()?;
    let kept = db.query("SELECT v FROM sp ORDER BY v", &[])?;
    let kept: Vec<String> = kept
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap_or("").to_string())
        .collect();

    // A dropped transaction rolls back.
    let t = db.begin(TransactionOptions::default())?;
    t.execute("INSERT INTO sp VALUES ('dropped')", &[])?;
    drop(t);
    let after_drop = db.query_value("SELECT count(*) FROM sp WHERE v = 'dropped'", &[])?;
    Ok(json!({
        "settings": settings,
        "write_in_read_only": write_in_ro,
        "inner_failed": failed,
        "kept": kept,
        "dropped_rows": after_drop.and_then(|v| v.as_i64()),
    }))
}

/// A statement timeout hits that statement only, in and out of a transaction.
fn timeout(db: &postgres::Client, input: &Input) -> aw_guest::Result<Json> {
    let ms = if input.timeout_ms == 0 {
        100
    } else {
        input.timeout_ms
    };
    let slow = db
        .execute_with("SELECT pg_sleep(2)", &[], postgres::timeout_ms(ms))
        .err();
    let t = db.begin(TransactionOptions::default())?;
    let before = t.query_value("SHOW statement_timeout", &[])?;
    let ok_fast = t
        .query_with("SELECT 1", &[], postgres::timeout_ms(ms))
        .is_ok();
    let after = t.query_value("SHOW statement_timeout", &[])?;
    t.commit()?;
    let session_after = db.query_value("SHOW statement_timeout", &[])?;
    Ok(json!({
        "slow_kind": slow.as_ref().map(|e| format!("{:?}", e.kind)),
        "slow_code": slow.as_ref().and_then(|e| e.code.clone()),
        "tx_before": before.as_ref().and_then(|v| v.as_str()).map(str::to_string),
        "tx_after": after.as_ref().and_then(|v| v.as_str()).map(str::to_string),
        "fast_ok": ok_fast,
        "session_after": session_after.as_ref().and_then(|v| v.as_str()).map(str::to_string),
    }))
}

aw_guest::task!(run);
