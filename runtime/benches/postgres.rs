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
//! The server shares the machine's two cores with the benchmark and its speed drifts during a
//! run (background writes, autovacuum, CPU placement), so the sides are measured in rounds that
//! alternate between them, each round in a rotated order, and a ratio is the median of the
//! rounds' ratios (its range is printed too); throughputs are over all rounds. Prints numbers
//! and ratios; asserts nothing about speed. Also prints the client CPU time per round trip of
//! each side (a round trip is serial, so the guest's extra CPU is its extra latency) and how
//! busy the server was while copying and streaming: near 100 % means the server, not the
//! connector, set the pace.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aw_runtime::config::{Config, Limits};
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::engine::EngineOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::redact::Scrubber;
use aw_runtime::run::{LoadedComponent, Runtime};
use aw_runtime::secrets::Secrets;
use aw_runtime::RunContext;
use bytes::Bytes;
use futures_util::{pin_mut, SinkExt, TryStreamExt};

/// Round trips in all, in ROUNDS rounds per side.
const SELECTS: u64 = 20_000;
const COPY_ROWS: u64 = 1_000_000;
const STREAM_ROWS: u64 = 1_000_000;
const ROUNDS: usize = 20;
/// Rounds of the COPY and streaming comparisons (1M rows each).
const BIG_ROUNDS: usize = 5;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/bench.sh, which starts PostgreSQL")
    })
}

fn guest_dir() -> PathBuf {
    std::env::var_os("AW_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/wasm32-wasip2/release"
            ))
        })
}

fn config_text(port: &str) -> String {
    format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\nmax_size = 4\n[profiles.default]\npostgres = [\"default\"]\nlimits = {{ memory = \"256MiB\", timeout = \"10m\" }}\n"
    )
}

/// One row of the COPY data, the same in the guest (tests/guests/pg-probe), native and psql.
fn copy_row(i: u64, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "{i}\tname {i}\t{}.{:02}\t2024-01-01 00:00:{:02}+00",
        i % 1000,
        i % 100,
        i % 60
    );
}

async fn guest(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    context: &Arc<RunContext>,
    input: serde_json::Value,
) -> (serde_json::Value, Duration) {
    let limits = Limits {
        memory: 256 << 20,
        timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let start = Instant::now();
    let (outcome, _) = runtime
        .run(loaded, context.clone(), &limits, &input.to_string())
        .await;
    let elapsed = start.elapsed();
    let text = outcome.unwrap_or_else(|e| panic!("guest failed: {e}"));
    (serde_json::from_str(&text).expect("guest JSON"), elapsed)
}

/// A process's name and its CPU seconds so far from its `/proc/<pid>/stat` line: user, system,
/// and user and system of its children that ended and were waited for (fields 14-17, counted
/// after the `(comm) `, at the kernel's 100 ticks per second).
fn cpu_seconds(stat: &str) -> Option<(&str, [f64; 4])> {
    let (name, rest) = stat.rsplit_once(") ")?;
    let mut fields = rest
        .split_whitespace()
        .skip(11)
        .map(|f| f.parse::<u64>().unwrap_or(0) as f64 / 100.0);
    let times = [
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    ];
    Some((name.split_once('(').map_or(name, |(_, comm)| comm), times))
}

/// CPU time the PostgreSQL server processes have used so far (the cluster is the benchmark's
/// own), in seconds, with that of backends that already ended (psql's, when its copy is done):
/// the postmaster reaps them, so their time is in its children's fields.
fn server_cpu() -> f64 {
    let mut seconds = 0.0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(("postgres", times)) = cpu_seconds(&stat) {
            seconds += times.iter().sum::<f64>();
        }
    }
    seconds
}

/// This process's user and system CPU seconds so far (tick-grained; summed over many rounds,
/// that is precise enough per round trip).
fn own_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    cpu_seconds(&stat).map_or((0.0, 0.0), |(_, [user, system, ..])| (user, system))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// The order of the sides in round `round`: rotated, so no side always runs first.
fn rotated<const N: usize>(round: usize) -> [usize; N] {
    std::array::from_fn(|i| (i + round) % N)
}

/// Elapsed times per round, one per side.
struct Rounds<const N: usize>(Vec<[Duration; N]>);

impl<const N: usize> Rounds<N> {
    /// Side `side`'s throughput over all rounds, doing `n` things per round.
    fn rate(&self, side: usize, n: u64) -> f64 {
        rate(
            n * self.0.len() as u64,
            self.0.iter().map(|r| r[side]).sum(),
        )
    }

    /// Throughput of side `a` over side `b`: the median of the rounds' ratios, with min and max.
    fn ratio(&self, a: usize, b: usize) -> String {
        let mut ratios: Vec<f64> = self
            .0
            .iter()
            .map(|r| r[b].as_secs_f64() / r[a].as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let median = match ratios.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => ratios[n / 2],
            n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
        };
        format!(
            "{median:.2} (rounds {:.2}-{:.2})",
            ratios.first().unwrap_or(&f64::NAN),
            ratios.last().unwrap_or(&f64::NAN)
        )
    }
}

/// How busy the server was while each side ran: its CPU seconds and the wall seconds, summed
/// over the side's rounds.
struct ServerBusy<const N: usize>([(f64, f64); N]);

impl<const N: usize> ServerBusy<N> {
    fn new() -> Self {
        ServerBusy([(0.0, 0.0); N])
    }

    /// Adds a round of `side` that began when the server's CPU time was `cpu_before`.
    fn add(&mut self, side: usize, cpu_before: f64, elapsed: Duration) {
        let (cpu, wall) = self.0[side];
        self.0[side] = (
            cpu + server_cpu() - cpu_before,
            wall + elapsed.as_secs_f64(),
        );
    }

    /// The server's CPU time over the wall time of `side`, in per cent.
    fn percent(&self, side: usize) -> f64 {
        100.0 * self.0[side].0 / self.0[side].1
    }
}

fn main() {
    let port = env("AW_PG_PORT");
    let pg_bin = env("AW_PG_BIN");
    let probe = guest_dir().join("aw_pg_probe.wasm");
    assert!(
        probe.is_file(),
        "{} missing: run scripts/build-guests.sh",
        probe.display()
    );
    let config =
        Config::from_toml_str(&config_text(&port), std::path::Path::new("bench.toml"), &[])
            .expect("config");
    let secrets = Secrets::new(vec![], Scrubber::default());
    let prepared = prepare(&config, "default", &secrets, "aw_pg_probe").expect("prepare");
    let context = prepared.context.clone();
    let cache = tempfile::tempdir().expect("tmp");
    let runtime = Runtime::new(
        EngineOptions::default(),
        ComponentCache::new(Some(cache.path().to_path_buf())),
    )
    .expect("runtime");
    let loaded = runtime.load(&probe).expect("load probe");
    let tokio = aw_runtime::run::tokio_runtime().expect("tokio");
    let (pool, _, _) = context.postgres.get("default").expect("pool");

    // Guest and native both run as a task on a worker thread, as aw-run runs its guest.
    let cache_dir = cache.path().to_path_buf();
    let bench_port = port.clone();
    let body = async move {
        let (cache, port) = (cache_dir, bench_port);
        // Warm the pool and the guest's statement cache on every connection.
        guest(
            &runtime,
            &loaded,
            &context,
            serde_json::json!({"op": "bench-select", "rows": 100}),
        )
        .await;

        // 1. Round trips.
        const GUEST: usize = 0;
        const NATIVE: usize = 1;
        const PSQL: usize = 2;
        let per_round = SELECTS / ROUNDS as u64;
        let expected_sum = (per_round * (per_round - 1) / 2) as i64;
        let mut selects = Rounds::<2>(Vec::new());
        // The benchmark's own user and system CPU seconds, summed per side.
        let mut cpu = [(0.0, 0.0); 2];
        for round in 0..ROUNDS {
            let mut times = [Duration::ZERO; 2];
            for side in rotated::<2>(round) {
                let before = own_cpu();
                if side == GUEST {
                    let (result, elapsed) = guest(
                        &runtime,
                        &loaded,
                        &context,
                        serde_json::json!({"op": "bench-select", "rows": per_round}),
                    )
                    .await;
                    assert_eq!(result["sum"], expected_sum);
                    times[GUEST] = elapsed;
                } else {
                    let start = Instant::now();
                    let mut sum = 0i64;
                    for i in 0..per_round as i64 {
                        let conn = pool.get().await.expect("checkout");
                        let stmt = conn
                            .prepare_cached("SELECT $1::int8")
                            .await
                            .expect("prepare");
                        sum += conn
                            .query_one(&stmt, &[&i])
                            .await
                            .expect("query")
                            .get::<_, i64>(0);
                    }
                    times[NATIVE] = start.elapsed();
                    assert_eq!(sum, expected_sum);
                }
                let after = own_cpu();
                cpu[side] = (
                    cpu[side].0 + after.0 - before.0,
                    cpu[side].1 + after.1 - before.1,
                );
            }
            selects.0.push(times);
        }
        println!("1. {SELECTS} x SELECT $1::int8 (pool checkout per statement; {ROUNDS} rounds of {per_round} per side)");
        println!(
            "   guest   {:>10.0} queries/s",
            selects.rate(GUEST, per_round)
        );
        println!(
            "   native  {:>10.0} queries/s",
            selects.rate(NATIVE, per_round)
        );
        println!(
            "   ratio guest/native {} (goal >= 0.9)",
            selects.ratio(GUEST, NATIVE)
        );
        let per_trip = |seconds: f64| seconds * 1e6 / SELECTS as f64;
        println!(
            "   client CPU per round trip: guest {:.1} us user + {:.1} us system, native {:.1} + {:.1}",
            per_trip(cpu[GUEST].0),
            per_trip(cpu[GUEST].1),
            per_trip(cpu[NATIVE].0),
            per_trip(cpu[NATIVE].1)
        );
        // A guest round's time includes starting and ending its instance; this is that fixed cost.
        let mut starts: Vec<Duration> = Vec::new();
        for _ in 0..ROUNDS {
            starts.push(
                guest(
                    &runtime,
                    &loaded,
                    &context,
                    serde_json::json!({"op": "bench-select", "rows": 0}),
                )
                .await
                .1,
            );
        }
        starts.sort();
        println!(
            "   guest run with no round trips (instance start and end): median {:.2} ms",
            starts[ROUNDS / 2].as_secs_f64() * 1e3
        );

        // 2. COPY IN. Autovacuum is off for the scratch tables, so it does not run during a
        // later measurement.
        let conn = pool.get().await.expect("checkout");
        conn.batch_execute(
            "DROP TABLE IF EXISTS bench_copy_guest, bench_copy_native, bench_copy_psql;
             CREATE TABLE bench_copy_guest (id int8, name text, amount numeric(8,2), at timestamptz) WITH (autovacuum_enabled = off);
             CREATE TABLE bench_copy_native (LIKE bench_copy_guest) WITH (autovacuum_enabled = off);
             CREATE TABLE bench_copy_psql (LIKE bench_copy_guest) WITH (autovacuum_enabled = off);",
        )
        .await
        .expect("tables");
        let file = cache.join("copy.tsv");
        let mut data = String::new();
        for i in 0..COPY_ROWS {
            copy_row(i, &mut data);
        }
        std::fs::write(&file, data).expect("write copy file");
        let mut copies = Rounds::<3>(Vec::new());
        let mut copy_busy = ServerBusy::<3>::new();
        for round in 0..BIG_ROUNDS {
            conn.batch_execute("TRUNCATE bench_copy_guest, bench_copy_native, bench_copy_psql")
                .await
                .expect("truncate");
            let mut times = [Duration::ZERO; 3];
            for side in rotated::<3>(round) {
                let (cpu, start) = (server_cpu(), Instant::now());
                match side {
                    GUEST => {
                        let input = serde_json::json!({"op": "bench-copy", "rows": COPY_ROWS, "table": "bench_copy_guest"});
                        let (result, _) = guest(&runtime, &loaded, &context, input).await;
                        assert_eq!(result["rows"], COPY_ROWS);
                    }
                    NATIVE => {
                        let sink = conn
                            .copy_in::<_, Bytes>("COPY bench_copy_native FROM STDIN")
                            .await
                            .expect("copy");
                        pin_mut!(sink);
                        let mut chunk = String::with_capacity(300 * 1024);
                        for i in 0..COPY_ROWS {
                            copy_row(i, &mut chunk);
                            if chunk.len() >= 256 * 1024 {
                                sink.send(Bytes::from(std::mem::take(&mut chunk)))
                                    .await
                                    .expect("send");
                            }
                        }
                        sink.send(Bytes::from(chunk)).await.expect("send");
                        assert_eq!(sink.finish().await.expect("finish"), COPY_ROWS);
                    }
                    _ => {
                        let status = Command::new(format!("{pg_bin}/psql"))
                            .args([
                                "-h",
                                "127.0.0.1",
                                "-p",
                                &port,
                                "-U",
                                "aw_trust",
                                "-d",
                                "aw_test",
                                "-q",
                                "-c",
                            ])
                            .arg(format!("\\copy bench_copy_psql FROM '{}'", file.display()))
                            .status()
                            .expect("psql");
                        assert!(status.success(), "psql \\copy failed");
                    }
                }
                times[side] = start.elapsed();
                copy_busy.add(side, cpu, times[side]);
            }
            copies.0.push(times);
        }
        println!("2. COPY IN {COPY_ROWS} rows x 4 columns (text format; {BIG_ROUNDS} rounds)");
        println!(
            "   guest copy-in  {:>10.0} rows/s (includes generating the rows in the guest)",
            copies.rate(GUEST, COPY_ROWS)
        );
        println!(
            "   native copy_in {:>10.0} rows/s (includes generating the rows)",
            copies.rate(NATIVE, COPY_ROWS)
        );
        println!(
            "   psql \\copy     {:>10.0} rows/s (from a prepared file)",
            copies.rate(PSQL, COPY_ROWS)
        );
        println!(
            "   ratio guest/psql {} (goal >= 1.0)",
            copies.ratio(GUEST, PSQL)
        );
        println!("   ratio guest/native {}", copies.ratio(GUEST, NATIVE));
        println!(
            "   server busy (its CPU time / wall time): {:.0} % of the guest's copies, {:.0} % of native's, {:.0} % of psql's",
            copy_busy.percent(GUEST),
            copy_busy.percent(NATIVE),
            copy_busy.percent(PSQL)
        );

        // 3. Streaming: the guest reading encoded batches, the guest reading values, native.
        const VALUES: usize = 2;
        let stmt = conn
            .prepare(
                "SELECT g::int8 AS n, repeat('x', 100) AS pad FROM generate_series(1, $1::int8) g",
            )
            .await
            .expect("prepare");
        let mut streams = Rounds::<3>(Vec::new());
        let mut stream_busy = ServerBusy::<3>::new();
        let mut sums = Vec::new();
        for round in 0..BIG_ROUNDS {
            let mut times = [Duration::ZERO; 3];
            for side in rotated::<3>(round) {
                let (cpu, start) = (server_cpu(), Instant::now());
                match side {
                    GUEST | VALUES => {
                        let op = if side == GUEST {
                            "stream-encoded"
                        } else {
                            "stream"
                        };
                        let (result, _) = guest(
                            &runtime,
                            &loaded,
                            &context,
                            serde_json::json!({"op": op, "rows": STREAM_ROWS}),
                        )
                        .await;
                        assert_eq!(result["count"], STREAM_ROWS);
                        sums.push(result["sum"].as_i64());
                    }
                    _ => {
                        let rows = conn
                            .query_raw(&stmt, [STREAM_ROWS as i64])
                            .await
                            .expect("query_raw");
                        pin_mut!(rows);
                        let (mut count, mut sum) = (0u64, 0i64);
                        while let Some(row) = rows.try_next().await.expect("row") {
                            count += 1;
                            sum += row.get::<_, i64>(0);
                            let _pad: &str = row.get(1);
                        }
                        assert_eq!(count, STREAM_ROWS);
                        sums.push(Some(sum));
                    }
                }
                times[side] = start.elapsed();
                stream_busy.add(side, cpu, times[side]);
            }
            streams.0.push(times);
        }
        assert!(
            sums.iter()
                .all(|s| *s == Some((STREAM_ROWS * (STREAM_ROWS + 1) / 2) as i64)),
            "every stream sums the same: {sums:?}"
        );
        println!("3. stream {STREAM_ROWS} rows (int8 + 100-char text; {BIG_ROUNDS} rounds)");
        println!("   guest query-stream, next-encoded {:>10.0} rows/s (batches of 5000 through a cursor)", streams.rate(GUEST, STREAM_ROWS));
        println!(
            "   guest query-stream, next (values) {:>9.0} rows/s",
            streams.rate(VALUES, STREAM_ROWS)
        );
        println!(
            "   native query_raw                 {:>10.0} rows/s",
            streams.rate(NATIVE, STREAM_ROWS)
        );
        println!(
            "   ratio guest (encoded)/native {} (goal >= 0.8)",
            streams.ratio(GUEST, NATIVE)
        );
        println!(
            "   ratio guest (values)/native {}",
            streams.ratio(VALUES, NATIVE)
        );
        println!(
            "   server busy (its CPU time / wall time): {:.0} % of the guest's encoded streams, {:.0} % of native's",
            stream_busy.percent(GUEST),
            stream_busy.percent(NATIVE)
        );
    };
    tokio.block_on(tokio.spawn(body)).expect("benchmark task");

    // Peak RSS of a whole aw-run process streaming 1M rows.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("aw.toml"), config_text(&port)).expect("aw.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aw-run"))
        .arg(&probe)
        .args([
            "-q",
            "--input",
            &serde_json::json!({"op": "stream", "rows": STREAM_ROWS}).to_string(),
        ])
        .env("AW_CACHE_DIR", cache.path())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("aw-run");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "   aw-run peak RSS while streaming: {} MiB (goal < 64 MiB)",
        peak_kib / 1024
    );
}
