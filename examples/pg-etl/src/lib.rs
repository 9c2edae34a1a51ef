//! pg-etl: a realistic load. COPY a generated CSV into a staging table, clean and transform it
//! with SQL inside one transaction, stream the result back through a cursor to aggregate it in
//! the guest, and write a summary table. Returns the row count of every step.

use std::collections::BTreeMap;

use aw_guest::postgres::{self, CopyFormat, TransactionOptions, Value};
use aw_guest::{config, log};
use serde::Deserialize;
use serde_json::{json, Value as Json};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    /// Rows to generate (default 100,000).
    rows: Option<u64>,
}

const CATEGORIES: [&str; 5] = ["alpha", "beta", "gamma", "delta", "epsilon"];

fn run(input: Input) -> aw_guest::Result<Json> {
    let rows = input.rows.unwrap_or(100_000);
    let prefix = config::get("table_prefix")?;
    let (staging, clean, summary) = (
        format!("{prefix}_staging"),
        format!("{prefix}_clean"),
        format!("{prefix}_summary"),
    );
    let db = postgres::open(None)?;

    db.execute(
        &format!("DROP TABLE IF EXISTS {staging}, {clean}, {summary}"),
        &[],
    )?;
    db.execute(
        &format!("CREATE TABLE {staging} (id int8, category text, amount text, seen_at text)"),
        &[],
    )?;

    // 1. COPY the generated CSV (a few malformed amounts, as real exports have).
    let sink = db.copy_in(
        &staging,
        &["id", "category", "amount", "seen_at"],
        &CopyFormat::csv(true),
    )?;
    let mut chunk = String::from("id,category,amount,seen_at\n");
    for i in 1..=rows {
        let amount = if i % 1000 == 0 {
            "n/a".to_string()
        } else {
            format!("{}.{:02}", i % 500, i % 100)
        };
        chunk.push_str(&format!(
            "{i},{},{amount},2024-01-{:02}T{:02}:00:00Z\n",
            CATEGORIES[(i % 5) as usize],
            1 + i % 28,
            i % 24
        ));
        if chunk.len() > 256 * 1024 {
            sink.write(chunk.as_bytes())?;
            chunk.clear();
        }
    }
    sink.write(chunk.as_bytes())?;
    let staged = sink.finish()?;
    log::info!("staged {staged} rows into {staging}");

    // 2. Transform inside one transaction: all of it lands, or none.
    let tx = db.begin(TransactionOptions::default())?;
    tx.execute(&format!("CREATE TABLE {clean} (id int8 PRIMARY KEY, category text NOT NULL, amount numeric(12,2) NOT NULL, seen_at timestamptz NOT NULL)"), &[])?;
    let cleaned = tx.execute(
        &format!(
            "INSERT INTO {clean} SELECT id, upper(category), amount::numeric(12,2), seen_at::timestamptz FROM {staging} WHERE amount ~ '^[0-9]+(\\.[0-9]+)?$'"
        ),
        &[],
    )?;
    let rejected = tx
        .query_value(
            &format!("SELECT count(*) FROM {staging} WHERE amount !~ '^[0-9]+(\\.[0-9]+)?$'"),
            &[],
        )?
        .and_then(|v| v.as_i64());
    tx.commit()?;
    log::info!("cleaned {cleaned} rows, rejected {rejected:?}");

    // 3. Stream the clean rows back and aggregate in the guest, in batches.
    let stream = db.query_stream(
        &format!("SELECT category, amount FROM {clean}"),
        &[],
        10_000,
    )?;
    let mut totals: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    let mut streamed = 0u64;
    while let Some(batch) = stream.next()? {
        for row in batch {
            streamed += 1;
            let category = row[0].as_str().unwrap_or("?").to_string();
            let amount: f64 = row[1].as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            let entry = totals.entry(category).or_insert((0, 0.0));
            entry.0 += 1;
            entry.1 += amount;
        }
    }

    // 4. Write the summary.
    db.execute(
        &format!(
            "CREATE TABLE {summary} (category text PRIMARY KEY, rows int8, total numeric(14,2))"
        ),
        &[],
    )?;
    let summary_rows: Vec<Vec<Value>> = totals
        .iter()
        .map(|(c, (n, t))| {
            vec![
                c.clone().into(),
                (*n as i64).into(),
                Value::Numeric(format!("{t:.2}")),
            ]
        })
        .collect();
    let written = db.execute_many(
        &format!("INSERT INTO {summary} VALUES ($1, $2, $3)"),
        &summary_rows,
    )?;
    let check = db
        .query_value(&format!("SELECT sum(rows)::int8 FROM {summary}"), &[])?
        .and_then(|v| v.as_i64());

    Ok(json!({
        "staged": staged,
        "cleaned": cleaned,
        "rejected": rejected,
        "streamed": streamed,
        "summary_rows": written,
        "summary_total_rows": check,
        "categories": totals.iter().map(|(c, (n, _))| json!([c, n])).collect::<Vec<_>>(),
    }))
}

aw_guest::task!(run);
