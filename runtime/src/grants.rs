//! Grants: the one place that answers "may this run use X?".
//!
//! Every host interface asks here before doing anything, and `aw-run check` asks the same
//! questions of a component's imports. A "no" is a [`Denied`] whose message names the grant
//! to add, so the fix is one line of config away.

use std::collections::BTreeMap;

use crate::config::RunProfile;

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
    config: BTreeMap<String, String>,
    secrets: Vec<String>,
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

    /// Judges one import of a component, named as in the component's type
    /// (`auto-workflow:connectors/config@0.1.0`, `wasi:cli/stdout@0.2.3`).
    pub fn import(&self, import: &str) -> ImportVerdict {
        if import.starts_with("wasi:") {
            return ImportVerdict::Always("sandboxed WASI: no files, env, sockets or name lookups".into());
        }
        let Some(rest) = import.strip_prefix(PACKAGE) else {
            return ImportVerdict::Unknown;
        };
        let interface = rest.split('@').next().unwrap_or(rest);
        let p = &self.profile;
        let listed = |what: &str, items: Vec<&str>| {
            if items.is_empty() {
                ImportVerdict::NotGranted(format!("run profile `{p}` grants no {what}: add them under [profiles.{p}]"))
            } else {
                ImportVerdict::Granted(format!("{what}: {}", items.join(", ")))
            }
        };
        match interface {
            "types" | "log" => ImportVerdict::Always("always available".into()),
            "config" => listed("config keys", self.config.keys().map(String::as_str).collect()),
            "secrets" => listed("secrets", self.secrets.iter().map(String::as_str).collect()),
            "postgres" => listed("postgres profiles", self.postgres.iter().map(String::as_str).collect()),
            "adls2" => listed("adls2 profiles", self.adls2.iter().map(String::as_str).collect()),
            _ => ImportVerdict::Unknown,
        }
    }
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
            adls2: vec![],
            config: BTreeMap::from([("table".into(), "aw_demo".into())]),
            secrets: vec!["api-token".into()],
            limits: Limits::default(),
        }
    }

    #[test]
    fn denial_names_the_grant_to_add() {
        let g = Grants::new(&profile());
        assert_eq!(g.config_value("TABLE"), Ok("aw_demo"));
        let e = g.config_value("other").unwrap_err();
        assert!(e.0.contains("[profiles.default.config]"), "{e}");
        assert!(g.secret("api-token").is_ok());
        assert!(g.secret("db").unwrap_err().0.contains("\"db\" to `secrets`"));
        assert!(g.connector("postgres", "default").is_ok());
        assert!(g.connector("adls2", "default").unwrap_err().0.contains("to `adls2`"));
    }

    #[test]
    fn imports_are_judged_by_interface() {
        let g = Grants::new(&profile());
        assert!(matches!(g.import("auto-workflow:connectors/config@0.1.0"), ImportVerdict::Granted(_)));
        assert!(matches!(g.import("auto-workflow:connectors/adls2@0.1.0"), ImportVerdict::NotGranted(_)));
        assert!(matches!(g.import("wasi:cli/stdout@0.2.3"), ImportVerdict::Always(_)));
        assert_eq!(g.import("acme:evil/net"), ImportVerdict::Unknown);
    }
}
