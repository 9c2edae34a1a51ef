//! Benchmark: a 1,000-task compute fan-out (examples/fanout) through the flow scheduler, each
//! task in its own fresh instance, vs the same work done inline in one instance, measured in
//! one run: tasks per second and the per-task cost of isolation (instantiate, run-task, JSON
//! in and out, scheduling). Prints numbers; asserts nothing about speed.
//!
//! The issue also asks for a comparison with the Python `auto-workflow` 0.1.2 engine; that
//! package is not on the package index this machine reaches, so it is not run here.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aw_runtime::config::{Config, Limits};
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::engine::EngineOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::run::Runtime;
use aw_runtime::secrets::{Scrubber, Secrets};

const TASKS: u64 = 1000;
const ROUNDS: usize = 3;

fn guest_dir() -> PathBuf {
    std::env::var_os("AW_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/wasm32-wasip2/release")))
}

fn main() {
    let path = guest_dir().join("aw_fanout.wasm");
    assert!(path.is_file(), "{} missing: run scripts/build-guests.sh", path.display());
    let config = Config::from_toml_str("", std::path::Path::new("bench.toml"), &[]).expect("config");
    let prepared = prepare(&config, "default", &Secrets::new(vec![], Scrubber::default()), "aw_fanout").expect("prepare");
    let cache = tempfile::tempdir().expect("tmp");
    let runtime = Runtime::new(EngineOptions::default(), ComponentCache::new(Some(cache.path().to_path_buf()))).expect("runtime");
    let loaded = runtime.load(&path).expect("load");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    for max_tasks in [1, cores] {
        let limits = Limits { memory: 64 << 20, timeout: Duration::from_secs(600), max_tasks, ..Limits::default() };
        let tokio = aw_runtime::run::tokio_runtime_for(&loaded, &limits).expect("tokio");
        let (mut fanned, mut inline) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            for (input, best) in [(serde_json::json!({ "n": TASKS }), &mut fanned), (serde_json::json!({ "n": TASKS, "inline": true }), &mut inline)] {
                let start = Instant::now();
                let (outcome, usage) = tokio.block_on(runtime.run(&loaded, prepared.context.clone(), &limits, &input.to_string()));
                let elapsed = start.elapsed();
                let result: serde_json::Value = serde_json::from_str(&outcome.expect("fanout")).expect("JSON");
                assert_eq!(result["correct"], true);
                if input.get("inline").is_none() {
                    assert_eq!(usage.tasks.len() as u64, TASKS);
                }
                *best = (*best).min(elapsed);
            }
        }
        let per_task = fanned.saturating_sub(inline).as_secs_f64() / TASKS as f64 * 1e6;
        println!("fan-out of {TASKS} compute tasks, max_tasks = {max_tasks} (best of {ROUNDS})");
        println!("   flow, a fresh instance per task  {:>9.0} tasks/s ({:.1} ms)", TASKS as f64 / fanned.as_secs_f64(), fanned.as_secs_f64() * 1e3);
        println!("   the same work inline, one instance {:>7.0} slices/s ({:.1} ms)", TASKS as f64 / inline.as_secs_f64(), inline.as_secs_f64() * 1e3);
        println!("   isolation + scheduling cost per task: {per_task:.0} µs");
    }
}
