//! `log`: guest log lines into the host's `tracing` log, tagged with the component, scrubbed,
//! and bounded: a line is cut at [`MAX_LOG_LINE`] bytes, and an instance may log (through
//! this interface and its stdout/stderr together) [`LOG_LINES_PER_SECOND`] lines a second
//! after a burst of [`LOG_BURST`]; lines past that are dropped, and counted in a warning
//! once the guest is under the rate again.

use std::sync::Mutex;
use std::time::Instant;

use super::HostState;
use crate::bindings::log::{Host, Level};
use crate::redact::cut_to;

/// Longest guest log line written; the rest is cut.
pub const MAX_LOG_LINE: usize = 64 * 1024;
/// Sustained guest log lines per second per instance.
pub const LOG_LINES_PER_SECOND: f64 = 1000.0;
/// Lines an instance may log at once before the rate applies.
pub const LOG_BURST: f64 = 10_000.0;

/// A token bucket of guest log lines, shared by an instance's `log` calls and its stdio.
pub struct LogRate(Mutex<Bucket>);

struct Bucket {
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl Default for LogRate {
    fn default() -> Self {
        LogRate(Mutex::new(Bucket {
            tokens: LOG_BURST,
            at: Instant::now(),
            dropped: 0,
        }))
    }
}

impl LogRate {
    /// Whether one more line may be written now; on the first line after some were
    /// dropped, also how many.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    /// [`LogRate::admit`] at a given instant (tests pass their own clock).
    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut bucket = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.duration_since(bucket.at).as_secs_f64() * LOG_LINES_PER_SECOND;
        bucket.tokens = (bucket.tokens + refill).min(LOG_BURST);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            bucket.dropped += 1;
            return None;
        }
        bucket.tokens -= 1.0;
        Some(std::mem::take(&mut bucket.dropped))
    }

    /// Runs `write` for a line the rate admits, after a warning about the lines it dropped.
    pub fn write(&self, component: &str, write: impl FnOnce()) {
        match self.admit() {
            None => {}
            Some(0) => write(),
            Some(dropped) => {
                tracing::warn!(target: "guest", component, dropped, "guest log lines dropped: more than {LOG_LINES_PER_SECOND} a second");
                write();
            }
        }
    }
}

/// `text` cut to at most [`MAX_LOG_LINE`] bytes on a character boundary, saying so.
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    cut_to(text, MAX_LOG_LINE)
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        #[cfg(feature = "test-hooks")]
        if message == "aw-test-hook: panic in the host" {
            panic!("test hook: the host's `log` call panicked on purpose");
        }
        #[cfg(feature = "test-hooks")]
        if message == "aw-test-hook: abort the process" {
            // A task that kills whatever runs it (a cluster worker), for the poison-task test.
            std::process::abort();
        }
        let run = &self.run;
        let component = run.component.as_str();
        self.log_rate.write(component, || {
            // Scrub before cutting: a secret across the cut would otherwise be printed up to it.
            let message = cut(&run.scrubber.scrub(&message)).into_owned();
            match level {
                Level::Trace => tracing::trace!(target: "guest", component, "{message}"),
                Level::Debug => tracing::debug!(target: "guest", component, "{message}"),
                Level::Info => tracing::info!(target: "guest", component, "{message}"),
                Level::Warn => tracing::warn!(target: "guest", component, "{message}"),
                Level::Error => tracing::error!(target: "guest", component, "{message}"),
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_burst_are_dropped_and_counted() {
        // The clock stands still while the burst is spent, so a slow machine cannot refill it.
        let rate = LogRate::default();
        let start = std::time::Instant::now();
        let admitted = (0..(LOG_BURST as usize + 500))
            .filter(|_| rate.admit_at(start).is_some())
            .count();
        assert_eq!(admitted, LOG_BURST as usize);
        // 20 ms later twenty lines' worth has refilled: the next line is admitted and
        // reports the 500 dropped.
        let later = start + std::time::Duration::from_millis(20);
        assert_eq!(rate.admit_at(later), Some(500));
        assert_eq!(rate.admit_at(later), Some(0));
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_LOG_LINE);
        let cut = cut(&long);
        assert!(
            cut.len() < MAX_LOG_LINE + 40 && cut.ends_with("more bytes cut]"),
            "{}",
            cut.len()
        );
        assert_eq!(super::cut("short"), "short");
    }
}
