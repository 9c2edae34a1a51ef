//! Per-instance limits: the memory limiter, and the epoch ticker that turns wall-clock time
//! into epoch deadlines.
//!
//! The limiter records *why* it refused, so a memory bomb is reported as "memory limit
//! 64 MiB" rather than as whatever trap the guest's allocator turns the failure into.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Engine, ResourceLimiter};

/// How often the epoch advances; epoch deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Table elements an instance may grow to (guests with big runtimes have large tables).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A memory limit hit by a guest.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (the guest asked for {desired} bytes)")]
pub struct MemoryLimitHit {
    pub limit: u64,
    pub desired: u64,
}

/// Caps linear memory per instance and remembers the peak and any refusal.
#[derive(Debug)]
pub struct InstanceLimiter {
    memory_limit: u64,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory: u64,
    /// Set when a growth was refused.
    pub hit: Option<MemoryLimitHit>,
}

impl InstanceLimiter {
    pub fn new(memory_limit: u64) -> Self {
        InstanceLimiter { memory_limit, peak_memory: 0, hit: None }
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.memory_limit {
            let hit = MemoryLimitHit { limit: self.memory_limit, desired };
            self.hit = Some(hit);
            // Trap instead of returning -1 to the guest: most allocators abort on failure
            // anyway, and a trap we can name beats an unexplained `unreachable`.
            return Err(wasmtime::Error::new(hit));
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("aw-epoch".into()).spawn(move || {
            let mut next = Instant::now() + EPOCH_TICK;
            while !flag.load(Ordering::Relaxed) {
                // park, not sleep: dropping the ticker unparks it, so exit is not delayed a
                // tick. A wake-up before `next` (an unpark) never advances the epoch early.
                std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
                if Instant::now() >= next {
                    engine.increment_epoch();
                    next += EPOCH_TICK;
                }
            }
        })?;
        Ok(EpochTicker { stop, thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The number of ticks that covers `timeout` (at least one).
pub fn ticks_for(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    (timeout.as_nanos().div_ceil(tick) as u64).max(1)
}
