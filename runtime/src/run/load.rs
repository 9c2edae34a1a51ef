//! Loading a component: read, check its header, compile (or take it from the compiled cache)
//! and pre-link it against the world it exports (`task` or `flow`).

use std::path::Path;

use wasmtime::component::Component;

use super::Runtime;
use crate::bindings::{FlowPre, TaskPre};
use crate::engine::cache::CacheOutcome;
use crate::error::RunError;
use crate::host::HostState;

/// A component compiled and linked, ready to instantiate many times.
pub struct LoadedComponent {
    pub name: String,
    /// BLAKE3 digest of the component's bytes (result-cache keys).
    pub digest: String,
    pub component: Component,
    pub cache: CacheOutcome,
    pub(super) pre: WorldPre,
}

/// Which world the component exports, pre-linked.
#[derive(Clone)]
pub(super) enum WorldPre {
    Task(TaskPre<HostState>),
    Flow(FlowPre<HostState>),
}

impl LoadedComponent {
    /// True for components of the `flow` world (they export `run-task` and `describe`).
    pub fn is_flow(&self) -> bool {
        matches!(self.pre, WorldPre::Flow(_))
    }
}

impl Runtime {
    /// Reads, compiles (or loads from cache) and links the component at `path`.
    pub fn load(&self, path: &Path) -> Result<LoadedComponent, RunError> {
        let (component, cache, digest) = self.compile_with_digest(path)?;
        let name = component_name(path);
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            RunError::BadComponent(format!(
                "{} imports something this runtime does not provide: {e}. Run `aw-run check` to see its imports",
                path.display()
            ))
        })?;
        let pre = match FlowPre::new(instance_pre.clone()) {
            Ok(flow) => WorldPre::Flow(flow),
            Err(_) => WorldPre::Task(TaskPre::new(instance_pre).map_err(|e| {
                RunError::BadComponent(format!(
                    "{} exports neither the `task` nor the `flow` world of auto-workflow:connectors@0.1.0 ({e}); build it against wit/ with the aw-guest SDK",
                    path.display()
                ))
            })?),
        };
        Ok(LoadedComponent {
            name,
            digest,
            component,
            cache,
            pre,
        })
    }

    /// Reads and compiles the component at `path` without linking it.
    pub fn compile(&self, path: &Path) -> Result<(Component, CacheOutcome), RunError> {
        self.compile_with_digest(path)
            .map(|(component, outcome, _)| (component, outcome))
    }

    /// `compile`, also returning the component's BLAKE3 digest.
    fn compile_with_digest(
        &self,
        path: &Path,
    ) -> Result<(Component, CacheOutcome, String), RunError> {
        let bytes = std::fs::read(path).map_err(|e| {
            RunError::Usage(format!("cannot read component {}: {e}", path.display()))
        })?;
        check_header(path, &bytes)?;
        let digest = crate::engine::cache::digest(&bytes);
        let (component, outcome) = self
            .cache
            .load(&self.engine, &bytes, &digest)
            .map_err(|e| {
                RunError::BadComponent(format!(
                    "{} is not a valid WebAssembly component: {e:#}",
                    path.display()
                ))
            })?;
        Ok((component, outcome, digest))
    }
}

/// Rejects files that are not components, with a message that says what they are instead.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(RunError::BadComponent(format!(
            "{} is not a WebAssembly file (no \\0asm header); pass the .wasm component a guest build produced",
            path.display()
        )));
    }
    // Version 1 with layer 0 is a core module; components use layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(RunError::BadComponent(format!(
            "{} is a core WebAssembly module, not a component: build the guest with `cargo build --target wasm32-wasip2` (or wrap it with `wasm-tools component new`)",
            path.display()
        )));
    }
    Ok(())
}

/// The component's name for logs: its file stem.
fn component_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component")
        .to_string()
}
