//! The Azure Storage connection string (`Key=Value;...`) and the endpoint URLs it and a
//! profile's `account_url` name. Errors never quote a value: the string holds credentials.

use reqwest::Url;

use crate::redact::SecretValue;

/// The emulator's published development account and key (not a secret).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The fields of an Azure Storage connection string this connector uses.
#[derive(Debug, Default)]
pub(super) struct ConnectionString {
    pub(super) protocol: Option<String>,
    pub(super) account_name: Option<String>,
    pub(super) account_key: Option<SecretValue>,
    pub(super) sas: Option<SecretValue>,
    pub(super) blob_endpoint: Option<String>,
    pub(super) dfs_endpoint: Option<String>,
    pub(super) endpoint_suffix: Option<String>,
}

impl ConnectionString {
    /// Parses `Key=Value;...`. Errors never quote a value: the string holds credentials.
    pub(super) fn parse(text: &str) -> Result<ConnectionString, String> {
        let mut parts = ConnectionString::default();
        for field in text.split(';').map(str::trim).filter(|f| !f.is_empty()) {
            let Some((name, value)) = field.split_once('=') else {
                return Err(
                    "is not a connection string: expected Key=Value pairs separated by `;`".into(),
                );
            };
            let value = value.trim().to_string();
            match name.trim().to_ascii_lowercase().as_str() {
                "defaultendpointsprotocol" => parts.protocol = Some(value),
                "accountname" => parts.account_name = Some(value),
                "accountkey" => parts.account_key = Some(SecretValue::new(value)),
                "sharedaccesssignature" => parts.sas = Some(SecretValue::new(value)),
                "blobendpoint" => parts.blob_endpoint = Some(value),
                "dfsendpoint" => parts.dfs_endpoint = Some(value),
                "endpointsuffix" => parts.endpoint_suffix = Some(value),
                "usedevelopmentstorage" if value.eq_ignore_ascii_case("true") => {
                    parts.account_name.get_or_insert_with(|| DEV_ACCOUNT.into());
                    parts
                        .account_key
                        .get_or_insert_with(|| SecretValue::new(DEV_KEY.into()));
                    parts
                        .blob_endpoint
                        .get_or_insert_with(|| format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
                }
                // Queue, table and file endpoints, proxy URIs: not used by this connector.
                _ => {}
            }
        }
        Ok(parts)
    }

    /// The Blob and DFS endpoints and the account name.
    pub(super) fn endpoints(&self) -> Result<(Url, Url, String), String> {
        let blob = match (&self.blob_endpoint, &self.account_name) {
            (Some(url), _) => parse_url(url)?,
            (None, Some(name)) => {
                let protocol = self.protocol.as_deref().unwrap_or("https");
                let suffix = self.endpoint_suffix.as_deref().unwrap_or("core.windows.net");
                parse_url(&format!("{protocol}://{name}.blob.{suffix}"))?
            }
            (None, None) => return Err("names no account: give account_url, or a connection string with AccountName or BlobEndpoint".into()),
        };
        let path_style = is_path_style(&blob);
        let account = match &self.account_name {
            Some(name) => name.clone(),
            None if path_style => blob.path_segments().and_then(|mut s| s.next()).filter(|s| !s.is_empty()).map(String::from).ok_or("an emulator URL must end with the account name, e.g. http://127.0.0.1:10000/devstoreaccount1")?,
            None => blob.host_str().and_then(|h| h.split('.').next()).map(String::from).ok_or("the account URL has no host name")?,
        };
        let dfs = match &self.dfs_endpoint {
            Some(url) => parse_url(url)?,
            None => {
                let mut dfs = blob.clone();
                if let Some(host) = blob.host_str() {
                    if let Some(i) = host.find(".blob.") {
                        let host = format!("{}.dfs.{}", &host[..i], &host[i + 6..]);
                        dfs.set_host(Some(&host))
                            .map_err(|e| format!("cannot derive the DFS endpoint: {e}"))?;
                    }
                }
                dfs
            }
        };
        Ok((blob, dfs, account))
    }
}

/// Parses an endpoint URL and drops any query (a SAS belongs in `sas_token`) and trailing slash.
fn parse_url(text: &str) -> Result<Url, String> {
    let mut url =
        Url::parse(text.trim()).map_err(|e| format!("is not a valid endpoint URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "endpoint URLs must be http or https, got {}",
            url.scheme()
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// Emulators and IP-addressed endpoints put the account in the path, not the host name.
fn is_path_style(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || !d.contains('.'),
        Some(_) => true,
        None => false,
    }
}
