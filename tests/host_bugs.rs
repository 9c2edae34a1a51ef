//! Host bugs through `aw-run`: a test-only trigger (the runtime's `test-hooks` feature, which
//! scripts/test.sh builds with) makes a host call panic inside a flow's task attempt, against
//! the real PostgreSQL cluster scripts/test.sh starts.

mod common;

use std::time::{Duration, Instant};

use common::{flow_sandbox, run_flow};
use serde_json::json;

/// A panic in a host call (the `test-hooks` build's trigger) is the host's bug, not the
/// guest's: exit 70 with a message asking to report it, the flow's join answered at once and
/// its sleeping sibling cancelled, not a trap (exit 5) or a wait until the run's timeout.
#[test]
fn a_host_panic_in_a_task_is_a_host_bug_that_ends_the_run_at_once() {
    let sandbox = flow_sandbox("timeout = \"60s\"");
    let started = Instant::now();
    let out = run_flow(&sandbox, &json!({"op": "host-panic"}), &[]).expect_code(70);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    let report = out.json();
    assert_eq!(report["status"], "host-bug", "{report}");
    let message = report["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("panicked on purpose") && message.contains("Please report it"),
        "{report}"
    );
    let records = report["tasks"].as_array().cloned().unwrap_or_default();
    let panicked = records
        .iter()
        .find(|t| t["name"] == "host_panic")
        .expect("a record for the panicking task");
    assert_eq!(panicked["status"], "failed", "{report}");
    let sleeper = records
        .iter()
        .find(|t| t["name"] == "sleep")
        .expect("a record for the sleeper");
    assert_eq!(sleeper["status"], "cancelled", "{report}");
}
