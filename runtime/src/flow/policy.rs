//! A task's effective policy (its spawn options over the defaults `describe` declared), the
//! backoff between attempts, and which failures are worth another attempt.

use std::time::Duration;

use crate::bindings::tasks::{Backoff, FanOut, TaskOptions};
use crate::bindings::types::ErrorKind;
use crate::error::{LimitHit, RunError};

/// Everything that decides how one task runs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub retries: u32,
    pub backoff: Backoff,
    /// Wall-clock limit of one attempt.
    pub timeout: Duration,
    pub cache_ttl: Option<Duration>,
    pub cache_key: Option<String>,
    pub priority: i32,
    /// The fan-out group it was spawned in (from the spawn's options only).
    pub fan_out: Option<FanOut>,
}

/// 200 ms, doubling, at most 10 s, jittered.
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    base_ms: 200,
    factor: 2.0,
    max_ms: 10_000,
    jitter: true,
    added_jitter_ms: 0,
};

impl Policy {
    /// Spawn options first, then the task's declared defaults, then the run's.
    pub fn resolve(
        spawned: Option<&TaskOptions>,
        declared: Option<&TaskOptions>,
        run_timeout: Duration,
    ) -> Policy {
        let pick = |f: &dyn Fn(&TaskOptions) -> Option<u64>| {
            spawned.and_then(f).or_else(|| declared.and_then(f))
        };
        let backoff = spawned
            .and_then(|o| o.backoff)
            .or_else(|| declared.and_then(|o| o.backoff))
            .unwrap_or(DEFAULT_BACKOFF);
        Policy {
            retries: pick(&|o| o.retries.map(u64::from)).unwrap_or(0) as u32,
            backoff,
            // An attempt never gets more time than the whole run.
            timeout: pick(&|o| o.timeout_ms)
                .map(Duration::from_millis)
                .map_or(run_timeout, |t| t.min(run_timeout)),
            cache_ttl: pick(&|o| o.cache_ttl_ms).map(Duration::from_millis),
            cache_key: spawned
                .and_then(|o| o.cache_key.clone())
                .or_else(|| declared.and_then(|o| o.cache_key.clone())),
            priority: spawned
                .and_then(|o| o.priority)
                .or_else(|| declared.and_then(|o| o.priority))
                .unwrap_or(0),
            fan_out: spawned.and_then(|o| o.fan_out.clone()),
        }
    }
}

/// The delay before attempt `next` (2 for the first retry): `base * factor^(next-2)`, capped,
/// jittered between half and all of it, plus a uniform draw up to `added_jitter_ms` (the Python
/// package's `retry_backoff * 2**(n-1) + uniform(0, retry_jitter)`).
pub fn delay(backoff: &Backoff, next: u32) -> Duration {
    let factor = if backoff.factor.is_finite() && backoff.factor >= 1.0 {
        f64::from(backoff.factor)
    } else {
        1.0
    };
    let exponent = i32::try_from(next.saturating_sub(2))
        .unwrap_or(i32::MAX)
        .min(64);
    let full_ms =
        (f64::from(backoff.base_ms) * factor.powi(exponent)).min(f64::from(backoff.max_ms));
    let full = Duration::from_secs_f64(full_ms.max(0.0) / 1000.0);
    let delay = if backoff.jitter {
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    } else {
        full
    };
    delay + Duration::from_millis(u64::from(backoff.added_jitter_ms)).mul_f64(fastrand::f64())
}

/// Whether an attempt that ended with `error` should be tried again: transient and timeout
/// errors and timeout limits are; invalid input, denials, auth failures, memory and fuel limits
/// and traps are not; other guest errors are when the guest marked them retryable.
pub fn worth_retrying(error: &RunError) -> bool {
    match error {
        RunError::Guest(e) => match e.kind {
            ErrorKind::Transient | ErrorKind::Timeout => true,
            ErrorKind::InvalidInput | ErrorKind::Denied | ErrorKind::Auth => false,
            _ => e.retryable,
        },
        RunError::Limit(LimitHit::Timeout { .. }) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::types::ConnectorError;

    fn options(
        retries: Option<u32>,
        timeout_ms: Option<u64>,
        priority: Option<i32>,
    ) -> TaskOptions {
        TaskOptions {
            retries,
            backoff: None,
            timeout_ms,
            cache_ttl_ms: None,
            cache_key: None,
            priority,
            fan_out: None,
        }
    }

    #[test]
    fn spawn_options_override_declared_defaults_and_the_run_caps_the_timeout() {
        let declared = options(Some(3), Some(5_000), Some(7));
        let spawned = options(None, Some(900_000), None);
        let p = Policy::resolve(Some(&spawned), Some(&declared), Duration::from_secs(60));
        assert_eq!(
            (p.retries, p.timeout, p.priority),
            (3, Duration::from_secs(60), 7)
        );
        let p = Policy::resolve(None, None, Duration::from_secs(60));
        assert_eq!(
            (
                p.retries,
                p.timeout,
                p.priority,
                p.backoff.base_ms,
                p.backoff.max_ms
            ),
            (0, Duration::from_secs(60), 0, 200, 10_000)
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jitter_stays_within_half_to_full() {
        let b = Backoff {
            base_ms: 100,
            factor: 2.0,
            max_ms: 350,
            jitter: false,
            added_jitter_ms: 0,
        };
        assert_eq!(delay(&b, 2), Duration::from_millis(100));
        assert_eq!(delay(&b, 3), Duration::from_millis(200));
        assert_eq!(delay(&b, 4), Duration::from_millis(350));
        let j = Backoff { jitter: true, ..b };
        for _ in 0..100 {
            let d = delay(&j, 3);
            assert!(
                d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
                "{d:?}"
            );
        }
        // The package's formula: 100 ms * 2^(n-1) plus up to 50 ms.
        let added = Backoff {
            added_jitter_ms: 50,
            max_ms: u32::MAX,
            ..b
        };
        let delays: Vec<Duration> = (0..200).map(|_| delay(&added, 3)).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_millis(250)));
        assert!(
            delays.iter().any(|d| *d > Duration::from_millis(225)),
            "the added jitter is drawn, not fixed"
        );
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        let guest = |kind: ErrorKind, retryable: bool| {
            RunError::Guest(ConnectorError {
                kind,
                message: String::new(),
                code: None,
                retryable,
            })
        };
        assert!(worth_retrying(&guest(ErrorKind::Transient, false)));
        assert!(
            worth_retrying(&guest(ErrorKind::Permanent, true)),
            "a guest may mark its own error retryable"
        );
        assert!(!worth_retrying(&guest(ErrorKind::Permanent, false)));
        assert!(!worth_retrying(&guest(ErrorKind::InvalidInput, true)));
        assert!(!worth_retrying(&guest(ErrorKind::Denied, true)));
        assert!(worth_retrying(&RunError::Limit(LimitHit::Timeout {
            limit: Duration::from_secs(1)
        })));
        assert!(!worth_retrying(&RunError::Limit(LimitHit::Memory {
            limit: 1,
            desired: 2
        })));
        assert!(!worth_retrying(&RunError::Trap("panic".into())));
    }
}
