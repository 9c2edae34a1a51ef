//! An ADLS Gen2 connector profile, typed: endpoints, credential, dialect, retries, timeouts,
//! block size.
//!
//! Accepts the Python package's keys: `connection_string` (aliases `conn_str`, `dsn`) with
//! AccountName / AccountKey / SharedAccessSignature / BlobEndpoint / DfsEndpoint /
//! EndpointSuffix / DefaultEndpointsProtocol / `UseDevelopmentStorage=true`, or `account_url`
//! with `account_key`, `sas_token`, `use_default_credentials` or `tenant_id` / `client_id` /
//! `client_secret`. Parsed before the guest starts, so a bad key fails the run with exit 2.

use std::time::Duration;

use reqwest::Url;

use crate::config::{values, ConfigError, Node, Table, Value};
use crate::host::pem::Pem;
use crate::redact::SecretValue;

mod connection_string;
mod credential;

pub use credential::{decode_account_key, CredentialSettings, EntraSettings};

use connection_string::ConnectionString;

/// Which REST API speaks to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The Blob endpoint: flat namespace, directories as marker blobs (Azurite, plain accounts).
    Blob,
    /// The DFS endpoint of hierarchical-namespace accounts: real directories, atomic rename.
    Dfs,
    /// Ask the account (Get Account Information) whether its namespace is hierarchical.
    Auto,
}

/// Retry policy for requests that failed with 408, 429, 5xx or a connection error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retries {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first delay; doubled for each further try, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// Everything the host needs to reach one ADLS Gen2 profile.
#[derive(Debug, Clone)]
pub struct Adls2Settings {
    pub profile: String,
    pub account: String,
    /// The Blob endpoint, ending with the account segment on emulator (path-style) URLs.
    pub blob_url: Url,
    /// The DFS endpoint.
    pub dfs_url: Url,
    pub credential: CredentialSettings,
    pub dialect: Dialect,
    pub retries: Retries,
    pub connect_timeout: Duration,
    /// One HTTP request, body included.
    pub operation_timeout: Duration,
    /// Upload block size and default download chunk size.
    pub block_size: usize,
    /// An extra CA certificate (PEM) to trust, for emulators and private endpoints.
    pub ca_cert: Option<Pem>,
    /// Entries asked for per listing page (the service's maximum is 5,000).
    pub page_size: u32,
    /// The most bytes one response may bring into host memory (a whole `download`, a chunk).
    pub max_download: u64,
    /// `dfs`: a hidden upload sibling this old is a killed upload's leftover, removed by the next
    /// upload to the same path.
    pub stale_upload_after: Duration,
}

const DEFAULT_BLOCK_SIZE: u64 = 4 << 20;
const DEFAULT_MAX_DOWNLOAD: u64 = 256 << 20;
const DEFAULT_STALE_UPLOAD_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Put Block's limit (service version 2019-12-12 and later).
const MAX_BLOCK_SIZE: u64 = 4000 << 20;

impl Adls2Settings {
    /// Builds the settings of `[connectors.adls2.<profile>]` from its resolved table.
    pub fn from_table(profile: &str, table: &Table) -> Result<Adls2Settings, ConfigError> {
        let r = Reader { profile, table };
        let Endpoints {
            blob_url,
            dfs_url,
            account,
            parts,
            conn_key,
        } = r.endpoints()?;
        let credential = r.credential(parts, &account, conn_key)?;
        let Transport {
            dialect,
            retries,
            connect_timeout,
            operation_timeout,
            ca_cert,
        } = r.transport()?;
        let Bounds {
            block_size,
            page_size,
            max_download,
            stale_upload_after,
        } = r.bounds()?;
        Ok(Adls2Settings {
            page_size,
            max_download,
            stale_upload_after,
            profile: profile.to_string(),
            account,
            blob_url,
            dfs_url,
            credential,
            dialect,
            retries,
            connect_timeout,
            operation_timeout,
            block_size,
            ca_cert,
        })
    }

    /// Values inside compound settings (a connection string's key or SAS) that the scrubber
    /// must know on their own, since it only knows the whole string.
    pub fn secret_parts(&self) -> Vec<SecretValue> {
        self.credential.secret_parts()
    }
}

/// Reads the keys of one `[connectors.adls2.<profile>]` table, naming each by its full path.
struct Reader<'a> {
    profile: &'a str,
    table: &'a Table,
}

/// Where a profile's account is.
struct Endpoints {
    blob_url: Url,
    dfs_url: Url,
    account: String,
    /// The connection string's fields with the separate keys laid over them (credentials too).
    parts: ConnectionString,
    /// Which connection-string key the profile used, if any (error messages point at it).
    conn_key: Option<&'static str>,
}

/// How a profile's requests travel: dialect, retries, timeouts, an extra CA.
struct Transport {
    dialect: Dialect,
    retries: Retries,
    connect_timeout: Duration,
    operation_timeout: Duration,
    ca_cert: Option<Pem>,
}

/// What bounds a profile's transfers and listings.
struct Bounds {
    block_size: usize,
    page_size: u32,
    max_download: u64,
    stale_upload_after: Duration,
}

impl Reader<'_> {
    fn key(&self, k: &str) -> String {
        format!("connectors.adls2.{}.{k}", self.profile)
    }

    fn text(&self, k: &str) -> Result<Option<String>, ConfigError> {
        self.table
            .get(k)
            .map(|n| values::string(n, &self.key(k)))
            .transpose()
    }

    fn secret(&self, k: &str) -> Result<Option<SecretValue>, ConfigError> {
        self.table
            .get(k)
            .map(|n| secret_value(n, &self.key(k)))
            .transpose()
    }

    fn source_of(&self, k: &str) -> crate::config::Source {
        self.table
            .get(k)
            .map(|n| n.source.clone())
            .unwrap_or(crate::config::Source::Default)
    }

    /// The account and its endpoints: a connection string, `account_url`, `account_name`,
    /// `dfs_endpoint`.
    fn endpoints(&self) -> Result<Endpoints, ConfigError> {
        let r = self;
        let key = |k: &str| r.key(k);
        let text = |k: &str| r.text(k);
        let source_of = |k: &str| r.source_of(k);
        let table = r.table;
        let conn_key = ["connection_string", "conn_str", "dsn"]
            .into_iter()
            .find(|k| table.contains_key(*k));
        let mut parts = match conn_key {
            Some(k) => {
                let node = &table[k];
                ConnectionString::parse(secret_value(node, &key(k))?.reveal())
                    .map_err(|why| ConfigError::invalid(&key(k), &node.source, why))?
            }
            None => ConnectionString::default(),
        };
        if let Some(url) = text("account_url")? {
            parts.blob_endpoint = Some(url);
        }
        if let Some(name) = text("account_name")? {
            parts.account_name = Some(name);
        }
        if let Some(k) = r.secret("account_key")? {
            parts.account_key = Some(k);
        }
        if let Some(sas) = r.secret("sas_token")? {
            parts.sas = Some(sas);
        }
        if let Some(url) = text("dfs_endpoint")? {
            parts.dfs_endpoint = Some(url);
        }
        let where_key = conn_key.or(["account_url", "account_name"]
            .into_iter()
            .find(|k| table.contains_key(*k)));
        let (blob_url, dfs_url, account) = parts.endpoints().map_err(|why| {
            let k = where_key.unwrap_or("account_url");
            ConfigError::invalid(&key(k), &source_of(k), why)
        })?;
        Ok(Endpoints {
            blob_url,
            dfs_url,
            account,
            parts,
            conn_key,
        })
    }

    /// The credential: an account key, a SAS, or Entra ID (a client secret or the default
    /// chain, which `use_default_credentials` selects, as in the package).
    fn credential(
        &self,
        mut parts: ConnectionString,
        account: &str,
        conn_key: Option<&'static str>,
    ) -> Result<CredentialSettings, ConfigError> {
        let r = self;
        let key = |k: &str| r.key(k);
        let text = |k: &str| r.text(k);
        let source_of = |k: &str| r.source_of(k);
        let table = r.table;
        let entra = EntraSettings {
            tenant_id: text("tenant_id")?,
            client_id: text("client_id")?,
            client_secret: r.secret("client_secret")?,
            authority_host: text("authority_host")?,
            default_chain: false,
        };
        // The package's `credential` (a string: a SAS token or an account key).
        if let Some(given) = r.secret("credential")? {
            if given.reveal().contains("sig=") {
                parts.sas = parts.sas.or(Some(given));
            } else {
                parts.account_key = parts.account_key.or(Some(given));
            }
        }
        // As in the package, `use_default_credentials` defaults to true: `account_url` alone
        // means DefaultAzureCredential (environment, workload identity, managed identity, CLI).
        let use_default = table
            .get("use_default_credentials")
            .map(|n| values::boolean(n, &key("use_default_credentials")))
            .transpose()?;
        let mut entra = entra;
        entra.default_chain = use_default.unwrap_or(
            parts.account_key.is_none()
                && parts.sas.is_none()
                && entra.client_secret.is_none()
                && entra.tenant_id.is_none(),
        );
        let credential = if let Some(k) = parts.account_key {
            CredentialSettings::shared_key(account, &k).map_err(|why| {
                let k = ["account_key"]
                    .into_iter()
                    .chain(conn_key)
                    .find(|k| table.contains_key(*k))
                    .unwrap_or("account_key");
                ConfigError::invalid(&key(k), &source_of(k), why)
            })?
        } else if let Some(sas) = parts.sas {
            CredentialSettings::sas(&sas)
        } else if entra.client_secret.is_some() || entra.default_chain || entra.tenant_id.is_some()
        {
            CredentialSettings::entra(entra).map_err(|why| {
                ConfigError::invalid(&key("client_id"), &source_of("client_id"), why)
            })?
        } else {
            return Err(ConfigError::invalid(
                &key(conn_key.unwrap_or("account_key")),
                &source_of(conn_key.unwrap_or("account_url")),
                "no credential: give a connection string with AccountKey or SharedAccessSignature, or account_key, sas_token, client_secret (with tenant_id and client_id) or use_default_credentials = true",
            ));
        };
        Ok(credential)
    }

    /// `dialect`, `retries`, `timeouts`, `ca_cert`.
    fn transport(&self) -> Result<Transport, ConfigError> {
        let r = self;
        let key = |k: &str| r.key(k);
        let text = |k: &str| r.text(k);
        let source_of = |k: &str| r.source_of(k);
        let table = r.table;
        let dialect = match text("dialect")?.map(|d| d.to_ascii_lowercase()) {
            None => Dialect::Auto,
            Some(d) => match d.as_str() {
                "blob" => Dialect::Blob,
                "dfs" => Dialect::Dfs,
                "auto" => Dialect::Auto,
                _ => {
                    return Err(ConfigError::invalid(
                        &key("dialect"),
                        &source_of("dialect"),
                        format!("expected blob, dfs or auto, got {d:?}"),
                    ))
                }
            },
        };
        let mut retries = Retries {
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        };
        let mut connect_timeout = Duration::from_secs(10);
        let mut operation_timeout = Duration::from_secs(300);
        if let Some(node) = table.get("retries") {
            let sub = node.as_table().into_iter().flatten();
            for (k, v) in sub {
                let full = key(&format!("retries.{k}"));
                match k.as_str() {
                    "attempts" => {
                        let n = values::whole(v, &full)?;
                        retries.attempts =
                            u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                                ConfigError::invalid(&full, &v.source, "must be at least 1")
                            })?;
                    }
                    "backoff" => retries.backoff = values::duration(v, &full)?,
                    "max_backoff" => retries.max_backoff = values::duration(v, &full)?,
                    _ => {}
                }
            }
        }
        if let Some(node) = table.get("timeouts") {
            for (k, v) in node.as_table().into_iter().flatten() {
                let full = key(&format!("timeouts.{k}"));
                match k.as_str() {
                    "connect_s" => {
                        connect_timeout = positive(values::duration(v, &full)?, &full, v)?
                    }
                    "operation_s" => {
                        operation_timeout = positive(values::duration(v, &full)?, &full, v)?
                    }
                    _ => {}
                }
            }
        }
        let ca_cert = table
            .get("ca_cert")
            .map(|node| Pem::from_node(node, &key("ca_cert")))
            .transpose()?;
        Ok(Transport {
            dialect,
            retries,
            connect_timeout,
            operation_timeout,
            ca_cert,
        })
    }

    /// `block_size`, `page_size`, `max_download`, `stale_upload_after`.
    fn bounds(&self) -> Result<Bounds, ConfigError> {
        let key = |k: &str| self.key(k);
        let table = self.table;
        let block_size = match table.get("block_size") {
            None => DEFAULT_BLOCK_SIZE,
            Some(node) => {
                let size = values::size(node, &key("block_size"))?;
                if !(1..=MAX_BLOCK_SIZE).contains(&size) {
                    return Err(ConfigError::invalid(
                        &key("block_size"),
                        &node.source,
                        "must be between 1 byte and 4000MiB",
                    ));
                }
                size
            }
        } as usize;
        let page_size = match table.get("page_size") {
            None => 1000,
            Some(node) => {
                let n = values::whole(node, &key("page_size"))?;
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=5000).contains(n))
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            &key("page_size"),
                            &node.source,
                            "must be between 1 and 5000",
                        )
                    })?
            }
        };
        let max_download = match table.get("max_download") {
            None => DEFAULT_MAX_DOWNLOAD,
            Some(node) => values::size(node, &key("max_download"))?,
        };
        let stale_upload_after = table
            .get("stale_upload_after")
            .map(|node| values::duration(node, &key("stale_upload_after")))
            .transpose()?
            .unwrap_or(DEFAULT_STALE_UPLOAD_AFTER);
        Ok(Bounds {
            block_size,
            page_size,
            max_download,
            stale_upload_after,
        })
    }
}

fn positive(d: Duration, key: &str, node: &Node) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(ConfigError::invalid(
            key,
            &node.source,
            "must be greater than zero",
        ))
    } else {
        Ok(d)
    }
}

fn secret_value(node: &Node, key: &str) -> Result<SecretValue, ConfigError> {
    match &node.value {
        Value::Secret(s) => Ok(s.clone()),
        _ => Ok(SecretValue::new(values::string(node, key)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(toml: &str) -> Result<Adls2Settings, ConfigError> {
        let config =
            Config::from_toml_str(toml, std::path::Path::new("aw.toml"), &[]).expect("config");
        let table = config
            .connector_profile("adls2", "p")
            .expect("profile")
            .clone();
        Adls2Settings::from_table("p", &table)
    }

    #[test]
    fn connection_strings_give_endpoints_account_and_credential() {
        let s =
            settings("[connectors.adls2.p]\nconn_str = \"UseDevelopmentStorage=true\"").unwrap();
        assert_eq!(
            s.blob_url.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert_eq!(s.account, "devstoreaccount1");
        assert!(matches!(s.credential, CredentialSettings::SharedKey { .. }));
        let s = settings("[connectors.adls2.p]\nconnection_string = \"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.windows.net\"").unwrap();
        assert_eq!(s.blob_url.as_str(), "https://acme.blob.core.windows.net/");
        assert_eq!(s.dfs_url.as_str(), "https://acme.dfs.core.windows.net/");
        let s = settings("[connectors.adls2.p]\naccount_url = \"https://lake.dfs.core.windows.net\"\nsas_token = \"?sv=1&sig=x\"\ndialect = \"dfs\"\nretries = { attempts = 2, backoff = 0.1 }\ntimeouts = { connect_s = 3, operation_s = 60 }").unwrap();
        assert_eq!(s.account, "lake");
        assert_eq!(s.dialect, Dialect::Dfs);
        assert!(matches!(s.credential, CredentialSettings::Sas(_)));
        assert_eq!(
            (s.retries.attempts, s.retries.backoff),
            (2, Duration::from_millis(100))
        );
        assert_eq!(
            (s.connect_timeout, s.operation_timeout),
            (Duration::from_secs(3), Duration::from_secs(60))
        );
    }

    #[test]
    fn bad_profiles_name_the_key_and_never_quote_credentials() {
        let e = settings(
            "[connectors.adls2.p]\nconnection_string = \"AccountName=a;AccountKey=not*base64!\"",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("connection_string") && !e.contains("not*base64!"),
            "{e}"
        );
        let e = settings("[connectors.adls2.p]\naccount_url = \"https://a.blob.core.windows.net\"\nuse_default_credentials = false").unwrap_err().to_string();
        assert!(e.contains("no credential"), "{e}");
        // As in the package, account_url alone means the default credential chain.
        assert!(settings(
            "[connectors.adls2.p]\naccount_url = \"https://a.blob.core.windows.net\""
        )
        .is_ok());
        let e = settings("[connectors.adls2.p]\nconnection_string = \"UseDevelopmentStorage=true\"\ndialect = \"hdfs\"").unwrap_err().to_string();
        assert!(e.contains("connectors.adls2.p.dialect"), "{e}");
        let e = settings("[connectors.adls2.p]\naccount_url = \"https://a.blob.core.windows.net\"\nclient_secret = \"s3cr3t-value\"").unwrap_err().to_string();
        assert!(
            e.contains("tenant_id") && !e.contains("s3cr3t-value"),
            "{e}"
        );
    }
}
