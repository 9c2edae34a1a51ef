//! Helpers for tests that drive tests/guests/adls-probe: run its steps, read its results, and
//! the data pattern and hash it uses.

use serde_json::{json, Value as Json};

use super::{guest, run, Run, Sandbox};

/// Runs the probe with `input` (`{"steps": [...]}`, optionally `"profile"`) and `--json`.
pub fn probe_run(sandbox: &Sandbox, input: &Json) -> Run {
    run(sandbox.aw_run().arg(guest("aw_adls_probe")).args([
        "--json",
        "--input",
        &input.to_string(),
    ]))
}

/// Runs steps and returns each step's result (or `{"error": ...}`).
pub fn steps(sandbox: &Sandbox, steps: Json) -> Vec<Json> {
    let report = probe_run(sandbox, &json!({ "steps": steps }))
        .expect_code(0)
        .json();
    report["result"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no step results: {report}"))
}

/// The error kind of a failed step (`ErrorKind::Conflict`); panics if the step succeeded.
pub fn kind(result: &Json) -> &str {
    result["error"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {result}"))
}

/// A step that must have succeeded.
pub fn ok(result: &Json) -> &Json {
    assert!(
        result.get("error").is_none() || result["error"].is_null(),
        "step failed: {result}"
    );
    result
}

/// The probe's generated data: byte i is `(i*31 + i/7) % 251`.
pub fn pattern(size: u64) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + i / 7) % 251) as u8).collect()
}

/// FNV-1a 64, as the probe reports it.
pub fn fnv(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The names of a `list` step's entries.
pub fn names(list: &Json) -> Vec<String> {
    list["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {list}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_string())
        .collect()
}
