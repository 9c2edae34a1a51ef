//! Durations in JSON output (the run report, task records, limit hits) as fractional seconds.
//! A leaf, so the error and report types can both use it.

use std::time::Duration;

/// `#[serde(serialize_with = "crate::seconds::serialize")]`: a duration as seconds.
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
