//! What a flow run shows while it runs: JSON Lines events (`--events FILE`, written and
//! flushed as they happen) and the live counters behind the progress line on stderr.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use crate::redact::Scrubber;

/// A JSON Lines file of task-started / task-retry / task-succeeded / task-failed /
/// task-cached / flow-finished events.
pub struct EventLog {
    out: Mutex<std::io::BufWriter<std::fs::File>>,
    /// Task errors in events can hold a secret a guest was granted.
    scrubber: Scrubber,
}

impl EventLog {
    /// Creates (or truncates) `path`; every line passes through `scrubber`.
    pub fn create(path: &Path, scrubber: Scrubber) -> std::io::Result<EventLog> {
        Ok(EventLog {
            out: Mutex::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
            scrubber,
        })
    }

    /// Writes one event with its kind and a UTC timestamp, and flushes it.
    pub fn emit(&self, event: &str, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("event".into(), json!(event));
            map.insert(
                "at".into(),
                json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            );
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A full disk must not fail the run; the log says so once per event.
        let line = fields.to_string();
        if writeln!(out, "{}", self.scrubber.scrub(&line))
            .and_then(|_| out.flush())
            .is_err()
        {
            tracing::warn!(event, "could not write to the events file");
        }
    }
}

/// Live task counts of a run.
#[derive(Default)]
pub struct Counters {
    pub queued: AtomicU64,
    pub running: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub cached: AtomicU64,
}

impl Counters {
    /// `tasks: 3 queued, 4 running, 120 done, 1 failed, 2 retried, 5 cached, 3.2s`.
    pub fn line(&self, started: Instant) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "tasks: {} queued, {} running, {} done, {} failed, {} retried, {} cached, {:.1}s",
            g(&self.queued),
            g(&self.running),
            g(&self.done),
            g(&self.failed),
            g(&self.retried),
            g(&self.cached),
            started.elapsed().as_secs_f64()
        )
    }
}

/// Redraws the progress line on stderr every 200 ms until `stop` turns true.
pub async fn show_progress(
    counters: std::sync::Arc<Counters>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let started = Instant::now();
    loop {
        eprint!("\r\x1b[2K{}", counters.line(started));
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    eprintln!("\r\x1b[2K{}", counters.line(started));
}
