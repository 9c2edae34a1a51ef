//! The `blob` dialect: the Blob service REST API, for flat-namespace accounts and Azurite.
//!
//! Directories are marker blobs (empty, metadata `hdi_isfolder=true`, as the Python SDK and
//! Azure tools write them) or implied by the names under them. Uploads are Put Blob (one
//! block or less) or Put Block + Put Block List, so nothing is visible before the commit.
//! Rename is Copy Blob + Delete Blob, per file: not atomic, and documented as such. Recursive
//! delete is list + delete.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};

use super::xml::{self, Element};
use super::{
    check_metadata, exists_conflict, info_from_headers, ranged_read, rfc3339, token, url_of, Chunk,
    Page, Store, Upload,
};
use crate::bindings::adls2::{ContainerInfo, PathInfo, PathProperties, UploadOptions};
use crate::bindings::types::ErrorKind;
use crate::grants::paths;
use crate::host::adls2::auth::Credential;
use crate::host::adls2::errors::Failure;
use crate::host::adls2::rest::{Call, Reply, Rest};

mod upload;

use upload::{committed, content_headers, BlockUpload};

/// The metadata that marks a directory blob.
const FOLDER_META: &str = "x-ms-meta-hdi_isfolder";
/// Deletes and copies in flight at once during recursive operations.
const PARALLEL: usize = 8;

/// An account's Blob endpoint.
pub struct BlobStore {
    rest: Arc<Rest>,
    base: Url,
    credential: Credential,
    block_size: usize,
}

impl BlobStore {
    /// The store at Blob endpoint `base` (the credential adds SAS to copy sources).
    pub fn new(rest: Arc<Rest>, base: Url, credential: Credential, block_size: usize) -> BlobStore {
        BlobStore {
            rest,
            base,
            credential,
            block_size,
        }
    }

    fn container_url(&self, container: &str) -> Url {
        let mut url = url_of(&self.base, container, "");
        url.query_pairs_mut().append_pair("restype", "container");
        url
    }

    /// HEAD of a blob, or None if there is no such blob.
    async fn head(&self, container: &str, path: &str) -> Result<Option<Reply>, Failure> {
        let call = Call::new(
            Method::HEAD,
            url_of(&self.base, container, path),
            format!("properties of {container}/{path}"),
        );
        match self.rest.send(call).await {
            Ok(reply) => Ok(Some(reply)),
            Err(f) if f.is_status(404) => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// Whether anything lies under `path/` (a directory implied by its contents).
    async fn has_children(&self, container: &str, path: &str) -> Result<bool, Failure> {
        let page = self
            .list_raw(container, &format!("{path}/"), false, 1, None)
            .await?;
        Ok(!page.entries.is_empty())
    }

    async fn delete_blob(&self, container: &str, path: &str) -> Result<(), Failure> {
        let call = Call::new(
            Method::DELETE,
            url_of(&self.base, container, path),
            format!("delete {container}/{path}"),
        );
        self.rest.send(call).await.map(drop)
    }

    /// Every blob name under `prefix` (recursive), page by page.
    async fn names_under(&self, container: &str, prefix: &str) -> Result<Vec<String>, Failure> {
        let mut names = Vec::new();
        let mut next = None;
        loop {
            let page = self.list_raw(container, prefix, true, 5000, next).await?;
            names.extend(page.entries.into_iter().map(|e| e.name));
            match page.next {
                Some(n) => next = Some(n),
                None => return Ok(names),
            }
        }
    }

    /// One List Blobs page under name prefix `prefix`; entries keep their full names.
    async fn list_raw(
        &self,
        container: &str,
        prefix: &str,
        recursive: bool,
        page_size: u32,
        marker: Option<String>,
    ) -> Result<Page, Failure> {
        let mut call = Call::new(
            Method::GET,
            self.container_url(container),
            format!("list {container}/{prefix}"),
        )
        .query("comp", "list")
        .query("include", "metadata")
        .query("maxresults", &page_size.to_string());
        if !prefix.is_empty() {
            call = call.query("prefix", prefix);
        }
        if !recursive {
            call = call.query("delimiter", "/");
        }
        if let Some(marker) = &marker {
            call = call.query("marker", marker);
        }
        let reply = self.rest.send(call).await?;
        let root = parse(&reply.body)?;
        let mut entries = Vec::new();
        if let Some(blobs) = root.child("Blobs") {
            for item in &blobs.children {
                match item.name.as_str() {
                    "Blob" => entries.push(blob_entry(item)),
                    "BlobPrefix" => {
                        let name = item
                            .text_of("Name")
                            .unwrap_or("")
                            .trim_end_matches('/')
                            .to_string();
                        entries.push(PathInfo {
                            name,
                            is_directory: true,
                            size: 0,
                            last_modified: None,
                            etag: None,
                            content_type: None,
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(Page {
            entries,
            next: root.text_of("NextMarker").map(String::from),
        })
    }

    /// Copy Blob within the account, waiting for the copy to finish.
    async fn copy(
        &self,
        container: &str,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<(), Failure> {
        let mut source = url_of(&self.base, container, from);
        self.credential.apply_to_url(&mut source);
        let mut call = Call::new(
            Method::PUT,
            url_of(&self.base, container, to),
            format!("copy {container}/{from} to {to}"),
        )
        .header("x-ms-copy-source", source.as_str());
        if !overwrite {
            call = call.header("if-none-match", "*");
        }
        let mut reply = self.rest.send(call).await?;
        for _ in 0..600 {
            match reply.header("x-ms-copy-status").unwrap_or("success") {
                "success" => return Ok(()),
                "pending" => {}
                other => {
                    return Err(Failure::new(
                        ErrorKind::Permanent,
                        format!("copy {container}/{from} to {to} ended {other}"),
                    ))
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            reply = self.head(container, to).await?.ok_or_else(|| {
                Failure::new(
                    ErrorKind::Transient,
                    format!("copy {container}/{from} to {to}: the target vanished"),
                )
            })?;
        }
        Err(Failure::new(
            ErrorKind::Timeout,
            format!("copy {container}/{from} to {to} did not finish within 2 minutes"),
        ))
    }

    async fn delete_all(&self, container: &str, names: Vec<String>) -> Result<(), Failure> {
        // Deepest first, so a marker never outlives what it marks if a delete fails midway.
        let mut names = names;
        names.sort_by(|a, b| b.cmp(a));
        let deletes: Vec<_> = names
            .into_iter()
            .map(|n| async move {
                match self.delete_blob(container, &n).await {
                    Err(f) if f.is_status(404) => Ok(()),
                    other => other,
                }
            })
            .collect();
        stream::iter(deletes)
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }
}

fn parse(body: &[u8]) -> Result<Element, Failure> {
    xml::parse(body).map_err(|why| Failure::new(ErrorKind::Permanent, why))
}

fn blob_entry(item: &Element) -> PathInfo {
    let props = item.child("Properties");
    let prop = |name: &str| props.and_then(|p| p.text_of(name)).map(String::from);
    let is_directory = item
        .child("Metadata")
        .and_then(|m| {
            m.children
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case("hdi_isfolder"))
        })
        .is_some_and(|c| c.text.eq_ignore_ascii_case("true"));
    PathInfo {
        name: item.text_of("Name").unwrap_or("").to_string(),
        is_directory,
        size: if is_directory {
            0
        } else {
            prop("Content-Length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        },
        last_modified: prop("Last-Modified").map(|t| rfc3339(&t)),
        etag: prop("Etag"),
        content_type: if is_directory {
            None
        } else {
            prop("Content-Type")
        },
    }
}

fn is_folder(headers: &HeaderMap) -> bool {
    headers
        .get(FOLDER_META)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn metadata_of(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-ms-meta-")?;
            (name != "hdi_isfolder")
                .then(|| (name.to_string(), v.to_str().unwrap_or("").to_string()))
        })
        .collect();
    out.sort();
    out
}

#[async_trait]
impl Store for BlobStore {
    async fn create_container(&self, name: &str) -> Result<bool, Failure> {
        let call = Call::new(
            Method::PUT,
            self.container_url(name),
            format!("create container {name}"),
        );
        match self.rest.send(call).await {
            Ok(_) => Ok(true),
            Err(f) if f.code() == "ContainerAlreadyExists" => Ok(false),
            Err(f) => Err(f),
        }
    }

    async fn delete_container(&self, name: &str) -> Result<(), Failure> {
        let call = Call::new(
            Method::DELETE,
            self.container_url(name),
            format!("delete container {name}"),
        );
        self.rest.send(call).await.map(drop)
    }

    async fn list_containers(&self, prefix: Option<&str>) -> Result<Vec<ContainerInfo>, Failure> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut call =
                Call::new(Method::GET, self.base.clone(), "list containers").query("comp", "list");
            if let Some(p) = prefix.filter(|p| !p.is_empty()) {
                call = call.query("prefix", p);
            }
            if let Some(m) = &marker {
                call = call.query("marker", m);
            }
            let reply = self.rest.send(call).await?;
            let root = parse(&reply.body)?;
            for c in root
                .child("Containers")
                .map(|c| c.all("Container").collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let props = c.child("Properties");
                out.push(ContainerInfo {
                    name: c.text_of("Name").unwrap_or("").to_string(),
                    last_modified: props.and_then(|p| p.text_of("Last-Modified")).map(rfc3339),
                    etag: props.and_then(|p| p.text_of("Etag")).map(String::from),
                });
            }
            match root.text_of("NextMarker") {
                Some(m) => marker = Some(m.to_string()),
                None => return Ok(out),
            }
        }
    }

    async fn make_dirs(
        &self,
        container: &str,
        path: &str,
        exist_ok: bool,
        outside: usize,
    ) -> Result<(), Failure> {
        let mut levels = paths::ancestors(path);
        levels.push(path);
        let last = levels.len() - 1;
        // Markers above the write grant are not written: the flat namespace needs none.
        for (i, dir) in levels.into_iter().enumerate().skip(outside) {
            let call = Call::new(
                Method::PUT,
                url_of(&self.base, container, dir),
                format!("make directory {container}/{dir}"),
            )
            .header("x-ms-blob-type", "BlockBlob")
            .header(FOLDER_META, "true")
            .header("if-none-match", "*");
            match self.rest.send(call).await {
                Ok(_) => {}
                Err(f) if f.is_status(409) || f.is_status(412) => {
                    let head = self.head(container, dir).await?;
                    match head {
                        Some(reply) if !is_folder(&reply.headers) => {
                            return Err(Failure::new(
                                ErrorKind::Conflict,
                                format!("{container}/{dir} is a file, so it cannot be a directory"),
                            ));
                        }
                        _ if i == last && !exist_ok => {
                            return Err(Failure::new(ErrorKind::Conflict, format!("directory {container}/{dir} already exists (pass exist-ok to accept that)")));
                        }
                        _ => {}
                    }
                }
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    async fn begin_upload(
        &self,
        container: &str,
        path: &str,
        options: UploadOptions,
    ) -> Result<Box<dyn Upload>, Failure> {
        check_metadata(&options.metadata)?;
        Ok(Box::new(BlockUpload {
            rest: self.rest.clone(),
            url: url_of(&self.base, container, path),
            container: container.to_string(),
            path: path.to_string(),
            options,
            session: token(),
            blocks: Vec::new(),
            size: 0,
        }))
    }

    async fn upload(
        &self,
        container: &str,
        path: &str,
        data: Bytes,
        options: UploadOptions,
    ) -> Result<PathInfo, Failure> {
        if data.len() > self.block_size {
            let mut upload = self.begin_upload(container, path, options).await?;
            for start in (0..data.len()).step_by(self.block_size) {
                let end = (start + self.block_size).min(data.len());
                upload.put_block(data.slice(start..end)).await?;
            }
            return upload.commit().await;
        }
        check_metadata(&options.metadata)?;
        let size = data.len() as u64;
        let call = Call::new(
            Method::PUT,
            url_of(&self.base, container, path),
            format!("upload {container}/{path}"),
        )
        .header("x-ms-blob-type", "BlockBlob")
        .body(data);
        let reply = self
            .rest
            .send(content_headers(call, &options))
            .await
            .map_err(|f| exists_conflict(container, path, f))?;
        Ok(committed(path, &reply, size, &options))
    }

    async fn read(
        &self,
        container: &str,
        path: &str,
        offset: u64,
        length: Option<u64>,
        if_match: Option<&str>,
    ) -> Result<Chunk, Failure> {
        let get = Call::new(
            Method::GET,
            url_of(&self.base, container, path),
            format!("download {container}/{path}"),
        );
        let head = || async {
            self.head(container, path)
                .await?
                .ok_or_else(|| not_found(container, path))
        };
        ranged_read(
            &self.rest,
            get,
            offset,
            length,
            if_match,
            &format!("{container}/{path}"),
            head,
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
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        if next.is_none() && !dir.is_empty() {
            // Listing a file, or nothing at all, is not listing an empty directory.
            let page = self
                .list_raw(container, &prefix, recursive, page_size, None)
                .await?;
            if page.entries.is_empty() {
                match self.head(container, dir).await? {
                    Some(reply) if is_folder(&reply.headers) => {}
                    Some(_) => {
                        return Err(Failure::new(
                            ErrorKind::InvalidInput,
                            format!("{container}/{dir} is a file, not a directory"),
                        ))
                    }
                    None => {
                        return Err(Failure::new(
                            ErrorKind::NotFound,
                            format!("directory {container}/{dir} does not exist"),
                        ))
                    }
                }
            }
            return Ok(page);
        }
        self.list_raw(container, &prefix, recursive, page_size, next)
            .await
    }

    async fn properties(&self, container: &str, path: &str) -> Result<PathProperties, Failure> {
        match self.head(container, path).await? {
            Some(reply) => {
                let dir = is_folder(&reply.headers);
                Ok(PathProperties {
                    info: info_from_headers(path, &reply.headers, dir),
                    metadata: metadata_of(&reply.headers),
                })
            }
            None if self.has_children(container, path).await? => Ok(PathProperties {
                info: PathInfo {
                    name: path.to_string(),
                    is_directory: true,
                    size: 0,
                    last_modified: None,
                    etag: None,
                    content_type: None,
                },
                metadata: Vec::new(),
            }),
            None => Err(not_found(container, path)),
        }
    }

    async fn delete_path(
        &self,
        container: &str,
        path: &str,
        recursive: bool,
    ) -> Result<(), Failure> {
        let head = self.head(container, path).await?;
        if let Some(reply) = &head {
            if !is_folder(&reply.headers) {
                return self.delete_blob(container, path).await;
            }
        }
        let prefix = format!("{path}/");
        if !recursive {
            if self.has_children(container, path).await? {
                return Err(Failure::new(ErrorKind::Conflict, format!("directory {container}/{path} is not empty (pass recursive to delete it with its contents)")));
            }
            return match head {
                Some(_) => self.delete_blob(container, path).await,
                None => Err(not_found(container, path)),
            };
        }
        let mut names = self.names_under(container, &prefix).await?;
        if names.is_empty() && head.is_none() {
            return Err(not_found(container, path));
        }
        if head.is_some() {
            names.push(path.to_string());
        }
        self.delete_all(container, names).await
    }

    async fn rename(
        &self,
        container: &str,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<(), Failure> {
        let head = self.head(container, from).await?;
        let is_file = head.as_ref().is_some_and(|r| !is_folder(&r.headers));
        if is_file {
            self.copy(container, from, to, overwrite)
                .await
                .map_err(|f| exists_conflict(container, to, f))?;
            return self.delete_blob(container, from).await;
        }
        let children = self.names_under(container, &format!("{from}/")).await?;
        if head.is_none() && children.is_empty() {
            return Err(not_found(container, from));
        }
        if !overwrite && self.exists(container, to).await? {
            return Err(Failure::new(
                ErrorKind::Conflict,
                format!("{container}/{to} already exists and overwrite is false"),
            ));
        }
        let mut moves: Vec<(String, String)> = children
            .iter()
            .map(|n| (n.clone(), format!("{to}{}", &n[from.len()..])))
            .collect();
        if head.is_some() {
            moves.push((from.to_string(), to.to_string()));
        }
        let copies: Vec<_> = moves
            .iter()
            .map(|(src, dst)| self.copy(container, src, dst, true))
            .collect();
        stream::iter(copies)
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        let sources: HashSet<String> = moves.into_iter().map(|(s, _)| s).collect();
        self.delete_all(container, sources.into_iter().collect())
            .await
    }
}

fn not_found(container: &str, path: &str) -> Failure {
    Failure {
        status: Some(404),
        error: crate::bindings::connector_error(
            ErrorKind::NotFound,
            format!("{container}/{path} does not exist"),
        ),
    }
}
