//! One deadpool pool per Postgres connector profile, shared by every instance and task of a
//! run, created on the first `open` of that profile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::cancel::Canceller;
use super::errors::error;
use super::settings::PgSettings;
use super::tls;
use crate::bindings::types::{ConnectorError, ErrorKind};

/// The pools of one run, keyed by connector profile.
pub struct PostgresPools {
    settings: BTreeMap<String, Arc<PgSettings>>,
    pools: Mutex<HashMap<String, (Pool, Canceller)>>,
}

impl PostgresPools {
    /// Pools for the given (granted, resolved) profiles; nothing connects yet.
    pub fn new(settings: impl IntoIterator<Item = PgSettings>) -> Self {
        PostgresPools {
            settings: settings
                .into_iter()
                .map(|s| (s.profile.clone(), Arc::new(s)))
                .collect(),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The pool, settings and canceller of `profile`, building the pool on first use.
    pub fn get(&self, profile: &str) -> Result<(Pool, Arc<PgSettings>, Canceller), ConnectorError> {
        let settings = self.settings.get(profile).cloned().ok_or_else(|| {
            error(
                ErrorKind::Config,
                format!("postgres profile `{profile}` is granted but not configured"),
            )
        })?;
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((pool, cancel)) = pools.get(profile) {
            return Ok((pool.clone(), settings, cancel.clone()));
        }
        let (pool, cancel) = build(&settings)?;
        pools.insert(profile.to_string(), (pool.clone(), cancel.clone()));
        Ok((pool, settings, cancel))
    }
}

fn build(settings: &PgSettings) -> Result<(Pool, Canceller), ConnectorError> {
    // Session state is reset when a connection is given back (resources.rs), off the guest's
    // path; checkout only checks the connection is alive.
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let tls = tls::connector(settings)?;
    let cancel = Canceller::new(tls.clone());
    let manager = match tls {
        Some(tls) => Manager::from_config(settings.config.clone(), tls, manager_config),
        None => Manager::from_config(
            settings.config.clone(),
            tokio_postgres::NoTls,
            manager_config,
        ),
    };
    let pool = Pool::builder(manager)
        .max_size(settings.max_size)
        .wait_timeout(Some(settings.pool_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| {
            error(
                ErrorKind::Config,
                format!(
                    "postgres profile `{}`: cannot build the pool: {e}",
                    settings.profile
                ),
            )
        })?;
    Ok((pool, cancel))
}
