//! `secrets`: granted secrets as resources, so the value crosses into the guest only when the
//! guest calls `reveal`.

use wasmtime::component::Resource;

use super::{HostState, WitResult};
use crate::bindings::secrets::{Host, HostSecret};
use crate::error::HostBug;
use crate::redact::SecretValue;

/// The host side of a guest's `secret` handle.
pub struct SecretHandle(SecretValue);

impl Host for HostState {
    fn get(&mut self, name: String) -> WitResult<Resource<SecretHandle>> {
        self.run.grants.secret(&name)?;
        // Granted secrets were all resolved before the guest started; a miss here is a host bug.
        let Some(value) = self.run.secrets.get(&name).cloned() else {
            return Err(HostBug(format!(
                "granted secret `{name}` was not resolved before the run"
            ))
            .into());
        };
        Ok(self.table.push(SecretHandle(value))?)
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
