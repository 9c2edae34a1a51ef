//! Components travel once per worker through the JetStream Object Store: a coordinator puts
//! the component's bytes under their SHA-256 (unless they are there already), a worker gets
//! them, checks the hash, and keeps them in a directory of its own, from which the compiled
//! cache takes over.

use std::path::{Path, PathBuf};

use async_nats::jetstream::object_store::{self, ObjectStore};
use async_nats::jetstream::stream::StorageType;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{Cluster, ClusterError};
use crate::engine::cache::hex;

/// The Object Store bucket of components (stream `OBJ_AW_COMPONENTS`).
pub const BUCKET: &str = "AW_COMPONENTS";

/// The largest component a worker fetches (the engine would not take a bigger one well).
pub const MAX_COMPONENT: u64 = 512 * 1024 * 1024;

/// The SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The components bucket, created with `replicas` copies when it does not exist.
pub async fn bucket(cluster: &Cluster, replicas: usize) -> Result<ObjectStore, ClusterError> {
    match cluster.jetstream.get_object_store(BUCKET).await {
        Ok(store) => Ok(store),
        Err(_) => cluster
            .jetstream
            .create_object_store(object_store::Config {
                bucket: BUCKET.to_string(),
                description: Some("auto-workflow: components by SHA-256".into()),
                storage: StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                ClusterError::JetStream(format!(
                    "cannot create the object store {BUCKET} with {replicas} replicas: {e}"
                ))
            }),
    }
}

/// Puts `bytes` in the bucket under their SHA-256 unless an object of that name is there;
/// returns the name.
pub async fn publish(store: &ObjectStore, bytes: &[u8]) -> Result<String, ClusterError> {
    let sha = sha256_hex(bytes);
    if store.info(&sha).await.is_ok() {
        return Ok(sha);
    }
    let mut reader = bytes;
    store.put(sha.as_str(), &mut reader).await.map_err(|e| {
        ClusterError::JetStream(format!(
            "cannot put the component ({} bytes) in {BUCKET}: {e}",
            bytes.len()
        ))
    })?;
    tracing::info!(sha256 = %sha, bytes = bytes.len(), "component published to the cluster");
    Ok(sha)
}

/// The file of component `sha` in `dir`, fetched from the bucket and checked first if it is
/// not there yet. `name` (sanitised) becomes its file stem, the name logs show.
pub async fn fetch(
    store: &ObjectStore,
    dir: &Path,
    sha: &str,
    name: &str,
) -> Result<PathBuf, ClusterError> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ClusterError::JetStream(format!(
            "the attempt names component `{}`, which is not a SHA-256",
            sha.chars().take(80).collect::<String>()
        )));
    }
    let stem: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    let stem = if stem.is_empty() { "component" } else { &stem };
    let folder = dir.join(sha.to_ascii_lowercase());
    let path = folder.join(format!("{stem}.wasm"));
    let io = |e: std::io::Error| ClusterError::JetStream(format!("{}: {e}", folder.display()));
    // A kept file is checked again: the directory is the worker's, but a file in it is not
    // trusted to be what its name says (a disk error, another hand).
    let kept = tokio::task::block_in_place(|| std::fs::read(&path).ok());
    if kept.is_some_and(|bytes| sha256_hex(&bytes).eq_ignore_ascii_case(sha)) {
        return Ok(path);
    }
    let mut object = store.get(sha).await.map_err(|e| {
        ClusterError::JetStream(format!(
            "component {sha} is not in {BUCKET} ({e}): was it published by a coordinator of this cluster?"
        ))
    })?;
    let mut bytes = Vec::new();
    (&mut object)
        .take(MAX_COMPONENT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ClusterError::JetStream(format!("reading component {sha}: {e}")))?;
    if bytes.len() as u64 > MAX_COMPONENT {
        return Err(ClusterError::JetStream(format!(
            "component {sha} is larger than {MAX_COMPONENT} bytes"
        )));
    }
    let got = sha256_hex(&bytes);
    if !got.eq_ignore_ascii_case(sha) {
        return Err(ClusterError::JetStream(format!(
            "component {sha} from {BUCKET} has SHA-256 {got}: refused"
        )));
    }
    tokio::task::block_in_place(|| {
        private_dir(dir)?;
        private_dir(&folder)?;
        // Written whole, then renamed: a worker killed mid-write leaves no half component.
        let partial = folder.join(format!(".{stem}.{}.partial", std::process::id()));
        std::fs::write(&partial, &bytes)?;
        std::fs::rename(&partial, &path)
    })
    .map_err(io)?;
    Ok(path)
}

/// Creates `dir` readable by this user only (components are code the worker runs).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
