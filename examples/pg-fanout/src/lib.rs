//! pg-fanout: the Python package's Postgres fan-out example as a flow. The flow creates and
//! seeds a table, spawns one `summarize` task per category (they run in parallel, each in its
//! own instance), joins them, writes the summary into a table of its own, reads it back and
//! prints it exactly as the Python original did:
//! `Summary rows: [{'category': 'alpha', 'total': 25.0, 'count': 2}, ...]`.

use aw_guest::postgres::{self, Value};
use aw_guest::{config, log, Error};
use aw_guest_flow::tasks::{self, Options};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// The Python example's rows.
const SEED: [(&str, f64); 5] = [
    ("alpha", 10.0),
    ("alpha", 15.0),
    ("beta", 7.0),
    ("beta", 3.0),
    ("gamma", 5.0),
];

#[derive(Serialize, Deserialize)]
struct Summary {
    category: String,
    total: f64,
    count: i64,
}

fn flow(_input: Json) -> aw_guest::Result<Json> {
    let table = config::get("table")?;
    let db = postgres::open(None)?;
    db.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])?;
    db.execute(&format!("CREATE TABLE {table} (id serial PRIMARY KEY, category text NOT NULL, amount float8 NOT NULL)"), &[])?;
    let rows: Vec<Vec<Value>> = SEED
        .iter()
        .map(|(c, a)| vec![(*c).into(), Value::Float64(*a)])
        .collect();
    db.execute_many(
        &format!("INSERT INTO {table} (category, amount) VALUES ($1, $2)"),
        &rows,
    )?;

    let categories: Vec<String> = db
        .query(
            &format!("SELECT DISTINCT category FROM {table} ORDER BY category"),
            &[],
        )?
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(|v| v.as_str().map(String::from)))
        .collect();
    let handles = categories
        .iter()
        .map(|c| {
            tasks::spawn(
                "summarize",
                &json!({ "table": table, "category": c }),
                Options::new().retries(2),
            )
        })
        .collect::<aw_guest::Result<Vec<_>>>()?;
    let stats: Vec<Summary> = tasks::join_all(&handles)?;
    let summary = write_and_read_back(&db, &format!("{table}_summary"), &stats)?;
    let printed = format!("Summary rows: {}", python_repr(&summary));
    log::info!("{printed}");
    Ok(json!({ "summary": summary, "printed": printed }))
}

/// Replaces the summary table's rows with `stats` in one transaction and reads them back in
/// category order, as the Python original's `upsert_summary` and `read_summary` tasks do.
fn write_and_read_back(
    db: &postgres::Client,
    table: &str,
    stats: &[Summary],
) -> aw_guest::Result<Vec<Summary>> {
    db.execute(&format!("CREATE TABLE IF NOT EXISTS {table} (category text PRIMARY KEY, total float8 NOT NULL, count int8 NOT NULL)"), &[])?;
    let tx = db.begin(Default::default())?;
    tx.execute(&format!("DELETE FROM {table}"), &[])?;
    let rows: Vec<Vec<Value>> = stats
        .iter()
        .map(|s| {
            vec![
                s.category.as_str().into(),
                Value::Float64(s.total),
                Value::Int64(s.count),
            ]
        })
        .collect();
    tx.execute_many(
        &format!("INSERT INTO {table} (category, total, count) VALUES ($1, $2, $3)"),
        &rows,
    )?;
    tx.commit()?;
    let read = db.query(
        &format!("SELECT category, total, count FROM {table} ORDER BY category"),
        &[],
    )?;
    Ok(read
        .rows
        .iter()
        .map(|r| Summary {
            category: r
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            total: r.get(1).and_then(|v| v.as_f64()).unwrap_or(0.0),
            count: r.get(2).and_then(|v| v.as_i64()).unwrap_or(0),
        })
        .collect())
}

#[derive(Deserialize)]
struct Category {
    table: String,
    category: String,
}

fn summarize(c: Category) -> aw_guest::Result<Summary> {
    let db = postgres::open(None)?;
    let row = db
        .query_one(
            &format!(
                "SELECT sum(amount)::float8, count(*)::int8 FROM {} WHERE category = $1",
                c.table
            ),
            &[c.category.as_str().into()],
        )?
        .ok_or_else(|| Error::permanent("no summary row"))?;
    let total = row.values.first().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let count = row.values.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
    Ok(Summary {
        category: c.category,
        total,
        count,
    })
}

/// The list as Python's `print` shows a list of dicts: `[{'category': 'alpha', 'total': 25.0, 'count': 2}]`.
fn python_repr(rows: &[Summary]) -> String {
    let float = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 1e16 {
            format!("{x:.1}")
        } else {
            format!("{x}")
        }
    };
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{'category': '{}', 'total': {}, 'count': {}}}",
                r.category.replace('\'', "\\'"),
                float(r.total),
                r.count
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

aw_guest_flow::flow!(flow, tasks: [summarize]);
