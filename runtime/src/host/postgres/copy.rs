//! Counting the rows of a COPY TO STDOUT stream, so `copy-source.rows` is exact.
//!
//! tokio-postgres does not surface the server's row count for COPY OUT, so the host counts as
//! the bytes pass: newline-terminated rows for text (embedded newlines are escaped), rows
//! outside quotes for csv, and tuple headers for binary.

use crate::bindings::postgres::{CopyFormat, CopyKind};

/// Incremental row counter for one COPY OUT stream.
pub struct RowCounter {
    kind: CopyKind,
    quote: u8,
    in_quotes: bool,
    /// Header line of csv still to skip.
    skip_header: bool,
    rows: u64,
    binary: BinaryState,
}

/// Where the binary parser is: in the 19-byte signature/header, or before/inside a tuple.
struct BinaryState {
    header_left: usize,
    extension_len: Option<Vec<u8>>,
    pending: Vec<u8>,
    skip: u64,
    fields_left: u16,
    done: bool,
}

impl RowCounter {
    pub fn new(format: &CopyFormat) -> Self {
        let quote = format
            .quote
            .as_deref()
            .and_then(|q| q.bytes().next())
            .unwrap_or(b'"');
        RowCounter {
            kind: format.kind,
            quote,
            in_quotes: false,
            skip_header: format.header && matches!(format.kind, CopyKind::Csv),
            rows: 0,
            binary: BinaryState {
                header_left: 15,
                extension_len: Some(Vec::new()),
                pending: Vec::new(),
                skip: 0,
                fields_left: 0,
                done: false,
            },
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        match self.kind {
            CopyKind::Text => self.rows += chunk.iter().filter(|b| **b == b'\n').count() as u64,
            CopyKind::Csv => {
                for &b in chunk {
                    if b == self.quote {
                        self.in_quotes = !self.in_quotes;
                    } else if b == b'\n' && !self.in_quotes {
                        if self.skip_header {
                            self.skip_header = false;
                        } else {
                            self.rows += 1;
                        }
                    }
                }
            }
            CopyKind::Binary => self.feed_binary(chunk),
        }
    }

    fn feed_binary(&mut self, mut chunk: &[u8]) {
        let st = &mut self.binary;
        while !chunk.is_empty() && !st.done {
            // Signature (11 bytes) + flags (4).
            if st.header_left > 0 {
                let n = st.header_left.min(chunk.len());
                st.header_left -= n;
                chunk = &chunk[n..];
                continue;
            }
            // Header extension: a 4-byte length, then that many bytes.
            if let Some(len_bytes) = &mut st.extension_len {
                let need = 4 - len_bytes.len();
                let n = need.min(chunk.len());
                len_bytes.extend_from_slice(&chunk[..n]);
                chunk = &chunk[n..];
                if len_bytes.len() == 4 {
                    st.skip = u32::from_be_bytes([
                        len_bytes[0],
                        len_bytes[1],
                        len_bytes[2],
                        len_bytes[3],
                    ]) as u64;
                    st.extension_len = None;
                }
                continue;
            }
            if st.skip > 0 {
                let n = (st.skip as usize).min(chunk.len());
                st.skip -= n as u64;
                chunk = &chunk[n..];
                continue;
            }
            // Before a tuple: 2-byte field count (-1 ends the data); inside: 4-byte lengths.
            let need = if st.fields_left == 0 { 2 } else { 4 };
            let n = (need - st.pending.len()).min(chunk.len());
            st.pending.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if st.pending.len() < need {
                continue;
            }
            if st.fields_left == 0 {
                let count = i16::from_be_bytes([st.pending[0], st.pending[1]]);
                if count < 0 {
                    st.done = true;
                } else {
                    self.rows += 1;
                    st.fields_left = count as u16;
                }
            } else {
                let len = i32::from_be_bytes([
                    st.pending[0],
                    st.pending[1],
                    st.pending[2],
                    st.pending[3],
                ]);
                st.skip = len.max(0) as u64;
                st.fields_left -= 1;
            }
            st.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(kind: CopyKind, header: bool) -> CopyFormat {
        CopyFormat {
            kind,
            header,
            delimiter: None,
            null_string: None,
            quote: None,
        }
    }

    #[test]
    fn csv_counts_rows_not_quoted_newlines() {
        let mut c = RowCounter::new(&format(CopyKind::Csv, true));
        for chunk in [b"a,b\n1,\"x\ny\"\n".as_slice(), b"2,z", b"\n"] {
            c.feed(chunk);
        }
        assert_eq!(c.rows(), 2);
    }

    #[test]
    fn binary_counts_tuples_across_chunk_boundaries() {
        let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
        data.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [1i32, 2, 3] {
            data.extend_from_slice(&1i16.to_be_bytes());
            data.extend_from_slice(&4i32.to_be_bytes());
            data.extend_from_slice(&v.to_be_bytes());
        }
        data.extend_from_slice(&(-1i16).to_be_bytes());
        let mut c = RowCounter::new(&format(CopyKind::Binary, false));
        for chunk in data.chunks(3) {
            c.feed(chunk);
        }
        assert_eq!(c.rows(), 3);
    }
}
