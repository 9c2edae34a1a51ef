//! Secrets the run profile grants by name. The value stays on the host until [`Secret::reveal`].

use std::fmt;

use crate::bindings::auto_workflow::connectors::secrets as wit;
use crate::Result;

/// A granted secret. Its `Debug` prints `***`.
pub struct Secret(wit::Secret);

impl Secret {
    /// The secret's value. The host scrubs it from logs, errors and results, but treat it
    /// with care all the same.
    pub fn reveal(&self) -> String {
        self.0.reveal()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The secret `name`; a `denied` error unless the run profile lists it.
pub fn get(name: &str) -> Result<Secret> {
    Ok(Secret(wit::get(name)?))
}
