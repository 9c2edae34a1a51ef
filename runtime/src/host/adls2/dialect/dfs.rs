//! The `dfs` dialect: the Data Lake Storage Gen2 REST API of hierarchical-namespace
//! accounts (file systems, real directories, atomic rename, server-side recursive delete,
//! paths listing with continuation tokens).
//!
//! Streamed uploads go to a hidden sibling (`.<name>.aw-upload-<token>`) by Create + Append +
//! Flush and are renamed onto the path at `finish`, so the path shows nothing until then and
//! the replacement is atomic; `overwrite=false` is the rename's `If-None-Match: *`. A killed
//! run leaves its sibling behind; the next upload to the same path removes the siblings older
//! than the profile's `stale_upload_after`, in the background.

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::Value as Json;

use super::{
    check_metadata, exists_conflict, info_from_headers, ranged_read, rename_source, rfc3339, token,
    url_of, Chunk, Page, Store, Upload,
};
use crate::bindings::adls2::{ContainerInfo, PathInfo, PathProperties, UploadOptions};
use crate::bindings::types::ErrorKind;
use crate::host::adls2::errors::Failure;
use crate::host::adls2::rest::{Call, Reply, Rest};

/// An account's DFS endpoint.
#[derive(Clone)]
pub struct DfsStore {
    rest: Arc<Rest>,
    base: Url,
    stale_upload_after: std::time::Duration,
}

impl DfsStore {
    /// The store at DFS endpoint `base`.
    pub fn new(rest: Arc<Rest>, base: Url, stale_upload_after: std::time::Duration) -> DfsStore {
        DfsStore {
            rest,
            base,
            stale_upload_after,
        }
    }

    /// Removes the hidden siblings of `path` that killed uploads left (older than
    /// `stale_upload_after`; `own` is the running upload's), beside the upload: it is awaited
    /// when the upload ends, and a failure only logs.
    fn sweep_stale_uploads(
        &self,
        container: &str,
        path: &str,
        own: &str,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (store, container, own) = (self.clone(), container.to_string(), own.to_string());
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (dir.to_string(), name),
            None => (String::new(), path),
        };
        // Listing names are full paths from the file system's root.
        let prefix = if dir.is_empty() {
            format!(".{name}.aw-upload-")
        } else {
            format!("{dir}/.{name}.aw-upload-")
        };
        Some(runtime.spawn(async move {
            let Ok(page) = store.list_page(&container, &dir, false, 5000, None).await else { return };
            let now = chrono::Utc::now();
            for entry in page.entries {
                let age = entry
                    .last_modified
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .and_then(|t| (now - t.with_timezone(&chrono::Utc)).to_std().ok());
                let stale = age.is_some_and(|a| a >= store.stale_upload_after);
                if entry.is_directory || entry.name == own || !entry.name.starts_with(&prefix) || !stale {
                    continue;
                }
                match store.delete(&container, &entry.name, false).await {
                    Ok(()) => tracing::info!(path = %format!("{container}/{}", entry.name), "removed a killed upload's leftover sibling"),
                    Err(f) => tracing::debug!("cannot remove a stale upload sibling: {}", f.error.message),
                }
            }
        }))
    }

    fn path_call(&self, method: Method, container: &str, path: &str, what: String) -> Call {
        Call::new(method, url_of(&self.base, container, path), what)
    }

    async fn head(&self, container: &str, path: &str) -> Result<Reply, Failure> {
        self.rest
            .send(self.path_call(
                Method::HEAD,
                container,
                path,
                format!("properties of {container}/{path}"),
            ))
            .await
    }

    async fn delete(&self, container: &str, path: &str, recursive: bool) -> Result<(), Failure> {
        let mut continuation: Option<String> = None;
        loop {
            let mut call = self
                .path_call(
                    Method::DELETE,
                    container,
                    path,
                    format!("delete {container}/{path}"),
                )
                .query("recursive", if recursive { "true" } else { "false" });
            if let Some(c) = &continuation {
                call = call.query("continuation", c);
            }
            let reply = self.rest.send(call).await?;
            // Large directories are deleted in steps; the service says where to go on.
            match reply.header("x-ms-continuation").filter(|c| !c.is_empty()) {
                Some(c) => continuation = Some(c.to_string()),
                None => return Ok(()),
            }
        }
    }
}

fn json(body: &[u8]) -> Result<Json, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        Failure::new(
            ErrorKind::Permanent,
            format!("malformed JSON from the service: {e}"),
        )
    })
}

/// `x-ms-properties`: `name=base64(value)` pairs separated by commas.
fn encode_properties(metadata: &[(String, String)]) -> String {
    metadata
        .iter()
        .map(|(k, v)| format!("{k}={}", BASE64.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_properties(headers: &HeaderMap) -> Vec<(String, String)> {
    let Some(text) = headers.get("x-ms-properties").and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = text
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let value = BASE64.decode(v.trim()).ok()?;
            Some((
                k.trim().to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// A JSON field the service sends as a string ("true", "123") or as the value itself.
fn field<'a>(entry: &'a Json, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    match &entry[name] {
        Json::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Json::Null => None,
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}

#[async_trait]
impl Store for DfsStore {
    async fn create_container(&self, name: &str) -> Result<bool, Failure> {
        let call = Call::new(
            Method::PUT,
            url_of(&self.base, name, ""),
            format!("create file system {name}"),
        )
        .query("resource", "filesystem");
        match self.rest.send(call).await {
            Ok(_) => Ok(true),
            Err(f)
                if matches!(
                    f.code(),
                    "FilesystemAlreadyExists" | "ContainerAlreadyExists"
                ) =>
            {
                Ok(false)
            }
            Err(f) => Err(f),
        }
    }

    async fn delete_container(&self, name: &str) -> Result<(), Failure> {
        let call = Call::new(
            Method::DELETE,
            url_of(&self.base, name, ""),
            format!("delete file system {name}"),
        )
        .query("resource", "filesystem");
        self.rest.send(call).await.map(drop)
    }

    async fn list_containers(&self, prefix: Option<&str>) -> Result<Vec<ContainerInfo>, Failure> {
        let mut out = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let mut call = Call::new(Method::GET, self.base.clone(), "list file systems")
                .query("resource", "account");
            if let Some(p) = prefix.filter(|p| !p.is_empty()) {
                call = call.query("prefix", p);
            }
            if let Some(c) = &continuation {
                call = call.query("continuation", c);
            }
            let reply = self.rest.send(call).await?;
            let body = json(&reply.body)?;
            for fs in body["filesystems"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                out.push(ContainerInfo {
                    name: field(fs, "name").unwrap_or_default().into_owned(),
                    last_modified: field(fs, "lastModified").map(|t| rfc3339(&t)),
                    etag: field(fs, "etag").map(|e| e.into_owned()),
                });
            }
            match reply.header("x-ms-continuation").filter(|c| !c.is_empty()) {
                Some(c) => continuation = Some(c.to_string()),
                None => return Ok(out),
            }
        }
    }

    fn creates_parents(&self) -> bool {
        true
    }

    async fn make_dirs(
        &self,
        container: &str,
        path: &str,
        exist_ok: bool,
        _outside: usize,
    ) -> Result<(), Failure> {
        // The service creates missing parents itself (the host checked those outside the
        // grant exist).
        let mut call = self
            .path_call(
                Method::PUT,
                container,
                path,
                format!("make directory {container}/{path}"),
            )
            .query("resource", "directory");
        if !exist_ok {
            call = call.header("if-none-match", "*");
        }
        match self.rest.send(call).await {
            Ok(_) => Ok(()),
            Err(f) if f.is_status(409) || f.is_status(412) => {
                let head = self.head(container, path).await?;
                if head.header("x-ms-resource-type") == Some("file") {
                    Err(Failure::new(
                        ErrorKind::Conflict,
                        format!("{container}/{path} is a file, so it cannot be a directory"),
                    ))
                } else if exist_ok {
                    Ok(())
                } else {
                    Err(Failure::new(ErrorKind::Conflict, format!("directory {container}/{path} already exists (pass exist-ok to accept that)")))
                }
            }
            Err(f) => Err(f),
        }
    }

    async fn begin_upload(
        &self,
        container: &str,
        path: &str,
        options: UploadOptions,
    ) -> Result<Box<dyn Upload>, Failure> {
        check_metadata(&options.metadata)?;
        let (parent, name) = path
            .rsplit_once('/')
            .map(|(p, n)| (format!("{p}/"), n))
            .unwrap_or((String::new(), path));
        let temp = format!("{parent}.{name}.aw-upload-{}", token());
        let mut call = self
            .path_call(
                Method::PUT,
                container,
                &temp,
                format!("start upload of {container}/{path}"),
            )
            .query("resource", "file");
        if !options.metadata.is_empty() {
            call = call.header("x-ms-properties", encode_properties(&options.metadata));
        }
        self.rest.send(call).await?;
        let sweep = self.sweep_stale_uploads(container, path, &temp);
        Ok(Box::new(DfsUpload {
            sweep,
            rest: self.rest.clone(),
            base: self.base.clone(),
            container: container.to_string(),
            path: path.to_string(),
            temp,
            options,
            position: 0,
        }))
    }

    async fn upload(
        &self,
        container: &str,
        path: &str,
        data: Bytes,
        options: UploadOptions,
    ) -> Result<PathInfo, Failure> {
        let mut upload = self.begin_upload(container, path, options).await?;
        if !data.is_empty() {
            upload.put_block(data).await?;
        }
        upload.commit().await
    }

    async fn read(
        &self,
        container: &str,
        path: &str,
        offset: u64,
        length: Option<u64>,
        if_match: Option<&str>,
    ) -> Result<Chunk, Failure> {
        let get = self.path_call(
            Method::GET,
            container,
            path,
            format!("download {container}/{path}"),
        );
        ranged_read(
            &self.rest,
            get,
            offset,
            length,
            if_match,
            &format!("{container}/{path}"),
            || self.head(container, path),
        )
        .await
    }

    async fn list_page(
        &self,
        container: &str,
        dir: &str,
        recursive: bool,
        page_size: u32,
        next: Option<String>,
    ) -> Result<Page, Failure> {
        let mut call = Call::new(
            Method::GET,
            url_of(&self.base, container, ""),
            format!("list {container}/{dir}"),
        )
        .query("resource", "filesystem")
        .query("recursive", if recursive { "true" } else { "false" })
        .query("maxResults", &page_size.to_string());
        if !dir.is_empty() {
            call = call.query("directory", dir);
        }
        if let Some(c) = &next {
            call = call.query("continuation", c);
        }
        let reply = self.rest.send(call).await?;
        let body = json(&reply.body)?;
        let entries = body["paths"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let is_directory =
                    field(p, "isDirectory").is_some_and(|v| v.eq_ignore_ascii_case("true"));
                PathInfo {
                    name: field(p, "name").unwrap_or_default().into_owned(),
                    is_directory,
                    size: if is_directory {
                        0
                    } else {
                        field(p, "contentLength")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0)
                    },
                    last_modified: field(p, "lastModified").map(|t| rfc3339(&t)),
                    etag: field(p, "etag").map(|e| e.into_owned()),
                    content_type: None,
                }
            })
            .collect();
        let next = reply
            .header("x-ms-continuation")
            .filter(|c| !c.is_empty())
            .map(String::from);
        Ok(Page { entries, next })
    }

    async fn properties(&self, container: &str, path: &str) -> Result<PathProperties, Failure> {
        let reply = self.head(container, path).await?;
        let dir = reply.header("x-ms-resource-type") == Some("directory");
        Ok(PathProperties {
            info: info_from_headers(path, &reply.headers, dir),
            metadata: decode_properties(&reply.headers),
        })
    }

    async fn delete_path(
        &self,
        container: &str,
        path: &str,
        recursive: bool,
    ) -> Result<(), Failure> {
        self.delete(container, path, recursive).await.map_err(|f| match f.code() {
            "DirectoryNotEmpty" => Failure {
                status: f.status,
                error: crate::bindings::types::ConnectorError {
                    message: format!("directory {container}/{path} is not empty (pass recursive to delete it with its contents)"),
                    ..f.error
                },
            },
            _ => f,
        })
    }

    async fn rename(
        &self,
        container: &str,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<(), Failure> {
        // The service requires the destination's parent directory to exist.
        if let Some((parent, _)) = to.rsplit_once('/') {
            self.make_dirs(container, parent, true, 0).await?;
        }
        rename(&self.rest, &self.base, container, from, to, overwrite)
            .await
            .map(drop)
    }
}

/// Path - Create with `x-ms-rename-source`: one atomic step on the service.
async fn rename(
    rest: &Rest,
    base: &Url,
    container: &str,
    from: &str,
    to: &str,
    overwrite: bool,
) -> Result<Reply, Failure> {
    let mut call = Call::new(
        Method::PUT,
        url_of(base, container, to),
        format!("rename {container}/{from} to {to}"),
    )
    .query("mode", "legacy")
    .header("x-ms-rename-source", rename_source(container, from));
    if !overwrite {
        call = call.header("if-none-match", "*");
    }
    // Other 409s (a non-empty directory in the way) keep the service's own message.
    rest.send(call).await.map_err(|f| {
        if f.code() == "PathAlreadyExists" || f.is_status(412) {
            exists_conflict(container, to, f)
        } else {
            f
        }
    })
}

/// Create (hidden) + Append + Flush, then rename onto the path.
struct DfsUpload {
    rest: Arc<Rest>,
    base: Url,
    container: String,
    path: String,
    temp: String,
    options: UploadOptions,
    position: u64,
    /// The removal of stale siblings, running beside the upload.
    sweep: Option<tokio::task::JoinHandle<()>>,
}

impl DfsUpload {
    async fn sweep_done(&mut self) {
        if let Some(sweep) = self.sweep.take() {
            let _ = sweep.await;
        }
    }

    async fn discard(&self) -> Result<(), Failure> {
        let call = Call::new(
            Method::DELETE,
            url_of(&self.base, &self.container, &self.temp),
            format!("discard upload of {}/{}", self.container, self.path),
        );
        match self.rest.send(call).await {
            Err(f) if !f.is_status(404) => Err(f),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Upload for DfsUpload {
    async fn put_block(&mut self, data: Bytes) -> Result<(), Failure> {
        let len = data.len() as u64;
        let call = Call::new(
            Method::PATCH,
            url_of(&self.base, &self.container, &self.temp),
            format!("append to {}/{}", self.container, self.path),
        )
        .query("action", "append")
        .query("position", &self.position.to_string())
        .body(data);
        self.rest.send(call).await?;
        self.position += len;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<PathInfo, Failure> {
        self.sweep_done().await;
        let content_type = self
            .options
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let flush = Call::new(
            Method::PATCH,
            url_of(&self.base, &self.container, &self.temp),
            format!("flush {}/{}", self.container, self.path),
        )
        .query("action", "flush")
        .query("position", &self.position.to_string())
        .header("x-ms-content-type", &content_type);
        let outcome = match self.rest.send(flush).await {
            Ok(_) => {
                rename(
                    &self.rest,
                    &self.base,
                    &self.container,
                    &self.temp,
                    &self.path,
                    self.options.overwrite,
                )
                .await
            }
            Err(f) => Err(f),
        };
        match outcome {
            Ok(reply) => {
                let mut info = info_from_headers(&self.path, &reply.headers, false);
                info.size = self.position;
                info.content_type = Some(content_type);
                Ok(info)
            }
            Err(f) => {
                if let Err(cleanup) = self.discard().await {
                    tracing::warn!(error = %cleanup.error.message, "could not delete an abandoned upload");
                }
                Err(f)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<(), Failure> {
        self.sweep_done().await;
        self.discard().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip_through_base64_pairs() {
        let meta = vec![
            ("a".to_string(), "x=y, z".to_string()),
            ("b".to_string(), String::new()),
        ];
        let text = encode_properties(&meta);
        assert_eq!(text, "a=eD15LCB6,b=");
        let mut h = HeaderMap::new();
        h.insert("x-ms-properties", text.parse().unwrap());
        assert_eq!(decode_properties(&h), meta);
    }
}
