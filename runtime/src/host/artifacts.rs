//! The WIT `artifacts` interface: results a flow's tasks persist (`persist=True`), kept in the
//! run's artifact store and read back by key. The store is the host's memory for the run (the
//! Python package's default), or a directory (`artifact_store = "filesystem"`), one file per
//! artifact, written atomically. What one run stores is bounded: the memory limit in memory,
//! 16 times it on disk.
//!
//! Keys are UUIDs the host makes; a key a guest passes is checked before it names a file, so
//! no key reaches outside the directory. Data holding a granted secret's value is refused: the
//! host never writes a secret anywhere.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::{HostState, WitResult};
use crate::bindings::artifacts::Host;
use crate::bindings::connector_error;
use crate::bindings::types::ErrorKind;
use crate::config::engine::ArtifactStoreConfig;
use crate::error::human_bytes;

/// A run's artifact store: where the artifacts are, and what the run has stored so far (each
/// artifact counted at least [`MIN_CHARGE`] bytes, so a million empty ones are refused too).
pub struct ArtifactStore {
    place: Place,
    /// Bytes stored by this run, and the most it may store.
    stored: Mutex<u64>,
    limit: u64,
}

enum Place {
    /// In memory, for the run.
    Memory(Mutex<HashMap<String, Vec<u8>>>),
    /// Files in a directory.
    Directory(PathBuf),
}

/// The least an artifact counts against the store's bound (a map entry, a file).
const MIN_CHARGE: u64 = 4096;

/// How many times the memory limit a run may write to a directory store (the disk is not
/// the guest's to fill).
const DIRECTORY_FACTOR: u64 = 16;

impl ArtifactStore {
    /// The store `config` asks for, for a run whose instances have `memory_limit` bytes: a
    /// memory store holds at most that much, a directory store takes at most
    /// [`DIRECTORY_FACTOR`] times it from one run.
    pub fn new(config: &ArtifactStoreConfig, memory_limit: u64) -> ArtifactStore {
        let (place, limit) = match config {
            ArtifactStoreConfig::Memory => {
                (Place::Memory(Mutex::new(HashMap::new())), memory_limit)
            }
            ArtifactStoreConfig::Directory(dir) => (
                Place::Directory(dir.clone()),
                memory_limit.saturating_mul(DIRECTORY_FACTOR),
            ),
        };
        ArtifactStore {
            place,
            stored: Mutex::new(0),
            limit,
        }
    }

    fn put(&self, data: Vec<u8>) -> Result<String, crate::bindings::types::ConnectorError> {
        let charge = (data.len() as u64).max(MIN_CHARGE);
        {
            let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
            if stored.saturating_add(charge) > self.limit {
                let hint = match self.place {
                    Place::Memory(_) => {
                        "set artifact_store = \"filesystem\" to keep artifacts in a directory"
                    }
                    Place::Directory(_) => "persist fewer or smaller results",
                };
                return Err(connector_error(
                    ErrorKind::Limit,
                    format!(
                        "the run has stored {} of artifacts and may store {} ({hint})",
                        human_bytes(*stored),
                        human_bytes(self.limit)
                    ),
                ));
            }
            *stored += charge;
        }
        let key = random_uuid();
        let written = match &self.place {
            Place::Memory(entries) => {
                entries
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), data);
                Ok(())
            }
            Place::Directory(dir) => write_atomically(dir, &key, &data),
        };
        if let Err(e) = written {
            *self.stored.lock().unwrap_or_else(|p| p.into_inner()) -= charge;
            return Err(e);
        }
        Ok(key)
    }

    fn get(
        &self,
        key: &str,
        limit: u64,
    ) -> Result<Vec<u8>, crate::bindings::types::ConnectorError> {
        let missing = || {
            connector_error(
                ErrorKind::NotFound,
                format!("no artifact `{}` in the run's artifact store", shown(key)),
            )
        };
        if !is_key(key) {
            return Err(missing());
        }
        match &self.place {
            Place::Memory(entries) => entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .cloned()
                .ok_or_else(missing),
            Place::Directory(dir) => {
                let path = dir.join(key);
                let size = match std::fs::metadata(&path) {
                    Ok(m) => m.len(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
                    Err(e) => {
                        return Err(connector_error(
                            ErrorKind::Config,
                            format!("cannot read {}: {e}", path.display()),
                        ))
                    }
                };
                // The data goes into the guest's memory: more than its limit cannot fit.
                if size > limit {
                    return Err(connector_error(
                        ErrorKind::Limit,
                        format!(
                            "artifact `{key}` is {}, more than the task's memory limit of {}",
                            human_bytes(size),
                            human_bytes(limit)
                        ),
                    ));
                }
                std::fs::read(&path).map_err(|e| {
                    connector_error(
                        ErrorKind::Config,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })
            }
        }
    }
}

/// Writes `dir/key` whole or not at all (a partial file, then a rename).
fn write_atomically(
    dir: &std::path::Path,
    key: &str,
    data: &[u8],
) -> Result<(), crate::bindings::types::ConnectorError> {
    let failed = |e: std::io::Error| {
        connector_error(
            ErrorKind::Config,
            format!("cannot write the artifact to {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let partial = dir.join(format!(".{key}.partial"));
    std::fs::write(&partial, data).map_err(failed)?;
    std::fs::rename(&partial, dir.join(key)).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        failed(e)
    })
}

/// A key the store could have made: a hyphenated UUID.
fn is_key(key: &str) -> bool {
    key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// A guest's key in an error message: bounded, printable.
fn shown(key: &str) -> String {
    key.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A random (version 4) UUID: it names a run or an artifact, it protects nothing.
pub fn random_uuid() -> String {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

impl Host for HostState {
    fn put(&mut self, data: Vec<u8>) -> WitResult<String> {
        // A file (or a later reader) must never see a secret: the data is checked as text,
        // which is how the SDKs write artifacts.
        let text = String::from_utf8_lossy(&data);
        if matches!(self.run.scrubber.scrub(&text), std::borrow::Cow::Owned(_)) {
            return Err(connector_error(
                ErrorKind::InvalidInput,
                "the artifact holds the value of a granted secret: it is not stored (persist a result without it)",
            )
            .into());
        }
        drop(text);
        Ok(self.run.artifacts.put(data)?)
    }

    fn get(&mut self, key: String) -> WitResult<Vec<u8>> {
        Ok(self.run.artifacts.get(&key, self.limiter.memory_limit())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_store_keeps_artifacts_and_refuses_keys_outside_it() {
        let dir = std::env::temp_dir().join(format!("aw-artifacts-{}", std::process::id()));
        let store = ArtifactStore::new(&ArtifactStoreConfig::Directory(dir.clone()), 1 << 20);
        let key = store.put(b"{\"v\":1}".to_vec()).expect("stored");
        assert!(is_key(&key), "{key}");
        assert_eq!(store.get(&key, 1 << 20).expect("read"), b"{\"v\":1}");
        for bad in ["../../etc/passwd", "", &"a".repeat(36), &format!("{key}/x")] {
            let e = store.get(bad, 1 << 20).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::NotFound, "{bad}");
        }
        assert_eq!(
            store.get(&key, 3).expect_err("too big").kind,
            ErrorKind::Limit
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_memory_store_is_bounded_and_counts_empty_artifacts_too() {
        let store = ArtifactStore::new(&ArtifactStoreConfig::Memory, 3 * MIN_CHARGE);
        let key = store.put(vec![1; 6]).expect("fits");
        assert_eq!(store.get(&key, 100).expect("read"), vec![1; 6]);
        store.put(Vec::new()).expect("a second");
        store.put(Vec::new()).expect("a third");
        let e = store.put(Vec::new()).expect_err("over the bound");
        assert_eq!(e.kind, ErrorKind::Limit);
        assert!(
            e.message.contains("artifact_store = \"filesystem\""),
            "{}",
            e.message
        );
    }
}
