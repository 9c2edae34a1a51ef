//! One deadpool pool per Postgres connector profile, shared by every instance and task of a
//! run, created on the first `open` of that profile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::errors::error;
use super::settings::PgSettings;
use super::tls;
use crate::host::bindings::types::{ConnectorError, ErrorKind};

/// The pools of one run, keyed by connector profile.
pub struct PostgresPools {
    settings: BTreeMap<String, Arc<PgSettings>>,
    pools: Mutex<HashMap<String, Pool>>,
}

impl PostgresPools {
    /// Pools for the given (granted, resolved) profiles; nothing connects yet.
    pub fn new(settings: impl IntoIterator<Item = PgSettings>) -> Self {
        PostgresPools {
            settings: settings.into_iter().map(|s| (s.profile.clone(), Arc::new(s))).collect(),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The pool and settings of `profile`, building the pool on first use.
    pub fn get(&self, profile: &str) -> Result<(Pool, Arc<PgSettings>), ConnectorError> {
        let settings = self.settings.get(profile).cloned().ok_or_else(|| {
            error(ErrorKind::Config, format!("postgres profile `{profile}` is granted but not configured"))
        })?;
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get(profile) {
            return Ok((pool.clone(), settings));
        }
        let pool = build(&settings)?;
        pools.insert(profile.to_string(), pool.clone());
        Ok((pool, settings))
    }
}

fn build(settings: &PgSettings) -> Result<Pool, ConnectorError> {
    // Session state is reset when a connection is given back (resources.rs), off the guest's
    // path; checkout only checks the connection is alive.
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = match tls::connector(settings)? {
        Some(tls) => Manager::from_config(settings.config.clone(), tls, manager_config),
        None => Manager::from_config(settings.config.clone(), tokio_postgres::NoTls, manager_config),
    };
    Pool::builder(manager)
        .max_size(settings.max_size)
        .wait_timeout(Some(settings.pool_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| error(ErrorKind::Config, format!("postgres profile `{}`: cannot build the pool: {e}", settings.profile)))
}
