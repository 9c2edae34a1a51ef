//! A FAKE ADLS Gen2 DFS endpoint, for tests only: Azurite implements the Blob endpoint alone,
//! and no emulator implements DFS. Written from the Azure Storage REST reference ("Data Lake
//! Storage Gen2": Filesystem - Create / Delete / List, Path - Create / Update (append, flush)
//! / Read / Get Properties / Delete / List, rename via `x-ms-rename-source`) with hierarchical
//! namespace semantics: real directories, parents created implicitly, atomic rename (the
//! destination's parent must exist), recursive delete in steps with `x-ms-continuation`,
//! listings paged by `maxResults` with continuation tokens, `If-None-Match: *` /
//! `If-Match`, error codes in `x-ms-error-code` and a JSON body.
//!
//! Every request must carry a valid Shared Key signature, recomputed here independently from
//! the reference's string-to-sign, or it gets 403 AuthenticationFailed. Requests are recorded
//! so tests can check their shape. Blocking std networking, one thread per connection.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The account and the key the fake accepts.
pub const ACCOUNT: &str = "fakeaccount";
pub const KEY: &str = "ZmFrZS1rZXktZm9yLXRoZS1mYWtlLWRmcy1zZXJ2ZXItb25seQ==";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path after the account segment, decoded: `/fs/dir/file`.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub body_len: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Dir {
        props: String,
        etag: u64,
    },
    File {
        data: Vec<u8>,
        pending: Vec<u8>,
        props: String,
        content_type: String,
        etag: u64,
    },
}

#[derive(Default)]
struct State {
    /// File system -> path -> node (paths without leading slash).
    filesystems: BTreeMap<String, BTreeMap<String, Node>>,
    next_etag: u64,
    log: Vec<Recorded>,
    /// Injected faults: the next appends fail with (status, Retry-After seconds).
    failing_appends: Vec<(u16, Option<u64>)>,
}

/// A running fake; dropped with the test process.
pub struct FakeDfs {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

/// An HTTP answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn fail(status: u16, code: &str, message: &str) -> Answer {
    let body = serde_json::json!({ "error": { "code": code, "message": format!("{message}\nRequestId:fake") } });
    Answer {
        status,
        headers: vec![
            ("x-ms-error-code".into(), code.into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: body.to_string().into_bytes(),
    }
}

impl Answer {
    fn header(mut self, name: &str, value: impl ToString) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

impl FakeDfs {
    pub fn start() -> FakeDfs {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake DFS server");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, state));
            }
        });
        FakeDfs { port, state }
    }

    /// The endpoint URL (path-style, as emulators use).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().log.clone()
    }

    /// The committed bytes of a file, if it exists.
    pub fn file(&self, fs: &str, path: &str) -> Option<Vec<u8>> {
        match self.state.lock().unwrap().filesystems.get(fs)?.get(path)? {
            Node::File { data, .. } => Some(data.clone()),
            Node::Dir { .. } => None,
        }
    }

    /// Makes the next appends fail, one fault each: (status, Retry-After seconds).
    pub fn fail_appends(&self, faults: &[(u16, Option<u64>)]) {
        self.state
            .lock()
            .unwrap()
            .failing_appends
            .extend_from_slice(faults);
    }

    /// Puts a committed file at `path` as a client that went away would have left it (no
    /// request is recorded), creating the file system and parents as needed.
    pub fn put_file(&self, fs: &str, path: &str, data: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.next_etag += 1;
        let etag = state.next_etag;
        let nodes = state.filesystems.entry(fs.to_string()).or_default();
        let mut parent = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, dirs)| dirs.to_vec())
            .unwrap_or_default()
        {
            parent = if parent.is_empty() {
                part.to_string()
            } else {
                format!("{parent}/{part}")
            };
            nodes.entry(parent.clone()).or_insert(Node::Dir {
                props: String::new(),
                etag,
            });
        }
        nodes.insert(
            path.to_string(),
            Node::File {
                data: data.to_vec(),
                pending: Vec::new(),
                props: String::new(),
                content_type: "application/octet-stream".into(),
                etag,
            },
        );
    }

    /// Every path of a file system.
    pub fn paths(&self, fs: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .filesystems
            .get(fs)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let a = handle(&state, &method, &target, &headers, body);
        let reason = match a.status {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            206 => "Partial Content",
            _ => "Status",
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", a.status);
        let mut has_length = false;
        for (k, v) in &a.headers {
            has_length |= k.eq_ignore_ascii_case("content-length");
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if !has_length {
            out.push_str(&format!("content-length: {}\r\n", a.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if method != "HEAD" {
            bytes.extend_from_slice(&a.body);
        }
        if writer.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The Shared Key string-to-sign, per the reference: verb, eleven standard headers (an empty
/// Content-Length for zero), Range, the sorted x-ms- headers, then /account + the encoded
/// path + each lower-cased query parameter with its decoded value, sorted.
fn expected_signature(
    method: &str,
    raw_path: &str,
    query: &[(String, String)],
    headers: &BTreeMap<String, String>,
) -> String {
    let h = |n: &str| headers.get(n).cloned().unwrap_or_default();
    let length = h("content-length");
    let mut lines = vec![
        method.to_string(),
        h("content-encoding"),
        h("content-language"),
        if length == "0" { String::new() } else { length },
        h("content-md5"),
        h("content-type"),
        h("date"),
        h("if-modified-since"),
        h("if-match"),
        h("if-none-match"),
        h("if-unmodified-since"),
        h("range"),
    ];
    for (k, v) in headers.iter().filter(|(k, _)| k.starts_with("x-ms-")) {
        lines.push(format!("{k}:{v}"));
    }
    let mut resource = format!("/{ACCOUNT}{raw_path}");
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in query {
        params
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.clone());
    }
    for (k, vs) in params {
        resource.push_str(&format!("\n{k}:{}", vs.join(",")));
    }
    lines.push(resource);
    let text = lines.join("\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(&B64.decode(KEY).unwrap()).unwrap();
    mac.update(text.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn handle(
    state: &Mutex<State>,
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: Vec<u8>,
) -> Answer {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let query: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(&v.replace('+', " ")))
        })
        .collect();
    let sig = expected_signature(method, raw_path, &query, headers);
    let q: BTreeMap<String, String> = query.iter().cloned().collect();
    let Some(rest) = decode(raw_path)
        .strip_prefix(&format!("/{ACCOUNT}"))
        .map(String::from)
    else {
        return fail(
            400,
            "InvalidUri",
            "the path does not start with the account",
        );
    };
    let mut st = state.lock().unwrap();
    st.log.push(Recorded {
        method: method.into(),
        path: rest.clone(),
        query: q.clone(),
        headers: headers.clone(),
        body_len: body.len(),
    });
    if headers.get("authorization") != Some(&format!("SharedKey {ACCOUNT}:{sig}")) {
        return fail(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request.",
        );
    }
    if headers.get("x-ms-version").is_none() || headers.get("x-ms-date").is_none() {
        return fail(
            400,
            "MissingRequiredHeader",
            "x-ms-version and x-ms-date are required",
        );
    }
    let rest = rest.trim_start_matches('/').to_string();
    let (fs, path) = rest
        .split_once('/')
        .map(|(f, p)| (f.to_string(), p.to_string()))
        .unwrap_or((rest.clone(), String::new()));
    let qv = |k: &str| q.get(k).map(String::as_str);
    match (method, fs.as_str(), path.as_str()) {
        ("GET", "", _) if qv("restype") == Some("account") && qv("comp") == Some("properties") => {
            answer(200)
                .header("x-ms-is-hns-enabled", "true")
                .header("x-ms-account-kind", "StorageV2")
        }
        ("GET", "", _) if qv("resource") == Some("account") => list_filesystems(&st, &q),
        ("PUT", _, "") if qv("resource") == Some("filesystem") => {
            if st.filesystems.contains_key(&fs) {
                return fail(
                    409,
                    "FilesystemAlreadyExists",
                    "The specified filesystem already exists.",
                );
            }
            st.filesystems.insert(fs, BTreeMap::new());
            answer(201)
        }
        ("DELETE", _, "") if qv("resource") == Some("filesystem") => {
            match st.filesystems.remove(&fs) {
                Some(_) => answer(202),
                None => fail(
                    404,
                    "FilesystemNotFound",
                    "The specified filesystem does not exist.",
                ),
            }
        }
        ("GET", _, "") if qv("resource") == Some("filesystem") => list_paths(&st, &fs, &q),
        _ if !st.filesystems.contains_key(&fs) => fail(
            404,
            "FilesystemNotFound",
            "The specified filesystem does not exist.",
        ),
        ("PUT", _, _) if headers.contains_key("x-ms-rename-source") => {
            rename(&mut st, &fs, &path, headers)
        }
        ("PUT", _, _) => create(&mut st, &fs, &path, qv("resource").unwrap_or(""), headers),
        ("PATCH", _, _) if qv("action") == Some("append") && !st.failing_appends.is_empty() => {
            let (status, retry_after) = st.failing_appends.remove(0);
            let a = fail(status, "ServerBusy", "The server is busy (injected fault).");
            match retry_after {
                Some(secs) => a.header("retry-after", secs),
                None => a,
            }
        }
        ("PATCH", _, _) => update(&mut st, &fs, &path, &q, headers, body),
        ("HEAD", _, _) | ("GET", _, _) => read(&st, &fs, &path, method == "HEAD", headers),
        ("DELETE", _, _) => delete(
            &mut st,
            &fs,
            &path,
            qv("recursive") == Some("true"),
            qv("continuation"),
        ),
        _ => fail(400, "UnsupportedHttpVerb", "unsupported"),
    }
}

/// Now, as an HTTP date. The fake keeps no modification times: every path reports the time of
/// the response as its `Last-Modified` (so a path is always fresh, never stale by age).
fn http_date() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

fn children<'a>(
    tree: &'a BTreeMap<String, Node>,
    dir: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    tree.iter()
        .filter(move |(k, _)| k.starts_with(&prefix) && k.as_str() != dir)
}

fn create(
    st: &mut State,
    fs: &str,
    path: &str,
    resource: &str,
    headers: &BTreeMap<String, String>,
) -> Answer {
    st.next_etag += 1;
    let etag = st.next_etag;
    let tree = st.filesystems.get_mut(fs).unwrap();
    if headers.get("if-none-match").map(String::as_str) == Some("*") && tree.contains_key(path) {
        return fail(
            409,
            "PathAlreadyExists",
            "The specified path already exists.",
        );
    }
    // Parents are created implicitly; a file on the way is a conflict.
    let mut p = path;
    let mut missing = Vec::new();
    while let Some(up) = parent(p) {
        match tree.get(up) {
            Some(Node::File { .. }) => {
                return fail(409, "PathConflict", "A parent of the path is a file.")
            }
            Some(Node::Dir { .. }) => break,
            None => missing.push(up.to_string()),
        }
        p = up;
    }
    let props = headers.get("x-ms-properties").cloned().unwrap_or_default();
    let node = match resource {
        "directory" => match tree.get(path) {
            Some(Node::File { .. }) => return fail(409, "PathConflict", "The path is a file."),
            _ => Node::Dir { props, etag },
        },
        "file" => match tree.get(path) {
            Some(Node::Dir { .. }) => return fail(409, "PathConflict", "The path is a directory."),
            _ => Node::File {
                data: Vec::new(),
                pending: Vec::new(),
                props,
                content_type: "application/octet-stream".into(),
                etag,
            },
        },
        _ => {
            return fail(
                400,
                "InvalidQueryParameterValue",
                "resource must be file or directory",
            )
        }
    };
    for dir in missing {
        tree.insert(
            dir,
            Node::Dir {
                props: String::new(),
                etag,
            },
        );
    }
    tree.insert(path.to_string(), node);
    answer(201)
        .header("etag", format!("\"0x{etag:X}\""))
        .header("last-modified", http_date())
}

fn update(
    st: &mut State,
    fs: &str,
    path: &str,
    q: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    body: Vec<u8>,
) -> Answer {
    st.next_etag += 1;
    let next = st.next_etag;
    let tree = st.filesystems.get_mut(fs).unwrap();
    let Some(Node::File {
        data,
        pending,
        content_type,
        etag,
        ..
    }) = tree.get_mut(path)
    else {
        return fail(404, "PathNotFound", "The specified path does not exist.");
    };
    let position: usize = q
        .get("position")
        .and_then(|p| p.parse().ok())
        .unwrap_or(usize::MAX);
    match q.get("action").map(String::as_str) {
        Some("append") => {
            if position != data.len() + pending.len() {
                return fail(400, "InvalidFlushPosition", "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.");
            }
            pending.extend_from_slice(&body);
            answer(202)
        }
        Some("flush") => {
            if position != data.len() + pending.len() {
                return fail(
                    400,
                    "InvalidFlushPosition",
                    "The position is not the length of the file.",
                );
            }
            data.append(pending);
            if let Some(ct) = headers.get("x-ms-content-type") {
                *content_type = ct.clone();
            }
            *etag = next;
            answer(200).header("etag", format!("\"0x{next:X}\""))
        }
        _ => fail(
            400,
            "InvalidQueryParameterValue",
            "action must be append or flush",
        ),
    }
}

fn rename(st: &mut State, fs: &str, to: &str, headers: &BTreeMap<String, String>) -> Answer {
    let source = decode(&headers["x-ms-rename-source"]);
    let Some((src_fs, from)) = source
        .trim_start_matches('/')
        .split_once('/')
        .map(|(a, b)| (a.to_string(), b.to_string()))
    else {
        return fail(
            400,
            "InvalidSourceUri",
            "x-ms-rename-source must be /filesystem/path",
        );
    };
    if src_fs != fs {
        return fail(
            400,
            "InvalidSourceUri",
            "renames across file systems are not supported here",
        );
    }
    let tree = st.filesystems.get_mut(fs).unwrap();
    if !tree.contains_key(&from) {
        return fail(
            404,
            "SourcePathNotFound",
            "The source path for a rename operation does not exist.",
        );
    }
    if let Some(up) = parent(to) {
        if !matches!(tree.get(up), Some(Node::Dir { .. })) {
            return fail(
                404,
                "RenameDestinationParentPathNotFound",
                "The parent directory of the destination path does not exist.",
            );
        }
    }
    if let Some(existing) = tree.get(to) {
        if headers.get("if-none-match").map(String::as_str) == Some("*") {
            return fail(
                409,
                "PathAlreadyExists",
                "The specified path already exists.",
            );
        }
        if matches!(existing, Node::Dir { .. }) && children(tree, to).next().is_some() {
            return fail(
                409,
                "DirectoryNotEmpty",
                "The recursive query parameter value must be true to delete a non-empty directory.",
            );
        }
    }
    // One step: the node and everything under it move together.
    let moving: Vec<String> = std::iter::once(from.clone())
        .chain(children(tree, &from).map(|(k, _)| k.clone()))
        .collect();
    let mut moved = Vec::new();
    for key in moving {
        let node = tree.remove(&key).unwrap();
        moved.push((format!("{to}{}", &key[from.len()..]), node));
    }
    for (key, node) in moved {
        tree.insert(key, node);
    }
    answer(201).header("last-modified", http_date())
}

fn read(
    st: &State,
    fs: &str,
    path: &str,
    head: bool,
    headers: &BTreeMap<String, String>,
) -> Answer {
    let tree = &st.filesystems[fs];
    let Some(node) = tree.get(path) else {
        return fail(404, "PathNotFound", "The specified path does not exist.");
    };
    match node {
        Node::Dir { props, etag } => {
            if !head {
                return fail(400, "InvalidOperation", "Directories cannot be read.");
            }
            answer(200)
                .header("x-ms-resource-type", "directory")
                .header("etag", format!("\"0x{etag:X}\""))
                .header("last-modified", http_date())
                .header("x-ms-properties", props)
                .header("content-length", 0)
        }
        Node::File {
            data,
            props,
            content_type,
            etag,
            ..
        } => {
            let tag = format!("\"0x{etag:X}\"");
            if let Some(want) = headers.get("if-match") {
                if want != &tag {
                    return fail(
                        412,
                        "ConditionNotMet",
                        "The condition specified using HTTP conditional header(s) is not met.",
                    );
                }
            }
            let common = |a: Answer| {
                a.header("etag", &tag)
                    .header("last-modified", http_date())
                    .header("content-type", content_type)
                    .header("x-ms-resource-type", "file")
            };
            if head {
                return common(answer(200))
                    .header("x-ms-properties", props)
                    .header("content-length", data.len());
            }
            match headers.get("range").and_then(|r| r.strip_prefix("bytes=")) {
                None => Answer {
                    body: data.clone(),
                    ..common(answer(200))
                },
                Some(spec) => {
                    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
                    let start: usize = a.parse().unwrap_or(0);
                    if start >= data.len() {
                        return fail(
                            416,
                            "InvalidRange",
                            "The range specified is invalid for the current size of the resource.",
                        );
                    }
                    let end = b
                        .parse::<usize>()
                        .map(|e| (e + 1).min(data.len()))
                        .unwrap_or(data.len());
                    let a = common(answer(206)).header(
                        "content-range",
                        format!("bytes {start}-{}/{}", end - 1, data.len()),
                    );
                    Answer {
                        body: data[start..end].to_vec(),
                        ..a
                    }
                }
            }
        }
    }
}

/// Deletes at most this many paths per request, then hands back a continuation token.
const DELETE_STEP: usize = 50;

fn delete(
    st: &mut State,
    fs: &str,
    path: &str,
    recursive: bool,
    continuation: Option<&str>,
) -> Answer {
    let tree = st.filesystems.get_mut(fs).unwrap();
    let Some(node) = tree.get(path) else {
        return fail(404, "PathNotFound", "The specified path does not exist.");
    };
    if matches!(node, Node::Dir { .. }) {
        let inside: Vec<String> = children(tree, path).map(|(k, _)| k.clone()).collect();
        if !inside.is_empty() && !recursive {
            return fail(
                409,
                "DirectoryNotEmpty",
                "The recursive query parameter value must be true to delete a non-empty directory.",
            );
        }
        if inside.len() > DELETE_STEP || (continuation.is_none() && inside.len() > DELETE_STEP / 2)
        {
            // Deepest first, a step at a time, as the service does for large directories.
            let mut inside = inside;
            inside.sort_by(|a, b| b.cmp(a));
            for k in inside.iter().take(DELETE_STEP / 2) {
                tree.remove(k);
            }
            return answer(200).header("x-ms-continuation", format!("step-{}", inside.len()));
        }
        for k in inside {
            tree.remove(&k);
        }
    }
    tree.remove(path);
    answer(200)
}

fn page<T>(items: Vec<T>, q: &BTreeMap<String, String>) -> (Vec<T>, Option<String>) {
    let start: usize = q
        .get("continuation")
        .and_then(|c| c.strip_prefix("offset-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .or(q.get("maxresults"))
        .and_then(|m| m.parse().ok())
        .unwrap_or(5000);
    let total = items.len();
    let slice: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + max < total).then(|| format!("offset-{}", start + max));
    (slice, next)
}

fn with_continuation(a: Answer, next: Option<String>) -> Answer {
    match next {
        Some(token) => a.header("x-ms-continuation", token),
        None => a,
    }
}

fn list_filesystems(st: &State, q: &BTreeMap<String, String>) -> Answer {
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let all: Vec<serde_json::Value> = st
        .filesystems
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .map(|k| serde_json::json!({ "name": k, "lastModified": http_date(), "etag": "\"0x1\"" }))
        .collect();
    let (items, next) = page(all, q);
    let body = serde_json::json!({ "filesystems": items })
        .to_string()
        .into_bytes();
    with_continuation(
        Answer {
            body,
            ..answer(200).header("content-type", "application/json")
        },
        next,
    )
}

fn list_paths(st: &State, fs: &str, q: &BTreeMap<String, String>) -> Answer {
    let Some(tree) = st.filesystems.get(fs) else {
        return fail(
            404,
            "FilesystemNotFound",
            "The specified filesystem does not exist.",
        );
    };
    let dir = q.get("directory").cloned().unwrap_or_default();
    if !dir.is_empty() && !matches!(tree.get(&dir), Some(Node::Dir { .. })) {
        return fail(404, "PathNotFound", "The specified path does not exist.");
    }
    let recursive = q.get("recursive").map(String::as_str) == Some("true");
    let all: Vec<serde_json::Value> = children(tree, &dir)
        .filter(|(k, _)| recursive || !k[if dir.is_empty() { 0 } else { dir.len() + 1 }..].contains('/'))
        .map(|(k, node)| match node {
            // The service sends numbers and booleans as strings, and isDirectory only for directories.
            Node::Dir { etag, .. } => serde_json::json!({ "name": k, "isDirectory": "true", "contentLength": "0", "lastModified": http_date(), "etag": format!("0x{etag:X}") }),
            Node::File { data, etag, .. } => serde_json::json!({ "name": k, "contentLength": data.len().to_string(), "lastModified": http_date(), "etag": format!("0x{etag:X}") }),
        })
        .collect();
    let (items, next) = page(all, q);
    let body = serde_json::json!({ "paths": items })
        .to_string()
        .into_bytes();
    with_continuation(
        Answer {
            body,
            ..answer(200).header("content-type", "application/json")
        },
        next,
    )
}
