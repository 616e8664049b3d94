//! Recording what a channel applied: a journal line per generation, the base file rewritten
//! when the journal outgrows it, then the head record; or the whole base file to a backend.

use std::path::Path;

use super::file::{encode, encode_head, record};
use super::{Applied, StateDir, Step};
use crate::error::{Error, Result, StateError};
use crate::fsutil::{journal, write_atomic};

impl StateDir {
    /// Records what `channel` applied: a journal line for `step`, or (first, or when the journal
    /// is due for compaction) the whole base file, atomically.
    pub(crate) async fn save(
        &self,
        channel: &str,
        applied: &Applied,
        step: Step<'_>,
    ) -> Result<()> {
        let path = self.locate(channel);
        if let Some(backend) = &self.backend {
            let bytes = encode(channel, applied).map_err(|e| Error::state(&path, e))?;
            return backend.write(channel, bytes, applied).await;
        }
        self.save_files(channel, &path, applied, step)?;
        // Written last: a crash before it leaves a record of an older head, which the full load
        // after the first poll corrects.
        let head_file = self.head_file(channel);
        let bytes = encode_head(channel, &applied.head).map_err(|e| Error::state(&head_file, e))?;
        write_atomic(&head_file, &bytes)
            .map_err(|e| Error::state(&head_file, StateError::io("write")(e)))
    }

    fn save_files(
        &self,
        channel: &str,
        path: &Path,
        applied: &Applied,
        step: Step<'_>,
    ) -> Result<()> {
        let journal = journal::path_of(path);
        if let (Step::From { from, changes }, Ok(base)) = (step, std::fs::metadata(path)) {
            let line = record(applied, from, changes).map_err(|e| Error::state(path, e))?;
            let length = journal::append(&journal, &[line])
                .map_err(|e| Error::state(&journal, StateError::io("append to")(e)))?;
            if !journal::due(length, base.len()) {
                return Ok(());
            }
        }
        let bytes = encode(channel, applied).map_err(|e| Error::state(path, e))?;
        write_atomic(path, &bytes).map_err(|e| Error::state(path, StateError::io("write")(e)))?;
        // Lines already in the new base are skipped on load, so a crash before this is harmless.
        journal::remove(&journal).map_err(|e| Error::state(&journal, StateError::io("remove")(e)))
    }

    /// Writes `applied` again where a backend keeps more beside it (the Kubernetes target's
    /// fingerprints of objects it just corrected); the state directory's file has not changed,
    /// so nothing is written there.
    pub(crate) async fn resave(&self, channel: &str, applied: &Applied) -> Result<()> {
        match &self.backend {
            Some(_) => self.save(channel, applied, Step::Full).await,
            None => Ok(()),
        }
    }
}
