//! Benchmark: Rust, Python and JavaScript guests side by side (issue 6), each against a
//! baseline measured in the same run. Needs the cluster scripts/bench.sh starts (AW_PG_* env)
//! and the guests scripts/build-guests.sh builds.
//!
//! Per language: component size; cold start of an `aw-run` process without the compiled cache
//! (it compiles) and with it (goal for Python: under 100 ms); instantiate + run of a no-op task
//! in-process; `SELECT $1::int8` round trips vs native tokio-postgres on the same pool; and
//! `query-stream` rows/s (int8 + 100-char text, decoded into the language's values) vs native
//! `query_raw`. Prints numbers and ratios; asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::process::Command;
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
use futures_util::{pin_mut, TryStreamExt};
use serde_json::{json, Value as Json};

const SELECTS: u64 = 5_000;
const STREAM_ROWS: u64 = 200_000;
const ROUNDS: usize = 3;
const COLD_RUNS: usize = 20;
const INSTANTIATIONS: u32 = 200;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/bench.sh, which starts PostgreSQL")
    })
}

/// One language's guests: a no-op task and a Postgres bench, with their inputs.
struct Lang {
    name: &'static str,
    echo: PathBuf,
    echo_input: Json,
    pg: PathBuf,
    select: fn(u64) -> Json,
    stream: fn(u64) -> Json,
}

fn langs() -> Vec<Lang> {
    let rust_dir = std::env::var_os("AW_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/wasm32-wasip2/release"
            ))
        });
    let target = rust_dir
        .parent()
        .and_then(Path::parent)
        .expect("<target>/wasm32-wasip2/release")
        .to_path_buf();
    // The Python and JS probes (tests/guests/polyglot-probe) do both jobs, chosen by `mode`.
    let polyglot = |name: &'static str, lang: &str| {
        let probe = target.join("guests").join(lang).join("probe.wasm");
        Lang {
            name,
            echo: probe.clone(),
            echo_input: json!({"mode": "echo"}),
            pg: probe,
            select: |n| json!({"mode": "bench-select", "rows": n}),
            stream: |n| json!({"mode": "bench-stream", "rows": n}),
        }
    };
    let langs = vec![
        Lang {
            name: "Rust",
            echo: rust_dir.join("aw_probe.wasm"),
            echo_input: json!({"mode": "echo"}),
            pg: rust_dir.join("aw_pg_probe.wasm"),
            select: |n| json!({"op": "bench-select", "rows": n}),
            stream: |n| json!({"op": "stream", "rows": n}),
        },
        polyglot("Python", "py"),
        // The same probe with SQLAlchemy bundled into its snapshot (scripts/bench.sh builds it).
        Lang {
            name: "Python + SQLAlchemy",
            echo: target.join("guests/py/probe-sqlalchemy.wasm"),
            ..polyglot("Python", "py")
        },
        polyglot("JavaScript", "js"),
    ];
    for lang in &langs {
        for path in [&lang.echo, &lang.pg] {
            assert!(
                path.is_file(),
                "{} missing: run scripts/build-guests.sh",
                path.display()
            );
        }
    }
    langs
}

fn config_text(port: &str) -> String {
    format!(
        "[connectors.postgres.default]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"aw_trust\"\ndatabase = \"aw_test\"\nsslmode = \"disable\"\nmax_size = 4\n[profiles.default]\npostgres = [\"default\"]\nlimits = {{ memory = \"512MiB\", timeout = \"10m\" }}\n"
    )
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// One `aw-run` process run of `wasm` from `dir`; its wall time.
fn aw_run(dir: &Path, cache: &Path, wasm: &Path, input: &Json, no_cache: bool) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aw-run"));
    cmd.arg(wasm)
        .args(["-q", "--input", &input.to_string()])
        .env("AW_CACHE_DIR", cache)
        .current_dir(dir);
    if no_cache {
        cmd.arg("--no-cache");
    }
    let start = Instant::now();
    let out = cmd.output().expect("spawn aw-run");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "aw-run {} failed: {}",
        wasm.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

async fn guest(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    context: &Arc<RunContext>,
    input: &Json,
) -> (Json, Duration) {
    let limits = Limits {
        memory: 512 << 20,
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

/// What checking the compiled-cache entry of `component` costs against its cached cold start
/// (median of 21), and the component identity hash (BLAKE3, every cold start) against the
/// SHA-256 it replaced, measured here on the same bytes.
fn verification_cost(component: &Path, cache: &Path, cold_cached: Duration) {
    let bytes = std::fs::read(component).expect("component");
    let digest = aw_runtime::engine::cache::digest(&bytes);
    let entry = std::fs::read_dir(cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "cwasm")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&digest))
        })
        .expect("the Python component's cache entry");
    let size = std::fs::metadata(&entry).expect("entry").len();
    let timed = |f: &dyn Fn()| {
        median(
            (0..21)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed()
                })
                .collect(),
        )
    };
    let verify = timed(&|| aw_runtime::engine::cache::verify(&entry).expect("the entry verifies"));
    let blake3 = timed(&|| {
        std::hint::black_box(aw_runtime::engine::cache::digest(&bytes));
    });
    let sha256 = timed(&|| {
        use sha2::Digest;
        std::hint::black_box(sha2::Sha256::digest(&bytes));
    });
    println!(
        "Compiled-cache verification (Python): {:.1} MB entry checked in {:.2} ms = {:.1} % of the cached cold start ({:.1} ms); component identity BLAKE3 {:.2} ms vs SHA-256 {:.2} ms ({:.2}x), so the start pays {:+.2} ms net",
        size as f64 / 1e6,
        ms(verify),
        100.0 * verify.as_secs_f64() / cold_cached.as_secs_f64(),
        ms(cold_cached),
        ms(blake3),
        ms(sha256),
        blake3.as_secs_f64() / sha256.as_secs_f64(),
        ms(verify) + ms(blake3) - ms(sha256),
    );
}

struct Row {
    name: &'static str,
    size: u64,
    cold_compile: Duration,
    cold_cached: Duration,
    instantiate: Duration,
    selects: Duration,
    stream: Duration,
}

fn main() {
    let port = env("AW_PG_PORT");
    let langs = langs();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("aw.toml"), config_text(&port)).expect("aw.toml");
    let cache = tempfile::tempdir().expect("tmp");
    let config =
        Config::from_toml_str(&config_text(&port), Path::new("bench.toml"), &[]).expect("config");
    let secrets = Secrets::new(vec![], Scrubber::default());
    let context = prepare(&config, "default", &secrets, "bench")
        .expect("prepare")
        .context
        .clone();
    let runtime = Runtime::new(
        EngineOptions::default(),
        ComponentCache::new(Some(cache.path().to_path_buf())),
    )
    .expect("runtime");
    let tokio = aw_runtime::run::tokio_runtime().expect("tokio");
    let (pool, _, _) = context.postgres.get("default").expect("pool");

    let mut rows = Vec::new();
    for lang in &langs {
        eprintln!("== {}", lang.name);
        let size = std::fs::metadata(&lang.echo).expect("size").len();
        let cold_compile = median(
            (0..ROUNDS)
                .map(|_| aw_run(dir.path(), cache.path(), &lang.echo, &lang.echo_input, true))
                .collect(),
        );
        aw_run(
            dir.path(),
            cache.path(),
            &lang.echo,
            &lang.echo_input,
            false,
        ); // fills the cache
        let cold_cached = median(
            (0..COLD_RUNS)
                .map(|_| {
                    aw_run(
                        dir.path(),
                        cache.path(),
                        &lang.echo,
                        &lang.echo_input,
                        false,
                    )
                })
                .collect(),
        );

        let echo = runtime.load(&lang.echo).expect("load");
        let pg = runtime.load(&lang.pg).expect("load");
        let (instantiate, selects, stream) = tokio.block_on(async {
            let mut samples = Vec::new();
            for _ in 0..INSTANTIATIONS {
                samples.push(guest(&runtime, &echo, &context, &lang.echo_input).await.1);
            }
            guest(&runtime, &pg, &context, &(lang.select)(100)).await; // warms the pool
            let (mut selects, mut stream) = (Duration::MAX, Duration::MAX);
            for _ in 0..ROUNDS {
                let (result, elapsed) =
                    guest(&runtime, &pg, &context, &(lang.select)(SELECTS)).await;
                assert_eq!(
                    result["sum"],
                    (SELECTS * (SELECTS - 1) / 2),
                    "{}",
                    lang.name
                );
                selects = selects.min(elapsed);
                let (result, elapsed) =
                    guest(&runtime, &pg, &context, &(lang.stream)(STREAM_ROWS)).await;
                assert_eq!(result["count"], STREAM_ROWS, "{}", lang.name);
                stream = stream.min(elapsed);
            }
            (median(samples), selects, stream)
        });
        rows.push(Row {
            name: lang.name,
            size,
            cold_compile,
            cold_cached,
            instantiate,
            selects,
            stream,
        });
    }

    // The native baselines, on the same pool, best of ROUNDS.
    let (native_selects, native_stream) = tokio.block_on(async {
        let (mut selects, mut stream) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            let mut sum = 0i64;
            for i in 0..SELECTS as i64 {
                let conn = pool.get().await.expect("checkout");
                let select = conn.prepare_cached("SELECT $1::int8").await.expect("prepare");
                sum += conn.query_one(&select, &[&i]).await.expect("query").get::<_, i64>(0);
            }
            selects = selects.min(start.elapsed());
            assert_eq!(sum, (SELECTS * (SELECTS - 1) / 2) as i64);
            let conn = pool.get().await.expect("checkout");
            let stmt = conn
                .prepare_cached("SELECT g::int8 AS n, repeat('x', 100) AS pad FROM generate_series(1, $1::int8) g")
                .await
                .expect("prepare");
            let start = Instant::now();
            let rows = conn.query_raw(&stmt, [STREAM_ROWS as i64]).await.expect("query_raw");
            pin_mut!(rows);
            let mut count = 0u64;
            while let Some(row) = rows.try_next().await.expect("row") {
                count += 1;
                let _n: i64 = row.get(0);
                let _pad: &str = row.get(1);
            }
            stream = stream.min(start.elapsed());
            assert_eq!(count, STREAM_ROWS);
        }
        (selects, stream)
    });

    println!("Guests by language (cold runs: median of {COLD_RUNS} aw-run processes; Postgres: best of {ROUNDS})");
    println!(
        "{:<21} {:>9} {:>16} {:>14} {:>16} {:>12} {:>7} {:>13} {:>7}",
        "language",
        "size",
        "cold, compiling",
        "cold, cached",
        "instantiate+run",
        "selects/s",
        "/native",
        "stream rows/s",
        "/native"
    );
    for r in &rows {
        println!(
            "{:<21} {:>6.1} MB {:>13.0} ms {:>11.1} ms {:>13.0} us {:>12.0} {:>7.2} {:>13.0} {:>7.2}",
            r.name,
            r.size as f64 / 1e6,
            ms(r.cold_compile),
            ms(r.cold_cached),
            r.instantiate.as_secs_f64() * 1e6,
            rate(SELECTS, r.selects),
            rate(SELECTS, r.selects) / rate(SELECTS, native_selects),
            rate(STREAM_ROWS, r.stream),
            rate(STREAM_ROWS, r.stream) / rate(STREAM_ROWS, native_stream),
        );
    }
    println!(
        "{:<21} {:>9} {:>16} {:>14} {:>16} {:>12.0} {:>7} {:>13.0}",
        "native",
        "",
        "",
        "",
        "",
        rate(SELECTS, native_selects),
        "1.00",
        rate(STREAM_ROWS, native_stream)
    );
    let python_cached = rows
        .iter()
        .find(|r| r.name == "Python")
        .map(|r| r.cold_cached)
        .unwrap_or(Duration::ZERO);
    let python = ms(python_cached);
    println!("Python cold start with the compiled cache: {python:.1} ms (goal < 100 ms)");
    if let Some(python) = langs.iter().find(|l| l.name == "Python") {
        verification_cost(&python.echo, cache.path(), python_cached);
    }
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    if let (Some(with), Some(without)) = (find("Python + SQLAlchemy"), find("Python")) {
        println!(
            "Bundled SQLAlchemy: component {:.1} MB vs {:.1} MB ({:.2}x), cold start cached {:.1} ms vs {:.1} ms ({:.2}x)",
            with.size as f64 / 1e6,
            without.size as f64 / 1e6,
            with.size as f64 / without.size as f64,
            ms(with.cold_cached),
            ms(without.cold_cached),
            with.cold_cached.as_secs_f64() / without.cold_cached.as_secs_f64()
        );
    }
}
