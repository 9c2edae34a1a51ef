//! `secrets`: granted secrets as resources, so the value crosses into the guest only when the
//! guest calls `reveal`.

use wasmtime::component::Resource;

use super::HostState;
use crate::bindings::secrets::{Host, HostSecret};
use crate::bindings::types::ConnectorError;
use crate::redact::SecretValue;

/// The host side of a guest's `secret` handle.
pub struct SecretHandle(SecretValue);

impl Host for HostState {
    fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, ConnectorError>> {
        if let Err(denied) = self.run.grants.secret(&name) {
            return Ok(Err(denied.into()));
        }
        // Granted secrets were all resolved before the guest started; a miss here is a host bug.
        let Some(value) = self.run.secrets.get(&name).cloned() else {
            return Err(wasmtime::format_err!(
                "granted secret `{name}` was not resolved before the run"
            ));
        };
        Ok(Ok(self.table.push(SecretHandle(value))?))
    }
}

impl HostSecret for HostState {
    fn reveal(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&handle)?.0.reveal().to_string())
    }

    fn drop(&mut self, handle: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
