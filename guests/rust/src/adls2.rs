//! ADLS Gen2 / Blob storage through clients the host holds. The guest names a connector
//! profile; the host holds the connection string, key, SAS or token.
//!
//! ```ignore
//! use aw_guest::adls2::{self, UploadOptions};
//! let lake = adls2::open(None)?;
//! lake.create_container("raw", true)?;
//! lake.upload("raw", "in/orders.csv", b"id,total\n1,9.5\n", &UploadOptions::new().content_type("text/csv"))?;
//! let mut w = lake.open_writer("raw", "in/big.bin", &UploadOptions::new())?;
//! w.write(&[0u8; 1 << 20])?;
//! w.finish()?;
//! for page in lake.list_paths("raw", Some("in"), true)? { for entry in page? { /* ... */ } }
//! ```

use crate::bindings::auto_workflow::connectors::adls2 as wit;
use crate::Result;

pub use wit::{ByteRange, ContainerInfo, PathInfo, PathProperties, UploadOptions};

/// Opens connector profile `profile` (`None`: the one named like the run profile).
pub fn open(profile: Option<&str>) -> Result<Client> {
    Ok(Client(wit::open(profile)?))
}

impl UploadOptions {
    /// No content type (application/octet-stream), no metadata, overwrite allowed.
    pub fn new() -> Self {
        UploadOptions {
            content_type: None,
            metadata: Vec::new(),
            overwrite: true,
        }
    }

    pub fn content_type(mut self, content_type: &str) -> Self {
        self.content_type = Some(content_type.to_string());
        self
    }

    /// Adds one metadata pair.
    pub fn meta(mut self, name: &str, value: &str) -> Self {
        self.metadata.push((name.to_string(), value.to_string()));
        self
    }

    /// `false`: fail with `conflict` if the path exists.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions::new()
    }
}

/// `length` bytes from `offset` (`None`: to the end).
pub fn range(offset: u64, length: Option<u64>) -> Option<ByteRange> {
    Some(ByteRange { offset, length })
}

/// An open ADLS client.
pub struct Client(wit::Client);

impl Client {
    /// True if created; false if it existed and `exist_ok`.
    pub fn create_container(&self, name: &str, exist_ok: bool) -> Result<bool> {
        Ok(self.0.create_container(name, exist_ok)?)
    }

    pub fn delete_container(&self, name: &str) -> Result<()> {
        Ok(self.0.delete_container(name)?)
    }

    pub fn list_containers(&self, prefix: Option<&str>) -> Result<Vec<ContainerInfo>> {
        Ok(self.0.list_containers(prefix)?)
    }

    pub fn make_dirs(&self, container: &str, path: &str, exist_ok: bool) -> Result<()> {
        Ok(self.0.make_dirs(container, path, exist_ok)?)
    }

    pub fn upload(
        &self,
        container: &str,
        path: &str,
        data: &[u8],
        options: &UploadOptions,
    ) -> Result<PathInfo> {
        Ok(self.0.upload(container, path, data, options)?)
    }

    /// A streamed upload; nothing is visible at the path until [`Writer::finish`].
    pub fn open_writer(
        &self,
        container: &str,
        path: &str,
        options: &UploadOptions,
    ) -> Result<Writer> {
        Ok(Writer(self.0.open_writer(container, path, options)?))
    }

    pub fn download(
        &self,
        container: &str,
        path: &str,
        range: Option<ByteRange>,
    ) -> Result<Vec<u8>> {
        Ok(self.0.download(container, path, range)?)
    }

    /// A streamed download in chunks of `chunk_size` (`None`: the profile's block size).
    pub fn open_reader(
        &self,
        container: &str,
        path: &str,
        range: Option<ByteRange>,
        chunk_size: Option<u32>,
    ) -> Result<Reader> {
        Ok(Reader(
            self.0.open_reader(container, path, range, chunk_size)?,
        ))
    }

    /// The entries under directory `prefix`, one page per iteration.
    pub fn list_paths(
        &self,
        container: &str,
        prefix: Option<&str>,
        recursive: bool,
    ) -> Result<Listing> {
        Ok(Listing(self.0.list_paths(container, prefix, recursive)?))
    }

    /// Every entry under `prefix`, all pages collected.
    pub fn list_all(
        &self,
        container: &str,
        prefix: Option<&str>,
        recursive: bool,
    ) -> Result<Vec<PathInfo>> {
        let mut all = Vec::new();
        for page in self.list_paths(container, prefix, recursive)? {
            all.extend(page?);
        }
        Ok(all)
    }

    pub fn exists(&self, container: &str, path: &str) -> Result<bool> {
        Ok(self.0.exists(container, path)?)
    }

    pub fn properties(&self, container: &str, path: &str) -> Result<PathProperties> {
        Ok(self.0.properties(container, path)?)
    }

    pub fn delete_path(&self, container: &str, path: &str, recursive: bool) -> Result<()> {
        Ok(self.0.delete_path(container, path, recursive)?)
    }

    pub fn rename(&self, container: &str, from: &str, to: &str, overwrite: bool) -> Result<()> {
        Ok(self.0.rename(container, from, to, overwrite)?)
    }
}

/// A streamed upload. Dropping it without [`finish`](Writer::finish) discards it.
pub struct Writer(wit::Writer);

impl Writer {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        Ok(self.0.write(data)?)
    }

    pub fn finish(self) -> Result<PathInfo> {
        Ok(self.0.finish()?)
    }

    pub fn abort(self) -> Result<()> {
        Ok(self.0.abort()?)
    }
}

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Writer::write(self, buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A streamed download: an iterator of chunks.
pub struct Reader(wit::Reader);

impl Reader {
    /// The next chunk; `None` at the end.
    pub fn read_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.0.read()?)
    }
}

impl Iterator for Reader {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_chunk().transpose()
    }
}

/// A paged listing: an iterator of pages.
pub struct Listing(wit::ListStream);

impl Iterator for Listing {
    type Item = Result<Vec<PathInfo>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map_err(Into::into).transpose()
    }
}
