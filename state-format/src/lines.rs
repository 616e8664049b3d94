//! The framing shared by delta packs and snapshot packs: one zstd frame (with its checksum) of
//! newline-terminated canonical JSON lines. Canonical JSON has no raw newline, so a blob needs no
//! escaping or length prefix, and a reader holds one line at a time.

use std::io::{BufRead, BufReader, Read};

use zstd::zstd_safe::CParameter;

use crate::error::{Error, Result, malformed};

/// Longest record line (a header, a put, a remove, a trailer).
pub(crate) const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Lines of a pack being written, compressed in one go when finished.
///
/// Compressing the whole pack at once puts its size in the frame header, so a reader's
/// decoder needs a buffer of the pack's size, or of the window when the pack is larger: a
/// frame compressed as a stream of unknown length declares the level's whole window (4 MiB at
/// level 9), which every agent then allocated for each delta pack of a few kilobytes.
pub(crate) struct LineWriter {
    plain: Vec<u8>,
    level: i32,
    /// Uncompressed bytes written so far.
    pub written: u64,
    what: String,
}

impl LineWriter {
    /// A writer that will compress at `level`, with the frame checksum.
    pub fn new(level: i32, what: &str) -> LineWriter {
        LineWriter {
            plain: Vec::new(),
            level,
            written: 0,
            what: what.to_owned(),
        }
    }

    /// Writes `bytes` and a newline.
    pub fn line(&mut self, bytes: &[u8]) {
        self.plain.extend_from_slice(bytes);
        self.plain.push(b'\n');
        self.written += bytes.len() as u64 + 1;
    }

    /// The finished frame: checksummed, with its content size.
    pub fn finish(self) -> Result<Vec<u8>> {
        let what = &self.what;
        let mut compressor = zstd::bulk::Compressor::new(self.level).map_err(io_error(what))?;
        compressor
            .set_parameter(CParameter::ChecksumFlag(true))
            .and_then(|()| compressor.set_parameter(CParameter::ContentSizeFlag(true)))
            .map_err(io_error(what))?;
        compressor.compress(&self.plain).map_err(io_error(what))
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

#[cfg(test)]
mod tests {
    use super::*;
    use zstd::zstd_safe::{DCtx, InBuffer, OutBuffer};

    /// Bytes a streaming decoder holds after reading all of `frame` in 4 KiB steps.
    fn decoder_bytes(frame: &[u8]) -> usize {
        let mut dctx = DCtx::create();
        let mut input = InBuffer::around(frame);
        let mut out = vec![0u8; 4096];
        let mut decoded = 0;
        loop {
            let mut output = OutBuffer::around(out.as_mut_slice());
            let remaining = dctx.decompress_stream(&mut output, &mut input).unwrap();
            decoded += output.pos();
            if remaining == 0 {
                break;
            }
        }
        assert!(decoded > 0);
        dctx.sizeof()
    }

    #[test]
    fn a_small_pack_needs_a_small_decoder() {
        let mut lines = LineWriter::new(PACK_ZSTD_LEVEL, "test pack");
        for i in 0..20 {
            lines.line(format!("{{\"line\":{i}}}").as_bytes());
        }
        let written = lines.written;
        let frame = lines.finish().unwrap();
        let declared = zstd::zstd_safe::get_frame_content_size(&frame)
            .ok()
            .flatten();
        assert_eq!(declared, Some(written));
        // A stream of unknown length at the same level declares a 4 MiB window, which its
        // decoder allocates.
        let streamed = zstd::encode_all(&zstd::decode_all(&frame[..]).unwrap()[..], 9).unwrap();
        assert!(decoder_bytes(&streamed) > 4 << 20);
        assert!(decoder_bytes(&frame) < 512 << 10);
    }
}
