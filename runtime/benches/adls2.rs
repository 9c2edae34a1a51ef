//! Benchmark: streamed upload and download of 256 MiB through a Rust guest (the adls-probe run
//! as `aw-run` runs it, timed in process; peak RSS from separate `aw-run` processes) vs the same
//! REST client used natively (the host's `Store`),
//! vs Microsoft's Python SDK (azure-storage-blob), all against the same Azurite in one run.
//! Needs what scripts/bench.sh starts (AW_AZURITE_*, AW_PYTHON).
//!
//! Guest and native both upload one precomputed 4 MiB block 64 times and count the bytes they
//! download in 4 MiB chunks, so the ratio measures the connector path (guest-host copies,
//! host calls), not data generation. Prints MB/s, ratios and peak RSS; asserts nothing about
//! speed (correctness is the tests' job).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::Arc;

use aw_runtime::bench_support::UploadOptions;
use aw_runtime::config::{Config, Limits};
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::engine::EngineOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::redact::Scrubber;
use aw_runtime::run::{LoadedComponent, Runtime};
use aw_runtime::secrets::Secrets;
use aw_runtime::RunContext;
use bytes::Bytes;

const SIZE: u64 = 256 << 20;
const BLOCK: u64 = 4 << 20;
const ROUNDS: usize = 3;
const CONTAINER: &str = "bench";

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench.sh, which starts Azurite"))
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

fn config_text() -> String {
    "[connectors.adls2.default]\nconnection_string = \"secret://adls_conn\"\ndialect = \"blob\"\nblock_size = \"4MiB\"\n[profiles.default]\nadls2 = [\"default\"]\nlimits = { memory = \"256MiB\", timeout = \"10m\" }\n".to_string()
}

fn pattern(i: u64) -> u8 {
    ((i * 31 + i / 7) % 251) as u8
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

/// Runs the probe in a fresh `aw-run`; returns the step result, wall time and peak RSS.
fn guest(dir: &std::path::Path, step: serde_json::Value) -> (serde_json::Value, Duration, u64) {
    let input = serde_json::json!({ "steps": [step] });
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_aw-run"))
        .arg(guest_dir().join("aw_adls_probe.wasm"))
        .args(["-q", "--json", "--input", &input.to_string()])
        .env("AW_CACHE_DIR", dir.join("cache"))
        .env("ADLS_CONN", env("AW_AZURITE_CONNECTION_STRING"))
        .current_dir(dir)
        .output()
        .expect("aw-run");
    let elapsed = start.elapsed();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let result = report["result"][0].clone();
    assert!(result.get("error").is_none(), "guest step failed: {result}");
    (
        result,
        elapsed,
        report["usage"]["host_peak_rss"].as_u64().unwrap_or(0),
    )
}

/// Runs the Python SDK side; returns seconds and peak RSS it measured itself.
fn python(mode: &str, path: &str) -> (Duration, u64) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/blob_sdk.py");
    let out = Command::new(env("AW_PYTHON"))
        .args([script, mode, CONTAINER, path, &SIZE.to_string()])
        .env(
            "AW_AZURITE_CONNECTION_STRING",
            env("AW_AZURITE_CONNECTION_STRING"),
        )
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "python {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python JSON");
    (
        Duration::from_secs_f64(v["seconds"].as_f64().unwrap_or(0.0)),
        v["peak_rss"].as_u64().unwrap_or(0),
    )
}

/// One guest step in-process, as `aw-run` runs it (same runtime shape): result and wall time.
async fn guest_in_process(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    context: &Arc<RunContext>,
    step: serde_json::Value,
) -> (serde_json::Value, Duration) {
    let limits = Limits {
        memory: 256 << 20,
        timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let input = serde_json::json!({ "steps": [step] }).to_string();
    let start = Instant::now();
    let (outcome, _) = runtime.run(loaded, context.clone(), &limits, &input).await;
    let elapsed = start.elapsed();
    let result: serde_json::Value =
        serde_json::from_str(&outcome.unwrap_or_else(|e| panic!("guest failed: {e}")))
            .expect("guest JSON");
    let result = result[0].clone();
    assert!(result.get("error").is_none(), "guest step failed: {result}");
    (result, elapsed)
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("aw.toml"), config_text()).expect("aw.toml");
    let conn = env("AW_AZURITE_CONNECTION_STRING");
    let config = Config::from_toml_str(
        &config_text().replace("secret://adls_conn", &conn),
        std::path::Path::new("bench.toml"),
        &[],
    )
    .expect("config");
    let prepared = prepare(
        &config,
        "default",
        &Secrets::new(vec![], Scrubber::default()),
        "aw_adls_probe",
    )
    .expect("prepare");
    let tokio = aw_runtime::run::tokio_runtime().expect("tokio");
    let context = prepared.context.clone();
    let cache = tempfile::tempdir().expect("tmp");
    let runtime = Runtime::new(
        EngineOptions::default(),
        ComponentCache::new(Some(cache.path().to_path_buf())),
    )
    .expect("runtime");
    let loaded = runtime
        .load(&guest_dir().join("aw_adls_probe.wasm"))
        .expect("load the probe");

    let body = async move {
        let store = context
            .adls2
            .get("default")
            .await
            .map(|a| a.store.clone())
            .expect("account");
        store.create_container(CONTAINER).await.expect("container");
        let (mut g_up, mut n_up, mut p_up) = (Duration::MAX, Duration::MAX, Duration::MAX);
        let (mut g_down, mut n_down, mut p_down) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            // Guest: streamed upload, then streamed download, through the host's resources.
            let (written, t) = guest_in_process(&runtime, &loaded, &context, serde_json::json!({"op": "bench-write", "container": CONTAINER, "path": "guest.bin", "size": SIZE, "write_size": BLOCK})).await;
            assert_eq!(written["size"], SIZE);
            g_up = g_up.min(t);
            let (read, t) = guest_in_process(&runtime, &loaded, &context, serde_json::json!({"op": "bench-read", "container": CONTAINER, "path": "guest.bin", "chunk": BLOCK})).await;
            assert_eq!(read["len"], SIZE);
            g_down = g_down.min(t);

            // Native: the same Store, called directly.
            let start = Instant::now();
            let options = UploadOptions {
                content_type: None,
                metadata: Vec::new(),
                overwrite: true,
            };
            let mut upload = store
                .begin_upload(CONTAINER, "native.bin", options)
                .await
                .expect("begin");
            let block: Vec<u8> = (0..BLOCK).map(pattern).collect();
            for _ in 0..SIZE / BLOCK {
                // A copy per block, as a caller handing its own buffer over would make.
                upload
                    .put_block(Bytes::copy_from_slice(&block))
                    .await
                    .expect("block");
            }
            upload.commit().await.expect("commit");
            n_up = n_up.min(start.elapsed());
            let start = Instant::now();
            let (mut offset, mut etag) = (0u64, None::<String>);
            loop {
                let chunk = store
                    .read(
                        CONTAINER,
                        "native.bin",
                        offset,
                        Some(BLOCK),
                        etag.as_deref(),
                    )
                    .await
                    .expect("read");
                if chunk.data.is_empty() {
                    break;
                }
                etag = etag.or(chunk.etag);
                offset += chunk.data.len() as u64;
                if offset >= chunk.total {
                    break;
                }
            }
            assert_eq!(offset, SIZE);
            n_down = n_down.min(start.elapsed());

            // Microsoft's Python SDK.
            p_up = p_up.min(python("bench-upload", "python.bin").0);
            p_down = p_down.min(python("bench-download", "python.bin").0);
        }
        (g_up, n_up, p_up, g_down, n_down, p_down)
    };
    let (g_up, n_up, p_up, g_down, n_down, p_down) =
        tokio.block_on(tokio.spawn(body)).expect("benchmark task");

    // Peak RSS of whole processes doing the same (outside the timed rounds).
    let (_, _, g_rss_up) = guest(
        dir.path(),
        serde_json::json!({"op": "bench-write", "container": CONTAINER, "path": "guest.bin", "size": SIZE, "write_size": BLOCK}),
    );
    let (_, _, g_rss_down) = guest(
        dir.path(),
        serde_json::json!({"op": "bench-read", "container": CONTAINER, "path": "guest.bin", "chunk": BLOCK}),
    );
    let (_, p_rss_up) = python("bench-upload", "python.bin");
    let (_, p_rss_down) = python("bench-download", "python.bin");
    let mib = |b: u64| b >> 20;
    println!(
        "ADLS (Azurite, blob dialect): {} MiB streamed in {} MiB blocks, best of {ROUNDS}",
        SIZE >> 20,
        BLOCK >> 20
    );
    println!(
        "   upload   guest {:>7.1} MB/s   native {:>7.1} MB/s   python SDK {:>7.1} MB/s",
        mbps(SIZE, g_up),
        mbps(SIZE, n_up),
        mbps(SIZE, p_up)
    );
    println!(
        "   download guest {:>7.1} MB/s   native {:>7.1} MB/s   python SDK {:>7.1} MB/s",
        mbps(SIZE, g_down),
        mbps(SIZE, n_down),
        mbps(SIZE, p_down)
    );
    println!(
        "   ratio guest/native: upload {:.2}, download {:.2} (goal >= 0.9)",
        n_up.as_secs_f64() / g_up.as_secs_f64(),
        n_down.as_secs_f64() / g_down.as_secs_f64()
    );
    println!(
        "   ratio guest/python SDK: upload {:.2}, download {:.2}",
        p_up.as_secs_f64() / g_up.as_secs_f64(),
        p_down.as_secs_f64() / g_down.as_secs_f64()
    );
    println!(
        "   peak RSS: aw-run upload {} MiB, download {} MiB; python SDK upload {} MiB, download {} MiB",
        mib(g_rss_up),
        mib(g_rss_down),
        mib(p_rss_up),
        mib(p_rss_down),
    );
}
