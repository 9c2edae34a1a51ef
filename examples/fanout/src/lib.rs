//! fanout: a pure-compute fan-out. The flow spawns `n` tasks (default 100); each sums the
//! squares of its slice of 1..=n*1000 in its own sandboxed instance; the flow adds them up
//! and checks the total against the closed form.

use aw_guest_flow::tasks::{self, Options};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    n: Option<u64>,
    /// Compute every slice in this one instance instead of spawning (the benchmark's baseline).
    inline: bool,
}

#[derive(Serialize, Deserialize)]
struct Slice {
    from: u64,
    to: u64,
}

const PER_TASK: u64 = 1000;

fn flow(input: Input) -> aw_guest::Result<Json> {
    let n = input.n.unwrap_or(100);
    let slice = |i: u64| Slice {
        from: i * PER_TASK + 1,
        to: (i + 1) * PER_TASK,
    };
    let parts: Vec<u128> = if input.inline {
        (0..n)
            .map(|i| sum_squares(slice(i)))
            .collect::<aw_guest::Result<_>>()?
    } else {
        let handles = (0..n)
            .map(|i| tasks::spawn("sum_squares", &slice(i), Options::new()))
            .collect::<aw_guest::Result<Vec<_>>>()?;
        tasks::join_all(&handles)?
    };
    let total: u128 = parts.iter().sum();
    let m = u128::from(n * PER_TASK);
    let expected = m * (m + 1) * (2 * m + 1) / 6;
    Ok(json!({ "tasks": n, "total": total.to_string(), "correct": total == expected }))
}

fn sum_squares(s: Slice) -> aw_guest::Result<u128> {
    Ok((s.from..=s.to).map(|k| u128::from(k) * u128::from(k)).sum())
}

aw_guest_flow::flow!(flow, tasks: [sum_squares]);
