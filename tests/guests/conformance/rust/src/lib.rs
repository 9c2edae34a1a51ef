//! The conformance scenarios (tests/guests/conformance/README.md) in Rust. The Python and
//! JavaScript guests beside it implement the same scenarios and must return the same JSON.

use aw_guest::adls2::{self, UploadOptions};
use aw_guest::postgres::{self, Client, CopyFormat, CopyFrom, TransactionOptions, Value};
use aw_guest::{Error, Result};
use serde::Deserialize;
use serde_json::{json, Value as Json};

#[derive(Deserialize)]
struct Input {
    prefix: String,
    container: String,
}

fn run(input: Input) -> Result<Json> {
    let db = postgres::open(None)?;
    Ok(json!({
        "values": values(&db)?,
        "crud": crud(&db, &input.prefix)?,
        "transactions": transactions(&db, &input.prefix)?,
        "stream": stream(&db)?,
        "copy": copy(&db, &input.prefix)?,
        "errors": errors(&db, &input.prefix)?,
        "adls": adls(&input.container)?,
    }))
}

aw_guest::task!(run);

/// `{kind, code}` of a failed call; a call that succeeded is a scenario failure.
fn failure<T>(result: Result<T>) -> Result<Json> {
    match result {
        Ok(_) => Err(Error::permanent(
            "the call succeeded but should have failed",
        )),
        Err(e) => Ok(json!({ "kind": e.kind_name(), "code": e.code })),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn values(db: &Client) -> Result<Json> {
    let params: Vec<Value> = vec![
        true.into(),
        12i64.into(),
        123456i64.into(),
        9_007_199_254_740_993i64.into(),
        1.5f64.into(),
        Value::Numeric("12345678901234567890.123456789".into()),
        "héllo ☃".into(),
        vec![0u8, 1, 0, 255].into(),
        Value::Json(r#"{"a": [1, 2]}"#.into()),
        Value::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        Value::Date("2024-02-29".into()),
        Value::Timestamptz("2024-02-29T12:34:56.789012Z".into()),
        Value::Array(vec![
            postgres::Element::Int64(1),
            postgres::Element::Null,
            postgres::Element::Int64(3),
        ]),
        Value::Null,
    ];
    let row = db
        .query_one(
            "SELECT $1::bool AS bool, $2::int2 AS int2, $3::int4 AS int4, $4::int8 AS int8, $5::float8 AS float8, \
             $6::numeric AS numeric, $7::text AS text, $8::bytea AS bytea, $9::jsonb AS json, $10::uuid AS uuid, \
             $11::date AS date, $12::timestamptz AS timestamptz, $13::int4[] AS array, $14::text AS null",
            &params,
        )?
        .ok_or_else(|| Error::permanent("no row"))?;
    let get = |name: &str| row.get(name).cloned().unwrap_or(Value::Null);
    let bytea = match get("bytea") {
        Value::Bytea(b) => hex(&b),
        other => return Err(Error::permanent(format!("bytea came back as {other:?}"))),
    };
    Ok(json!({
        "bool": get("bool").to_json(),
        "int2": get("int2").to_json(),
        "int4": get("int4").to_json(),
        "int8": get("int8").to_json(),
        "float8": get("float8").to_json(),
        "numeric": get("numeric").to_json(),
        "text": get("text").to_json(),
        "bytea_hex": bytea,
        "json": get("json").to_json(),
        "uuid": get("uuid").to_json(),
        "date": get("date").to_json(),
        "timestamptz": get("timestamptz").to_json(),
        "array": get("array").to_json(),
        "null": get("null").to_json(),
    }))
}

fn crud(db: &Client, p: &str) -> Result<Json> {
    let t = format!("{p}_items");
    db.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])?;
    db.execute(
        &format!("CREATE TABLE {t} (id int4 PRIMARY KEY, name text NOT NULL, qty int4)"),
        &[],
    )?;
    let inserted = db.execute(
        &format!("INSERT INTO {t} VALUES ($1, $2, $3)"),
        &[1i64.into(), "a".into(), 10i64.into()],
    )?;
    let many = db.execute_many(
        &format!("INSERT INTO {t} VALUES ($1, $2, $3)"),
        &[
            vec![2i64.into(), "b".into(), 20i64.into()],
            vec![3i64.into(), "c".into(), Value::Null],
            vec![4i64.into(), "d".into(), 40i64.into()],
        ],
    )?;
    let rows = db.query(&format!("SELECT id, name, qty FROM {t} ORDER BY id"), &[])?;
    let rows: Vec<Json> = rows.decode()?;
    let one: Option<Json> = db
        .query_one(
            &format!("SELECT id, name, qty FROM {t} WHERE id = $1"),
            &[2i64.into()],
        )?
        .map(|r| r.decode())
        .transpose()?;
    let count = db
        .query_value(&format!("SELECT count(*) FROM {t}"), &[])?
        .map(|v| v.to_json());
    let updated = db.execute(&format!("UPDATE {t} SET qty = coalesce(qty, 0) + 1"), &[])?;
    let deleted = db.execute(&format!("DELETE FROM {t} WHERE id > $1"), &[2i64.into()])?;
    let tables = db.reflect("public", &[&t])?;
    let reflected: Vec<Json> = tables
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "primary_key": t.primary_key,
                "columns": t.columns.iter().map(|c| json!({"name": c.name, "type": c.type_name, "nullable": c.nullable})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "inserted": inserted, "inserted_many": many, "rows": rows, "one": one, "count": count,
        "updated": updated, "deleted": deleted, "reflect": reflected,
    }))
}

fn ids(db: &Client, t: &str) -> Result<Json> {
    let rows = db.query(&format!("SELECT id FROM {t} ORDER BY id"), &[])?;
    Ok(Json::Array(
        (0..rows.rows.len())
            .map(|i| rows.get(i, "id").map(|v| v.to_json()).unwrap_or(Json::Null))
            .collect(),
    ))
}

fn transactions(db: &Client, p: &str) -> Result<Json> {
    let t = format!("{p}_tx");
    db.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])?;
    db.execute(&format!("CREATE TABLE {t} (id int4)"), &[])?;
    let tx = db.begin(TransactionOptions {
        isolation: None,
        read_only: false,
        deferrable: false,
    })?;
    tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[])?;
    tx.rollback()?;
    let after_rollback = ids(db, &t)?;

    let tx = db.begin(TransactionOptions {
        isolation: Some(postgres::Isolation::Serializable),
        read_only: false,
        deferrable: false,
    })?;
    tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[])?;
    tx.savepoint("s1")?;
    tx.execute(&format!("INSERT INTO {t} VALUES (2)"), &[])?;
    tx.rollback_to("s1")?;
    tx.execute(&format!("INSERT INTO {t} VALUES (3)"), &[])?;
    let isolation = tx
        .query_value("SELECT current_setting('transaction_isolation')", &[])?
        .map(|v| v.to_json());
    tx.commit()?;
    let after_commit = ids(db, &t)?;

    let tx = db.begin(TransactionOptions {
        isolation: None,
        read_only: true,
        deferrable: false,
    })?;
    let read_only = failure(tx.execute(&format!("INSERT INTO {t} VALUES (4)"), &[]))?;
    drop(tx);
    let after_read_only = ids(db, &t)?;
    Ok(json!({
        "after_rollback": after_rollback, "after_commit": after_commit, "isolation": isolation,
        "read_only_write": read_only, "after_read_only": after_read_only,
    }))
}

fn stream(db: &Client) -> Result<Json> {
    let rows = db.query_stream("SELECT g AS n FROM generate_series(1, 100000) g", &[], 1000)?;
    let (mut count, mut sum) = (0u64, 0i64);
    while let Some(batch) = rows.next()? {
        for row in batch {
            count += 1;
            sum += row.first().and_then(|v| v.as_i64()).unwrap_or(0);
        }
    }
    Ok(json!({ "rows": count, "sum": sum }))
}

fn read_all(source: postgres::CopySource) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = source.read()? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn copy(db: &Client, p: &str) -> Result<Json> {
    let t = format!("{p}_copy");
    db.execute(&format!("DROP TABLE IF EXISTS {t}"), &[])?;
    db.execute(&format!("CREATE TABLE {t} (id int4, name text)"), &[])?;
    let mut csv = String::from("id,name\n");
    for i in 1..=1000 {
        csv.push_str(&format!("{i},name {i}\n"));
    }
    let sink = db.copy_in(&t, &["id", "name"], &CopyFormat::csv(true))?;
    for chunk in csv.as_bytes().chunks(4096) {
        sink.write(chunk)?;
    }
    let copied = sink.finish()?;
    let table = read_all(db.copy_out(
        &CopyFrom::Table(t.clone()),
        &["id", "name"],
        &CopyFormat::csv(false),
    )?)?;
    let query = read_all(db.copy_out(
        &CopyFrom::Query(format!("SELECT id FROM {t} WHERE id <= 10 ORDER BY id")),
        &[],
        &CopyFormat::csv(true),
    )?)?;
    let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    Ok(json!({
        "copied_in": copied, "table_lines": lines(&table), "table_bytes": table.len(),
        "query_csv": String::from_utf8_lossy(&query),
    }))
}

fn errors(db: &Client, p: &str) -> Result<Json> {
    let t = format!("{p}_items");
    Ok(json!({
        "syntax": failure(db.execute("SELEC 1", &[]))?,
        "unique": failure(db.execute(&format!("INSERT INTO {t} VALUES (1, 'again', 0)"), &[]))?,
        "missing_table": failure(db.query(&format!("SELECT * FROM {p}_missing"), &[]))?,
        "denied_profile": failure(postgres::open(Some("ungranted")))?,
        "denied_container": failure(adls2::open(None).and_then(|lake| lake.exists("not-granted", "x")))?,
    }))
}

const BIG_CHUNK: usize = 64 * 1024;
const BIG_CHUNKS: usize = 256;

fn adls(container: &str) -> Result<Json> {
    let lake = adls2::open(None)?;
    let created = lake.create_container(container, true)?;
    lake.make_dirs(container, "a/b", true)?;
    let options = UploadOptions::new()
        .content_type("text/plain")
        .meta("origin", "conformance")
        .overwrite(false);
    let uploaded = lake.upload(container, "a/b/one.txt", b"hello world", &options)?;
    let again = failure(lake.upload(container, "a/b/one.txt", b"again", &options))?;
    let props = lake.properties(container, "a/b/one.txt")?;
    let range = lake.download(container, "a/b/one.txt", adls2::range(6, Some(5)))?;
    let mut listing: Vec<String> = lake
        .list_all(container, Some("a"), true)?
        .into_iter()
        .map(|i| i.name)
        .collect();
    listing.sort();
    let exists = [
        lake.exists(container, "a/b/one.txt")?,
        lake.exists(container, "a/b/missing.txt")?,
    ];
    lake.rename(container, "a/b/one.txt", "a/b/two.txt", false)?;
    let renamed = [
        lake.exists(container, "a/b/one.txt")?,
        lake.exists(container, "a/b/two.txt")?,
    ];

    let chunk: Vec<u8> = (0..BIG_CHUNK).map(|i| (i % 251) as u8).collect();
    let mut writer = lake.open_writer(container, "big/data.bin", &UploadOptions::new())?;
    for _ in 0..BIG_CHUNKS {
        writer.write(&chunk)?;
    }
    let big = writer.finish()?;
    let (mut bytes, mut sum) = (0u64, 0u64);
    for piece in lake.open_reader(container, "big/data.bin", None, None)? {
        let piece = piece?;
        bytes += piece.len() as u64;
        sum += piece.iter().map(|&b| u64::from(b)).sum::<u64>();
    }
    lake.delete_path(container, "a", true)?;
    lake.delete_path(container, "big", true)?;
    let gone = !lake.exists(container, "a/b/two.txt")?;
    lake.delete_container(container)?;
    let metadata: serde_json::Map<String, Json> = props
        .metadata
        .into_iter()
        .map(|(k, v)| (k, Json::String(v)))
        .collect();
    Ok(json!({
        "created": created, "uploaded_size": uploaded.size, "overwrite_false": again,
        "content_type": props.info.content_type, "metadata": metadata,
        "range": String::from_utf8_lossy(&range), "listing": listing, "exists": exists, "renamed": renamed,
        "big_size": big.size, "big_read": { "bytes": bytes, "sum": sum }, "deleted": gone,
    }))
}
