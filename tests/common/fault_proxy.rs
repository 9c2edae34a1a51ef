//! A fault-injecting TCP proxy for the PostgreSQL wire protocol, put between `aw-run` and the
//! test cluster. It forwards bytes both ways, reading the protocol's message framing (the
//! untyped startup and SSL/GSS requests, then type byte + length) so that it can break a
//! connection at an exact point:
//! - [`Fault::CutAfterCommit`] and its kin let the server act on a message, swallow the
//!   server's whole answer (up to its ReadyForQuery) and close the connection: the server has
//!   committed, the client never hears it;
//! - [`Fault::Blackhole`] turns the connection into a silent peer: packets from the proxy's
//!   port are dropped in the kernel (a `tc` filter on `lo`, which needs root), so the client's
//!   TCP keepalives and retransmissions go unanswered, as after a failover or a lost NAT entry.
//!
//! Each fault fires once, on the first connection that reaches its trigger.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Where a connection breaks.
#[derive(Clone, Debug)]
pub enum Fault {
    /// A simple query starting with COMMIT (an explicit commit or the end of a statement's own
    /// transaction) reaches the server; its answer does not reach the client.
    CutAfterCommit,
    /// The end of a `COPY ... FROM STDIN` (CopyDone) reaches the server; its answer does not.
    CutAfterCopyDone,
    /// The first Execute after a Parse whose SQL contains this text reaches the server; its
    /// answer does not.
    CutAfterExecuteOf(String),
    /// A message holding this text (a simple query or a Parse) is held back and the connection
    /// goes silent in both directions until the proxy is dropped.
    Blackhole(String),
}

impl Fault {
    fn marker(&self) -> Option<&str> {
        match self {
            Fault::CutAfterExecuteOf(m) | Fault::Blackhole(m) => Some(m),
            _ => None,
        }
    }
}

struct Shared {
    upstream: u16,
    port: u16,
    armed: Mutex<Vec<Fault>>,
    fired: AtomicUsize,
    blackholed: AtomicBool,
}

/// A running proxy; faults are armed with [`FaultProxy::arm`].
pub struct FaultProxy {
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream,
            port,
            armed: Mutex::new(Vec::new()),
            fired: AtomicUsize::new(0),
            blackholed: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = accepting.clone();
                thread::spawn(move || serve(client, shared));
            }
        });
        FaultProxy { shared }
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Arms `fault`: it fires once.
    pub fn arm(&self, fault: Fault) {
        self.shared.armed.lock().expect("armed").push(fault);
    }

    /// How many faults have fired.
    pub fn fired(&self) -> usize {
        self.shared.fired.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if self.shared.blackholed.load(Ordering::SeqCst) {
            let _ = Command::new("tc")
                .args(["qdisc", "del", "dev", "lo", "root"])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Per connection: what the client side tells the server side.
struct Conn {
    /// Swallow the server's next answer, then close.
    cut: AtomicBool,
    /// Forward nothing more.
    silent: AtomicBool,
    /// Single-byte answers the server owes (to SSL / GSS requests).
    single_bytes: AtomicUsize,
}

fn serve(client: TcpStream, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", shared.upstream)) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let conn = Arc::new(Conn {
        cut: AtomicBool::new(false),
        silent: AtomicBool::new(false),
        single_bytes: AtomicUsize::new(0),
    });
    let (c_read, s_write) = (client.try_clone(), server.try_clone());
    let (Ok(c_read), Ok(s_write)) = (c_read, s_write) else {
        return;
    };
    {
        let (conn, shared) = (conn.clone(), shared.clone());
        thread::spawn(move || client_to_server(c_read, s_write, &conn, &shared));
    }
    server_to_client(server, client, &conn, &shared);
}

fn read_exact(stream: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// One length-prefixed body (the length counts itself).
fn read_body(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let len = read_exact(stream, 4)?;
    let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let body = read_exact(stream, n.checked_sub(4)?)?;
    Some((len, body))
}

/// One typed message: its type byte, length bytes and body.
fn read_typed(stream: &mut TcpStream) -> Option<(u8, Vec<u8>, Vec<u8>)> {
    let kind = read_exact(stream, 1)?[0];
    let (len, body) = read_body(stream)?;
    Some((kind, len, body))
}

/// Writes a typed message; false when the peer is gone.
fn send(to: &mut TcpStream, kind: u8, len: &[u8], body: &[u8]) -> bool {
    to.write_all(&[kind])
        .and_then(|()| to.write_all(len))
        .and_then(|()| to.write_all(body))
        .is_ok()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn client_to_server(mut from: TcpStream, mut to: TcpStream, conn: &Conn, shared: &Shared) {
    // Untyped until the startup message.
    loop {
        let Some((len, body)) = read_body(&mut from) else {
            return;
        };
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if matches!(code, Some(80877103) | Some(80877104)) {
            conn.single_bytes.fetch_add(1, Ordering::SeqCst);
        }
        if to
            .write_all(&len)
            .and_then(|()| to.write_all(&body))
            .is_err()
        {
            return;
        }
        if !matches!(code, Some(80877103) | Some(80877104)) {
            break;
        }
    }
    let mut parsed_marker: Vec<String> = Vec::new();
    while let Some((kind, len, body)) = read_typed(&mut from) {
        if conn.silent.load(Ordering::SeqCst) {
            continue;
        }
        let fired = {
            let mut armed = shared.armed.lock().expect("armed");
            let hit = armed.iter().position(|fault| match (fault, kind) {
                (Fault::CutAfterCommit, b'Q') => {
                    body.len() >= 6 && body[..6].eq_ignore_ascii_case(b"COMMIT")
                }
                (Fault::CutAfterCopyDone, b'c') => true,
                (Fault::CutAfterExecuteOf(m), b'E') => parsed_marker.iter().any(|p| p == m),
                (Fault::Blackhole(m), b'Q' | b'P') => contains(&body, m),
                _ => false,
            });
            if kind == b'P' {
                parsed_marker.extend(
                    armed
                        .iter()
                        .filter_map(Fault::marker)
                        .filter(|m| contains(&body, m))
                        .map(str::to_string),
                );
            }
            hit.map(|i| armed.remove(i))
        };
        match fired {
            Some(Fault::Blackhole(_)) => {
                conn.silent.store(true, Ordering::SeqCst);
                blackhole(shared);
                shared.fired.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            Some(_) => conn.cut.store(true, Ordering::SeqCst),
            None => {}
        }
        if !send(&mut to, kind, &len, &body) {
            break;
        }
    }
    if !conn.silent.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}

fn server_to_client(mut from: TcpStream, mut to: TcpStream, conn: &Conn, shared: &Shared) {
    loop {
        if conn.single_bytes.load(Ordering::SeqCst) > 0 {
            let Some(byte) = read_exact(&mut from, 1) else {
                break;
            };
            conn.single_bytes.fetch_sub(1, Ordering::SeqCst);
            if to.write_all(&byte).is_err() {
                break;
            }
            continue;
        }
        let Some((kind, len, body)) = read_typed(&mut from) else {
            break;
        };
        if conn.silent.load(Ordering::SeqCst) {
            continue;
        }
        if conn.cut.load(Ordering::SeqCst) {
            if kind == b'Z' {
                // The server finished with the message; the client hears nothing of it.
                shared.fired.fetch_add(1, Ordering::SeqCst);
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            continue;
        }
        if !send(&mut to, kind, &len, &body) {
            break;
        }
    }
    if !conn.silent.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Both);
    }
}

/// Drops every packet the proxy's side sends (source port = the proxy's) on `lo`: an HTB root
/// qdisc with a class whose queue holds nothing, and a u32 filter; removed when the proxy is
/// dropped. Only that direction: a packet dropped by the sender's own qdisc counts to the
/// sender's TCP as local congestion, not as a lost probe, so dropping the client's keepalives
/// would keep it waiting forever; dropping the replies is what a dead peer looks like.
fn blackhole(shared: &Shared) {
    let port = shared.port.to_string();
    let tc = |args: &[&str]| {
        let status = Command::new("tc").args(args).status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "`tc {}` failed ({status:?}): the stalled-connection test needs root and iproute2's tc",
            args.join(" ")
        );
    };
    let _ = Command::new("tc")
        .args(["qdisc", "del", "dev", "lo", "root"])
        .stderr(std::process::Stdio::null())
        .status();
    shared.blackholed.store(true, Ordering::SeqCst);
    tc(&[
        "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1",
    ]);
    tc(&[
        "class", "add", "dev", "lo", "parent", "1:", "classid", "1:1", "htb", "rate", "100gbit",
    ]);
    tc(&[
        "class", "add", "dev", "lo", "parent", "1:", "classid", "1:2", "htb", "rate", "100gbit",
    ]);
    tc(&[
        "qdisc", "add", "dev", "lo", "parent", "1:2", "handle", "20:", "pfifo", "limit", "0",
    ]);
    tc(&[
        "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
        "match", "ip", "sport", &port, "0xffff", "flowid", "1:2",
    ]);
}
