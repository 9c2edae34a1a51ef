//! The two REST dialects behind one trait: `blob` (flat accounts, Azurite) and `dfs`
//! (hierarchical-namespace accounts). The WIT implementation only talks to [`Store`].
//!
//! Inputs are already canonical (container names checked, paths normalized, grants checked);
//! a dialect's job is the wire protocol and the semantics the WIT promises on top of it.

pub mod blob;
pub mod dfs;
pub mod xml;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Url;

use super::errors::Failure;
use super::rest::{Call, Reply, Rest};
use crate::bindings::adls2::{ContainerInfo, PathInfo, PathProperties, UploadOptions};
use crate::bindings::types::ErrorKind;

/// One page of a listing and the token for the next (none = the last page).
pub struct Page {
    pub entries: Vec<PathInfo>,
    pub next: Option<String>,
}

/// A ranged read's bytes, the file's ETag (to pin later reads to this version) and size.
pub struct Chunk {
    pub data: Bytes,
    pub etag: Option<String>,
    pub total: u64,
}

/// An account, spoken to in one dialect.
#[async_trait]
pub trait Store: Send + Sync {
    /// True if created, false if it already existed.
    async fn create_container(&self, name: &str) -> Result<bool, Failure>;
    async fn delete_container(&self, name: &str) -> Result<(), Failure>;
    async fn list_containers(&self, prefix: Option<&str>) -> Result<Vec<ContainerInfo>, Failure>;
    /// Creates `path` and its parents but the first `outside` of them (outside the write
    /// grant: never created here; see `creates_parents`).
    async fn make_dirs(
        &self,
        container: &str,
        path: &str,
        exist_ok: bool,
        outside: usize,
    ) -> Result<(), Failure>;
    /// Whether the service itself creates the missing parents of a path written (DFS).
    fn creates_parents(&self) -> bool {
        false
    }
    /// Starts an upload whose blocks are invisible until `commit`.
    async fn begin_upload(
        &self,
        container: &str,
        path: &str,
        options: UploadOptions,
    ) -> Result<Box<dyn Upload>, Failure>;
    /// A whole upload in one call (one request where the dialect allows it).
    async fn upload(
        &self,
        container: &str,
        path: &str,
        data: Bytes,
        options: UploadOptions,
    ) -> Result<PathInfo, Failure>;
    /// Bytes `offset..offset+length` (to the end if `length` is none), pinned to `if_match`.
    /// A range that starts at the end of the file is empty.
    async fn read(
        &self,
        container: &str,
        path: &str,
        offset: u64,
        length: Option<u64>,
        if_match: Option<&str>,
    ) -> Result<Chunk, Failure>;
    async fn list_page(
        &self,
        container: &str,
        dir: &str,
        recursive: bool,
        page_size: u32,
        next: Option<String>,
    ) -> Result<Page, Failure>;
    /// A not-found failure if the path does not exist.
    async fn properties(&self, container: &str, path: &str) -> Result<PathProperties, Failure>;
    async fn delete_path(
        &self,
        container: &str,
        path: &str,
        recursive: bool,
    ) -> Result<(), Failure>;
    async fn rename(
        &self,
        container: &str,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<(), Failure>;

    /// False only on not-found; every other failure is an error.
    async fn exists(&self, container: &str, path: &str) -> Result<bool, Failure> {
        match self.properties(container, path).await {
            Ok(_) => Ok(true),
            Err(f) if f.error.kind == ErrorKind::NotFound => Ok(false),
            Err(f) => Err(f),
        }
    }
}

/// An upload in progress.
#[async_trait]
pub trait Upload: Send + Sync {
    /// Sends one block (retried on its own by the REST client).
    async fn put_block(&mut self, data: Bytes) -> Result<(), Failure>;
    /// Makes the file visible at its path, atomically; `overwrite=false` is checked here.
    async fn commit(self: Box<Self>) -> Result<PathInfo, Failure>;
    /// Drops what was sent; nothing ever became visible at the path.
    async fn abort(self: Box<Self>) -> Result<(), Failure>;
}

/// Characters left as they are in URL paths (the Python SDK's `quote(name, safe='~/')`).
const PATH_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `base/container/path`, percent-encoded; `path` may be empty.
pub fn url_of(base: &Url, container: &str, path: &str) -> Url {
    let mut text = base.as_str().trim_end_matches('/').to_string();
    text.push('/');
    text.push_str(container);
    if !path.is_empty() {
        text.push('/');
        text.extend(percent_encoding::utf8_percent_encode(path, PATH_ENCODE));
    }
    // Built from a valid base and encoded segments, so it parses; fall back to the base.
    Url::parse(&text).unwrap_or_else(|_| base.clone())
}

/// `/container/path`, encoded, as DFS rename sources are written.
pub fn rename_source(container: &str, path: &str) -> String {
    format!(
        "/{container}/{}",
        percent_encoding::utf8_percent_encode(path, PATH_ENCODE)
    )
}

/// Checks user metadata: names are C# identifiers (Azure's rule), values printable ASCII.
pub fn check_metadata(metadata: &[(String, String)]) -> Result<(), Failure> {
    for (name, value) in metadata {
        let mut chars = name.chars();
        let ok_name = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_name {
            return Err(Failure::new(ErrorKind::InvalidInput, format!("metadata name {name:?} is invalid: use letters, digits and underscores, not starting with a digit")));
        }
        if !value.chars().all(|c| (' '..='~').contains(&c)) {
            return Err(Failure::new(ErrorKind::InvalidInput, format!("metadata `{name}` has a value that is not printable ASCII (encode it, e.g. as base64 or percent-encoding)")));
        }
    }
    Ok(())
}

/// An HTTP date (`Mon, 01 Jan 2024 10:00:00 GMT`) as RFC 3339 UTC; other text unchanged.
pub fn rfc3339(http_date: &str) -> String {
    chrono::DateTime::parse_from_rfc2822(http_date)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| http_date.to_string())
}

/// The properties every dialect reads from response headers; `is_directory` is the dialect's.
pub fn info_from_headers(name: &str, headers: &HeaderMap, is_directory: bool) -> PathInfo {
    let text = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    PathInfo {
        name: name.to_string(),
        is_directory,
        size: if is_directory {
            0
        } else {
            text("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        },
        last_modified: text("last-modified").map(|t| rfc3339(&t)),
        etag: text("etag"),
        content_type: if is_directory {
            None
        } else {
            text("content-type")
        },
    }
}

/// The total size from a `Content-Range: bytes a-b/total` header.
pub fn total_from_content_range(headers: &HeaderMap) -> Option<u64> {
    let range = headers.get("content-range")?.to_str().ok()?;
    range.rsplit('/').next()?.trim().parse().ok()
}

/// The `Range` header for `offset..offset+length`.
pub fn range_header(offset: u64, length: Option<u64>) -> Option<String> {
    match length {
        Some(0) => None,
        Some(n) => Some(format!("bytes={offset}-{}", offset + n - 1)),
        None if offset == 0 => None,
        None => Some(format!("bytes={offset}-")),
    }
}

/// The ranged GET both dialects share: `get` is the prepared GET of the path; `head` fetches
/// its properties, for zero-length reads and ranges that start at or past the end (an empty
/// chunk at the end, `invalid-input` beyond it).
pub async fn ranged_read<H, F>(
    rest: &Rest,
    get: Call,
    offset: u64,
    length: Option<u64>,
    if_match: Option<&str>,
    target: &str,
    head: H,
) -> Result<Chunk, Failure>
where
    H: FnOnce() -> F,
    F: std::future::Future<Output = Result<Reply, Failure>>,
{
    let from_head = |head: Reply| Chunk {
        data: Bytes::new(),
        etag: head.header("etag").map(String::from),
        total: info_from_headers("", &head.headers, false).size,
    };
    if length == Some(0) {
        return Ok(from_head(head().await?));
    }
    let mut get = get;
    if let Some(range) = range_header(offset, length) {
        get = get.header("range", range);
    }
    if let Some(etag) = if_match {
        get = get.header("if-match", etag);
    }
    match rest.send(get).await {
        Ok(reply) => {
            let total = total_from_content_range(&reply.headers).unwrap_or(reply.body.len() as u64);
            Ok(Chunk {
                etag: reply.header("etag").map(String::from),
                data: reply.body,
                total,
            })
        }
        Err(f) if f.is_status(416) => {
            let chunk = from_head(head().await?);
            if offset == chunk.total {
                Ok(chunk)
            } else {
                Err(Failure::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "range starts at byte {offset}, beyond the end of {target} ({} bytes)",
                        chunk.total
                    ),
                ))
            }
        }
        Err(f) => Err(f),
    }
}

/// A 409 / 412 on a write with `overwrite=false` says so plainly; other failures pass through.
pub fn exists_conflict(container: &str, path: &str, f: Failure) -> Failure {
    if f.is_status(409) || f.is_status(412) {
        let mut f = f;
        f.error.message = format!(
            "{container}/{path} already exists and overwrite is false ({})",
            f.code()
        );
        f
    } else {
        f
    }
}

/// A random hex token for block ids and temporary names.
pub fn token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_names_but_keep_slashes() {
        let base = Url::parse("http://127.0.0.1:10000/devstoreaccount1").unwrap();
        assert_eq!(
            url_of(&base, "c", "dir a/ü#1.csv").as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/c/dir%20a/%C3%BC%231.csv"
        );
        assert_eq!(
            url_of(&base, "c", "").as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/c"
        );
        assert_eq!(rename_source("fs", "a b/c"), "/fs/a%20b/c");
    }

    #[test]
    fn metadata_names_and_values_are_checked() {
        assert!(check_metadata(&[("source_1".into(), "guest run".into())]).is_ok());
        assert!(check_metadata(&[("1x".into(), "v".into())]).is_err());
        assert!(check_metadata(&[("a-b".into(), "v".into())]).is_err());
        assert!(check_metadata(&[("a".into(), "é".into())]).is_err());
    }

    #[test]
    fn dates_ranges_and_sizes() {
        assert_eq!(
            rfc3339("Mon, 01 Jan 2024 10:00:00 GMT"),
            "2024-01-01T10:00:00Z"
        );
        assert_eq!(range_header(0, None), None);
        assert_eq!(range_header(5, Some(10)).as_deref(), Some("bytes=5-14"));
        assert_eq!(range_header(5, None).as_deref(), Some("bytes=5-"));
        let mut h = HeaderMap::new();
        h.insert("content-range", "bytes 0-9/1234".parse().unwrap());
        assert_eq!(total_from_content_range(&h), Some(1234));
    }
}
