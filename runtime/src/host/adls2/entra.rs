//! Entra ID (Azure AD) bearer tokens for https://storage.azure.com.

use super::settings::EntraSettings;
use crate::secrets::SecretValue;

/// Acquires and caches tokens for one profile.
pub struct TokenSource {
    settings: EntraSettings,
}

impl TokenSource {
    pub fn new(settings: EntraSettings) -> Result<TokenSource, String> {
        Err(format!(
            "Entra ID authentication is not available yet (tenant {:?}); use a connection string, account_key or sas_token",
            settings.tenant_id
        ))
    }

    /// A valid token, refreshed when it is about to expire.
    pub async fn token(&self) -> Result<SecretValue, String> {
        let _ = &self.settings;
        Err("Entra ID authentication is not available yet".into())
    }

    /// Values the scrubber must know.
    pub fn secret_parts(&self) -> Vec<SecretValue> {
        self.settings.client_secret.iter().cloned().collect()
    }
}
