//! The on-disk result cache of flows (`cache = "dir:PATH"` in the run profile): a successful
//! task result with a cache TTL is also written to `PATH/<key>.json` with its expiry, so the
//! next `aw-run` of the same component with the same task and input gets it without running
//! the guest. Entries are written atomically; an unreadable or expired one is a miss.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A directory of cached task results.
pub struct DiskCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    output: String,
    /// Seconds since the Unix epoch after which the entry is stale.
    expires: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DiskCache {
    pub fn new(dir: PathBuf) -> DiskCache {
        DiskCache { dir }
    }

    fn path(&self, key: &str) -> PathBuf {
        // Keys are hex digests or guest-chosen strings: keep only safe characters in file names.
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let digest = crate::engine::cache::digest(key.as_bytes());
        self.dir.join(format!(
            "{}-{}.json",
            &safe[..safe.len().min(40)],
            &digest[..16]
        ))
    }

    /// The cached output of `key` and how long it stays fresh, if any.
    pub fn get(&self, key: &str) -> Option<(String, Duration)> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        let left = entry.expires.checked_sub(now()).filter(|s| *s > 0)?;
        Some((entry.output, Duration::from_secs(left)))
    }

    /// Stores `output` for `ttl`; failures are logged, never fatal.
    pub fn put(&self, key: &str, output: &str, ttl: Duration) {
        let entry = Entry {
            output: output.to_string(),
            expires: now().saturating_add(ttl.as_secs().max(1)),
        };
        let path = self.path(key);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(&entry)?)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(dir = %self.dir.display(), "cannot write the result cache: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().join("results"));
        assert!(cache.get("k").is_none());
        cache.put("k/../weird key", "{\"v\":1}", Duration::from_secs(60));
        let (output, left) = cache.get("k/../weird key").unwrap();
        assert_eq!(output, "{\"v\":1}");
        assert!(left <= Duration::from_secs(60));
        assert!(std::fs::read_dir(dir.path().join("results"))
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().contains('/')));
        let stale = Entry {
            output: "x".into(),
            expires: now() - 1,
        };
        std::fs::write(cache.path("old"), serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(cache.get("old").is_none());
    }
}
