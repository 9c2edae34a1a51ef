//! The blob dialect's uploads: Put Block for each block, then Put Block List, which commits
//! the blob atomically (uncommitted blocks are never visible); and the headers and answer of
//! an upload's final request, shared with the one-request Put Blob.

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use reqwest::{Method, Url};

use crate::bindings::adls2::{PathInfo, UploadOptions};
use crate::host::adls2::dialect::{exists_conflict, info_from_headers, Upload};
use crate::host::adls2::errors::Failure;
use crate::host::adls2::rest::{Call, Reply, Rest};

/// Put Block + Put Block List: uncommitted blocks are invisible, the list commits atomically.
pub(super) struct BlockUpload {
    pub(super) rest: Arc<Rest>,
    pub(super) url: Url,
    pub(super) container: String,
    pub(super) path: String,
    pub(super) options: UploadOptions,
    /// Makes block ids unique to this upload, so two writers never mix blocks.
    pub(super) session: String,
    pub(super) blocks: Vec<String>,
    pub(super) size: u64,
}

#[async_trait]
impl Upload for BlockUpload {
    async fn put_block(&mut self, data: Bytes) -> Result<(), Failure> {
        // Block ids must have one length within a blob: fixed-width numbering.
        let id = BASE64.encode(format!("{}-{:08}", self.session, self.blocks.len()));
        let len = data.len() as u64;
        let call = Call::new(
            Method::PUT,
            self.url.clone(),
            format!(
                "upload block {} of {}/{}",
                self.blocks.len(),
                self.container,
                self.path
            ),
        )
        .query("comp", "block")
        .query("blockid", &id)
        .body(data);
        self.rest.send(call).await?;
        self.blocks.push(id);
        self.size += len;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<PathInfo, Failure> {
        let mut list = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &self.blocks {
            list.push_str("<Latest>");
            list.push_str(id);
            list.push_str("</Latest>");
        }
        list.push_str("</BlockList>");
        let call = Call::new(
            Method::PUT,
            self.url.clone(),
            format!("commit {}/{}", self.container, self.path),
        )
        .query("comp", "blocklist")
        .body(Bytes::from(list));
        let reply = self
            .rest
            .send(content_headers(call, &self.options))
            .await
            .map_err(|f| exists_conflict(&self.container, &self.path, f))?;
        Ok(committed(&self.path, &reply, self.size, &self.options))
    }

    async fn abort(self: Box<Self>) -> Result<(), Failure> {
        // Uncommitted blocks are never visible and the service discards them after a week.
        Ok(())
    }
}

/// Content type and metadata headers of an upload's final request.
pub(super) fn content_headers(mut call: Call, options: &UploadOptions) -> Call {
    call = call.header(
        "x-ms-blob-content-type",
        options
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    for (name, value) in &options.metadata {
        call = call.header(&format!("x-ms-meta-{name}"), value);
    }
    if !options.overwrite {
        call = call.header("if-none-match", "*");
    }
    call
}

pub(super) fn committed(path: &str, reply: &Reply, size: u64, options: &UploadOptions) -> PathInfo {
    let mut info = info_from_headers(path, &reply.headers, false);
    info.size = size;
    info.content_type = Some(
        options
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
    );
    info
}
