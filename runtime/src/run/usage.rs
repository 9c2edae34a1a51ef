//! What a run used (time, memory, fuel, the host's peak RSS, a flow's task records), reported
//! whether it succeeded or not.

use std::time::Duration;

use crate::flow::TaskRecord;

/// What a run used, reported whether it succeeded or not.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    #[serde(serialize_with = "crate::seconds::serialize")]
    pub duration: Duration,
    pub peak_memory: u64,
    pub fuel_consumed: Option<u64>,
    /// Peak resident memory of the whole host process so far (Linux `VmHWM`), in bytes.
    pub host_peak_rss: Option<u64>,
    /// A flow's tasks, one record each, in spawn order (the report lists them apart).
    #[serde(skip)]
    pub tasks: Vec<TaskRecord>,
}

/// The process's peak resident set size, where the OS reports it.
pub fn host_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
