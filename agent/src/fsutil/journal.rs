//! Append-only journals beside a base file: a change costs one appended line, not a rewrite of
//! the base, and the base is rewritten (compacted) only once the journal outgrows it, so
//! persisting stays O(what changed) amortized.
//!
//! A line is one JSON record ending in `\n`, appended and synced before the caller goes on. A
//! crash in the middle of an append leaves a last line without its `\n`: [`read`] drops it (the
//! change it described was never acknowledged) and cuts it off the file, so the next append
//! starts on a fresh line. Any complete line that does not decode is damage, which the caller
//! reports.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal of `base`: `<base>.journal`.
pub fn path_of(base: &Path) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(".journal");
    base.with_file_name(name)
}

/// Appends `lines` (each without its `\n`) and syncs them to disk. Returns the journal's length.
pub fn append(path: &Path, lines: &[Vec<u8>]) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        buf.extend_from_slice(line);
        buf.push(b'\n');
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&buf)?;
    file.sync_data()?;
    Ok(file.metadata()?.len())
}

/// The complete lines of the journal at `path` (none if it does not exist). A torn last line is
/// dropped and cut off the file; `true` says one was.
pub fn read(path: &Path) -> std::io::Result<(Vec<Vec<u8>>, bool)> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
        Err(e) => return Err(e),
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let torn = complete < bytes.len();
    if torn {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(complete as u64)?;
        file.sync_data()?;
    }
    let lines = bytes[..complete]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok((lines, torn))
}

/// Removes the journal (after its records were folded into a new base).
pub fn remove(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether a journal of `journal` bytes should be folded into a base of `base` bytes: once it
/// is larger than the base, so rewriting the base costs no more than the appends did.
pub fn due(journal: u64, base: u64) -> bool {
    journal > base.max(16 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        assert_eq!(read(&path).unwrap(), (vec![], false));
        append(&path, &[b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]).unwrap();
        // A crash in the middle of the next append.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"a\":").unwrap();
        let (lines, torn) = read(&path).unwrap();
        assert_eq!(lines, [b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]);
        assert!(torn);
        append(&path, &[b"{\"a\":3}".to_vec()]).unwrap();
        assert_eq!(read(&path).unwrap().0.len(), 3);
        remove(&path).unwrap();
        remove(&path).unwrap();
    }
}
