//! On-disk cache of compiled components, so a second run skips Cranelift.
//!
//! The key is the SHA-256 of the component's bytes plus the engine's compatibility hash (which
//! covers the wasmtime version and every setting that changes generated code, such as fuel).
//! Entries are written to a temp file, fsynced and renamed, so a crash never leaves half an
//! entry; a failed write (a full disk) removes its temp file, and temp files a killed run left
//! are swept after an hour. An entry that fails to load is recompiled and replaced.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Whether a component came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    Hit,
    Miss,
    Disabled,
}

/// A directory of compiled components; `None` disables caching.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache { dir }
    }

    /// `$AW_CACHE_DIR`, else `$XDG_CACHE_HOME/auto-workflow`, else `~/.cache/auto-workflow`.
    pub fn default_dir(env: &[(String, String)]) -> Option<PathBuf> {
        let var = |name: &str| env.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| PathBuf::from(v));
        var("AW_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("auto-workflow")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("auto-workflow")))
    }

    /// Loads the compiled form of `bytes` (whose SHA-256 is `digest`), compiling (and
    /// storing) it on a miss.
    pub fn load(&self, engine: &Engine, bytes: &[u8], digest: &str) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Disabled));
        };
        let path = dir.join(format!("{}.cwasm", key(engine, digest)));
        if path.is_file() {
            // SAFETY: the cache directory belongs to the user running aw-run, entries are only
            // written by `store` below from `Component::serialize`, and the engine checks the
            // embedded compatibility header before using the code.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    tracing::debug!(path = %path.display(), "component cache hit");
                    return Ok((component, CacheOutcome::Hit));
                }
                Err(e) => tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}"),
            }
        }
        let component = Component::new(engine, bytes)?;
        tracing::debug!(path = %path.display(), "component cache miss: compiled");
        match component.serialize() {
            Ok(compiled) => {
                if let Err(e) = store(dir, &path, &compiled) {
                    tracing::warn!(dir = %dir.display(), "cannot write the component cache: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialize the compiled component: {e}"),
        }
        Ok((component, CacheOutcome::Miss))
    }
}

/// The cache key of a component with SHA-256 `digest` for `engine`.
fn key(engine: &Engine, digest: &str) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    format!("{digest}-{:016x}", engine_hash.finish())
}

/// The hex SHA-256 of a component's bytes: its identity in caches.
pub fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes` (hashes in cache keys and reports; on every task spawn, so
/// without a `format!` per byte).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Writes `compiled` as the entry at `path`: temp file, fsync, rename, fsync of the
/// directory; the temp file is removed if any step fails, and old ones are swept.
fn store(dir: &Path, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    sweep_temp_files(dir);
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(compiled)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes temp files older than an hour (a killed run's; never one a running aw-run writes).
fn sweep_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let is_temp = entry.file_name().to_str().is_some_and(|n| n.starts_with(".tmp-"));
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if is_temp && age.is_some_and(|a| a > std::time::Duration::from_secs(3600)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{digest, hex};

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
        // The SHA-256 of the empty input, as every tool prints it.
        assert_eq!(digest(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
