//! Host objects behind the WIT resources: the client, a streamed writer, a streamed reader
//! and a paged listing.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::dialect::{Chunk, Store, Upload};
use super::errors::Failure;
use super::Account;
use crate::bindings::adls2::PathInfo;
use crate::bindings::types::ErrorKind;
use crate::budget::Held;

/// An open client: the profile it was opened for and its account.
pub struct AdlsClient {
    pub profile: String,
    pub account: Arc<Account>,
}

/// A streamed upload: buffers up to one block and sends full blocks as they fill, one block
/// in flight while the guest produces the next (so host memory stays within about two
/// blocks, and the guest's work overlaps the network's).
pub struct AdlsWriter {
    stage: Stage,
    buffer: BytesMut,
    block_size: usize,
    what: String,
    /// Two blocks of the instance's budget (the one filling, the one in flight).
    _held: Held,
}

/// Where the upload is: ready, sending a block in the background, or over.
enum Stage {
    Idle(Box<dyn Upload>),
    Sending(tokio::task::JoinHandle<(Box<dyn Upload>, Result<(), Failure>)>),
    Over,
}

impl AdlsWriter {
    /// A writer over `upload`; `what` (container/path) names it in errors.
    pub fn new(upload: Box<dyn Upload>, block_size: usize, what: String, held: Held) -> AdlsWriter {
        AdlsWriter {
            stage: Stage::Idle(upload),
            buffer: BytesMut::new(),
            block_size,
            what,
            _held: held,
        }
    }

    /// Waits for the block in flight; the upload is then idle (or the error says why not).
    async fn settle(&mut self) -> Result<(), Failure> {
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Idle(upload) => {
                self.stage = Stage::Idle(upload);
                Ok(())
            }
            Stage::Sending(handle) => {
                let (upload, result) = handle.await.map_err(|e| {
                    Failure::new(
                        ErrorKind::Permanent,
                        format!("the upload of {} stopped: {e}", self.what),
                    )
                })?;
                self.stage = Stage::Idle(upload);
                result
            }
            Stage::Over => Err(Failure::new(
                ErrorKind::InvalidInput,
                format!(
                    "the writer of {} is finished, aborted or failed; open a new one",
                    self.what
                ),
            )),
        }
    }

    /// Sends `block` in the background once the previous one is through.
    async fn send(&mut self, block: Bytes) -> Result<(), Failure> {
        self.settle().await?;
        if let Stage::Idle(mut upload) = std::mem::replace(&mut self.stage, Stage::Over) {
            self.stage = Stage::Sending(tokio::spawn(async move {
                let result = upload.put_block(block).await;
                (upload, result)
            }));
        }
        Ok(())
    }

    async fn send_blocks(&mut self, data: Bytes) -> Result<(), Failure> {
        let size = self.block_size;
        for start in (0..data.len()).step_by(size) {
            self.send(data.slice(start..(start + size).min(data.len())))
                .await?;
        }
        Ok(())
    }

    /// Takes `data`, sending every full block; on failure the upload is abandoned (nothing
    /// becomes visible).
    pub async fn write(&mut self, data: Vec<u8>) -> Result<(), Failure> {
        if matches!(self.stage, Stage::Over) {
            return self.settle().await;
        }
        let outcome = if self.buffer.is_empty() && data.len() >= self.block_size {
            // A large write is cut into blocks without copying it.
            let data = Bytes::from(data);
            let full = data.len() - data.len() % self.block_size;
            let result = self.send_blocks(data.slice(..full)).await;
            self.buffer.extend_from_slice(&data[full..]);
            result
        } else {
            self.buffer.extend_from_slice(&data);
            let full = self.buffer.len() - self.buffer.len() % self.block_size;
            let blocks = self.buffer.split_to(full).freeze();
            self.send_blocks(blocks).await
        };
        if outcome.is_err() {
            self.abandon().await;
        }
        outcome
    }

    /// Sends the rest and commits.
    pub async fn finish(&mut self) -> Result<PathInfo, Failure> {
        let rest = self.buffer.split().freeze();
        let sent = match rest.is_empty() {
            true => self.settle().await,
            false => match self.send(rest).await {
                Ok(()) => self.settle().await,
                Err(f) => Err(f),
            },
        };
        if let Err(f) = sent {
            self.abandon().await;
            return Err(f);
        }
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Idle(upload) => upload.commit().await,
            _ => Err(Failure::new(
                ErrorKind::InvalidInput,
                format!("the writer of {} is finished", self.what),
            )),
        }
    }

    /// Drops the buffer and what was sent; later calls fail.
    pub async fn abort(&mut self) -> Result<(), Failure> {
        self.buffer = BytesMut::new();
        let _ = self.settle().await;
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Idle(upload) => upload.abort().await,
            _ => Ok(()),
        }
    }

    async fn abandon(&mut self) {
        if let Err(f) = self.abort().await {
            tracing::warn!(error = %f.error.message, "could not clean up a failed upload");
        }
    }
}

impl Drop for AdlsWriter {
    fn drop(&mut self) {
        // Dropped unfinished (guest dropped it, trapped or timed out): discard off the guest's path.
        let stage = std::mem::replace(&mut self.stage, Stage::Over);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let upload = async move {
            match stage {
                Stage::Idle(upload) => Some(upload),
                Stage::Sending(sending) => sending.await.ok().map(|(upload, _)| upload),
                Stage::Over => None,
            }
        };
        handle.spawn(async move {
            if let Some(upload) = upload.await {
                if let Err(f) = upload.abort().await {
                    tracing::warn!(error = %f.error.message, "could not clean up an abandoned upload");
                }
            }
        });
    }
}

/// A streamed download: one ranged GET per chunk, pinned to the first response's ETag, with
/// the next chunk fetched while the guest works on the current one (host memory: about two
/// chunks).
pub struct AdlsReader {
    store: Arc<dyn Store>,
    container: String,
    path: String,
    /// Where the next chunk to fetch starts.
    offset: u64,
    /// Exclusive end; learned from the first response when the range is open.
    end: Option<u64>,
    etag: Option<String>,
    chunk: u64,
    done: bool,
    ahead: Option<tokio::task::JoinHandle<Result<Chunk, Failure>>>,
    /// Two chunks of the instance's budget (the one read ahead, the one handed over).
    _held: Held,
}

impl AdlsReader {
    /// A reader of `offset..end` (to the file's end if `end` is none) in `chunk`-byte pieces.
    pub fn new(
        store: Arc<dyn Store>,
        container: String,
        path: String,
        offset: u64,
        end: Option<u64>,
        chunk: u64,
        held: Held,
    ) -> AdlsReader {
        AdlsReader {
            store,
            container,
            path,
            offset,
            end,
            etag: None,
            chunk,
            done: false,
            ahead: None,
            _held: held,
        }
    }

    /// Bytes wanted from `offset` now (0 = nothing left).
    fn want(&self) -> u64 {
        match self.end {
            Some(end) => self.chunk.min(end.saturating_sub(self.offset)),
            None => self.chunk,
        }
    }

    fn fetch(
        &self,
        want: u64,
    ) -> impl std::future::Future<Output = Result<Chunk, Failure>> + Send + 'static {
        let (store, container, path, offset, etag) = (
            self.store.clone(),
            self.container.clone(),
            self.path.clone(),
            self.offset,
            self.etag.clone(),
        );
        async move {
            store
                .read(&container, &path, offset, Some(want), etag.as_deref())
                .await
        }
    }

    /// The next chunk, or none at the end of the file or range.
    pub async fn read(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        let fetched = match self.ahead.take() {
            Some(handle) => handle.await.map_err(|e| {
                Failure::new(
                    ErrorKind::Permanent,
                    format!(
                        "the download of {}/{} stopped: {e}",
                        self.container, self.path
                    ),
                )
            })?,
            None => {
                let want = self.want();
                if self.done || want == 0 {
                    self.done = true;
                    return Ok(None);
                }
                self.fetch(want).await
            }
        };
        let chunk = fetched.map_err(|f| {
            self.done = true;
            if f.is_status(412) {
                Failure::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}/{} changed while it was being read; start the read again",
                        self.container, self.path
                    ),
                )
            } else {
                f
            }
        })?;
        if self.etag.is_none() {
            self.etag = chunk.etag;
        }
        self.end = Some(self.end.map_or(chunk.total, |e| e.min(chunk.total)));
        if chunk.data.is_empty() {
            self.done = true;
            return Ok(None);
        }
        self.offset += chunk.data.len() as u64;
        let want = self.want();
        if want > 0 {
            self.ahead = Some(tokio::spawn(self.fetch(want)));
        } else {
            self.done = true;
        }
        Ok(Some(Vec::from(chunk.data)))
    }
}

impl Drop for AdlsReader {
    fn drop(&mut self) {
        if let Some(ahead) = self.ahead.take() {
            ahead.abort();
        }
    }
}

/// A listing, fetched one service page per `next`.
pub struct AdlsListStream {
    pub store: Arc<dyn Store>,
    pub container: String,
    pub dir: String,
    pub recursive: bool,
    pub page_size: u32,
    pub next: Option<String>,
    pub done: bool,
    /// Directories already returned: a marker blob and its name prefix are one directory.
    pub seen_dirs: HashSet<String>,
}

impl AdlsListStream {
    /// The next non-empty page, or none after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<PathInfo>>, Failure> {
        while !self.done {
            let page = self
                .store
                .list_page(
                    &self.container,
                    &self.dir,
                    self.recursive,
                    self.page_size,
                    self.next.take(),
                )
                .await?;
            self.next = page.next;
            self.done = self.next.is_none();
            let entries: Vec<PathInfo> = page
                .entries
                .into_iter()
                .filter(|e| !is_upload_in_progress(&e.name))
                .filter(|e| !e.is_directory || self.seen_dirs.insert(e.name.clone()))
                .collect();
            if !entries.is_empty() {
                return Ok(Some(entries));
            }
        }
        Ok(None)
    }
}

/// The hidden sibling a `dfs` upload writes before its rename (`.<name>.aw-upload-<hex16>`).
fn is_upload_in_progress(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with('.')
        && name
            .rsplit_once(".aw-upload-")
            .is_some_and(|(_, t)| t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn in_progress_uploads_are_recognised_by_their_whole_pattern() {
        assert!(super::is_upload_in_progress(
            "a/.x.csv.aw-upload-0123456789abcdef"
        ));
        assert!(!super::is_upload_in_progress(
            "a/x.csv.aw-upload-0123456789abcdef"
        ));
        assert!(!super::is_upload_in_progress("a/.x.aw-upload-12"));
    }
}
