//! pg-to-adls: export a Postgres table to CSV files in ADLS. Seeds a table, then for each
//! category streams `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)` into a streamed upload
//! (`copy-out` -> `open-writer`), so neither side is ever held whole in memory. Returns each
//! file's path, size and row count, checked by reading the files back.

use aw_guest::adls2::{self, UploadOptions};
use aw_guest::postgres::{self, CopyFormat, CopyFrom};
use aw_guest::{config, log};
use serde_json::{json, Value as Json};

const CATEGORIES: [&str; 3] = ["alpha", "beta", "gamma"];

fn run(_input: Json) -> aw_guest::Result<Json> {
    let table = config::get("table")?;
    let container = config::get("container")?;
    let db = postgres::open(None)?;
    let lake = adls2::open(None)?;

    db.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])?;
    db.execute(
        &format!("CREATE TABLE {table} (id int8 PRIMARY KEY, category text, amount numeric(12,2))"),
        &[],
    )?;
    db.execute(
        &format!("INSERT INTO {table} SELECT i, (ARRAY['alpha','beta','gamma'])[1 + i % 3], round((i * 1.37)::numeric % 500, 2) FROM generate_series(1, 30000) i"),
        &[],
    )?;
    lake.create_container(&container, true)?;

    let mut files = Vec::new();
    for category in CATEGORIES {
        let path = format!("exports/{table}/category={category}/part-0000.csv");
        let query = format!(
            "SELECT id, category, amount FROM {table} WHERE category = '{category}' ORDER BY id"
        );
        let source = db.copy_out(&CopyFrom::Query(query), &[], &CopyFormat::csv(true))?;
        let mut writer = lake.open_writer(
            &container,
            &path,
            &UploadOptions::new()
                .content_type("text/csv")
                .meta("source_table", &table),
        )?;
        let mut bytes = 0u64;
        while let Some(chunk) = source.read()? {
            bytes += chunk.len() as u64;
            writer.write(&chunk)?;
        }
        let info = writer.finish()?;
        // Read it back as a stream and count data rows (lines minus the header).
        let mut lines = 0u64;
        for chunk in lake.open_reader(&container, &path, None, None)? {
            lines += chunk?.iter().filter(|b| **b == b'\n').count() as u64;
        }
        log::info!("exported {path}: {bytes} bytes, {} rows", lines - 1);
        files.push(json!({ "path": path, "size": info.size, "rows": lines - 1, "content_type": info.content_type }));
    }
    let total: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap_or(0)).sum();
    Ok(json!({ "files": files, "rows": total }))
}

aw_guest::task!(run);
