//! `config`: the values of `[profiles.<name>.config]`, and nothing else.

use super::HostState;
use crate::bindings::config::Host;
use crate::bindings::types::ConnectorError;

impl Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<String, ConnectorError>> {
        Ok(self
            .run
            .grants
            .config_value(&key)
            .map(str::to_string)
            .map_err(ConnectorError::from))
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
