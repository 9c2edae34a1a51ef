//! Benchmark: the runtime's per-task cost against bare wasmtime, measured in the same process.
//!
//! 1. Instantiate + run a no-op task 10,000 times through `Runtime::run` (limits, epoch
//!    deadline, captured stdio, grants) vs a bare `InstancePre` loop on a plain engine.
//! 2. Cold start with a warm cache: the `aw-run` process end to end vs a minimal in-process
//!    embedding (new engine, deserialize the cached component, link, instantiate, call).
//!
//! Run with `cargo bench -p aw-runtime --bench instantiate` after `scripts/build-guests.sh`.
//! Prints ratios; asserts nothing about speed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aw_runtime::bench_support::{
    add_to_linker, Adls2Accounts, Budget, HostState, InstanceLimiter, PostgresPools, TaskPre,
};
use aw_runtime::config::Limits;
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::engine::EngineOptions;
use aw_runtime::grants::Grants;
use aw_runtime::redact::Scrubber;
use aw_runtime::run::Runtime;
use aw_runtime::RunContext;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};

const TASKS: u32 = 10_000;
const COLD_RUNS: usize = 20;
const INPUT: &str = r#"{"mode":"echo"}"#;

fn probe() -> PathBuf {
    let dir = std::env::var_os("AW_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/wasm32-wasip2/release"
            ))
        });
    let path = dir.join("aw_probe.wasm");
    assert!(
        path.is_file(),
        "{} missing: run scripts/build-guests.sh first",
        path.display()
    );
    path
}

fn context() -> Arc<RunContext> {
    let profile =
        aw_runtime::config::Config::from_toml_str("", std::path::Path::new("bench.toml"), &[])
            .and_then(|c| c.run_profile("default"))
            .expect("empty config");
    Arc::new(RunContext {
        grants: Grants::new(&profile),
        secrets: Default::default(),
        scrubber: Scrubber::default(),
        postgres: PostgresPools::new([]),
        adls2: Adls2Accounts::new([]),
        component: "aw_probe".into(),
        interrupted: tokio::sync::watch::Sender::new(false),
        info: std::sync::OnceLock::new(),
        artifacts: aw_runtime::bench_support::ArtifactStore::new(&Default::default(), 1 << 20),
    })
}

fn bare_state(context: &Arc<RunContext>) -> HostState {
    HostState {
        info: None,
        attempt: None,
        wasi: wasmtime_wasi::WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limiter: InstanceLimiter::new(u64::MAX),
        run: context.clone(),
        tasks: None,
        budget: Budget::for_run(u64::MAX).for_instance(u64::MAX),
        log_rate: Default::default(),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() -> wasmtime::Result<()> {
    let path = probe();
    let cache_dir = tempfile::tempdir()?;
    let tokio = aw_runtime::run::tokio_runtime()?;
    let context = context();
    let limits = Limits::default();

    // 1a. Through the runtime.
    let runtime = Runtime::new(
        EngineOptions::default(),
        ComponentCache::new(Some(cache_dir.path().to_path_buf())),
    )
    .map_err(|e| wasmtime::format_err!("{e}"))?;
    let loaded = runtime
        .load(&path)
        .map_err(|e| wasmtime::format_err!("{e}"))?;
    let runtime_time = tokio.block_on(async {
        let start = Instant::now();
        for _ in 0..TASKS {
            let (outcome, _) = runtime.run(&loaded, context.clone(), &limits, INPUT).await;
            outcome.expect("echo task succeeds");
        }
        start.elapsed()
    });

    // 1b. Bare wasmtime: plain engine (pooling, no epochs), InstancePre, fresh store per task.
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::pooling());
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &path)?;
    let mut linker = Linker::new(&engine);
    add_to_linker(&mut linker)?;
    let pre = TaskPre::new(linker.instantiate_pre(&component)?)?;
    let bare_time = tokio.block_on(async {
        let start = Instant::now();
        for _ in 0..TASKS {
            let mut store = Store::new(&engine, bare_state(&context));
            let task = pre.instantiate_async(&mut store).await?;
            task.call_run(&mut store, INPUT)
                .await?
                .expect("echo task succeeds");
        }
        wasmtime::Result::<Duration>::Ok(start.elapsed())
    })?;

    let per = |d: Duration| d.as_secs_f64() * 1e6 / TASKS as f64;
    println!("instantiate + run a no-op task, {TASKS} times");
    println!(
        "  aw-runtime Runtime::run      {:8.1} us/task",
        per(runtime_time)
    );
    println!(
        "  bare wasmtime InstancePre    {:8.1} us/task",
        per(bare_time)
    );
    println!(
        "  ratio runtime/bare           {:8.2} (expected <= 1.5)",
        per(runtime_time) / per(bare_time)
    );

    // 2a. Cold aw-run process with a warm cache.
    let aw_run = PathBuf::from(env!("CARGO_BIN_EXE_aw-run"));
    let config_dir = tempfile::tempdir()?;
    let run_once = || {
        let status = Command::new(&aw_run)
            .arg(&path)
            .args(["--input", INPUT, "-q"])
            .env("AW_CACHE_DIR", cache_dir.path())
            .current_dir(config_dir.path())
            .output()
            .expect("spawn aw-run");
        assert!(
            status.status.success(),
            "aw-run failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    run_once(); // warms the cache for this engine configuration
    let cli = median(
        (0..COLD_RUNS)
            .map(|_| {
                let start = Instant::now();
                run_once();
                start.elapsed()
            })
            .collect(),
    );

    // 2b. Minimal embedding: new engine (same settings, so the artifact loads), deserialize the same cached artifact, link, run once.
    let cwasm = std::fs::read_dir(cache_dir.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .ok_or_else(|| wasmtime::format_err!("no cache entry written"))?;
    let embed = median(
        (0..COLD_RUNS)
            .map(|_| {
                let start = Instant::now();
                tokio
                    .block_on(async {
                        let engine = aw_runtime::engine::build_engine(EngineOptions::default())?;
                        // SAFETY: the artifact was just written by this benchmark's own aw-run.
                        let component = unsafe { Component::deserialize_file(&engine, &cwasm)? };
                        let mut linker = Linker::new(&engine);
                        add_to_linker(&mut linker)?;
                        let pre = TaskPre::new(linker.instantiate_pre(&component)?)?;
                        let mut store = Store::new(&engine, bare_state(&context));
                        store.set_epoch_deadline(u64::MAX);
                        let task = pre.instantiate_async(&mut store).await?;
                        task.call_run(&mut store, INPUT)
                            .await?
                            .expect("echo task succeeds");
                        wasmtime::Result::<()>::Ok(())
                    })
                    .expect("minimal embedding runs");
                start.elapsed()
            })
            .collect(),
    );
    println!("cold start with a warm cache (median of {COLD_RUNS})");
    println!(
        "  aw-run process               {:8.2} ms",
        cli.as_secs_f64() * 1e3
    );
    println!(
        "  minimal embedding in-process {:8.2} ms",
        embed.as_secs_f64() * 1e3
    );
    println!(
        "  ratio aw-run/embedding       {:8.2} (includes process spawn and config load)",
        cli.as_secs_f64() / embed.as_secs_f64()
    );
    Ok(())
}
