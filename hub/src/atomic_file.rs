//! Writing a file so that a crash leaves either the old file or the new one, never a torn one.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` whole: into a temporary file beside it, synced, then renamed over
/// it. Creates the parent directory if needed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(dir.display()))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io(dir.display()))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(Error::io(temp.path().display()))?;
    temp.persist(path)
        .map_err(|e| Error::io(path.display())(e.error))?;
    Ok(())
}
