//! Which files Git may store otherwise than the work tree holds them.
//!
//! An index entry's blob id names the bytes Git stores, which are the work tree's bytes unless
//! a conversion applies: line endings (`text`, `eol`, `core.autocrlf`), `ident`, a `filter`
//! driver, a `working-tree-encoding`. The scan takes an id only for a file whose size is the
//! size of the bytes its record was made from, which every line-ending and `ident` conversion
//! changes (or leaves the bytes alone); a filter or an encoding may keep the size, so files with
//! either attribute are read. This asks `git check-attr`, which reads the same attribute files
//! as the checkout did.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The attributes that may turn stored bytes into other bytes of the same size.
const SIZE_KEEPING: [&str; 2] = ["filter", "working-tree-encoding"];

/// For each of `paths` (from the top of the work tree at `top`), whether one of
/// [`SIZE_KEEPING`] is set; `None` if `git check-attr` cannot tell.
pub fn converted(top: &Path, paths: &[&[u8]]) -> Option<Vec<bool>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["check-attr", "-z", "--stdin"])
        .args(SIZE_KEEPING)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input: Vec<u8> = paths.iter().flat_map(|p| [*p, b"\0"].concat()).collect();
    // Written from another thread: git answers as it reads, and a full pipe would stall both.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    if !output.status.success() {
        return None;
    }
    flagged(&output.stdout, paths.len())
}

/// Reads `check-attr -z` output: `path` NUL `attribute` NUL `value` NUL, for each path in
/// order, each attribute of [`SIZE_KEEPING`] in order.
fn flagged(output: &[u8], paths: usize) -> Option<Vec<bool>> {
    let fields: Vec<&[u8]> = output
        .strip_suffix(b"\0")
        .unwrap_or(output)
        .split(|b| *b == 0)
        .collect();
    let per_path = 3 * SIZE_KEEPING.len();
    if fields.len() != paths * per_path {
        return None;
    }
    let set = |value: &[u8]| !matches!(value, b"unspecified" | b"unset");
    let flags = fields
        .chunks(per_path)
        .map(|path| path.chunks(3).any(|field| set(field[2])))
        .collect();
    Some(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_filters_and_encodings_are_flagged() {
        let output = b"a.yaml\0filter\0unspecified\0a.yaml\0working-tree-encoding\0unset\0\
                       b.yaml\0filter\0lfs\0b.yaml\0working-tree-encoding\0unspecified\0\
                       c.yaml\0filter\0unspecified\0c.yaml\0working-tree-encoding\0IBM037\0";
        assert_eq!(flagged(output, 3), Some(vec![false, true, true]));
        assert_eq!(
            flagged(output, 2),
            None,
            "an answer of another length is not used"
        );
    }
}
