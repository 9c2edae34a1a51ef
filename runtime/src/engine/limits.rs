//! Per-instance limits: the memory limiter, and the epoch ticker that turns wall-clock time
//! into epoch deadlines and fires the runs' wall-clock cut-offs.
//!
//! The limiter records *why* it refused, so a memory bomb is reported as "memory limit
//! 64 MiB" rather than as whatever trap the guest's allocator turns the failure into.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wasmtime::{Engine, ResourceLimiter};

/// How often the epoch advances; epoch deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Table elements an instance may grow to (guests with big runtimes have large tables).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A memory limit hit by a guest (`desired`: the instance's memories and tables together).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (the guest asked for {desired} bytes)")]
pub struct MemoryLimitHit {
    pub limit: u64,
    pub desired: u64,
}

/// Bytes a table element is counted as (a function reference is one pointer).
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Caps what an instance holds in all its linear memories and tables together (a component
/// has several core instances, each with memories of its own), and remembers the peak and any
/// refusal.
#[derive(Debug)]
pub struct InstanceLimiter {
    memory_limit: u64,
    /// Bytes of every linear memory and table of the instance now.
    held: u64,
    /// Largest total the instance reached, in bytes.
    pub peak_memory: u64,
    /// Set when a growth was refused.
    pub hit: Option<MemoryLimitHit>,
}

impl InstanceLimiter {
    pub fn new(memory_limit: u64) -> Self {
        InstanceLimiter {
            memory_limit,
            held: 0,
            peak_memory: 0,
            hit: None,
        }
    }

    /// The instance's memory limit, in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// Accepts growing one memory or table from `current` to `desired` bytes if the total
    /// stays within the limit.
    fn grow(&mut self, current: u64, desired: u64) -> wasmtime::Result<bool> {
        let total = self.held.saturating_sub(current).saturating_add(desired);
        if total > self.memory_limit {
            let hit = MemoryLimitHit {
                limit: self.memory_limit,
                desired: total,
            };
            self.hit = Some(hit);
            // Trap instead of returning -1 to the guest: most allocators abort on failure
            // anyway, and a trap we can name beats an unexplained `unreachable`.
            return Err(wasmtime::Error::new(hit));
        }
        self.held = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current as u64, desired as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.grow(
            current as u64 * TABLE_ELEMENT_BYTES,
            desired as u64 * TABLE_ELEMENT_BYTES,
        )
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`], and fires due [`Deadlines`], until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine, deadlines: Deadlines) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("aw-epoch".into())
            .spawn(move || {
                let mut next = Instant::now() + EPOCH_TICK;
                while !flag.load(Ordering::Relaxed) {
                    // park, not sleep: dropping the ticker unparks it, so exit is not delayed a
                    // tick. A wake-up before `next` (an unpark) never advances the epoch early.
                    std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
                    let now = Instant::now();
                    if now >= next {
                        engine.increment_epoch();
                        deadlines.fire_due(now);
                        next += EPOCH_TICK;
                    }
                }
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

/// Wall-clock deadlines, fired by the ticker thread to within a tick.
///
/// A run's outer cut-off (for a guest blocked in a host call, where epochs are not checked)
/// used to be a tokio timer; a pending tokio timer makes every idle worker park with a kernel
/// timer armed, which cost each database round trip of the guest about a microsecond.
#[derive(Clone, Default)]
pub struct Deadlines(Arc<Mutex<Vec<Waiting>>>);

/// A deadline and the sender that fires it.
type Waiting = (Instant, oneshot::Sender<()>);

impl Deadlines {
    /// Completes once `at` has passed; never, if the ticker stopped first.
    pub fn at(&self, at: Instant) -> impl Future<Output = ()> + Send + 'static {
        let (fire, fired) = oneshot::channel();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((at, fire));
        async move {
            if fired.await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Fires the deadlines due at `now` and forgets those nobody waits for any more.
    fn fire_due(&self, now: Instant) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let ended: Vec<_> = pending
            .extract_if(.., |(at, fire)| *at <= now || fire.is_closed())
            .collect();
        drop(pending);
        for (_, fire) in ended {
            let _ = fire.send(()); // fails, harmlessly, for a waiter that is gone
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_covers_every_memory_and_table_of_the_instance() {
        let mut limiter = InstanceLimiter::new(100);
        assert!(
            limiter.memory_growing(0, 60, None).is_ok(),
            "a first memory"
        );
        assert!(limiter.memory_growing(0, 30, None).is_ok(), "a second one");
        assert!(
            limiter.memory_growing(30, 50, None).is_err(),
            "60 + 50 is past 100"
        );
        assert_eq!(
            limiter.hit,
            Some(MemoryLimitHit {
                limit: 100,
                desired: 110
            })
        );
        assert!(
            limiter.table_growing(0, 1, None).is_ok(),
            "an element is 8 bytes"
        );
        assert!(
            limiter.table_growing(1, 2, None).is_err(),
            "a second is past the limit"
        );
        assert_eq!(limiter.peak_memory, 98);
    }

    #[test]
    fn deadlines_fire_when_due_and_forget_abandoned_ones() {
        let deadlines = Deadlines::default();
        let now = Instant::now();
        let due = deadlines.at(now);
        let later = deadlines.at(now + Duration::from_secs(3600));
        drop(deadlines.at(now + Duration::from_secs(3600)));
        deadlines.fire_due(now);
        assert_eq!(
            deadlines.0.lock().map(|p| p.len()).unwrap_or(0),
            1,
            "only the later, still awaited deadline is kept"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            assert!(
                tokio::time::timeout(Duration::from_secs(5), due)
                    .await
                    .is_ok(),
                "the due deadline fired"
            );
            assert!(
                tokio::time::timeout(Duration::from_millis(20), later)
                    .await
                    .is_err(),
                "the later one did not"
            );
        });
    }
}
