//! Entra ID (Azure AD) bearer tokens for https://storage.azure.com, from Microsoft's official
//! `azure_identity` crate.
//!
//! A profile with `client_secret` (plus `tenant_id`, `client_id`) uses a client-secret
//! credential; `use_default_credentials = true` tries, in order, the `AZURE_TENANT_ID` /
//! `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET` environment, workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, then the Azure CLI / azd, and keeps the
//! first that yields a token. Token requests go through the profile's own HTTP client (rustls,
//! its `ca_cert`, its timeouts); the credentials cache and refresh tokens themselves.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{
    AsyncRawResponse, Body, ClientOptions, FixedRetryOptions, HttpClient, Request, RetryOptions,
    Transport,
};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use futures_util::TryStreamExt;
use tokio::sync::OnceCell;

use super::settings::EntraSettings;
use crate::redact::SecretValue;

/// The scope of every Azure Storage token.
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Acquires tokens for one profile; the credential is built on first use.
pub struct TokenSource {
    settings: EntraSettings,
    credential: OnceCell<Arc<dyn TokenCredential>>,
}

impl TokenSource {
    /// A token source for checked settings (`CredentialSettings::entra`); nothing is fetched
    /// until the first request.
    pub fn new(settings: EntraSettings) -> TokenSource {
        TokenSource {
            settings,
            credential: OnceCell::new(),
        }
    }

    /// A valid token (cached and refreshed by the credential), fetched with `http`.
    pub async fn token(&self, http: &reqwest::Client) -> Result<SecretValue, String> {
        let credential = self
            .credential
            .get_or_try_init(|| async { self.build(http) })
            .await?;
        let token = credential
            .get_token(&[STORAGE_SCOPE], None)
            .await
            .map_err(|e| format!("cannot get an Entra ID token: {}", describe(&e)))?;
        Ok(SecretValue::new(token.token.secret().to_string()))
    }

    fn options(&self, http: &reqwest::Client) -> ClientOptions {
        let mut options = ClientOptions {
            transport: Some(Transport::new(Arc::new(Reqwest(http.clone())))),
            // A few quick retries: a token endpoint that keeps failing should fail the call
            // soon, not after the SDK's default minutes of backoff.
            retry: RetryOptions::fixed(FixedRetryOptions {
                delay: azure_core::time::Duration::milliseconds(300),
                max_retries: 2,
                max_total_elapsed: azure_core::time::Duration::seconds(30),
            }),
            ..ClientOptions::default()
        };
        if let Some(host) = &self.settings.authority_host {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = host.trim_end_matches('/').to_string();
            options.cloud = Some(Arc::new(CloudConfiguration::from(custom)));
        }
        options
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn TokenCredential>, String> {
        let s = &self.settings;
        if let (Some(secret), Some(tenant), Some(client)) =
            (&s.client_secret, &s.tenant_id, &s.client_id)
        {
            let options = ClientSecretCredentialOptions {
                client_options: self.options(http),
            };
            return ClientSecretCredential::new(
                tenant,
                client.clone(),
                Secret::new(secret.reveal().to_string()),
                Some(options),
            )
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| format!("Entra ID client-secret credential: {}", describe(&e)));
        }
        Ok(Arc::new(DefaultChain {
            sources: self.default_chain(http),
            chosen: OnceCell::new(),
        }))
    }

    /// The default chain's credentials that can be built in this environment.
    fn default_chain(
        &self,
        http: &reqwest::Client,
    ) -> Vec<(&'static str, Arc<dyn TokenCredential>)> {
        let mut chain: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let tenant = self
            .settings
            .tenant_id
            .clone()
            .or_else(|| var("AZURE_TENANT_ID"));
        let client = self
            .settings
            .client_id
            .clone()
            .or_else(|| var("AZURE_CLIENT_ID"));
        if let (Some(t), Some(c), Some(secret)) = (&tenant, &client, var("AZURE_CLIENT_SECRET")) {
            let options = ClientSecretCredentialOptions {
                client_options: self.options(http),
            };
            if let Ok(cred) =
                ClientSecretCredential::new(t, c.clone(), Secret::new(secret), Some(options))
            {
                chain.push(("environment (AZURE_CLIENT_SECRET)", cred));
            }
        }
        if var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            let options = WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: self.options(http),
                },
                client_id: client.clone(),
                tenant_id: tenant.clone(),
                ..Default::default()
            };
            if let Ok(cred) = WorkloadIdentityCredential::new(Some(options)) {
                chain.push(("workload identity", cred));
            }
        }
        let options = ManagedIdentityCredentialOptions {
            client_options: self.options(http),
            ..Default::default()
        };
        if let Ok(cred) = ManagedIdentityCredential::new(Some(options)) {
            chain.push(("managed identity", cred));
        }
        if let Ok(cred) = DeveloperToolsCredential::new(None) {
            chain.push(("Azure CLI / azd", cred));
        }
        chain
    }
}

/// An error's message with its causes, which never include the client secret.
fn describe(e: &azure_core::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `use_default_credentials`: the first credential of the chain that yields a token, kept.
#[derive(Debug)]
struct DefaultChain {
    sources: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: OnceCell<usize>,
}

#[async_trait]
impl TokenCredential for DefaultChain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        if let Some(i) = self.chosen.get() {
            return self.sources[*i].1.get_token(scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, (name, source)) in self.sources.iter().enumerate() {
            match source.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    let _ = self.chosen.set(i);
                    tracing::debug!(credential = name, "Entra ID credential chosen");
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {}", describe(&e))),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no credential of the default chain produced a token ({})",
                failures.join("; ")
            ),
        ))
    }
}

/// The azure_identity transport over the profile's reqwest client.
#[derive(Debug)]
struct Reqwest(reqwest::Client);

#[async_trait]
impl HttpClient for Reqwest {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let method =
            reqwest::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|e| {
                azure_core::Error::with_error(
                    azure_core::error::ErrorKind::Other,
                    e,
                    "unsupported HTTP method",
                )
            })?;
        let mut builder = self.0.request(method, request.url().clone());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = match request.body() {
            Body::Bytes(bytes) => builder.body(bytes.clone()),
            Body::SeekableStream(_) => {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Other,
                    "streamed token request bodies are not supported",
                ));
            }
        };
        let response = builder.send().await.map_err(|e| {
            let kind = if e.is_connect() {
                azure_core::error::ErrorKind::Connection
            } else {
                azure_core::error::ErrorKind::Io
            };
            azure_core::Error::with_error(kind, e.without_url(), "token request failed")
        })?;
        let status = response.status().as_u16();
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            if let Ok(v) = value.to_str() {
                headers.insert(
                    HeaderName::from(name.as_str().to_owned()),
                    HeaderValue::from(v.to_owned()),
                );
            }
        }
        let body = response.bytes_stream().map_err(|e| {
            azure_core::Error::with_error(
                azure_core::error::ErrorKind::Io,
                e.without_url(),
                "token response broke off",
            )
        });
        Ok(AsyncRawResponse::new(
            status.into(),
            headers,
            Box::pin(body),
        ))
    }
}
