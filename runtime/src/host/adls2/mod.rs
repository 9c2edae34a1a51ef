//! The ADLS Gen2 connector: connector-profile settings, request signing, one REST client per
//! profile with retries, the `blob` and `dfs` dialects, path rules, classified errors, and the
//! WIT `adls2` implementation.
//!
//! The host speaks the Azure Storage REST API itself (see README, "ADLS Gen2"): the legacy
//! Azure SDK crates are unmaintained and the new one has neither DataLake nor Shared Key.

mod auth;
mod dialect;
mod entra;
mod errors;
mod host;
mod resources;
mod rest;
pub mod settings;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use tokio::sync::OnceCell;

use crate::bindings::connector_error;
use crate::bindings::types::{ConnectorError, ErrorKind};
use dialect::blob::BlobStore;
use dialect::dfs::DfsStore;
use rest::{Call, Rest};
use settings::{Adls2Settings, Dialect};

pub use dialect::Store;
pub use resources::{AdlsClient, AdlsListStream, AdlsReader, AdlsWriter};

/// One profile's account, ready to use: its settings and the store in the chosen dialect.
pub struct Account {
    pub settings: Arc<Adls2Settings>,
    pub store: Arc<dyn Store>,
    pub dialect: Dialect,
}

/// The accounts of one run, keyed by connector profile, built on first `open`.
pub struct Adls2Accounts {
    settings: BTreeMap<String, Arc<Adls2Settings>>,
    accounts: Mutex<HashMap<String, Arc<OnceCell<Arc<Account>>>>>,
}

impl Adls2Accounts {
    /// Accounts for the given (granted, resolved) profiles; nothing connects yet.
    pub fn new(settings: impl IntoIterator<Item = Adls2Settings>) -> Self {
        Adls2Accounts {
            settings: settings
                .into_iter()
                .map(|s| (s.profile.clone(), Arc::new(s)))
                .collect(),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The account of `profile`, building its client (and asking for the dialect) once.
    pub async fn get(&self, profile: &str) -> Result<Arc<Account>, ConnectorError> {
        let settings = self.settings.get(profile).cloned().ok_or_else(|| {
            connector_error(
                ErrorKind::Config,
                format!("adls2 profile `{profile}` is granted but not configured"),
            )
        })?;
        let cell = {
            let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
            accounts.entry(profile.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| build(settings)).await.cloned()
    }
}

async fn build(settings: Arc<Adls2Settings>) -> Result<Arc<Account>, ConnectorError> {
    let rest = Arc::new(Rest::new(&settings)?);
    let dialect = match settings.dialect {
        Dialect::Auto => detect(&rest, &settings).await?,
        chosen => chosen,
    };
    let store: Arc<dyn Store> = match dialect {
        Dialect::Dfs => Arc::new(DfsStore::new(
            rest,
            settings.dfs_url.clone(),
            settings.stale_upload_after,
        )),
        _ => Arc::new(BlobStore::new(
            rest.clone(),
            settings.blob_url.clone(),
            rest.credential().clone(),
            settings.block_size,
        )),
    };
    tracing::debug!(profile = %settings.profile, ?dialect, "adls2 account ready");
    Ok(Arc::new(Account {
        settings,
        store,
        dialect,
    }))
}

/// Get Account Information: `x-ms-is-hns-enabled: true` means the DFS dialect.
async fn detect(rest: &Rest, settings: &Adls2Settings) -> Result<Dialect, ConnectorError> {
    let call = Call::new(
        Method::GET,
        settings.blob_url.clone(),
        format!(
            "adls2 profile `{}`: ask the account for its namespace kind",
            settings.profile
        ),
    )
    .query("restype", "account")
    .query("comp", "properties");
    match rest.send(call).await {
        Ok(reply)
            if reply
                .header("x-ms-is-hns-enabled")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")) =>
        {
            Ok(Dialect::Dfs)
        }
        Ok(_) => Ok(Dialect::Blob),
        Err(f) => {
            let mut e = f.error;
            e.message.push_str(
                " (set `dialect = \"blob\"` or `\"dfs\"` in the profile to skip this question)",
            );
            Err(e)
        }
    }
}
