//! On-disk cache of compiled components, so a second run skips Cranelift.
//!
//! The key is the BLAKE3 digest of the component's bytes plus the engine's compatibility hash
//! (which covers the wasmtime version and every setting that changes generated code, such as
//! fuel). Entries are written to a temp file, fsynced and renamed, so a crash never leaves half
//! an entry; a failed write (a full disk) removes its temp file, and temp files a killed run
//! left are swept after an hour.
//!
//! An entry is native code the host maps and runs: a damaged one (a bad disk block, a power
//! loss before the data reached the disk) would crash every run or run the guest with corrupt
//! data. So each entry has a BLAKE3 digest of its bytes beside it (`<key>.cwasm.b3`), checked
//! before the entry is deserialized; a mismatch is logged, and the component is recompiled and
//! the entry replaced. An entry that fails to load is recompiled and replaced too.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

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
        let var = |name: &str| {
            env.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| PathBuf::from(v))
        };
        var("AW_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("auto-workflow")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("auto-workflow")))
    }

    /// Loads the compiled form of `bytes` (whose SHA-256 is `digest`), compiling (and
    /// storing) it on a miss.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Disabled));
        };
        let path = dir.join(format!("{}.cwasm", key(engine, digest)));
        if path.is_file() {
            match verify(&path) {
                // SAFETY: the entry's bytes are the ones `store` below wrote from
                // `Component::serialize` (their digest matches), the cache directory belongs to
                // the user running aw-run, and the engine checks the embedded compatibility
                // header before using the code.
                Ok(()) => match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(component) => {
                        tracing::debug!(path = %path.display(), "component cache hit");
                        return Ok((component, CacheOutcome::Hit));
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}")
                    }
                },
                Err(why) => {
                    tracing::warn!(path = %path.display(), "the compiled-component cache entry is damaged ({why}): recompiling and replacing it")
                }
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
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    format!("{digest}-{:016x}", engine_hash.finish())
}

/// The hex BLAKE3 digest of a component's bytes: its identity in caches.
pub fn digest(bytes: &[u8]) -> String {
    hex(blake3_of(bytes).as_bytes())
}

/// BLAKE3 of `bytes`, on every core for large inputs (a Python component is 19 MB, its compiled
/// form twice that, hashed on every cold start).
fn blake3_of(bytes: &[u8]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    if bytes.len() >= 1 << 20 {
        hasher.update_rayon(bytes);
    } else {
        hasher.update(bytes);
    }
    hasher.finalize()
}

/// The file beside entry `path` holding the hex BLAKE3 digest of its bytes.
fn digest_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".b3");
    PathBuf::from(name)
}

/// Checks entry `path` against the digest beside it (public for the cold-start benchmark).
pub fn verify(path: &Path) -> Result<(), String> {
    let expected = std::fs::read_to_string(digest_path(path))
        .map_err(|e| format!("no digest beside it: {e}"))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap_rayon(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let actual = hasher.finalize().to_hex();
    if expected.trim() != actual.as_str() {
        return Err("its BLAKE3 digest does not match the one written with it".into());
    }
    Ok(())
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

/// Writes `compiled` as the entry at `path`, and its digest beside it, each as temp file,
/// fsync, rename, then an fsync of the directory; a temp file is removed if any step fails, and
/// old ones are swept. Until both are in place a run finds the pair mismatched and recompiles.
fn store(dir: &Path, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    sweep_temp_files(dir);
    let digest = blake3_of(compiled).to_hex();
    write_atomically(dir, &digest_path(path), digest.as_bytes())?;
    write_atomically(dir, path, compiled)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` through a fsynced temp file in `dir`, removed if any step fails.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes temp files older than an hour (a killed run's; never one a running aw-run writes).
fn sweep_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_temp = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(".tmp-"));
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if is_temp && age.is_some_and(|a| a > std::time::Duration::from_secs(3600)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{blake3_of, digest, hex};

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
        // The BLAKE3 of the empty input, as b3sum prints it.
        assert_eq!(
            digest(b""),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        // The one-thread and all-core paths agree.
        let big = vec![7u8; 3 << 20];
        assert_eq!(blake3_of(&big), blake3::hash(&big));
    }
}
