//! Config values the run profile exposes (`[profiles.<name>.config]`).

use crate::bindings::auto_workflow::connectors::config as wit;
use crate::{ErrorKind, Result};

/// The value of `key`; a `denied` error when the run profile does not expose it.
pub fn get(key: &str) -> Result<String> {
    Ok(wit::get(key)?)
}

/// The value of `key`, or `None` when the run profile does not expose it.
pub fn try_get(key: &str) -> Result<Option<String>> {
    match wit::get(key) {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind == ErrorKind::Denied => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every exposed key and value, sorted by key.
pub fn get_all() -> Vec<(String, String)> {
    wit::get_all()
}
