//! Grants: the one place that answers "may this run use X?".
//!
//! Every host interface asks here before doing anything, and `aw-run check` asks the same
//! questions of a component's imports. A "no" is a [`Denied`] whose message names the grant
//! to add, so the fix is one line of config away.

pub mod paths;

use std::collections::BTreeMap;

use crate::config::{Adls2Scope, RunProfile};

/// A refusal, with the grant that would allow it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// What a run profile allows.
#[derive(Debug, Clone)]
pub struct Grants {
    profile: String,
    postgres: Vec<String>,
    adls2: Vec<String>,
    adls2_scopes: BTreeMap<String, Adls2Scope>,
    config: BTreeMap<String, String>,
    secrets: Vec<String>,
}

/// What an ADLS operation does to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Interfaces of this runtime's WIT package, as a component names its imports.
const PACKAGE: &str = "auto-workflow:connectors/";

/// How `aw-run check` judges one import.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportVerdict {
    /// Provided and usable under this profile.
    Granted(String),
    /// Provided, but the profile grants nothing through it.
    NotGranted(String),
    /// Provided to every component (sandboxed WASI, logging).
    Always(String),
    /// This runtime does not provide the interface at all.
    Unknown,
}

impl Grants {
    pub fn new(profile: &RunProfile) -> Self {
        Grants {
            profile: profile.name.clone(),
            postgres: profile.postgres.clone(),
            adls2: profile.adls2.clone(),
            adls2_scopes: profile.adls2_scopes.clone(),
            config: profile.config.clone(),
            secrets: profile.secrets.clone(),
        }
    }

    /// The run profile's name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The value of config key `key` (case-insensitive).
    pub fn config_value(&self, key: &str) -> Result<&str, Denied> {
        self.config.get(&key.to_lowercase()).map(String::as_str).ok_or_else(|| {
            Denied(format!(
                "config key `{key}` is not granted to run profile `{p}`: add `{key} = \"...\"` under [profiles.{p}.config]",
                p = self.profile
            ))
        })
    }

    /// Every config value the guest may read.
    pub fn config_values(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    /// Whether the guest may read secret `name` (exact match: secret names are paths).
    pub fn secret(&self, name: &str) -> Result<(), Denied> {
        if self.secrets.iter().any(|s| s == name) {
            Ok(())
        } else {
            Err(Denied(format!(
                "secret `{name}` is not granted to run profile `{p}`: add \"{name}\" to `secrets` under [profiles.{p}]",
                p = self.profile
            )))
        }
    }

    /// Whether the guest may open connector profile `name` of `connector` (`postgres`, `adls2`).
    pub fn connector(&self, connector: &str, name: &str) -> Result<(), Denied> {
        let granted = match connector {
            "postgres" => &self.postgres,
            "adls2" => &self.adls2,
            _ => return Err(Denied(format!("unknown connector `{connector}`"))),
        };
        if granted.iter().any(|g| g.eq_ignore_ascii_case(name)) {
            Ok(())
        } else {
            Err(Denied(format!(
                "{connector} profile `{name}` is not granted to run profile `{p}`: add \"{name}\" to `{connector}` under [profiles.{p}]",
                p = self.profile
            )))
        }
    }

    /// Whether the guest may `access` canonical `path` (`""` = the whole container) of
    /// `container` through ADLS profile `profile`. A profile granted by name alone has full
    /// access; a scoped grant allows what its `read` / `write` entries cover.
    pub fn adls2_path(
        &self,
        profile: &str,
        container: &str,
        path: &str,
        access: Access,
    ) -> Result<(), Denied> {
        let Some(scope) = self.adls2_scopes.get(profile) else {
            return Ok(());
        };
        let covers = |entries: &[String]| entries.iter().any(|e| scope_covers(e, container, path));
        let allowed = match access {
            Access::Read => covers(&scope.read) || covers(&scope.write),
            Access::Write => covers(&scope.write),
        };
        if allowed {
            return Ok(());
        }
        let (verb, field) = match access {
            Access::Read => ("read", "read"),
            Access::Write => ("write", "write"),
        };
        let target = if path.is_empty() {
            container.to_string()
        } else {
            format!("{container}/{path}")
        };
        Err(Denied(format!(
            "adls2 profile `{profile}` may not {verb} `{target}` under run profile `{p}`: add \"{target}\" (or a prefix of it) to `{field}` under [profiles.{p}.adls2.{profile}]",
            p = self.profile
        )))
    }

    /// Whether any entry of a scoped grant reaches into `container` (for listing containers).
    pub fn adls2_container_visible(&self, profile: &str, container: &str) -> bool {
        match self.adls2_scopes.get(profile) {
            None => true,
            Some(scope) => scope.read.iter().chain(&scope.write).any(|e| {
                let c = e.trim_matches('/').split('/').next().unwrap_or("");
                c == "*" || c == container
            }),
        }
    }

    /// Judges one import of a component, named as in the component's type
    /// (`auto-workflow:connectors/config@0.1.0`, `wasi:cli/stdout@0.2.3`).
    pub fn import(&self, import: &str) -> ImportVerdict {
        if import.starts_with("wasi:") {
            return ImportVerdict::Always(
                "sandboxed WASI: no files, env, sockets or name lookups".into(),
            );
        }
        let Some(rest) = import.strip_prefix(PACKAGE) else {
            return ImportVerdict::Unknown;
        };
        let interface = rest.split('@').next().unwrap_or(rest);
        let p = &self.profile;
        let listed = |what: &str, items: Vec<&str>| {
            if items.is_empty() {
                ImportVerdict::NotGranted(format!(
                    "run profile `{p}` grants no {what}: add them under [profiles.{p}]"
                ))
            } else {
                ImportVerdict::Granted(format!("{what}: {}", items.join(", ")))
            }
        };
        match interface {
            "types" | "log" => ImportVerdict::Always("always available".into()),
            "tasks" => ImportVerdict::Always("a flow's tasks run under this run profile".into()),
            "artifacts" => {
                ImportVerdict::Always("the run's artifact store (artifact_store)".into())
            }
            "config" => listed(
                "config keys",
                self.config.keys().map(String::as_str).collect(),
            ),
            "secrets" => listed("secrets", self.secrets.iter().map(String::as_str).collect()),
            "postgres" => listed(
                "postgres profiles",
                self.postgres.iter().map(String::as_str).collect(),
            ),
            "adls2" => listed(
                "adls2 profiles",
                self.adls2.iter().map(String::as_str).collect(),
            ),
            _ => ImportVerdict::Unknown,
        }
    }
}

/// Whether a scope entry (`*`, `container`, `container/prefix`) covers `path` of `container`.
fn scope_covers(entry: &str, container: &str, path: &str) -> bool {
    let entry = entry.trim().trim_matches('/');
    if entry == "*" {
        return true;
    }
    let (c, prefix) = entry.split_once('/').unwrap_or((entry, ""));
    // A prefix that does not normalize covers nothing rather than everything.
    let Ok(prefix) = paths::normalize(prefix) else {
        return false;
    };
    c == container && paths::is_within(path, &prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    fn profile() -> RunProfile {
        RunProfile {
            name: "default".into(),
            explicit: true,
            postgres: vec!["default".into()],
            adls2: vec!["lake".into()],
            adls2_scopes: BTreeMap::from([(
                "lake".into(),
                Adls2Scope {
                    read: vec!["raw".into()],
                    write: vec!["curated/out/".into()],
                },
            )]),
            config: BTreeMap::from([("table".into(), "aw_demo".into())]),
            secrets: vec!["api-token".into()],
            limits: Limits::default(),
            result_cache: None,
        }
    }

    #[test]
    fn denial_names_the_grant_to_add() {
        let g = Grants::new(&profile());
        assert_eq!(g.config_value("TABLE"), Ok("aw_demo"));
        let e = g.config_value("other").unwrap_err();
        assert!(e.0.contains("[profiles.default.config]"), "{e}");
        assert!(g.secret("api-token").is_ok());
        assert!(g
            .secret("db")
            .unwrap_err()
            .0
            .contains("\"db\" to `secrets`"));
        assert!(g.connector("postgres", "default").is_ok());
        assert!(g
            .connector("adls2", "default")
            .unwrap_err()
            .0
            .contains("to `adls2`"));
    }

    #[test]
    fn adls_scopes_cover_containers_and_whole_prefix_segments() {
        let g = Grants::new(&profile());
        assert!(g
            .adls2_path("lake", "raw", "any/file.csv", Access::Read)
            .is_ok());
        assert!(g.adls2_path("lake", "raw", "", Access::Read).is_ok());
        let e = g.adls2_path("lake", "raw", "x", Access::Write).unwrap_err();
        assert!(
            e.0.contains("add \"raw/x\"") && e.0.contains("[profiles.default.adls2.lake]"),
            "{e}"
        );
        assert!(g
            .adls2_path("lake", "curated", "out/a.csv", Access::Write)
            .is_ok());
        assert!(g.adls2_path("lake", "curated", "out", Access::Read).is_ok());
        assert!(g
            .adls2_path("lake", "curated", "outside/a.csv", Access::Read)
            .is_err());
        assert!(g
            .adls2_path("lake", "curated", "out2/a.csv", Access::Write)
            .is_err());
        assert!(g.adls2_path("lake", "curated", "", Access::Read).is_err());
        assert!(g.adls2_container_visible("lake", "curated"));
        assert!(!g.adls2_container_visible("lake", "secret"));
        assert!(
            g.adls2_path("other", "secret", "x", Access::Write).is_ok(),
            "unscoped profiles have full access"
        );
    }

    #[test]
    fn imports_are_judged_by_interface() {
        let g = Grants::new(&profile());
        assert!(matches!(
            g.import("auto-workflow:connectors/config@0.1.0"),
            ImportVerdict::Granted(_)
        ));
        assert!(matches!(
            g.import("auto-workflow:connectors/adls2@0.1.0"),
            ImportVerdict::Granted(_)
        ));
        assert!(matches!(
            g.import("wasi:cli/stdout@0.2.3"),
            ImportVerdict::Always(_)
        ));
        assert_eq!(g.import("acme:evil/net"), ImportVerdict::Unknown);
    }
}
