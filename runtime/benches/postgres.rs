//! Benchmark: a Rust guest's Postgres work vs native tokio-postgres on the same pool and server,
//! measured in one run. Needs the cluster scripts/bench.sh starts (AW_PG_* env).
//!
//! 1. 20,000 `SELECT $1::int8` round trips: guest vs native, one pool checkout each (goal >= 0.9).
//! 2. COPY IN 1M rows of 4 columns: guest `copy-in` vs native `copy_in` vs `psql \copy` (goal:
//!    guest >= psql).
//! 3. `query-stream` of 1M rows: guest (`next-encoded`, and `next` for reference) vs native
//!    `query_raw` rows/s (goal >= 0.8), and the peak RSS of an `aw-run` process doing it (goal <
//!    64 MiB).
//!
//! Prints numbers and ratios; asserts nothing about speed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aw_runtime::config::{Config, Limits};
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::engine::EngineOptions;
use aw_runtime::host::RunContext;
use aw_runtime::prepare::prepare;
use aw_runtime::run::{LoadedComponent, Runtime};
use aw_runtime::secrets::{Scrubber, Secrets};
use bytes::Bytes;
use futures_util::{pin_mut, SinkExt, TryStreamExt};

const SELECTS: u64 = 20_000;
const COPY_ROWS: u64 = 1_000_000;
const STREAM_ROWS: u64 = 1_000_000;
const ROUNDS: usize = 3;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench.sh, which starts PostgreSQL"))
}

fn guest_dir() -> PathBuf {
    std::env::var_os("AW_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/wasm32-wasip2/release")))
}

fn config_text(port: &str) -> String {
    format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\nmax_size = 4\n[profiles.default]\npostgres = [\"default\"]\nlimits = {{ memory = \"256MiB\", timeout = \"10m\" }}\n"
    )
}

/// One row of the COPY data, the same in the guest (tests/guests/pg-probe), native and psql.
fn copy_row(i: u64, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(out, "{i}\tname {i}\t{}.{:02}\t2024-01-01 00:00:{:02}+00", i % 1000, i % 100, i % 60);
}

async fn guest(runtime: &Runtime, loaded: &LoadedComponent, context: &Arc<RunContext>, input: serde_json::Value) -> (serde_json::Value, Duration) {
    let limits = Limits { memory: 256 << 20, timeout: Duration::from_secs(600), ..Limits::default() };
    let start = Instant::now();
    let (outcome, _) = runtime.run(loaded, context.clone(), &limits, &input.to_string()).await;
    let elapsed = start.elapsed();
    let text = outcome.unwrap_or_else(|e| panic!("guest failed: {e}"));
    (serde_json::from_str(&text).expect("guest JSON"), elapsed)
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let port = env("AW_PG_PORT");
    let pg_bin = env("AW_PG_BIN");
    let probe = guest_dir().join("aw_pg_probe.wasm");
    assert!(probe.is_file(), "{} missing: run scripts/build-guests.sh", probe.display());
    let config = Config::from_toml_str(&config_text(&port), std::path::Path::new("bench.toml"), &[]).expect("config");
    let secrets = Secrets::new(vec![], Scrubber::default());
    let prepared = prepare(&config, "default", &secrets, "aw_pg_probe").expect("prepare");
    let context = prepared.context.clone();
    let cache = tempfile::tempdir().expect("tmp");
    let runtime = Runtime::new(EngineOptions::default(), ComponentCache::new(Some(cache.path().to_path_buf()))).expect("runtime");
    let loaded = runtime.load(&probe).expect("load probe");
    let tokio = aw_runtime::run::tokio_runtime().expect("tokio");
    let (pool, _) = context.postgres.get("default").expect("pool");

    // Guest and native both run as a task on a worker thread, as aw-run runs its guest.
    let cache_dir = cache.path().to_path_buf();
    let bench_port = port.clone();
    let body = async move {
        let (cache, port) = (cache_dir, bench_port);
        // Warm the pool and the guest's statement cache on every connection.
        guest(&runtime, &loaded, &context, serde_json::json!({"op": "bench-select", "rows": 100})).await;

        // 1. Round trips, guest and native alternately, best of ROUNDS each (the server shares
        // the machine's two cores with the benchmark, so single runs are noisy).
        let (mut guest_time, mut native_time) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            let (result, elapsed) = guest(&runtime, &loaded, &context, serde_json::json!({"op": "bench-select", "rows": SELECTS})).await;
            assert_eq!(result["sum"], (SELECTS * (SELECTS - 1) / 2) as i64);
            guest_time = guest_time.min(elapsed);
            let start = Instant::now();
            let mut sum = 0i64;
            for i in 0..SELECTS as i64 {
                let conn = pool.get().await.expect("checkout");
                let stmt = conn.prepare_cached("SELECT $1::int8").await.expect("prepare");
                sum += conn.query_one(&stmt, &[&i]).await.expect("query").get::<_, i64>(0);
            }
            native_time = native_time.min(start.elapsed());
            assert_eq!(sum, (SELECTS * (SELECTS - 1) / 2) as i64);
        }
        println!("1. {SELECTS} x SELECT $1::int8 (pool checkout per statement; best of {ROUNDS})");
        println!("   guest   {:>10.0} queries/s", rate(SELECTS, guest_time));
        println!("   native  {:>10.0} queries/s", rate(SELECTS, native_time));
        println!("   ratio guest/native {:.2} (goal >= 0.9)", rate(SELECTS, guest_time) / rate(SELECTS, native_time));

        // 2. COPY IN.
        let conn = pool.get().await.expect("checkout");
        conn.batch_execute(
            "DROP TABLE IF EXISTS bench_copy_guest, bench_copy_native, bench_copy_psql;
             CREATE TABLE bench_copy_guest (id int8, name text, amount numeric(8,2), at timestamptz);
             CREATE TABLE bench_copy_native (LIKE bench_copy_guest); CREATE TABLE bench_copy_psql (LIKE bench_copy_guest);",
        )
        .await
        .expect("tables");
        let file = cache.join("copy.tsv");
        let mut data = String::new();
        for i in 0..COPY_ROWS {
            copy_row(i, &mut data);
        }
        std::fs::write(&file, data).expect("write copy file");
        let (mut guest_copy, mut native_copy, mut psql_copy) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            conn.batch_execute("TRUNCATE bench_copy_guest, bench_copy_native, bench_copy_psql").await.expect("truncate");
            let (result, elapsed) =
                guest(&runtime, &loaded, &context, serde_json::json!({"op": "bench-copy", "rows": COPY_ROWS, "table": "bench_copy_guest"})).await;
            assert_eq!(result["rows"], COPY_ROWS);
            guest_copy = guest_copy.min(elapsed);
            let start = Instant::now();
            let sink = conn.copy_in::<_, Bytes>("COPY bench_copy_native FROM STDIN").await.expect("copy");
            pin_mut!(sink);
            let mut chunk = String::with_capacity(300 * 1024);
            for i in 0..COPY_ROWS {
                copy_row(i, &mut chunk);
                if chunk.len() >= 256 * 1024 {
                    sink.send(Bytes::from(std::mem::take(&mut chunk))).await.expect("send");
                }
            }
            sink.send(Bytes::from(chunk)).await.expect("send");
            assert_eq!(sink.finish().await.expect("finish"), COPY_ROWS);
            native_copy = native_copy.min(start.elapsed());
            let start = Instant::now();
            let status = Command::new(format!("{pg_bin}/psql"))
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "aw_trust", "-d", "aw_test", "-q", "-c"])
                .arg(format!("\\copy bench_copy_psql FROM '{}'", file.display()))
                .status()
                .expect("psql");
            psql_copy = psql_copy.min(start.elapsed());
            assert!(status.success(), "psql \\copy failed");
        }
        println!("2. COPY IN {COPY_ROWS} rows x 4 columns (text format; best of {ROUNDS})");
        println!("   guest copy-in  {:>10.0} rows/s (includes generating the rows in the guest)", rate(COPY_ROWS, guest_copy));
        println!("   native copy_in {:>10.0} rows/s (includes generating the rows)", rate(COPY_ROWS, native_copy));
        println!("   psql \\copy     {:>10.0} rows/s (from a prepared file)", rate(COPY_ROWS, psql_copy));
        println!("   ratio guest/psql {:.2} (goal >= 1.0), guest/native {:.2}", rate(COPY_ROWS, guest_copy) / rate(COPY_ROWS, psql_copy), rate(COPY_ROWS, guest_copy) / rate(COPY_ROWS, native_copy));

        // 3. Streaming, alternately, best of ROUNDS.
        let stmt = conn.prepare("SELECT g::int8 AS n, repeat('x', 100) AS pad FROM generate_series(1, $1::int8) g").await.expect("prepare");
        let (mut guest_stream, mut guest_values, mut native_stream) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            let (result, elapsed) = guest(&runtime, &loaded, &context, serde_json::json!({"op": "stream-encoded", "rows": STREAM_ROWS})).await;
            assert_eq!(result["count"], STREAM_ROWS);
            guest_stream = guest_stream.min(elapsed);
            let (values, elapsed) = guest(&runtime, &loaded, &context, serde_json::json!({"op": "stream", "rows": STREAM_ROWS})).await;
            assert_eq!(values["sum"], result["sum"]);
            guest_values = guest_values.min(elapsed);
            let start = Instant::now();
            let rows = conn.query_raw(&stmt, [STREAM_ROWS as i64]).await.expect("query_raw");
            pin_mut!(rows);
            let (mut count, mut sum) = (0u64, 0i64);
            while let Some(row) = rows.try_next().await.expect("row") {
                count += 1;
                sum += row.get::<_, i64>(0);
                let _pad: &str = row.get(1);
            }
            native_stream = native_stream.min(start.elapsed());
            assert_eq!(count, STREAM_ROWS);
            assert_eq!(Some(sum), result["sum"].as_i64());
        }
        println!("3. stream {STREAM_ROWS} rows (int8 + 100-char text; best of {ROUNDS})");
        println!("   guest query-stream, next-encoded {:>10.0} rows/s (batches of 5000 through a cursor)", rate(STREAM_ROWS, guest_stream));
        println!("   guest query-stream, next (values) {:>9.0} rows/s", rate(STREAM_ROWS, guest_values));
        println!("   native query_raw                 {:>10.0} rows/s", rate(STREAM_ROWS, native_stream));
        println!("   ratio guest (encoded)/native {:.2} (goal >= 0.8); values/native {:.2}", rate(STREAM_ROWS, guest_stream) / rate(STREAM_ROWS, native_stream), rate(STREAM_ROWS, guest_values) / rate(STREAM_ROWS, native_stream));
    };
    tokio.block_on(tokio.spawn(body)).expect("benchmark task");

    // Peak RSS of a whole aw-run process streaming 1M rows.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("aw.toml"), config_text(&port)).expect("aw.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aw-run"))
        .arg(&probe)
        .args(["-q", "--input", &serde_json::json!({"op": "stream", "rows": STREAM_ROWS}).to_string()])
        .env("AW_CACHE_DIR", cache.path())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("aw-run");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()) {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("   aw-run peak RSS while streaming: {} MiB (goal < 64 MiB)", peak_kib / 1024);
}
