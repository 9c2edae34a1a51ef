//! Run profiles: what a run with `--profile <name>` may use, and its limits.

use std::collections::BTreeMap;
use std::time::Duration;

use super::tree::{Node, Value};
use super::{schema, values, Config, ConfigError};

/// Limits applied to every instance a run creates.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub memory: u64,
    /// Wall-clock time for the whole task.
    pub timeout: Duration,
    /// Deterministic instruction budget; `None` runs without fuel metering.
    pub fuel: Option<u64>,
    /// Tasks a flow may run at once.
    pub max_tasks: u64,
    /// Tasks a flow run may spawn in all (runaway fan-out stops here).
    pub max_total_tasks: u64,
    /// Retries a task may ask for; more are lowered to this.
    pub max_retries: u32,
    /// How deep tasks may spawn tasks (the flow is depth 0).
    pub max_depth: u32,
    /// `failure_policy`: what a task that fails for good does to the rest of the run.
    pub failure_policy: FailurePolicy,
}

/// What a task that fails for good does to the rest of its run: the Python package's three
/// policies, under its names (`fail-fast` is accepted for `fail_fast`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Cancel every pending and running task, and fail the run (exit 1) whether or not the
    /// flow joined the failed task.
    #[default]
    FailFast,
    /// Let the others finish; a task whose input depends on the failed one gets the failure
    /// in place of its result, and the flow's `join` gets it as an error.
    Continue,
    /// Let independent tasks finish, skip those that depend on a failed one
    /// (`upstream-failed`), and fail the run with every failure listed.
    Aggregate,
}

impl FailurePolicy {
    /// Reads `fail_fast` (or `fail-fast`), `continue` or `aggregate`.
    pub fn parse(text: &str) -> Option<FailurePolicy> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fail-fast" | "fail_fast" => Some(FailurePolicy::FailFast),
            "continue" => Some(FailurePolicy::Continue),
            "aggregate" => Some(FailurePolicy::Aggregate),
            _ => None,
        }
    }

    /// The policy's name, as the Python package spells it.
    pub fn name(self) -> &'static str {
        match self {
            FailurePolicy::FailFast => "fail_fast",
            FailurePolicy::Continue => "continue",
            FailurePolicy::Aggregate => "aggregate",
        }
    }

    /// What a bad value is told.
    pub const EXPECTED: &'static str = "expected fail_fast (or fail-fast), continue or aggregate";
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 512 << 20,
            timeout: Duration::from_secs(600),
            fuel: None,
            max_tasks: 16,
            max_total_tasks: 10_000,
            max_retries: 100,
            max_depth: 8,
            failure_policy: FailurePolicy::FailFast,
        }
    }
}

/// Where a run may read and write through one ADLS connector profile: entries are
/// `container`, `container/prefix` or `*` (every container). Write implies read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adls2Scope {
    pub read: Vec<String>,
    pub write: Vec<String>,
}

/// A run profile as configured (or implied by connector profiles of the same name).
#[derive(Debug, Clone, PartialEq)]
pub struct RunProfile {
    /// The profile's name, lower-cased.
    pub name: String,
    /// True when `[profiles.<name>]` exists; false when the grants are implied.
    pub explicit: bool,
    /// Postgres connector profiles the run may open.
    pub postgres: Vec<String>,
    /// ADLS Gen2 connector profiles the run may open.
    pub adls2: Vec<String>,
    /// Narrowed ADLS grants, by connector profile; a granted profile without one has full access.
    pub adls2_scopes: BTreeMap<String, Adls2Scope>,
    /// Config values the guest may read, by lower-cased key.
    pub config: BTreeMap<String, String>,
    /// Secret names the guest may read.
    pub secrets: Vec<String>,
    pub limits: Limits,
    /// `cache = "dir:PATH"`: flows keep task results with a cache TTL on disk too.
    pub result_cache: Option<std::path::PathBuf>,
}

impl RunProfile {
    pub(super) fn from_config(config: &Config, name: &str) -> Result<RunProfile, ConfigError> {
        let name = name.to_lowercase();
        let profiles = config.section("profiles")?;
        let Some(node) = profiles.get(&name) else {
            // The Python package's convention: a profile name selects the connector profiles
            // of that name, and nothing else.
            let implied = |connector: &str| {
                config
                    .connector_profile(connector, &name)
                    .map(|_| vec![name.clone()])
                    .unwrap_or_default()
            };
            return Ok(RunProfile {
                postgres: implied("postgres"),
                adls2: implied("adls2"),
                adls2_scopes: BTreeMap::new(),
                name,
                explicit: false,
                config: BTreeMap::new(),
                secrets: Vec::new(),
                limits: Limits {
                    max_tasks: config
                        .engine
                        .max_tasks
                        .unwrap_or(Limits::default().max_tasks),
                    ..Limits::default()
                },
                result_cache: config.engine.result_cache.clone(),
            });
        };
        let key = format!("profiles.{name}");
        let table = schema::expect_table(node, &key)?;
        let list = |field: &str| -> Result<Vec<String>, ConfigError> {
            table
                .get(field)
                .map(|n| values::string_list(n, &format!("{key}.{field}")))
                .unwrap_or(Ok(Vec::new()))
        };
        let (adls2, adls2_scopes) = match table.get("adls2") {
            Some(node) if node.as_table().is_some() => {
                read_adls2_scopes(node, &format!("{key}.adls2"))?
            }
            _ => (
                list("adls2")?.iter().map(|s| s.to_lowercase()).collect(),
                BTreeMap::new(),
            ),
        };
        let mut profile = RunProfile {
            postgres: list("postgres")?.iter().map(|s| s.to_lowercase()).collect(),
            adls2,
            adls2_scopes,
            secrets: list("secrets")?,
            config: BTreeMap::new(),
            limits: Limits::default(),
            result_cache: config.engine.result_cache.clone(),
            explicit: true,
            name: name.clone(),
        };
        for (connector, granted) in [("postgres", &profile.postgres), ("adls2", &profile.adls2)] {
            for target in granted {
                if config.connector_profile(connector, target).is_none() {
                    return Err(ConfigError::invalid(
                        &format!("{key}.{connector}"),
                        &table[connector].source,
                        format!("grants {connector} profile `{target}`, but there is no [connectors.{connector}.{target}]"),
                    ));
                }
            }
        }
        if let Some(values_node) = table.get("config") {
            let config_key = format!("{key}.config");
            for (k, v) in schema::expect_table(values_node, &config_key)? {
                profile
                    .config
                    .insert(k.clone(), values::string(v, &format!("{config_key}.{k}"))?);
            }
        }
        if let Some(limits) = table.get("limits") {
            profile.limits = read_limits(limits, &format!("{key}.limits"))?;
        }
        // The package's `max_dynamic_tasks` is the default a profile's own `max_tasks` overrides.
        let own_max_tasks = table
            .get("limits")
            .and_then(Node::as_table)
            .is_some_and(|l| l.contains_key("max_tasks"));
        if let (false, Some(n)) = (own_max_tasks, config.engine.max_tasks) {
            profile.limits.max_tasks = n;
        }
        if let Some(node) = table.get("cache") {
            let text = values::string(node, &format!("{key}.cache"))?;
            profile.result_cache = match text.trim() {
                "memory" | "" => None,
                other => match other.strip_prefix("dir:") {
                    Some(dir) if !dir.trim().is_empty() => Some(config.base_dir().join(dir.trim())),
                    _ => {
                        return Err(ConfigError::invalid(
                            &format!("{key}.cache"),
                            &node.source,
                            "expected \"memory\" or \"dir:PATH\"",
                        ))
                    }
                },
            };
        }
        Ok(profile)
    }
}

/// `adls2 = { lake = { read = [...], write = [...] } }`: the granted profiles and their scopes.
fn read_adls2_scopes(
    node: &Node,
    key: &str,
) -> Result<(Vec<String>, BTreeMap<String, Adls2Scope>), ConfigError> {
    let mut names = Vec::new();
    let mut scopes = BTreeMap::new();
    for (name, entry) in schema::expect_table(node, key)? {
        let entry_key = format!("{key}.{name}");
        let table = schema::expect_table(entry, &entry_key)?;
        let list = |field: &str| -> Result<Vec<String>, ConfigError> {
            table
                .get(field)
                .map(|n| values::string_list(n, &format!("{entry_key}.{field}")))
                .unwrap_or(Ok(Vec::new()))
        };
        let scope = Adls2Scope {
            read: list("read")?,
            write: list("write")?,
        };
        if let Some(field) = table.keys().find(|k| *k != "read" && *k != "write") {
            return Err(ConfigError::invalid(
                &format!("{entry_key}.{field}"),
                &table[field].source,
                "unknown key; expected read or write",
            ));
        }
        if scope.read.is_empty() && scope.write.is_empty() {
            return Err(ConfigError::invalid(&entry_key, &entry.source, "grants nothing: list `container` or `container/prefix` entries under read and/or write"));
        }
        names.push(name.to_lowercase());
        scopes.insert(name.to_lowercase(), scope);
    }
    Ok((names, scopes))
}

fn read_limits(node: &Node, key: &str) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    let Value::Table(table) = &node.value else {
        return Err(ConfigError::invalid(key, &node.source, "expected a table"));
    };
    for (field, value) in table {
        let full = format!("{key}.{field}");
        match field.as_str() {
            "memory" => limits.memory = values::size(value, &full)?,
            "timeout" => limits.timeout = values::duration(value, &full)?,
            "fuel" => limits.fuel = Some(values::whole(value, &full)?),
            "max_tasks" => limits.max_tasks = values::whole(value, &full)?.max(1),
            "max_total_tasks" => limits.max_total_tasks = values::whole(value, &full)?,
            "max_retries" => {
                limits.max_retries = u32::try_from(values::whole(value, &full)?).unwrap_or(u32::MAX)
            }
            "max_depth" => {
                limits.max_depth = u32::try_from(values::whole(value, &full)?)
                    .map_err(|_| ConfigError::invalid(&full, &value.source, "is too large"))?
            }
            "failure_policy" => {
                limits.failure_policy = FailurePolicy::parse(&values::string(value, &full)?)
                    .ok_or_else(|| {
                        ConfigError::invalid(&full, &value.source, FailurePolicy::EXPECTED)
                    })?
            }
            _ => return Err(ConfigError::invalid(&full, &value.source, "unknown limit")),
        }
    }
    Ok(limits)
}
