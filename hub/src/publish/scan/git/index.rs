//! Git's index as a scan reads it: the blob id of a tracked file, only where Git itself would
//! take the entry as the file without reading it.
//!
//! An entry is used when it is a regular file at stage 0, not marked assume-unchanged,
//! skip-worktree or intent-to-add, its stat data is the file's now ([`super::same_stat`]), its
//! size is not 0 (Git zeroes the size of the racily clean entries it writes, "smudging" them),
//! and it is not racily clean: modified no earlier than the index file was written, when a
//! later write in the same timestamp tick would go unseen. Any other file is read.

use std::path::Path;

use cairn_state_format::GitBlobId;
use gix_index::entry::{Flags, Mode};

use super::{same_stat, to_blob_id};
use crate::publish::scan_cache::Stamp;

/// A loaded index.
pub struct Index {
    file: gix_index::File,
    /// When the index file was written (its modification time): entries modified since are
    /// racily clean.
    written: (i64, u32),
}

/// Why an index was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("it cannot be read")]
    Io(#[from] std::io::Error),
    #[error("it is shorter than a header and a checksum")]
    TooShort,
    #[error("it does not decode or its checksum does not match")]
    Decode(#[from] gix_index::file::init::Error),
}

/// Entry flags under which Git does not compare a file with its entry.
const NOT_COMPARED: Flags = Flags::ASSUME_VALID
    .union(Flags::SKIP_WORKTREE)
    .union(Flags::INTENT_TO_ADD);

impl Index {
    /// Loads the index at `path`, of object format `kind`, its checksum checked.
    pub fn load(path: &Path, kind: gix_hash::Kind) -> Result<Index, IndexError> {
        // gix-index reads the trailing checksum before the header; refuse what cannot hold both.
        let header_and_checksum = 12 + kind.len_in_bytes() as u64;
        if std::fs::metadata(path)?.len() < header_and_checksum {
            return Err(IndexError::TooShort);
        }
        let file = gix_index::File::at(path, kind, false, Default::default())?;
        let written = file.timestamp();
        Ok(Index {
            written: (written.unix_seconds(), written.nanoseconds()),
            file,
        })
    }

    /// The blob id Git recorded for the file at `path` (from the top of the work tree), if the
    /// file is, by its stat data `stamp`, as Git last saw it (see the module's rules).
    pub fn blob(&self, path: &[u8], stamp: &Stamp) -> Option<GitBlobId> {
        let entry = self.file.entry_by_path(path.into())?;
        let stat = &entry.stat;
        let racy = (i64::from(stat.mtime.secs), stat.mtime.nsecs) >= self.written;
        let used = entry.stage_raw() == 0
            && !entry.flags.intersects(NOT_COMPARED)
            && (entry.mode == Mode::FILE || entry.mode == Mode::FILE_EXECUTABLE)
            && stat.size != 0
            && same_stat(stamp, stat)
            && !racy;
        used.then(|| to_blob_id(&entry.id)).flatten()
    }

    /// Whether the index tracks a `.gitattributes` file anywhere.
    pub fn lists_attributes(&self) -> bool {
        const NAME: &[u8] = b".gitattributes";
        self.file.entries().iter().any(|entry| {
            let path: &[u8] = entry.path(&self.file);
            path.strip_suffix(NAME)
                .is_some_and(|dir| dir.is_empty() || dir.ends_with(b"/"))
        })
    }
}
