//! Guest stdout/stderr: split into lines, scrubbed, and logged with the component's name.
//!
//! The last few stderr lines are also kept, because that is where a Rust guest's panic
//! message goes: a trap report quotes them so "unreachable executed" comes with its reason.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::log::{cut, LogRate};
use crate::redact::Scrubber;

/// Longest line kept before it is logged in pieces (a guest printing without newlines must not
/// grow host memory without bound).
const MAX_LINE: usize = 64 * 1024;
/// Stderr lines kept for trap reports.
const TAIL_LINES: usize = 20;

/// Which guest stream a [`GuestOutput`] captures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The last lines a guest wrote to stderr.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines, oldest first, joined with newlines.
    pub fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A WASI output stream that logs what the guest writes.
#[derive(Clone)]
pub struct GuestOutput {
    stream: Stream,
    component: Arc<str>,
    scrubber: Scrubber,
    tail: StderrTail,
    rate: Arc<LogRate>,
}

impl GuestOutput {
    /// Captures `stream` of `component`, its lines counted against `rate`.
    pub fn new(
        stream: Stream,
        component: Arc<str>,
        scrubber: Scrubber,
        tail: StderrTail,
        rate: Arc<LogRate>,
    ) -> Self {
        GuestOutput {
            stream,
            component,
            scrubber,
            tail,
            rate,
        }
    }

    fn emit(&self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let trimmed = text.trim_end_matches(['\r', '\n']);
        if trimmed.trim().is_empty() {
            return;
        }
        let component = &*self.component;
        self.rate.write(component, || {
            let line = cut(&self.scrubber.scrub(trimmed)).into_owned();
            match self.stream {
                Stream::Stdout => {
                    tracing::info!(target: "guest", component, stream = "stdout", "{line}")
                }
                Stream::Stderr => {
                    tracing::warn!(target: "guest", component, stream = "stderr", "{line}");
                    self.tail.push(line);
                }
            }
        });
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            output: self.clone(),
            buffer: Vec::new(),
        })
    }
}

/// Buffers bytes until a newline, then hands the line to [`GuestOutput::emit`].
struct LineWriter {
    output: GuestOutput,
    buffer: Vec<u8>,
}

impl LineWriter {
    fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // Up to the next newline, but never more than fills the buffer to MAX_LINE.
            let room = MAX_LINE.saturating_sub(self.buffer.len()).max(1);
            let take = bytes
                .iter()
                .take(room)
                .position(|b| *b == b'\n')
                .map_or(room.min(bytes.len()), |pos| pos + 1);
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.ends_with(b"\n") || self.buffer.len() >= MAX_LINE {
                self.flush_line();
            }
        }
    }

    fn flush_line(&mut self) {
        if !self.buffer.is_empty() {
            let line = std::mem::take(&mut self.buffer);
            self.output.emit(&line);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().flush_line();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_line();
    }
}
