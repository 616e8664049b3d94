//! Running a command and measuring it: wall time, CPU time (user and system, including every
//! descendant it waited for) and peak resident memory, all from `wait4(2)` on the child.
//!
//! ```
//! use std::process::Command;
//! use cairn_benches::measure::run;
//!
//! let (usage, stdout) = run(Command::new("echo").arg("hello"))?;
//! assert_eq!(stdout, b"hello\n");
//! assert!(usage.wall_s >= 0.0 && usage.max_rss_bytes > 0);
//! # Ok::<(), cairn_benches::Error>(())
//! ```

use std::io::{Read, Seek};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use wait4::Wait4;

use crate::error::{Error, Result};

/// Resources one command (or a sequence of commands) used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Wall-clock seconds from spawn to exit.
    pub wall_s: f64,
    /// User-mode CPU seconds of the process and the descendants it waited for.
    pub user_s: f64,
    /// Kernel-mode CPU seconds of the process and the descendants it waited for.
    pub sys_s: f64,
    /// Peak resident set size of the largest process of the tree, in bytes.
    pub max_rss_bytes: u64,
}

impl Usage {
    /// User plus system CPU seconds.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// The usage of running `self` and then `next`: times add up, the peak memory is the larger.
    pub fn then(self, next: Usage) -> Usage {
        Usage {
            wall_s: self.wall_s + next.wall_s,
            user_s: self.user_s + next.user_s,
            sys_s: self.sys_s + next.sys_s,
            max_rss_bytes: self.max_rss_bytes.max(next.max_rss_bytes),
        }
    }

    /// Field by field medians of `samples` (each field independently); zero if there are none.
    pub fn median(samples: &[Usage]) -> Usage {
        let field = |f: fn(&Usage) -> f64| median(&samples.iter().map(f).collect::<Vec<_>>());
        Usage {
            wall_s: field(|u| u.wall_s),
            user_s: field(|u| u.user_s),
            sys_s: field(|u| u.sys_s),
            max_rss_bytes: field(|u| u.max_rss_bytes as f64) as u64,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); zero if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The command line, for messages.
pub fn describe(command: &Command) -> String {
    let mut out = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// Runs `command` to completion with no standard input, and returns what it used and its
/// standard output. Fails, with the tail of its standard error, unless it exits successfully.
pub fn run(command: &mut Command) -> Result<(Usage, Vec<u8>)> {
    let line = describe(command);
    let failed = |message: String| Error::Command {
        command: line.clone(),
        message,
    };
    let mut stderr = tempfile::tempfile().map_err(|e| failed(format!("no temporary file: {e}")))?;
    let child_stderr = stderr
        .try_clone()
        .map_err(|e| failed(format!("no temporary file: {e}")))?;
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(child_stderr)
        .spawn()
        .map_err(|e| failed(format!("cannot start: {e}")))?;
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)
            .map_err(|e| failed(format!("reading its output: {e}")))?;
    }
    let used = child
        .wait4()
        .map_err(|e| failed(format!("waiting for it: {e}")))?;
    let wall_s = start.elapsed().as_secs_f64();
    if !used.status.success() {
        let mut text = String::new();
        let _ = stderr
            .rewind()
            .and_then(|()| stderr.read_to_string(&mut text));
        let tail: String = text
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(failed(format!("{}: {}", used.status, tail.trim())));
    }
    Ok((
        Usage {
            wall_s,
            user_s: used.rusage.utime.as_secs_f64(),
            sys_s: used.rusage.stime.as_secs_f64(),
            max_rss_bytes: used.rusage.maxrss,
        },
        stdout,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn a_failing_command_reports_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo broken >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("broken") && text.contains('3'), "{text}");
    }
}
