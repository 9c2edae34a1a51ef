//! hostile: a test guest that attacks the host through the values it passes to host calls,
//! one attack per `op` (huge sizes, many open objects, strange strings, transaction-control
//! tricks), and reports each call's outcome, so the tests can check that the host survives
//! every one with a classified error and bounded memory (issue 16).

use aw_guest::adls2::{self, UploadOptions};
use aw_guest::postgres::{self, Element, TransactionOptions, Value};
use aw_guest::Error;
use serde::Deserialize;
use serde_json::{json, Value as Json};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    op: String,
    table: String,
    container: String,
    path: String,
    /// How many: rows, objects, parameter sets.
    count: u64,
    /// How big: bytes per row, chunk or block.
    size: u64,
}

/// A call's outcome as the tests read it: `{"ok": value}` or `{"kind", "code", "message"}`.
fn outcome<T: Into<Json>>(result: Result<T, Error>) -> Json {
    match result {
        Ok(v) => json!({ "ok": v.into() }),
        Err(e) => {
            json!({ "kind": e.kind_name(), "code": e.code, "message": e.message, "retryable": e.retryable })
        }
    }
}

fn run(input: Input) -> aw_guest::Result<Json> {
    match input.op.as_str() {
        "strings" => strings(),
        "huge-batch" => huge_batch(),
        "big-batch" => big_batch(&input),
        "open-streams" => open_streams(&input),
        "execute-many" => execute_many(&input),
        "read-only-tricks" => read_only_tricks(&input.table),
        "writers" => writers(&input),
        "readers" => readers(&input),
        "download" => {
            let lake = adls2::open(None)?;
            Ok(
                json!({ "download": outcome(lake.download(&input.container, &input.path, None).map(|d| d.len() as u64)) }),
            )
        }
        "make-dirs" => {
            let lake = adls2::open(None)?;
            Ok(
                json!({ "make-dirs": outcome(lake.make_dirs(&input.container, &input.path, true).map(|()| true)) }),
            )
        }
        "hoard-handles" => {
            // Opens clients without dropping any, up to `count`, then drops them all and
            // opens one more: the host must refuse past its table bound, and recover.
            let mut held = Vec::new();
            let mut refused = Json::Null;
            while (held.len() as u64) < input.count {
                match postgres::open(None) {
                    Ok(client) => held.push(client),
                    Err(e) => {
                        refused = outcome::<bool>(Err(e));
                        break;
                    }
                }
            }
            let opened = held.len();
            drop(held);
            let again = outcome(postgres::open(None).map(|_| true));
            Ok(json!({ "opened": opened, "refused": refused, "again": again }))
        }
        "log-flood" => {
            // `count` log lines as fast as it can, then one line of `size` bytes through the
            // log and through stdout without a newline.
            for i in 0..input.count {
                aw_guest::log::info!("flood {i}");
            }
            let long = "x".repeat(input.size as usize);
            aw_guest::log::warn!("{long}");
            print!("{long}");
            Ok(json!({ "logged": input.count }))
        }
        other => Err(Error::invalid_input(format!("unknown op {other}"))),
    }
}

/// Values whose parsing or sending has gone wrong in hosts before: NUL bytes, non-ASCII where
/// a unit is expected, too many parameters, an array sent to a domain over an array.
fn strings() -> aw_guest::Result<Json> {
    let db = postgres::open(None)?;
    let value = |sql: &str, params: &[Value]| {
        outcome(db.query_value(sql, params).map(|v| format!("{v:?}")))
    };
    let mut intervals = Vec::new();
    for text in [
        "P1é",
        "PT1ß",
        "P1Y€",
        "P€",
        "PT1.5S\u{10FFFF}",
        "PT1e300S",
        "P99999999999Y",
    ] {
        intervals.push(value(
            "SELECT $1::interval",
            &[Value::Interval(text.into())],
        ));
    }
    let many: Vec<Value> = (0..70_000).map(Value::Int32).collect();
    let placeholders: String = (1..=70_000)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",");
    let t = db.begin(TransactionOptions::default())?;
    let nul_savepoint = outcome(t.savepoint("a\0b").map(|()| true));
    drop(t);
    let copy = db
        .copy_in("t\0x", &[], &postgres::CopyFormat::csv(false))
        .map(|_| true);
    Ok(json!({
        "intervals": intervals,
        "nul_sql": value("SELECT 1\0", &[]),
        "nul_param": value("SELECT $1::text", &[Value::Text("a\0b".into())]),
        "nul_savepoint": nul_savepoint,
        "nul_copy_table": outcome(copy),
        "too_many_values": value("SELECT 1", &many),
        "too_many_placeholders": value(&format!("SELECT coalesce({placeholders})"), &many),
        "domain_array": value("SELECT $1::aw_hostile_ints", &[Value::Array(vec![Element::Int32(1), Element::Int32(2)])]),
        "domain_array_checked": value("SELECT $1::aw_hostile_ints", &[Value::Array(vec![Element::Int32(-1)])]),
        "numeric": value("SELECT $1::numeric", &[Value::Numeric("1e999999999".into())]),
        "date": value("SELECT $1::date", &[Value::Date("99999999-01-01".into())]),
        "timestamp": value("SELECT $1::timestamptz", &[Value::Timestamptz("2024-13-99T99:99:99+99:99".into())]),
        "json": value("SELECT $1::jsonb", &[Value::Json("{\"a\": [".into())]),
    }))
}

/// `query-stream` asking for four billion rows per batch, at client level and in a transaction.
fn huge_batch() -> aw_guest::Result<Json> {
    let db = postgres::open(None)?;
    let count = |stream: aw_guest::Result<postgres::RowStream>| -> aw_guest::Result<u64> {
        let stream = stream?;
        let mut rows = 0;
        while let Some(batch) = stream.next()? {
            rows += batch.len() as u64;
        }
        Ok(rows)
    };
    let client = outcome(count(db.query_stream(
        "SELECT generate_series(1, 5000)",
        &[],
        u32::MAX,
    )));
    let t = db.begin(TransactionOptions::default())?;
    let in_tx = outcome(count(t.query_stream(
        "SELECT generate_series(1, 5000)",
        &[],
        u32::MAX,
    )));
    Ok(json!({ "client": client, "in_tx": in_tx }))
}

/// One batch of `count` rows of `size` bytes each, read with `next` and `next-encoded`.
fn big_batch(input: &Input) -> aw_guest::Result<Json> {
    let db = postgres::open(None)?;
    let sql = format!(
        "SELECT repeat('x', {}) FROM generate_series(1, {})",
        input.size, input.count
    );
    let read = |encoded: bool| -> aw_guest::Result<u64> {
        let stream = db.query_stream(&sql, &[], input.count as u32)?;
        let mut bytes = 0;
        loop {
            let got = if encoded {
                stream.next_encoded()?.map(|b| b.data.len() as u64)
            } else {
                stream.next()?.map(|b| {
                    b.iter()
                        .flatten()
                        .map(|v| {
                            if let Value::Text(t) = v {
                                t.len() as u64
                            } else {
                                0
                            }
                        })
                        .sum()
                })
            };
            match got {
                Some(n) => bytes += n,
                None => return Ok(bytes),
            }
        }
    };
    Ok(json!({ "values": outcome(read(false)), "encoded": outcome(read(true)) }))
}

/// `count` client-level streams of big rows, each pulled once and kept open (each reads ahead
/// on its own connection).
fn open_streams(input: &Input) -> aw_guest::Result<Json> {
    let db = postgres::open(None)?;
    let sql = format!(
        "SELECT repeat('y', {}) FROM generate_series(1, 1000)",
        input.size
    );
    let mut streams = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..input.count {
        match db.query_stream(&sql, &[], 4).and_then(|s| {
            s.next()
                .map_err(Error::from)
                .map(|b| (s, b.map_or(0, |b| b.len() as u64)))
        }) {
            Ok((stream, rows)) => {
                streams.push(stream);
                outcomes.push(json!({ "ok": rows }));
            }
            Err(e) => outcomes.push(outcome::<u64>(Err(e))),
        }
    }
    Ok(json!({ "streams": outcomes }))
}

/// `execute-many` with `count` parameter sets of one integer each.
fn execute_many(input: &Input) -> aw_guest::Result<Json> {
    let db = postgres::open(None)?;
    let sets: Vec<Vec<Value>> = (0..input.count)
        .map(|i| vec![Value::Int64(i as i64)])
        .collect();
    let sql = format!("INSERT INTO {} VALUES ($1)", input.table);
    Ok(json!({ "execute_many": outcome(db.execute_many(&sql, &sets)) }))
}

/// Every way SQL might end or alter the host's read-only transaction, then an INSERT; and
/// the same at client level.
fn read_only_tricks(table: &str) -> aw_guest::Result<Json> {
    let db = postgres::open(None)?;
    let insert = format!("INSERT INTO {table} VALUES (1)");
    let tricks = [
        "COMMIT",
        ";COMMIT",
        " ; /* a /* nested */ comment */ commit",
        "commit and chain",
        "/* c */ -- d\n ROLLBACK",
        "  end work",
        "ABORT",
        "BEGIN READ WRITE",
        "START TRANSACTION READ WRITE",
        "PREPARE TRANSACTION 'aw'",
        "COMMIT PREPARED 'aw'",
        "SELECT 1; COMMIT",
        "DO $$ BEGIN COMMIT; END $$",
        "SET transaction_read_only = off",
        "SET TRANSACTION READ WRITE",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SET default_transaction_read_only = off",
        "SELECT set_config('transaction_read_only', 'off', true)",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "RESET ALL",
        "RESET transaction_read_only",
        "DISCARD ALL",
    ];
    let mut in_tx = Vec::new();
    for trick in tricks {
        let t = db.begin(TransactionOptions::default())?;
        let tried = outcome(t.execute(trick, &[]));
        let wrote = outcome(t.execute(&insert, &[]));
        let committed = outcome(t.commit().map(|()| true));
        in_tx.push(json!({ "trick": trick, "tried": tried, "insert": wrote, "commit": committed }));
    }
    let mut client = Vec::new();
    for trick in tricks {
        let tried = outcome(db.execute(trick, &[]));
        let wrote = outcome(db.execute(&insert, &[]));
        let copied = db
            .copy_in(table, &[], &postgres::CopyFormat::csv(false))
            .and_then(|sink| {
                sink.write(b"5\n")?;
                Ok(sink.finish()?)
            });
        client.push(
            json!({ "trick": trick, "tried": tried, "insert": wrote, "copy": outcome(copied) }),
        );
    }
    Ok(json!({ "in_tx": in_tx, "client": client }))
}

/// `count` ADLS2 writers open at once, each with one byte short of a block written.
fn writers(input: &Input) -> aw_guest::Result<Json> {
    let lake = adls2::open(None)?;
    let block = vec![7u8; input.size as usize];
    let mut open = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..input.count {
        let path = format!("{}/w{i}", input.path);
        match lake
            .open_writer(&input.container, &path, &UploadOptions::new())
            .and_then(|mut w| w.write(&block).map(|()| w))
        {
            Ok(w) => {
                open.push(w);
                outcomes.push(json!({ "ok": true }));
            }
            Err(e) => outcomes.push(outcome::<bool>(Err(e))),
        }
    }
    Ok(json!({ "writers": outcomes }))
}

/// `count` readers of one file open at once with a chunk of `size` bytes, each read once.
fn readers(input: &Input) -> aw_guest::Result<Json> {
    let lake = adls2::open(None)?;
    let mut open = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..input.count {
        match lake
            .open_reader(&input.container, &input.path, None, Some(input.size as u32))
            .and_then(|mut r| r.read_chunk().map(|c| (r, c.map_or(0, |c| c.len() as u64))))
        {
            Ok((reader, got)) => {
                open.push(reader);
                outcomes.push(json!({ "ok": got }));
            }
            Err(e) => outcomes.push(outcome::<u64>(Err(e))),
        }
    }
    Ok(json!({ "readers": outcomes }))
}

aw_guest::task!(run);
