//! A configuration tree whose every leaf remembers where it came from.
//!
//! Files, env fields and `__JSON` overlays are all turned into this one shape and deep-merged,
//! so that a typed read later can say "`max_size` from env AUTO_WORKFLOW_... is not a number"
//! instead of a bare parse error. Keys are normalised to lower case: the Python package
//! matched them case-insensitively and env var names are upper case by convention.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::ConfigError;

/// Where a configuration value was read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A key of a TOML file (`aw.toml`, or `[tool.auto_workflow]` of a pyproject.toml).
    File(PathBuf),
    /// One `AUTO_WORKFLOW_...` field variable.
    Env(String),
    /// A key inside an `AUTO_WORKFLOW_..._JSON` overlay variable.
    EnvJson(String),
    /// A built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::EnvJson(v) => write!(f, "env {v} (JSON)"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value of the tree: scalars keep their parsed type from TOML/JSON; env fields are strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Node>),
    Table(Table),
    /// A resolved `secret://` reference, or a literal in a key the schema marks as secret.
    Secret(crate::redact::SecretValue),
}

/// A value plus its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub source: Source,
}

/// A table of lower-cased keys.
pub type Table = BTreeMap<String, Node>;

impl Node {
    pub fn new(value: Value, source: Source) -> Self {
        Node { value, source }
    }

    /// Converts a parsed TOML document, lower-casing every key.
    pub fn from_toml(value: toml::Value, source: &Source) -> Result<Node, ConfigError> {
        let v = match value {
            toml::Value::String(s) => Value::Str(s),
            toml::Value::Integer(i) => Value::Int(i),
            toml::Value::Float(x) => Value::Float(x),
            toml::Value::Boolean(b) => Value::Bool(b),
            toml::Value::Datetime(d) => Value::Str(d.to_string()),
            toml::Value::Array(items) => Value::List(
                items
                    .into_iter()
                    .map(|i| Node::from_toml(i, source))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => {
                let mut table = Table::new();
                for (k, v) in t {
                    insert_unique(&mut table, &k, Node::from_toml(v, source)?)?;
                }
                Value::Table(table)
            }
        };
        Ok(Node::new(v, source.clone()))
    }

    /// Converts a JSON value; `null` becomes `None` and the key is left out (JSON overlays
    /// cannot delete keys a file set, only replace them).
    pub fn from_json(
        value: serde_json::Value,
        source: &Source,
    ) -> Result<Option<Node>, ConfigError> {
        let v = match value {
            serde_json::Value::Null => return Ok(None),
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(n) = Node::from_json(item, source)? {
                        out.push(n);
                    }
                }
                Value::List(out)
            }
            serde_json::Value::Object(map) => {
                let mut table = Table::new();
                for (k, v) in map {
                    if let Some(n) = Node::from_json(v, source)? {
                        insert_unique(&mut table, &k, n)?;
                    }
                }
                Value::Table(table)
            }
        };
        Ok(Some(Node::new(v, source.clone())))
    }

    /// The table inside this node, if it is one.
    pub fn as_table(&self) -> Option<&Table> {
        match &self.value {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// A short description of the value's type for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::List(_) => "a list",
            Value::Table(_) => "a table",
            Value::Secret(_) => "a secret",
        }
    }

    /// The value as JSON, for `aw-run config show`. Strings are shown as written
    /// (a `secret://` reference stays a reference: nothing is resolved here).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(x) => serde_json::Value::from(*x),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::List(items) => items.iter().map(Node::to_json).collect(),
            Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            Value::Secret(_) => serde_json::Value::String("***".into()),
        }
    }
}

/// Inserts under the lower-cased key, refusing two spellings of one key in the same source.
fn insert_unique(table: &mut Table, key: &str, node: Node) -> Result<(), ConfigError> {
    let lower = key.to_lowercase();
    if table.contains_key(&lower) {
        return Err(ConfigError::invalid(
            &lower,
            &node.source,
            "the key appears twice with different letter case",
        ));
    }
    table.insert(lower, node);
    Ok(())
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else replaces.
pub fn merge(base: &mut Table, overlay: Table) {
    for (key, node) in overlay {
        match (base.get_mut(&key), node) {
            (
                Some(Node {
                    value: Value::Table(existing),
                    ..
                }),
                Node {
                    value: Value::Table(incoming),
                    ..
                },
            ) => merge(existing, incoming),
            (_, node) => {
                base.insert(key, node);
            }
        }
    }
}

/// Sets `path` to `node`, creating intermediate tables (tagged with the node's source).
pub fn set_path(base: &mut Table, path: &[String], node: Node) {
    match path {
        [] => {}
        [last] => {
            base.insert(last.clone(), node);
        }
        [first, rest @ ..] => {
            let entry = base
                .entry(first.clone())
                .or_insert_with(|| Node::new(Value::Table(Table::new()), node.source.clone()));
            if entry.as_table().is_none() {
                *entry = Node::new(Value::Table(Table::new()), node.source.clone());
            }
            if let Value::Table(t) = &mut entry.value {
                set_path(t, rest, node);
            }
        }
    }
}
