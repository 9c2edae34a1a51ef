//! Secrets: `secret://NAME` references in connector config and the names a run profile grants,
//! resolved on the host by the configured providers, in order.
//!
//! A missing secret is an error naming it and every place looked (the Python package returned
//! a silent `None`). Every resolved value is registered with the [`Scrubber`].

mod providers;

use std::collections::HashMap;

pub use providers::{env_name, Provider};

use crate::config::schema::{self, Kind, SECRET_SCHEME};
use crate::config::{values, Config, ConfigError, Node, Table, Value};
use crate::redact::{Scrubber, SecretValue};
use providers::Lookup;

/// A secret could not be resolved. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` not found (looked in: {tried}); set it or grant another name")]
    Missing { name: String, tried: String },
    #[error("secret `{name}`: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("secret `{name}`: {reason}")]
    Unreadable { name: String, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The configured providers plus the scrubber every resolved value goes to.
#[derive(Clone)]
pub struct Secrets {
    providers: Vec<Provider>,
    scrubber: Scrubber,
}

impl Secrets {
    /// Providers from `[secrets]`: `providers` (default `env`, plus `dir` when `dir` is set)
    /// and `dir` (relative to the config file). `env` is the process environment.
    pub fn from_config(
        config: &Config,
        env: &[(String, String)],
        scrubber: Scrubber,
    ) -> Result<Self, ConfigError> {
        let section = config.section("secrets")?;
        let dir = match section.get("dir") {
            Some(node) => Some(config.base_dir().join(values::string(node, "secrets.dir")?)),
            None => None,
        };
        let names = match section.get("providers") {
            Some(node) => values::string_list(node, "secrets.providers")?,
            None if dir.is_some() => vec!["env".into(), "dir".into()],
            None => vec!["env".into()],
        };
        let mut providers = Vec::new();
        for name in names {
            let source = section
                .get("providers")
                .map(|n| n.source.clone())
                .unwrap_or(crate::config::Source::Default);
            match name.as_str() {
                "env" => providers.push(Provider::Env(
                    env.iter().cloned().collect::<HashMap<_, _>>(),
                )),
                "dir" => match &dir {
                    Some(d) => providers.push(Provider::Dir(d.clone())),
                    None => {
                        return Err(ConfigError::invalid(
                            "secrets.providers",
                            &source,
                            "lists `dir` but `secrets.dir` is not set",
                        ))
                    }
                },
                other => {
                    return Err(ConfigError::invalid(
                        "secrets.providers",
                        &source,
                        format!("unknown provider `{other}`; expected env or dir"),
                    ))
                }
            }
        }
        Ok(Secrets {
            providers,
            scrubber,
        })
    }

    /// Secrets with explicit providers (tests and embedders).
    pub fn new(providers: Vec<Provider>, scrubber: Scrubber) -> Self {
        Secrets {
            providers,
            scrubber,
        }
    }

    /// The scrubber resolved values are registered with.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Resolves `name` with the first provider that has it.
    pub fn resolve(&self, name: &str) -> Result<SecretValue, SecretError> {
        if name.is_empty() {
            return Err(SecretError::InvalidName {
                name: name.into(),
                reason: "the name is empty".into(),
            });
        }
        let mut tried = Vec::new();
        for provider in &self.providers {
            match provider.lookup(name)? {
                Lookup::Found(value) => {
                    self.scrubber.add(&value);
                    return Ok(value);
                }
                Lookup::Missing(place) => tried.push(place),
            }
        }
        if tried.is_empty() {
            tried.push("no providers are configured".into());
        }
        Err(SecretError::Missing {
            name: name.to_string(),
            tried: tried.join(", "),
        })
    }

    /// A copy of a connector profile's table with every `secret://` reference resolved and
    /// every literal under a secret-typed key wrapped, so neither is ever printed.
    pub fn resolve_connector(&self, connector: &str, table: &Table) -> Result<Table, SecretError> {
        let mut out = Table::new();
        for (key, node) in table {
            let sensitive = schema::connector_key_kind(connector, key) == Some(Kind::Secret);
            out.insert(key.clone(), self.resolve_node(node, sensitive)?);
        }
        Ok(out)
    }

    fn resolve_node(&self, node: &Node, sensitive: bool) -> Result<Node, SecretError> {
        let value = match &node.value {
            Value::Str(s) => match s.strip_prefix(SECRET_SCHEME) {
                Some(name) => Value::Secret(self.resolve(name)?),
                None if sensitive => {
                    let literal = SecretValue::new(s.clone());
                    self.scrubber.add(&literal);
                    Value::Secret(literal)
                }
                None => Value::Str(s.clone()),
            },
            Value::Table(t) => {
                let mut out = Table::new();
                for (k, v) in t {
                    out.insert(k.clone(), self.resolve_node(v, false)?);
                }
                Value::Table(out)
            }
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|i| self.resolve_node(i, false))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        };
        Ok(Node::new(value, node.source.clone()))
    }
}
