//! Configuration: `aw.toml` or `[tool.auto_workflow]` of `pyproject.toml`, the env overlay, and
//! the typed views the runtime reads (run profiles, connector profiles, secret providers).
//!
//! Precedence, lowest first: the file, `AUTO_WORKFLOW_..._<KEY>` env fields, `..._JSON` env
//! overlays. Every value remembers its source so errors can say which key to fix and where.

pub mod engine;
mod env;
mod profile;
#[cfg(test)]
mod proptests;
pub mod schema;
pub mod tree;
pub mod values;

use std::path::{Path, PathBuf};

pub use profile::{Adls2Scope, FailurePolicy, Limits, RunProfile};
pub use tree::{Node, Source, Table, Value};

/// A configuration problem; the message names the key and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config file {path} has no [tool.auto_workflow] table")]
    NoToolTable { path: PathBuf },
    #[error("`{key}` (from {origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
    #[error("env {var}: {message}")]
    Env { var: String, message: String },
}

impl ConfigError {
    /// A bad value at `key`, read from `source`.
    pub fn invalid(key: &str, source: &Source, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            origin: source.to_string(),
            message: message.into(),
        }
    }
}

/// Where to look for configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config FILE`; wins over everything else.
    pub file: Option<PathBuf>,
    /// The directory searched for `aw.toml` and `pyproject.toml`.
    pub cwd: PathBuf,
    /// The process environment (passed in so tests need not touch the real one).
    pub env: Vec<(String, String)>,
}

/// The merged, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    root: Table,
    /// The file the base layer came from, if any.
    pub file: Option<PathBuf>,
    /// The Python package's engine keys, as this runtime's defaults.
    pub engine: engine::EngineKeys,
}

/// Top-level sections of the configuration.
const SECTIONS: &[&str] = &["connectors", "profiles", "secrets"];

impl Config {
    /// Finds the config file (`--config`, `$AW_CONFIG`, `./aw.toml`, `./pyproject.toml`),
    /// applies the env overlay and validates the result.
    pub fn load(options: &LoadOptions) -> Result<Config, ConfigError> {
        let (file, mut root) = match locate(options)? {
            Some((path, table)) => (Some(path), table),
            None => (None, Table::new()),
        };
        env::apply(&mut root, &options.env)?;
        Config::validated(root, file)
    }

    /// Builds a configuration from TOML text (tests, and embedders that hold config in memory).
    pub fn from_toml_str(
        text: &str,
        origin: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut root = parse_toml(text, origin)?;
        env::apply(&mut root, env)?;
        Config::validated(root, Some(origin.to_path_buf()))
    }

    fn validated(root: Table, file: Option<PathBuf>) -> Result<Config, ConfigError> {
        let mut config = Config {
            root,
            file,
            engine: engine::EngineKeys::default(),
        };
        config.validate()?;
        config.engine = engine::EngineKeys::from_root(&config.root, &config.base_dir())?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, node) in &self.root {
            if !SECTIONS.contains(&key.as_str()) && !engine::KEYS.contains(&key.as_str()) {
                return Err(ConfigError::invalid(
                    key,
                    &node.source,
                    format!(
                        "unknown section or key; expected one of: {}, or an engine key of the Python package ({})",
                        SECTIONS.join(", "),
                        engine::KEYS.join(", ")
                    ),
                ));
            }
        }
        for (connector, node) in self.section("connectors")? {
            let key = format!("connectors.{connector}");
            let Some((_, schema)) = schema::CONNECTORS
                .iter()
                .find(|(name, _)| name == connector)
            else {
                let known: Vec<&str> = schema::CONNECTORS.iter().map(|(n, _)| *n).collect();
                return Err(ConfigError::invalid(
                    &key,
                    &node.source,
                    format!("unknown connector; expected one of: {}", known.join(", ")),
                ));
            };
            for (profile, node) in schema::expect_table(node, &key)? {
                let key = format!("{key}.{profile}");
                schema::validate(schema::expect_table(node, &key)?, schema, &key)?;
            }
        }
        for (name, node) in self.section("profiles")? {
            let key = format!("profiles.{name}");
            schema::validate(schema::expect_table(node, &key)?, schema::RUN_PROFILE, &key)?;
        }
        schema::validate(self.section("secrets")?, schema::SECRETS, "secrets")?;
        Ok(())
    }

    /// A top-level section, or an empty table when it is absent.
    pub fn section(&self, name: &str) -> Result<&Table, ConfigError> {
        static EMPTY: Table = Table::new();
        match self.root.get(name) {
            Some(node) => schema::expect_table(node, name),
            None => Ok(&EMPTY),
        }
    }

    /// The table of `[connectors.<connector>.<profile>]`, if configured.
    pub fn connector_profile(&self, connector: &str, profile: &str) -> Option<&Table> {
        self.root
            .get("connectors")?
            .as_table()?
            .get(connector)?
            .as_table()?
            .get(&profile.to_lowercase())?
            .as_table()
    }

    /// The run profile `name`, with its grants checked against the configured connectors.
    pub fn run_profile(&self, name: &str) -> Result<RunProfile, ConfigError> {
        RunProfile::from_config(self, name)
    }

    /// The directory relative paths in the file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// Picks and reads the config file: `--config`, then `$AW_CONFIG`, then `aw.toml`, then a
/// pyproject.toml that has a `[tool.auto_workflow]` table (one without it is not ours and is
/// passed over; one that does not parse is an error).
fn locate(options: &LoadOptions) -> Result<Option<(PathBuf, Table)>, ConfigError> {
    let explicit = options.file.clone().or_else(|| {
        options
            .env
            .iter()
            .find(|(k, v)| k == "AW_CONFIG" && !v.is_empty())
            .map(|(_, path)| options.cwd.join(path))
    });
    let aw = options.cwd.join("aw.toml");
    if let Some(path) = explicit.or_else(|| aw.is_file().then_some(aw)) {
        let table = read_file(&path)?;
        return Ok(Some((path, table)));
    }
    let pyproject = options.cwd.join("pyproject.toml");
    match read_file(&pyproject) {
        Ok(table) => Ok(Some((pyproject, table))),
        // No pyproject.toml, or one without our table: not ours. One that does not parse may
        // well hold our table, so it is an error rather than a run without its grants.
        Err(ConfigError::NoToolTable { .. }) => Ok(None),
        Err(ConfigError::Read { reason, .. }) if reason.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|reason| ConfigError::Read {
        path: path.to_path_buf(),
        reason,
    })?;
    parse_toml(&text, path)
}

/// Parses TOML; a file named `pyproject.toml` contributes only its `[tool.auto_workflow]`.
fn parse_toml(text: &str, path: &Path) -> Result<Table, ConfigError> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    if is_pyproject {
        doc = doc
            .remove("tool")
            .and_then(|tool| match tool {
                toml::Value::Table(mut t) => t.remove("auto_workflow"),
                _ => None,
            })
            .and_then(|v| match v {
                toml::Value::Table(t) => Some(t),
                _ => None,
            })
            .ok_or_else(|| ConfigError::NoToolTable {
                path: path.to_path_buf(),
            })?;
    }
    let source = Source::File(path.to_path_buf());
    match Node::from_toml(toml::Value::Table(doc), &source)?.value {
        Value::Table(t) => Ok(t),
        _ => Ok(Table::new()),
    }
}
