//! Writing a file so that a crash leaves either the old file or the new one, never a torn one.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// [`write_with`], creating the parent directory if needed.
pub fn write_creating_dir(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(Error::io(dir.display()))?;
    write_with(path, fill)
}

/// Writes `path` whole: `fill` writes into a temporary file beside it, which is synced, then
/// renamed over it.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<()> {
    let dir = parent(path);
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io(dir.display()))?;
    fill(temp.as_file_mut())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(Error::io(path.display()))?;
    temp.persist(path)
        .map_err(|e| Error::io(path.display())(e.error))?;
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}
