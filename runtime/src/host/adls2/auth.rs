//! Request authorization: Shared Key signing, SAS tokens, Entra ID bearer tokens.
//!
//! Shared Key follows "Authorize with Shared Key" of the Azure Storage REST reference (service
//! version 2009-09-19 and later; the same for the Blob and DFS endpoints): HMAC-SHA256 over
//! the verb, the standard headers, the canonicalized `x-ms-*` headers and the canonicalized
//! resource (`/account` + the encoded URI path + sorted, decoded query parameters). Nothing
//! here ever formats a key, a signature or a token into a message.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::entra::TokenSource;
use super::settings::{decode_account_key, CredentialSettings};
use crate::redact::SecretValue;

/// How requests of one profile are authorized: the live form of its [`CredentialSettings`].
#[derive(Clone)]
pub enum Credential {
    /// Account name and the decoded account key.
    SharedKey {
        account: String,
        key: Arc<Zeroizing<Vec<u8>>>,
    },
    /// A SAS token, without the leading `?`, appended to every request's query.
    Sas(SecretValue),
    /// Entra ID: an OAuth bearer token for https://storage.azure.com.
    Entra(Arc<TokenSource>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::SharedKey { .. } => "SharedKey(***)",
            Credential::Sas(_) => "Sas(***)",
            Credential::Entra(_) => "Entra",
        })
    }
}

impl Credential {
    /// The credential a profile's settings describe.
    pub fn new(settings: &CredentialSettings) -> Result<Credential, String> {
        Ok(match settings {
            CredentialSettings::SharedKey { account, key } => Credential::SharedKey {
                account: account.clone(),
                key: Arc::new(decode_account_key(key)?),
            },
            CredentialSettings::Sas(sas) => Credential::Sas(sas.clone()),
            CredentialSettings::Entra(entra) => {
                Credential::Entra(Arc::new(TokenSource::new(entra.clone())))
            }
        })
    }

    /// Adds the SAS to a URL (before signing anything else, so retries reuse it).
    pub fn apply_to_url(&self, url: &mut Url) {
        if let Credential::Sas(sas) = self {
            let query = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{}", sas.reveal()),
                _ => sas.reveal().to_string(),
            };
            url.set_query(Some(&query));
        }
    }

    /// Sets the Authorization header of a request whose other headers (x-ms-date included)
    /// are final; `http` fetches Entra ID tokens when they are due.
    pub async fn authorize(
        &self,
        http: &reqwest::Client,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
    ) -> Result<(), String> {
        let value = match self {
            Credential::SharedKey { account, key, .. } => {
                let to_sign = string_to_sign(account, method, url, headers);
                let mut mac = Hmac::<Sha256>::new_from_slice(key)
                    .map_err(|_| "the account key has an invalid length".to_string())?;
                mac.update(to_sign.as_bytes());
                format!(
                    "SharedKey {account}:{}",
                    BASE64.encode(mac.finalize().into_bytes())
                )
            }
            Credential::Sas(_) => return Ok(()),
            Credential::Entra(source) => format!("Bearer {}", source.token(http).await?.reveal()),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| "the authorization header is not valid ASCII".to_string())?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
        Ok(())
    }
}

/// The Shared Key string-to-sign of a request.
pub fn string_to_sign(account: &str, method: &Method, url: &Url, headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    // Since version 2015-02-21 a zero Content-Length is signed as the empty string.
    let length = match header("content-length") {
        "0" => "",
        other => other,
    };
    let mut out = String::with_capacity(256);
    for part in [
        method.as_str(),
        header("content-encoding"),
        header("content-language"),
        length,
        header("content-md5"),
        header("content-type"),
        header("date"),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    ] {
        out.push_str(part);
        out.push('\n');
    }
    let mut ms: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("").trim()))
        .collect();
    ms.sort();
    for (name, value) in ms {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('/');
    out.push_str(account);
    out.push_str(url.path());
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    query.sort();
    let mut i = 0;
    while i < query.len() {
        // Repeated parameters are signed once, with their values joined by commas.
        let name = &query[i].0;
        let mut values = vec![query[i].1.as_str()];
        let mut j = i + 1;
        while j < query.len() && &query[j].0 == name {
            values.push(&query[j].1);
            j += 1;
        }
        out.push('\n');
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn string_to_sign_matches_the_documented_layout() {
        // The layout of "Blob, Queue, and File services (Shared Key authorization)": twelve
        // standard lines, x-ms headers sorted, then /account/path and sorted query lines.
        let url = Url::parse(
            "https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata",
        )
        .unwrap();
        let h = headers(&[
            ("x-ms-version", "2015-02-21"),
            ("x-ms-date", "Fri, 26 Jun 2015 23:39:12 GMT"),
        ]);
        let expected = "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n/myaccount/mycontainer\ncomp:metadata\nrestype:container";
        assert_eq!(
            string_to_sign("myaccount", &Method::GET, &url, &h),
            expected
        );
    }

    #[test]
    fn emulator_urls_carry_the_account_twice_and_empty_length_is_blank() {
        let url = Url::parse("http://127.0.0.1:10000/devstoreaccount1/c/dir%20a/f.csv").unwrap();
        let h = headers(&[
            ("content-length", "0"),
            ("if-none-match", "*"),
            ("x-ms-blob-type", "BlockBlob"),
        ]);
        let s = string_to_sign("devstoreaccount1", &Method::PUT, &url, &h);
        assert_eq!(
            s,
            "PUT\n\n\n\n\n\n\n\n\n*\n\n\nx-ms-blob-type:BlockBlob\n/devstoreaccount1/devstoreaccount1/c/dir%20a/f.csv"
        );
    }

    #[test]
    fn query_values_are_decoded_and_repeated_names_joined() {
        let url = Url::parse(
            "https://a.dfs.core.windows.net/fs?resource=filesystem&directory=x%2Fy&Recursive=true",
        )
        .unwrap();
        let s = string_to_sign("a", &Method::GET, &url, &HeaderMap::new());
        assert!(
            s.ends_with("/a/fs\ndirectory:x/y\nrecursive:true\nresource:filesystem"),
            "{s}"
        );
        let url = Url::parse(
            "https://a.blob.core.windows.net/c?comp=list&include=metadata&include=snapshots",
        )
        .unwrap();
        let s = string_to_sign("a", &Method::GET, &url, &HeaderMap::new());
        assert!(
            s.ends_with("\ncomp:list\ninclude:metadata,snapshots"),
            "{s}"
        );
    }

    #[tokio::test]
    async fn the_signature_is_hmac_sha256_of_the_string_to_sign_with_the_decoded_key() {
        let key = SecretValue::new(BASE64.encode(b"0123456789abcdef"));
        let cred = Credential::new(&CredentialSettings::shared_key("acct", &key).unwrap()).unwrap();
        let url = Url::parse("https://acct.blob.core.windows.net/c/b").unwrap();
        let mut h = headers(&[("x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        cred.authorize(&reqwest::Client::new(), &Method::GET, &url, &mut h)
            .await
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(string_to_sign("acct", &Method::GET, &url, &h).as_bytes());
        let want = format!(
            "SharedKey acct:{}",
            BASE64.encode(mac.finalize().into_bytes())
        );
        assert_eq!(h.get(AUTHORIZATION).unwrap().to_str().unwrap(), want);
        assert!(!format!("{cred:?}").contains(key.reveal()));
    }

    #[test]
    fn a_key_that_is_not_base64_is_a_config_error_that_does_not_quote_it() {
        let err = CredentialSettings::shared_key("a", &SecretValue::new("not base64 !!".into()))
            .unwrap_err();
        assert!(!err.contains("not base64 !!"));
    }

    #[test]
    fn sas_is_appended_to_the_query_and_its_signature_is_scrubbed() {
        let settings =
            CredentialSettings::sas(&SecretValue::new("?sv=2022-11-02&sig=abc%2Bdef".into()));
        let cred = Credential::new(&settings).unwrap();
        let mut url = Url::parse("http://h/acct/c?comp=list").unwrap();
        cred.apply_to_url(&mut url);
        assert_eq!(url.query(), Some("comp=list&sv=2022-11-02&sig=abc%2Bdef"));
        let parts: Vec<String> = settings
            .secret_parts()
            .iter()
            .map(|s| s.reveal().to_string())
            .collect();
        assert!(parts.contains(&"abc+def".to_string()));
    }
}
