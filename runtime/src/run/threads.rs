//! The tokio runtimes runs execute on, sized for a task or a flow.

use super::LoadedComponent;
use crate::config::Limits;

/// The tokio runtime a run executes on: one worker thread, on which the guest task and the
/// connection tasks it waits on wake each other without crossing threads. Measured on the
/// project's 2-core machine, this beat two workers for both round-trip latency and streaming
/// throughput (the database, when local, keeps the other core). Flows size it by `max_tasks`.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio_runtime_with(1)
}

/// The runtime for a component: one worker for a task, for a flow as many as it may run tasks
/// at once (up to the machine's cores), so compute-bound tasks really run in parallel.
pub fn tokio_runtime_for(
    loaded: &LoadedComponent,
    limits: &Limits,
) -> std::io::Result<tokio::runtime::Runtime> {
    if !loaded.is_flow() {
        return tokio_runtime();
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    tokio_runtime_with(
        usize::try_from(limits.max_tasks)
            .unwrap_or(1)
            .clamp(1, cores),
    )
}

/// A runtime of `workers` threads (`aw-run worker` sizes it by its slots).
pub fn tokio_runtime_with(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("aw-worker")
        .enable_all()
        .build()
}
