//! The env overlay of the Python `auto_workflow` package, kept so its users can move over.
//!
//! - `AUTO_WORKFLOW_CONNECTORS_<NAME>_<PROFILE>__<KEY>` sets one connector key; nested keys are
//!   joined with `__` (`..._DEFAULT__POOL__MAX_SIZE`), and everything is case-insensitive.
//! - `AUTO_WORKFLOW_CONNECTORS_<NAME>_<PROFILE>__JSON` holds a JSON object deep-merged after
//!   every field variable: it has the highest precedence.
//! - `AUTO_WORKFLOW_PROFILES_<PROFILE>__<KEY>` and `..._<PROFILE>__JSON` do the same for run
//!   profiles (an addition of this runtime; the Python package had no run profiles).
//!
//! Field values stay strings; typed reads parse them where the schema needs a type.

use super::tree::{merge, set_path, Node, Source, Table, Value};
use super::ConfigError;

const PREFIX: &str = "AUTO_WORKFLOW_";

/// One parsed overlay variable.
struct Overlay {
    /// Path of the table the variable targets, e.g. `["connectors", "postgres", "default"]`.
    table: Vec<String>,
    /// Key path inside that table, or `None` for a `__JSON` overlay.
    key: Option<Vec<String>>,
    var: String,
    value: String,
}

/// Applies every `AUTO_WORKFLOW_*` variable of `vars` to `root`: fields first (sorted by
/// name, so the result does not depend on the environment's order), then `__JSON` overlays.
pub fn apply(root: &mut Table, vars: &[(String, String)]) -> Result<(), ConfigError> {
    let mut overlays = Vec::new();
    for (var, value) in vars {
        if let Some(overlay) = parse_var(var, value)? {
            overlays.push(overlay);
        }
    }
    overlays.sort_by(|a, b| (a.key.is_none(), &a.var).cmp(&(b.key.is_none(), &b.var)));
    for overlay in overlays {
        match overlay.key {
            Some(key) => {
                let path: Vec<String> = overlay.table.iter().chain(key.iter()).cloned().collect();
                let node = Node::new(Value::Str(overlay.value), Source::Env(overlay.var));
                set_path(root, &path, node);
            }
            None => {
                let source = Source::EnvJson(overlay.var.clone());
                let parsed: serde_json::Value =
                    serde_json::from_str(&overlay.value).map_err(|e| ConfigError::Env {
                        var: overlay.var.clone(),
                        message: format!("is not valid JSON ({e}); expected an object of keys"),
                    })?;
                let Some(Node {
                    value: Value::Table(table),
                    ..
                }) = Node::from_json(parsed, &source)?
                else {
                    return Err(ConfigError::Env {
                        var: overlay.var,
                        message: "must hold a JSON object of keys".into(),
                    });
                };
                let mut wrapped = table;
                for segment in overlay.table.iter().rev() {
                    let mut outer = Table::new();
                    outer.insert(
                        segment.clone(),
                        Node::new(Value::Table(wrapped), source.clone()),
                    );
                    wrapped = outer;
                }
                merge(root, wrapped);
            }
        }
    }
    Ok(())
}

/// Parses one variable; `None` for variables that are not part of the overlay.
fn parse_var(var: &str, value: &str) -> Result<Option<Overlay>, ConfigError> {
    let upper = var.to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix(PREFIX) else {
        return Ok(None);
    };
    let bad = |expected: &str| ConfigError::Env {
        var: var.to_string(),
        message: format!("expected the form {PREFIX}{expected}"),
    };
    let (section, rest) = if let Some(r) = rest.strip_prefix("CONNECTORS_") {
        ("connectors", r)
    } else if let Some(r) = rest.strip_prefix("PROFILES_") {
        ("profiles", r)
    } else {
        // Other AUTO_WORKFLOW_* variables (the Python package had a few) are not config.
        return Ok(None);
    };
    let (head, tail) = match rest.split_once("__") {
        Some((h, t)) if !h.is_empty() && !t.is_empty() => (h, t),
        _ if section == "connectors" => return Err(bad("CONNECTORS_<NAME>_<PROFILE>__<KEY>")),
        _ => return Err(bad("PROFILES_<PROFILE>__<KEY>")),
    };
    let mut table = vec![section.to_string()];
    if section == "connectors" {
        match head.split_once('_') {
            Some((name, profile)) if !name.is_empty() && !profile.is_empty() => {
                table.push(name.to_lowercase());
                table.push(profile.to_lowercase());
            }
            _ => return Err(bad("CONNECTORS_<NAME>_<PROFILE>__<KEY>")),
        }
    } else {
        table.push(head.to_lowercase());
    }
    let key = if tail == "JSON" {
        None
    } else {
        let segments: Vec<String> = tail.split("__").map(str::to_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(bad("..._<PROFILE>__<KEY>__<NESTED_KEY>"));
        }
        Some(segments)
    };
    Ok(Some(Overlay {
        table,
        key,
        var: var.to_string(),
        value: value.to_string(),
    }))
}
