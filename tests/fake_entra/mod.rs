//! A FAKE Entra ID token endpoint, for tests only: no real tenant is reachable from CI.
//! It answers the OAuth 2.0 client-credentials grant (`POST /{tenant}/oauth2/v2.0/token`, form
//! body with client_id, client_secret, grant_type, scope) the way Microsoft's identity
//! platform documents it, over HTTPS (a certificate the test trusts), with an unsigned JWT
//! whose issuer, audience and lifetime Azurite's `--oauth basic` mode checks. A wrong secret
//! gets the documented `invalid_client` error.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "0b1e2d3c-aaaa-bbbb-cccc-123456789abc";

/// A running token endpoint.
pub struct FakeEntra {
    pub port: u16,
    /// Form bodies received, for assertions (secrets included: tests only).
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeEntra {
    /// Serves HTTPS with `cert`/`key` (PEM files); accepts `secret` as the client secret.
    pub fn start(cert: &str, key: &str, secret: &str) -> FakeEntra {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .expect("cert")
            .map(|c| c.expect("cert"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).expect("key");
        let config = Arc::new(
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("tls config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let secret = secret.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, seen, secret) = (config.clone(), seen.clone(), secret.clone());
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).expect("tls");
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let _ = serve(&mut tls, &seen, &secret);
                });
            }
        });
        FakeEntra { port, requests }
    }

    pub fn authority(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

fn serve(
    stream: &mut (impl Read + Write),
    seen: &Mutex<Vec<String>>,
    secret: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let form = String::from_utf8_lossy(&body).into_owned();
        seen.lock().unwrap().push(form.clone());
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let field = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let (status, json) = if target != format!("/{TENANT}/oauth2/v2.0/token") {
            (
                404,
                serde_json::json!({"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found.", "error_codes": [90002]}),
            )
        } else if field("grant_type") != "client_credentials"
            || field("client_id") != CLIENT_ID
            || field("client_secret") != secret
        {
            (
                401,
                serde_json::json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
            )
        } else if field("scope") != "https://storage.azure.com/.default" {
            (
                400,
                serde_json::json!({"error": "invalid_scope", "error_description": "AADSTS70011: The provided value for scope is not valid.", "error_codes": [70011]}),
            )
        } else {
            (
                200,
                serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": jwt()}),
            )
        };
        let body = json.to_string();
        let reason = if status == 200 { "OK" } else { "Error" };
        let out = format!("HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        reader.get_mut().write_all(out.as_bytes())?;
        reader.get_mut().flush()?;
    }
}

/// An unsigned access token for Azure Storage, valid for an hour.
fn jwt() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = B64URL.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "aud": "https://storage.azure.com", "iss": format!("https://sts.windows.net/{TENANT}/"),
        "iat": now - 60, "nbf": now - 60, "exp": now + 3600, "tid": TENANT, "appid": CLIENT_ID,
        "oid": "11111111-2222-3333-4444-555555555555", "sub": "11111111-2222-3333-4444-555555555555",
    });
    format!(
        "{header}.{}.{}",
        B64URL.encode(claims.to_string()),
        B64URL.encode("fake-signature")
    )
}
