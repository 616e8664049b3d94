//! Files that survive a crash: atomic writes (write a sibling temporary file, fsync it, rename
//! it over the target) and append-only journals beside a base file ([`journal`]).

pub(crate) mod journal;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` so that readers see either the old or the new content, never a mix,
/// even across a crash. Creates missing parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, &tmp_path(path), bytes, true)
}

/// Like [`write_atomic`] but without waiting for the disk: for caches whose content is verified
/// when read back, where a torn file after a crash only costs a refetch.
/// Several writers (agents sharing a cache directory) may write the same file at once, so each
/// uses a temporary file of its own.
pub fn write_cached(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = tmp_path(path).into_os_string();
    name.push(format!(
        ".{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    write_replacing(path, &PathBuf::from(name), bytes, false)
}

fn write_replacing(path: &Path, tmp: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let result = (|| {
        let mut file = fs::File::create(tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// The temporary sibling `write_atomic` uses: `<name>.cairn-tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".cairn-tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.json");
        write_atomic(&path, b"1").unwrap();
        write_atomic(&path, b"2").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"2");
        assert!(!tmp_path(&path).exists());
    }
}
