//! Everything a run needs before the guest starts: the run profile and its limits, granted
//! connector profiles with `secret://` resolved, granted secrets resolved, and the grants.
//!
//! Doing this up front means a missing secret or a bad grant fails the run with exit 2 before
//! any guest code executes, and every secret value is known to the scrubber from the start.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, RunProfile, Table};
use crate::grants::Grants;
use crate::host::adls2::settings::Adls2Settings;
use crate::host::adls2::Adls2Accounts;
use crate::host::artifacts::ArtifactStore;
use crate::host::postgres::settings::PgSettings;
use crate::host::postgres::PostgresPools;
use crate::host::RunContext;
use crate::secrets::{SecretError, Secrets};

/// A run profile made ready to run.
pub struct PreparedRun {
    pub profile: RunProfile,
    /// Granted connector profiles, resolved, keyed by (connector, profile).
    pub connectors: BTreeMap<(String, String), Table>,
    pub context: Arc<RunContext>,
}

/// Resolves the run profile `name` of `config` for component `component`.
pub fn prepare(
    config: &Config,
    name: &str,
    secrets: &Secrets,
    component: &str,
) -> Result<PreparedRun, SecretError> {
    let profile = config.run_profile(name)?;
    for line in &config.engine.ignored {
        tracing::warn!("{line}");
    }
    let mut connectors = BTreeMap::new();
    for (connector, granted) in [("postgres", &profile.postgres), ("adls2", &profile.adls2)] {
        for target in granted {
            if let Some(table) = config.connector_profile(connector, target) {
                let resolved = secrets.resolve_connector(connector, table)?;
                connectors.insert((connector.to_string(), target.clone()), resolved);
            }
        }
    }
    let mut granted_secrets = BTreeMap::new();
    for secret in &profile.secrets {
        granted_secrets.insert(secret.clone(), secrets.resolve(secret)?);
    }
    let mut pg_settings = Vec::new();
    let mut adls2_settings = Vec::new();
    for ((connector, name), table) in &connectors {
        match connector.as_str() {
            "postgres" => pg_settings.push(PgSettings::from_table(name, table)?),
            "adls2" => {
                let settings = Adls2Settings::from_table(name, table)?;
                // A connection string is one secret to the scrubber; its key and SAS are others.
                for part in settings.secret_parts() {
                    secrets.scrubber().add(&part);
                }
                adls2_settings.push(settings);
            }
            _ => {}
        }
    }
    let context = Arc::new(RunContext {
        postgres: PostgresPools::new(pg_settings),
        adls2: Adls2Accounts::new(adls2_settings),
        grants: Grants::new(&profile),
        secrets: granted_secrets,
        scrubber: secrets.scrubber().clone(),
        component: component.to_string(),
        interrupted: tokio::sync::watch::Sender::new(false),
        info: std::sync::OnceLock::new(),
        artifacts: ArtifactStore::new(&config.engine.artifacts, profile.limits.memory),
    });
    Ok(PreparedRun {
        profile,
        connectors,
        context,
    })
}
