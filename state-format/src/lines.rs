//! The framing shared by delta packs and snapshot packs: one zstd frame (with its checksum) of
//! newline-terminated canonical JSON lines. Canonical JSON has no raw newline, so a blob needs no
//! escaping or length prefix, and a reader holds one line at a time.

use std::io::{BufRead, BufReader, Read, Write};

use crate::error::{Error, Result, malformed};

/// Longest record line (a header, a put, a remove, a trailer).
pub(crate) const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Lines of a pack being written, compressed as they come.
pub(crate) struct LineWriter {
    encoder: zstd::Encoder<'static, Vec<u8>>,
    /// Uncompressed bytes written so far.
    pub written: u64,
    what: String,
}

impl LineWriter {
    /// A writer compressing at `level`, with the frame checksum.
    pub fn new(level: i32, what: &str) -> Result<LineWriter> {
        let mut encoder = zstd::Encoder::new(Vec::new(), level).map_err(io_error(what))?;
        encoder.include_checksum(true).map_err(io_error(what))?;
        Ok(LineWriter {
            encoder,
            written: 0,
            what: what.to_owned(),
        })
    }

    /// Writes `bytes` and a newline.
    pub fn line(&mut self, bytes: &[u8]) -> Result<()> {
        self.encoder
            .write_all(bytes)
            .and_then(|()| self.encoder.write_all(b"\n"))
            .map_err(io_error(&self.what))?;
        self.written += bytes.len() as u64 + 1;
        Ok(())
    }

    /// The finished frame.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.encoder.finish().map_err(io_error(&self.what))
    }
}

/// The decompressed lines of a pack.
pub(crate) type Lines<R> = BufReader<zstd::Decoder<'static, BufReader<R>>>;

/// Opens the zstd frame of a pack.
pub(crate) fn open<R: Read>(reader: R, what: &str) -> Result<Lines<R>> {
    let decoder = zstd::Decoder::new(reader).map_err(io_error(what))?;
    Ok(BufReader::new(decoder))
}

/// Opens the zstd frame of a pack and reads its header line: a JSON object whose `format` is
/// checked before its fields (so a newer pack reads as "upgrade").
pub(crate) fn open_with_header<R: Read, H: serde::de::DeserializeOwned>(
    reader: R,
    what: &str,
    format: u32,
) -> Result<(Lines<R>, H)> {
    let mut lines = open(reader, what)?;
    let first = read_line(&mut lines, MAX_RECORD_BYTES, what)?.ok_or_else(|| Error::Truncated {
        what: what.to_owned(),
        detail: "no header".to_owned(),
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&first).map_err(|e| malformed(what, e))?;
    crate::check_format(&value, what, format, format)?;
    let header = serde_json::from_value(value).map_err(|e| malformed(what, e))?;
    Ok((lines, header))
}

/// Whether anything follows in `lines` (a whole line or not).
pub(crate) fn at_end<R: Read>(lines: &mut Lines<R>, what: &str) -> Result<bool> {
    Ok(lines.fill_buf().map_err(read_error(what))?.is_empty())
}

/// The zstd level of delta packs and snapshot-pack shards: written once, read by every agent.
pub(crate) const PACK_ZSTD_LEVEL: i32 = 9;

/// The next line without its newline, at most `limit` bytes; `None` at the end of the stream.
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    limit: usize,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let read = reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(read_error(what))?;
    if read == 0 {
        return Ok(None);
    }
    if buf.pop() != Some(b'\n') {
        return Err(if read > limit {
            Error::TooLarge {
                what: format!("a line of {what}"),
                size: read as u64,
                limit: limit as u64,
            }
        } else {
            Error::Truncated {
                what: what.to_owned(),
                detail: "the last line is cut short".to_owned(),
            }
        });
    }
    Ok(Some(buf))
}

pub(crate) fn io_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Malformed {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

/// Maps a read error: a zstd stream that ends mid-frame is a truncated pack (a cut download), any
/// other failure a malformed one.
pub(crate) fn read_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::Truncated {
                what: what.to_owned(),
                detail: format!("the compressed stream ends early ({e})"),
            }
        } else {
            io_error(what)(e)
        }
    }
}

/// Reads the line after `entry`'s record: its blob, checked against the entry's digest and size.
pub(crate) fn read_blob_of(
    reader: &mut impl BufRead,
    entry: &crate::index::Entry,
    what: &str,
) -> Result<Vec<u8>> {
    let blob = read_line(reader, crate::MAX_BLOB_BYTES, what)?.ok_or_else(|| Error::Truncated {
        what: what.to_owned(),
        detail: format!("the blob of {} is missing", entry.id),
    })?;
    entry
        .blob
        .verify(&format!("blob of {} in {what}", entry.id), &blob)?;
    if blob.len() as u64 != entry.size {
        return Err(malformed(
            what,
            format!(
                "{} declares size {} but its blob is {} bytes",
                entry.id,
                entry.size,
                blob.len()
            ),
        ));
    }
    Ok(blob)
}
