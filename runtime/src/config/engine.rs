//! The Python `auto_workflow` package's engine keys (top level of `[tool.auto_workflow]`), so a
//! pyproject.toml written for it runs unchanged.
//!
//! Each key maps to this runtime's equivalent where one exists (`max_dynamic_tasks` is the
//! default `max_tasks`, `result_cache = "filesystem"` the disk result cache, `log_level` the log
//! verbosity); the rest are accepted with one warning saying why they have no effect here.
//! Values are checked: `result_cache = "filesytem"` is an error, not a silent memory cache.

use std::path::PathBuf;

use super::tree::{Node, Table};
use super::{values, ConfigError};

/// The engine keys the package read (top level of its config).
pub const KEYS: &[&str] = &[
    "max_dynamic_tasks",
    "result_cache",
    "result_cache_path",
    "result_cache_max_entries",
    "artifact_store",
    "artifact_store_path",
    "artifact_serializer",
    "process_pool_max_workers",
    "log_level",
];

/// Where a run keeps its artifacts (`persist=True` results).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ArtifactStoreConfig {
    /// In the host's memory, for the run (the package's default, `artifact_store = "memory"`).
    #[default]
    Memory,
    /// Files in a directory (`artifact_store = "filesystem"`), kept across runs.
    Directory(PathBuf),
}

/// What the engine keys of a config ask for, as this runtime's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineKeys {
    /// `max_dynamic_tasks`: the package's default flow concurrency; the default `max_tasks`
    /// of every run profile that sets none.
    pub max_tasks: Option<u64>,
    /// `result_cache = "filesystem"` (+ `result_cache_path`, default `.aw_cache`): the disk
    /// result cache of every run profile that sets no `cache` of its own.
    pub result_cache: Option<PathBuf>,
    /// `artifact_store` (+ `artifact_store_path`, default `.aw_artifacts`): where the results
    /// of `persist=True` tasks go.
    pub artifacts: ArtifactStoreConfig,
    /// `log_level`, as an `aw-run` verbosity (-1 quiet .. 1 debug), used when neither `-v` nor
    /// `-q` is given.
    pub verbosity: Option<i8>,
    /// One line per key that is accepted but has no effect, saying why.
    pub ignored: Vec<String>,
}

impl EngineKeys {
    /// Reads the engine keys of `root` (the config's top-level table); `base` resolves a
    /// relative `result_cache_path`.
    pub fn from_root(root: &Table, base: &std::path::Path) -> Result<EngineKeys, ConfigError> {
        let mut keys = EngineKeys::default();
        let text = |k: &str| {
            root.get(k)
                .map(|n| values::string(n, k).map(|s| (s.trim().to_ascii_lowercase(), n)))
                .transpose()
        };
        if let Some(node) = root.get("max_dynamic_tasks") {
            keys.max_tasks = Some(values::whole(node, "max_dynamic_tasks")?.max(1));
        }
        match text("result_cache")? {
            None => {}
            Some((backend, _)) if backend == "memory" => {}
            Some((backend, _)) if backend == "filesystem" => {
                let path = match root.get("result_cache_path") {
                    Some(node) => values::string(node, "result_cache_path")?,
                    None => ".aw_cache".to_string(),
                };
                keys.result_cache = Some(base.join(path));
            }
            Some((_, node)) => {
                return Err(invalid(
                    node,
                    "result_cache",
                    "expected \"memory\" or \"filesystem\"",
                ))
            }
        }
        if let Some((level, node)) = text("log_level")? {
            keys.verbosity = Some(match level.as_str() {
                "debug" | "notset" => 1,
                "info" => 0,
                "warning" | "warn" | "error" | "critical" => -1,
                _ => {
                    return Err(invalid(
                        node,
                        "log_level",
                        "expected DEBUG, INFO, WARNING, ERROR or CRITICAL",
                    ))
                }
            });
        }
        if let Some(node) = root.get("result_cache_max_entries") {
            values::whole(node, "result_cache_max_entries")?;
            keys.ignore(
                node,
                "result_cache_max_entries",
                "cached results expire by their task's cache_ttl; the cache has no entry bound",
            );
        }
        if root.contains_key("result_cache_path") && keys.result_cache.is_none() {
            keys.ignore(
                &root["result_cache_path"],
                "result_cache_path",
                "result_cache is not \"filesystem\"",
            );
        }
        match text("artifact_store")? {
            None => {}
            Some((backend, _)) if backend == "memory" => {}
            Some((backend, _)) if backend == "filesystem" => {
                let path = match root.get("artifact_store_path") {
                    Some(node) => values::string(node, "artifact_store_path")?,
                    None => ".aw_artifacts".to_string(),
                };
                keys.artifacts = ArtifactStoreConfig::Directory(base.join(path));
            }
            Some((_, node)) => {
                return Err(invalid(
                    node,
                    "artifact_store",
                    "expected \"memory\" or \"filesystem\"",
                ))
            }
        }
        if root.contains_key("artifact_store_path") && keys.artifacts == ArtifactStoreConfig::Memory
        {
            keys.ignore(
                &root["artifact_store_path"],
                "artifact_store_path",
                "artifact_store is not \"filesystem\"",
            );
        }
        match text("artifact_serializer")? {
            None => {}
            Some((serializer, node)) if serializer == "pickle" || serializer == "json" => keys.ignore(
                node,
                "artifact_serializer",
                "artifacts are stored as JSON that keeps the Python types (unpickling would run code from the store)",
            ),
            Some((_, node)) => {
                return Err(invalid(node, "artifact_serializer", "expected \"pickle\" or \"json\""))
            }
        }
        if let Some(node) = root.get("process_pool_max_workers") {
            values::whole(node, "process_pool_max_workers")?;
            keys.ignore(node, "process_pool_max_workers", "every task runs in its own sandboxed instance; set limits.max_tasks for concurrency");
        }
        Ok(keys)
    }

    fn ignore(&mut self, node: &Node, key: &str, why: &str) {
        self.ignored.push(format!(
            "`{key}` (from {}) has no effect: {why}",
            node.source
        ));
    }
}

fn invalid(node: &Node, key: &str, message: &str) -> ConfigError {
    ConfigError::invalid(key, &node.source, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::{Source, Value};

    fn root(pairs: &[(&str, Value)]) -> Table {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Node::new(v.clone(), Source::Default)))
            .collect()
    }

    #[test]
    fn package_keys_map_to_their_equivalents_or_are_ignored_with_a_reason() {
        let t = root(&[
            ("max_dynamic_tasks", Value::Int(512)),
            ("result_cache", Value::Str("filesystem".into())),
            ("result_cache_path", Value::Str("cache".into())),
            ("result_cache_max_entries", Value::Int(10)),
            ("artifact_store", Value::Str("filesystem".into())),
            ("log_level", Value::Str("DEBUG".into())),
        ]);
        let keys = EngineKeys::from_root(&t, std::path::Path::new("/p")).expect("valid");
        assert_eq!(keys.max_tasks, Some(512));
        assert_eq!(keys.result_cache, Some(PathBuf::from("/p/cache")));
        assert_eq!(keys.verbosity, Some(1));
        assert_eq!(
            keys.artifacts,
            ArtifactStoreConfig::Directory(PathBuf::from("/p/.aw_artifacts"))
        );
        assert_eq!(keys.ignored.len(), 1, "{:?}", keys.ignored);
        assert!(keys.ignored[0].contains("result_cache_max_entries"));

        let bad = root(&[("result_cache", Value::Str("filesytem".into()))]);
        let err =
            EngineKeys::from_root(&bad, std::path::Path::new("/")).expect_err("a typo in a value");
        assert!(err.to_string().contains("result_cache"), "{err}");
        let bad = root(&[("max_dynamic_tasks", Value::Str("many".into()))]);
        assert!(EngineKeys::from_root(&bad, std::path::Path::new("/")).is_err());
    }
}
