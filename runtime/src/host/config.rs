//! `config`: the values of `[profiles.<name>.config]`, and nothing else.

use super::{HostState, WitResult};
use crate::bindings::config::Host;

impl Host for HostState {
    fn get(&mut self, key: String) -> WitResult<String> {
        Ok(self.run.grants.config_value(&key)?.to_string())
    }

    fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .run
            .grants
            .config_values()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
