//! The WIT `adls2` interface: grant check at `open`, then per call: container name and path
//! made canonical, the path checked against the run profile's scope (grants.rs), and the work
//! handed to the account's dialect.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::Resource;

use super::errors::Failure;
use super::resources::{AdlsClient, AdlsListStream, AdlsReader, AdlsWriter};
use crate::bindings::adls2::{
    ByteRange, ContainerInfo, Host, HostClient, HostListStream, HostReader, HostWriter, PathInfo,
    PathProperties, UploadOptions,
};
use crate::bindings::types::{ConnectorError, ErrorKind};
use crate::grants::paths;
use crate::grants::Access;
use crate::host::{HostState, WitResult};

/// A canonical (container, path) the run may access.
struct Target {
    container: String,
    path: String,
}

impl HostState {
    /// Checks the container name and path and the grant; `root_ok` allows the container root.
    fn adls_target(
        &self,
        r: &Resource<AdlsClient>,
        container: &str,
        path: &str,
        access: Access,
        root_ok: bool,
    ) -> WitResult<(Arc<super::Account>, Target)> {
        let client = self.table.get(r)?;
        let container = paths::container(container)?;
        let path = if root_ok {
            paths::normalize(path)?
        } else {
            paths::non_root(path)?
        };
        self.run
            .grants
            .adls2_path(&client.profile, &container, &path, access)?;
        Ok((client.account.clone(), Target { container, path }))
    }

    /// The count of `t`'s parents outside the write grant, once the write is known not to
    /// create a directory there (see [`check_parents`]).
    async fn outside(
        &mut self,
        r: &Resource<AdlsClient>,
        account: &super::Account,
        t: &Target,
    ) -> WitResult<usize> {
        let (outside, profile) = self.outside_parents(r, t)?;
        check_parents(account, t, outside, &profile).await?;
        Ok(outside)
    }
}

impl HostState {
    /// How many of `t`'s ancestors lie outside the write grant (a leading run: grants are
    /// prefixes), and the profile's name. Those are never created: the blob dialect skips
    /// their directory markers, and where the service creates missing parents itself (DFS)
    /// the deepest of them must exist already (see [`check_parents`]).
    fn outside_parents(
        &self,
        r: &Resource<AdlsClient>,
        t: &Target,
    ) -> wasmtime::Result<(usize, String)> {
        let profile = self.table.get(r)?.profile.clone();
        let outside = paths::ancestors(&t.path)
            .iter()
            .take_while(|a| {
                self.run
                    .grants
                    .adls2_path(&profile, &t.container, a, Access::Write)
                    .is_err()
            })
            .count();
        Ok((outside, profile))
    }
}

/// Denies a write for which the service would create a directory outside the grant.
async fn check_parents(
    account: &super::Account,
    t: &Target,
    outside: usize,
    profile: &str,
) -> Result<(), ConnectorError> {
    if outside == 0 || !account.store.creates_parents() {
        return Ok(());
    }
    let deepest = paths::ancestors(&t.path)[outside - 1];
    match account.store.exists(&t.container, deepest).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ConnectorError::from(crate::grants::Denied(format!(
            "writing {c}/{p} would create directory {c}/{deepest}, outside the write grant of adls2 profile `{profile}`: create it with a profile that may, or widen the grant",
            c = t.container,
            p = t.path
        )))),
        Err(f) => Err(f.into()),
    }
}

/// A download longer than what may be handed to the guest at once.
fn too_big(what: &str, cap: u64) -> ConnectorError {
    Failure::new(
        ErrorKind::Limit,
        format!("{what} is longer than the {cap} bytes it may return at once (the smaller of max_download and what the task's memory budget has left); read it with open-reader or in ranges"),
    )
    .into()
}

impl Host for HostState {
    async fn open(&mut self, profile: Option<String>) -> WitResult<Resource<AdlsClient>> {
        let name = profile
            .unwrap_or_else(|| self.run.grants.profile().to_string())
            .to_lowercase();
        self.run.grants.connector("adls2", &name)?;
        let account = self.run.adls2.get(&name).await?;
        Ok(self.table.push(AdlsClient {
            profile: name,
            account,
        })?)
    }
}

impl HostClient for HostState {
    async fn create_container(
        &mut self,
        r: Resource<AdlsClient>,
        name: String,
        exist_ok: bool,
    ) -> WitResult<bool> {
        let (account, t) = self.adls_target(&r, &name, "", Access::Write, true)?;
        let created = account.store.create_container(&t.container).await?;
        if !created && !exist_ok {
            return Err(Failure::new(
                ErrorKind::Conflict,
                format!(
                    "container {} already exists (pass exist-ok to accept that)",
                    t.container
                ),
            )
            .into());
        }
        Ok(created)
    }

    async fn delete_container(&mut self, r: Resource<AdlsClient>, name: String) -> WitResult<()> {
        let (account, t) = self.adls_target(&r, &name, "", Access::Write, true)?;
        Ok(account.store.delete_container(&t.container).await?)
    }

    async fn list_containers(
        &mut self,
        r: Resource<AdlsClient>,
        prefix: Option<String>,
    ) -> WitResult<Vec<ContainerInfo>> {
        let client = self.table.get(&r)?;
        let (account, profile) = (client.account.clone(), client.profile.clone());
        let listed = account.store.list_containers(prefix.as_deref()).await?;
        Ok(listed
            .into_iter()
            .filter(|c| self.run.grants.adls2_container_visible(&profile, &c.name))
            .collect())
    }

    async fn make_dirs(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
        exist_ok: bool,
    ) -> WitResult<()> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Write, false)?;
        let outside = self.outside(&r, &account, &t).await?;
        Ok(account
            .store
            .make_dirs(&t.container, &t.path, exist_ok, outside)
            .await?)
    }

    async fn upload(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
        data: Vec<u8>,
        options: UploadOptions,
    ) -> WitResult<PathInfo> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Write, false)?;
        self.outside(&r, &account, &t).await?;
        Ok(account
            .store
            .upload(&t.container, &t.path, Bytes::from(data), options)
            .await?)
    }

    async fn open_writer(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
        options: UploadOptions,
    ) -> WitResult<Resource<AdlsWriter>> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Write, false)?;
        self.outside(&r, &account, &t).await?;
        let what = format!("{}/{}", t.container, t.path);
        let block = account.settings.block_size as u64;
        let held = self.budget.reserve(
            block.saturating_mul(2),
            &format!("the writer of {what} (two blocks of block_size)"),
        )?;
        let upload = account
            .store
            .begin_upload(&t.container, &t.path, options)
            .await?;
        let writer = AdlsWriter::new(upload, account.settings.block_size, what, held);
        Ok(self.table.push(writer)?)
    }

    async fn download(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
        range: Option<ByteRange>,
    ) -> WitResult<Vec<u8>> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Read, false)?;
        let (offset, length) = range.map(|r| (r.offset, r.length)).unwrap_or((0, None));
        // The whole download is handed to the guest at once: no more than the budget has left
        // (never more than the guest's memory) is read, and a longer file is refused.
        let room = self.budget.limit().saturating_sub(self.budget.used());
        let cap = account.settings.max_download.min(room);
        let what = format!("the download of {}/{}", t.container, t.path);
        if length.is_some_and(|l| l > cap) {
            return Err(too_big(&what, cap).into());
        }
        let chunk = account
            .store
            .read(
                &t.container,
                &t.path,
                offset,
                Some(length.unwrap_or(cap)),
                None,
            )
            .await?;
        if length.is_none() && chunk.total > offset.saturating_add(cap) {
            return Err(too_big(&what, cap).into());
        }
        let _held = self.budget.reserve(chunk.data.len() as u64, &what)?;
        Ok(Vec::from(chunk.data))
    }

    async fn open_reader(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
        range: Option<ByteRange>,
        chunk_size: Option<u32>,
    ) -> WitResult<Resource<AdlsReader>> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Read, false)?;
        let max = account.settings.max_download;
        if chunk_size.is_some_and(|c| c == 0 || u64::from(c) > max) {
            return Err(Failure::new(
                ErrorKind::InvalidInput,
                format!("chunk-size must be between 1 byte and the profile's max_download ({max})"),
            )
            .into());
        }
        let (offset, length) = range.map(|r| (r.offset, r.length)).unwrap_or((0, None));
        let chunk = chunk_size.map_or(account.settings.block_size as u64, u64::from);
        let held = self.budget.reserve(
            chunk.saturating_mul(2),
            &format!(
                "the reader of {}/{} (two chunks of chunk-size)",
                t.container, t.path
            ),
        )?;
        let reader = AdlsReader::new(
            account.store.clone(),
            t.container,
            t.path,
            offset,
            length.map(|l| offset.saturating_add(l)),
            chunk,
            held,
        );
        Ok(self.table.push(reader)?)
    }

    async fn list_paths(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        prefix: Option<String>,
        recursive: bool,
    ) -> WitResult<Resource<AdlsListStream>> {
        let (account, t) = self.adls_target(
            &r,
            &container,
            &prefix.unwrap_or_default(),
            Access::Read,
            true,
        )?;
        let stream = AdlsListStream {
            store: account.store.clone(),
            container: t.container,
            dir: t.path,
            recursive,
            page_size: account.settings.page_size,
            next: None,
            done: false,
            seen_dirs: HashSet::new(),
        };
        Ok(self.table.push(stream)?)
    }

    async fn exists(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
    ) -> WitResult<bool> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Read, false)?;
        Ok(account.store.exists(&t.container, &t.path).await?)
    }

    async fn properties(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
    ) -> WitResult<PathProperties> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Read, false)?;
        Ok(account.store.properties(&t.container, &t.path).await?)
    }

    async fn delete_path(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        path: String,
        recursive: bool,
    ) -> WitResult<()> {
        let (account, t) = self.adls_target(&r, &container, &path, Access::Write, false)?;
        Ok(account
            .store
            .delete_path(&t.container, &t.path, recursive)
            .await?)
    }

    async fn rename(
        &mut self,
        r: Resource<AdlsClient>,
        container: String,
        from: String,
        to: String,
        overwrite: bool,
    ) -> WitResult<()> {
        let (account, source) = self.adls_target(&r, &container, &from, Access::Write, false)?;
        let (_, dest) = self.adls_target(&r, &container, &to, Access::Write, false)?;
        self.outside(&r, &account, &dest).await?;
        if paths::is_within(&dest.path, &source.path) {
            return Err(Failure::new(
                ErrorKind::InvalidInput,
                format!(
                    "cannot rename {} to {}: the target is the source or inside it",
                    source.path, dest.path
                ),
            )
            .into());
        }
        Ok(account
            .store
            .rename(&source.container, &source.path, &dest.path, overwrite)
            .await?)
    }

    async fn drop(&mut self, r: Resource<AdlsClient>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl HostWriter for HostState {
    async fn write(&mut self, r: Resource<AdlsWriter>, data: Vec<u8>) -> WitResult<()> {
        Ok(self.table.get_mut(&r)?.write(data).await?)
    }

    async fn finish(&mut self, r: Resource<AdlsWriter>) -> WitResult<PathInfo> {
        Ok(self.table.get_mut(&r)?.finish().await?)
    }

    async fn abort(&mut self, r: Resource<AdlsWriter>) -> WitResult<()> {
        Ok(self.table.get_mut(&r)?.abort().await?)
    }

    async fn drop(&mut self, r: Resource<AdlsWriter>) -> wasmtime::Result<()> {
        let mut writer = self.table.delete(r)?;
        // Unfinished: discard now, so the guest's next call sees a clean store.
        if let Err(f) = writer.abort().await {
            tracing::warn!(error = %f.error.message, "could not discard an unfinished upload");
        }
        Ok(())
    }
}

impl HostReader for HostState {
    async fn read(&mut self, r: Resource<AdlsReader>) -> WitResult<Option<Vec<u8>>> {
        Ok(self.table.get_mut(&r)?.read().await?)
    }

    async fn drop(&mut self, r: Resource<AdlsReader>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl HostListStream for HostState {
    async fn next(&mut self, r: Resource<AdlsListStream>) -> WitResult<Option<Vec<PathInfo>>> {
        Ok(self.table.get_mut(&r)?.next().await?)
    }

    async fn drop(&mut self, r: Resource<AdlsListStream>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}
