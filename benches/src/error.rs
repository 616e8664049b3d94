//! The benchmark tools' error type.

use std::path::Path;

/// What went wrong while preparing or running a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{what}: {message}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The operating system's error.
        message: String,
    },
    /// A command could not be started, or exited unsuccessfully.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status or start error, and the tail of its standard error.
        message: String,
    },
    /// An agent of the fleet could not be built: its configuration was refused.
    #[error("agent: {0}")]
    Agent(#[from] cairn_agent::Error),
    /// A cairn command failed.
    #[error("cairn: {0}")]
    Hub(#[from] cairn_hub::Error),
    /// A store could not be opened.
    #[error("store: {0}")]
    Store(#[from] cairn_store::Error),
    /// A command succeeded but its output or effect is not what the benchmark expects (the
    /// figures would be meaningless).
    #[error("`{command}`: {message}")]
    Unexpected {
        /// The command line.
        command: String,
        /// What was expected and what was found.
        message: String,
    },
}

/// Results of the benchmark tools.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A mapper from an I/O error to [`Error::Io`] for work on no single path (sockets, threads).
    pub fn os(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::Io {
            what: what.to_owned(),
            message: e.to_string(),
        }
    }

    /// What the benchmark found wrong while running `what`.
    pub fn unexpected(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Unexpected {
            command: what.into(),
            message: message.into(),
        }
    }

    /// A mapper from an I/O error to [`Error::Io`] that names `what` was done to `path`.
    pub fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let what = format!("{what} {}", path.display());
        move |e| Error::Io {
            what,
            message: e.to_string(),
        }
    }
}
