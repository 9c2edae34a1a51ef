//! TLS files named in connector profiles (`sslrootcert`, `sslcert`, `sslkey`, `ca_cert`): a
//! path, or the PEM text itself through a `secret://` reference.

use std::path::PathBuf;

use crate::config::{values, ConfigError, Node, Value};
use crate::redact::SecretValue;

/// Where a TLS file comes from.
#[derive(Debug, Clone)]
pub enum Pem {
    Path(PathBuf),
    Inline(SecretValue),
}

impl Pem {
    /// Reads a profile key: PEM text (from a secret) is used as is, anything else is a path.
    /// Credential-typed keys arrive as secrets even when written literally, hence the check.
    pub fn from_node(node: &Node, key: &str) -> Result<Pem, ConfigError> {
        Ok(match &node.value {
            Value::Secret(s) if s.reveal().contains("-----BEGIN") => Pem::Inline(s.clone()),
            _ => Pem::Path(PathBuf::from(values::string(node, key)?)),
        })
    }

    /// The PEM bytes; `key` names the setting in the error.
    pub fn read(&self, key: &str) -> Result<Vec<u8>, String> {
        match self {
            Pem::Inline(secret) => Ok(secret.reveal().as_bytes().to_vec()),
            Pem::Path(path) => std::fs::read(path)
                .map_err(|e| format!("cannot read {key} {}: {e}", path.display())),
        }
    }
}
