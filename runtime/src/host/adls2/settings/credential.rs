//! How an ADLS Gen2 profile's requests are authorized, as configured: plain data (key, SAS,
//! Entra ID settings), checked when the profile is read so a bad credential fails the run at
//! start-up. The live credential is built from it with the client (`auth::Credential`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::redact::SecretValue;

/// How a profile's requests are authorized, as configured: plain data, checked when the
/// profile is read. The live credential (decoded key, token source) is built with the
/// profile's client (`auth::Credential`).
#[derive(Clone)]
pub enum CredentialSettings {
    /// Account name and the account key, base64 as the portal shows it.
    SharedKey { account: String, key: SecretValue },
    /// A SAS token, without the leading `?`.
    Sas(SecretValue),
    /// Entra ID: a client secret or the default credential chain.
    Entra(EntraSettings),
}

impl std::fmt::Debug for CredentialSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialSettings::SharedKey { .. } => "SharedKey(***)",
            CredentialSettings::Sas(_) => "Sas(***)",
            CredentialSettings::Entra(_) => "Entra",
        })
    }
}

impl CredentialSettings {
    /// A Shared Key credential; the key must be base64.
    pub fn shared_key(account: &str, key: &SecretValue) -> Result<CredentialSettings, String> {
        decode_account_key(key)?;
        Ok(CredentialSettings::SharedKey {
            account: account.to_string(),
            key: key.clone(),
        })
    }

    /// A SAS credential; a leading `?` is dropped.
    pub fn sas(token: &SecretValue) -> CredentialSettings {
        let trimmed = token.reveal().trim().trim_start_matches('?');
        CredentialSettings::Sas(SecretValue::new(trimmed.to_string()))
    }

    /// An Entra ID credential, checked now so a missing tenant or client id fails the run at
    /// start-up.
    pub fn entra(settings: EntraSettings) -> Result<CredentialSettings, String> {
        if settings.client_secret.is_some()
            && (settings.tenant_id.is_none() || settings.client_id.is_none())
        {
            return Err("client_secret needs tenant_id and client_id".into());
        }
        if settings.client_secret.is_none() && !settings.default_chain {
            return Err("Entra ID needs client_secret (with tenant_id and client_id) or use_default_credentials = true".into());
        }
        if let Some(host) = &settings.authority_host {
            if !host.starts_with("https://") {
                return Err("authority_host must be an https:// URL".into());
            }
        }
        Ok(CredentialSettings::Entra(settings))
    }

    /// The values the scrubber must know: the key as given, the SAS and its signature, the
    /// client secret.
    pub fn secret_parts(&self) -> Vec<SecretValue> {
        match self {
            CredentialSettings::SharedKey { key, .. } => vec![key.clone()],
            CredentialSettings::Sas(sas) => {
                // The signature alone is the sensitive part; a log line may show it decoded.
                let mut parts = vec![sas.clone()];
                for (name, value) in url::form_urlencoded::parse(sas.reveal().as_bytes()) {
                    if name == "sig" {
                        parts.push(SecretValue::new(value.into_owned()));
                    }
                }
                parts
            }
            CredentialSettings::Entra(entra) => entra.client_secret.iter().cloned().collect(),
        }
    }
}

/// The account key's bytes; the message says how to fix a key that is not base64.
pub fn decode_account_key(key: &SecretValue) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    BASE64
        .decode(key.reveal().trim())
        .map(zeroize::Zeroizing::new)
        .map_err(|_| {
            "the account key is not valid base64 (copy it from the portal's Access keys page)"
                .to_string()
        })
}

/// The Entra ID settings of a profile, handed to the token credential.
#[derive(Debug, Clone, Default)]
pub struct EntraSettings {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretValue>,
    /// Defaults to https://login.microsoftonline.com.
    pub authority_host: Option<String>,
    /// `use_default_credentials = true`: environment, workload identity, managed identity, CLI.
    pub default_chain: bool,
}
