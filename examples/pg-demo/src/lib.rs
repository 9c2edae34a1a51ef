//! pg-demo: the Python `auto_workflow` package's end-to-end Postgres example as a guest:
//! set up a table, insert 0..4, sum them (10). The connection comes from aw.toml, and the
//! env overlay can point it anywhere (`AUTO_WORKFLOW_CONNECTORS_POSTGRES_DEFAULT__DSN=...`).

use aw_guest::postgres::{self, Value};
use aw_guest::{config, log};
use serde_json::{json, Value as Json};

fn run(_input: Json) -> aw_guest::Result<Json> {
    let table = config::get("table")?;
    let db = postgres::open(None)?;
    // setup
    db.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])?;
    db.execute(
        &format!("CREATE TABLE {table} (id serial PRIMARY KEY, value int4 NOT NULL)"),
        &[],
    )?;
    // insert 0..4, atomically and pipelined
    let rows: Vec<Vec<Value>> = (0..5).map(|i: i32| vec![i.into()]).collect();
    let inserted = db.execute_many(&format!("INSERT INTO {table} (value) VALUES ($1)"), &rows)?;
    // sum
    let sum = db
        .query_value(&format!("SELECT sum(value)::int8 FROM {table}"), &[])?
        .and_then(|v| v.as_i64());
    log::info!("inserted {inserted} rows into {table}; sum = {sum:?}");
    Ok(json!({ "inserted": inserted, "sum": sum }))
}

aw_guest::task!(run);
