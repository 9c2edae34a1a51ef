//! Benchmark: streamed upload and download of 256 MiB through a Rust guest (`aw-run` with the
//! adls-probe's `write` / `read`) vs the same REST client used natively (the host's `Store`),
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

use aw_runtime::config::Config;
use aw_runtime::host::bindings::adls2::UploadOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::secrets::{Scrubber, Secrets};
use bytes::Bytes;

const SIZE: u64 = 256 << 20;
const BLOCK: u64 = 4 << 20;
const ROUNDS: usize = 2;
const CONTAINER: &str = "bench";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench.sh, which starts Azurite"))
}

fn guest_dir() -> PathBuf {
    std::env::var_os("AW_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/wasm32-wasip2/release")))
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
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let result = report["result"][0].clone();
    assert!(result.get("error").is_none(), "guest step failed: {result}");
    (result, elapsed, report["usage"]["host_peak_rss"].as_u64().unwrap_or(0))
}

/// Runs the Python SDK side; returns seconds and peak RSS it measured itself.
fn python(mode: &str, path: &str) -> (Duration, u64) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/blob_sdk.py");
    let out = Command::new(env("AW_PYTHON"))
        .args([script, mode, CONTAINER, path, &SIZE.to_string()])
        .env("AW_AZURITE_CONNECTION_STRING", env("AW_AZURITE_CONNECTION_STRING"))
        .output()
        .expect("python");
    assert!(out.status.success(), "python {mode}: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python JSON");
    (Duration::from_secs_f64(v["seconds"].as_f64().unwrap_or(0.0)), v["peak_rss"].as_u64().unwrap_or(0))
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("aw.toml"), config_text()).expect("aw.toml");
    let conn = env("AW_AZURITE_CONNECTION_STRING");
    let config = Config::from_toml_str(&config_text().replace("secret://adls_conn", &conn), std::path::Path::new("bench.toml"), &[]).expect("config");
    let prepared = prepare(&config, "default", &Secrets::new(vec![], Scrubber::default()), "bench").expect("prepare");
    let tokio = aw_runtime::run::tokio_runtime().expect("tokio");
    let context = prepared.context.clone();
    let store = tokio.block_on(async move { context.adls2.get("default").await.map(|a| a.store.clone()) }).expect("account");
    tokio.block_on(store.create_container(CONTAINER)).expect("container");

    let (mut g_up, mut n_up, mut p_up) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut g_down, mut n_down, mut p_down) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut g_rss_up, mut g_rss_down, mut p_rss_up, mut p_rss_down) = (0, 0, 0, 0);
    for _ in 0..ROUNDS {
        // Guest: streamed upload, then streamed download, each in its own aw-run.
        let (written, t, rss) = guest(dir.path(), serde_json::json!({"op": "bench-write", "container": CONTAINER, "path": "guest.bin", "size": SIZE, "write_size": BLOCK}));
        assert_eq!(written["size"], SIZE);
        g_up = g_up.min(t);
        g_rss_up = g_rss_up.max(rss);
        let (read, t, rss) = guest(dir.path(), serde_json::json!({"op": "bench-read", "container": CONTAINER, "path": "guest.bin", "chunk": BLOCK}));
        assert_eq!(read["len"], SIZE);
        g_down = g_down.min(t);
        g_rss_down = g_rss_down.max(rss);

        // Native: the same Store the host uses, on the same runtime shape.
        let store_up = store.clone();
        let t = tokio
            .block_on(tokio.spawn(async move {
                let start = Instant::now();
                let options = UploadOptions { content_type: None, metadata: Vec::new(), overwrite: true };
                let mut upload = store_up.begin_upload(CONTAINER, "native.bin", options).await.expect("begin");
                let block: Vec<u8> = (0..BLOCK).map(pattern).collect();
                for _ in 0..SIZE / BLOCK {
                    // A copy per block, as a caller handing its own buffer over would make.
                    upload.put_block(Bytes::copy_from_slice(&block)).await.expect("block");
                }
                upload.commit().await.expect("commit");
                start.elapsed()
            }))
            .expect("native upload");
        n_up = n_up.min(t);
        let store_down = store.clone();
        let (t, len) = tokio
            .block_on(tokio.spawn(async move {
                let start = Instant::now();
                let (mut offset, mut etag) = (0u64, None::<String>);
                loop {
                    let chunk = store_down.read(CONTAINER, "native.bin", offset, Some(BLOCK), etag.as_deref()).await.expect("read");
                    if chunk.data.is_empty() {
                        break;
                    }
                    etag = etag.or(chunk.etag);
                    offset += chunk.data.len() as u64;
                    if offset >= chunk.total {
                        break;
                    }
                }
                (start.elapsed(), offset)
            }))
            .expect("native download");
        assert_eq!(len, SIZE);
        n_down = n_down.min(t);

        // Microsoft's Python SDK.
        let (t, rss) = python("bench-upload", "python.bin");
        p_up = p_up.min(t);
        p_rss_up = p_rss_up.max(rss);
        let (t, rss) = python("bench-download", "python.bin");
        p_down = p_down.min(t);
        p_rss_down = p_rss_down.max(rss);
    }
    let native_rss = aw_runtime::run::host_peak_rss().unwrap_or(0);
    let mib = |b: u64| b >> 20;
    println!("ADLS (Azurite, blob dialect): {} MiB streamed in {} MiB blocks, best of {ROUNDS}", SIZE >> 20, BLOCK >> 20);
    println!("   upload   guest {:>7.1} MB/s   native {:>7.1} MB/s   python SDK {:>7.1} MB/s", mbps(SIZE, g_up), mbps(SIZE, n_up), mbps(SIZE, p_up));
    println!("   download guest {:>7.1} MB/s   native {:>7.1} MB/s   python SDK {:>7.1} MB/s", mbps(SIZE, g_down), mbps(SIZE, n_down), mbps(SIZE, p_down));
    println!("   ratio guest/native: upload {:.2}, download {:.2} (goal >= 0.9)", n_up.as_secs_f64() / g_up.as_secs_f64(), n_down.as_secs_f64() / g_down.as_secs_f64());
    println!("   ratio guest/python SDK: upload {:.2}, download {:.2}", p_up.as_secs_f64() / g_up.as_secs_f64(), p_down.as_secs_f64() / g_down.as_secs_f64());
    println!(
        "   peak RSS: aw-run upload {} MiB, download {} MiB; python SDK upload {} MiB, download {} MiB; this benchmark process (native) {} MiB",
        mib(g_rss_up),
        mib(g_rss_down),
        mib(p_rss_up),
        mib(p_rss_down),
        mib(native_rss)
    );
    // Guest time includes an aw-run process start (~10-20 ms with the compiled cache warm).
}
