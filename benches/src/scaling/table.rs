//! The report as Markdown tables.

use std::fmt::Write as _;

use super::cairn::FilesFound;
use super::{Report, Sample};
use crate::measure::Usage;

/// Markdown tables of the medians: CPU against Git on a workstation and on fresh CI
/// checkouts with memory and source-map bytes, then cairn against Git in detail, then where
/// the time goes.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Publish of {} changed objects, median of {} (cairn: `{}`; {}).\n",
        report.changes, report.repeat, report.cairn, report.git
    );
    summary(report, &mut out);
    out.push('\n');
    out.push_str(
        "| M | cairn publish wall | cairn CPU | cairn max RSS | incremental | objects written | bytes written | git commit+push wall | git CPU | wall cairn/git | CPU cairn/git |\n\
         |---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for size in &report.sizes {
        let s = &size.median;
        let git = s.git_total();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(size.objects as u64),
            seconds(s.cairn_publish.wall_s),
            seconds(s.cairn_publish.cpu_s()),
            bytes(s.cairn_publish.max_rss_bytes),
            if s.published.incremental { "yes" } else { "no" },
            s.cairn_objects,
            bytes(s.cairn_written.bytes),
            seconds(git.wall_s),
            seconds(git.cpu_s()),
            ratio(s.cairn_publish.wall_s, git.wall_s),
            ratio(s.cairn_publish.cpu_s(), git.cpu_s()),
        );
    }
    out.push_str(
        "\nWhere the time goes (medians). *Unchanged* is `cairn publish` of the same content again, which finds \
         nothing to upload: with the publish cache it stats every file (and re-reads the few written moments \
         before); *uncached* (`--no-cache`, a fresh checkout) reads, parses and hashes all M manifests and builds \
         the whole index. *Upload part* is the median of each publish's CPU minus the cached unchanged publish's \
         right after it.\n\n\
         | M | unchanged wall (CPU) | uncached unchanged wall (CPU) | upload part CPU | blobs + nodes + deltas + 3 | git add+commit wall (CPU) | git push wall (CPU) | git objects (bytes) | first publish wall (CPU) | first git commit+push wall (CPU) |\n\
         |---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for size in &report.sizes {
        let s: &Sample = &size.median;
        let p = &s.published;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} + {} + {} + 3 | {} | {} | {} ({}) | {} | {} |",
            thousands(size.objects as u64),
            wall_cpu(&s.cairn_unchanged),
            wall_cpu(&s.cairn_unchanged_uncached),
            seconds(size.upload_cpu_s),
            p.blobs_uploaded,
            p.nodes_uploaded,
            p.deltas_uploaded,
            wall_cpu(&s.git_commit),
            wall_cpu(&s.git_push),
            s.git_written.created,
            bytes(s.git_written.bytes),
            wall_cpu(&size.first_publish),
            wall_cpu(&size.first_git),
        );
    }
    out
}

/// CPU against Git for the cached publish and both fresh checkouts, memory, and the bytes of
/// source maps.
fn summary(report: &Report, out: &mut String) {
    out.push_str(
        "CPU (user + system) of `cairn publish` against `git add -A && git commit && git push` of the same \
         change in the same run: *cached* with the publish cache (the workstation), *fresh + cache* in a fresh \
         clone with the cache directory restored, *fresh + nothing* in a fresh clone with nothing restored (the \
         head's source map from the store); Git's fresh figures are in the same fresh clones.\n\n\
         | M | cached | git | ratio | fresh + cache | git (fresh) | ratio | fresh + nothing | git (fresh) | ratio | cached max RSS | per object |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for size in &report.sizes {
        let s = &size.median;
        let f = &s.fresh;
        let git = s.git_total();
        let cpu = |u: &Usage| seconds(u.cpu_s());
        let rss = s.cairn_publish.max_rss_bytes;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(size.objects as u64),
            cpu(&s.cairn_publish),
            cpu(&git),
            ratio(s.cairn_publish.cpu_s(), git.cpu_s()),
            cpu(&f.restored),
            cpu(&f.git_restored),
            ratio(f.restored.cpu_s(), f.git_restored.cpu_s()),
            cpu(&f.nothing),
            cpu(&f.git_nothing),
            ratio(f.nothing.cpu_s(), f.git_nothing.cpu_s()),
            bytes(rss),
            bytes(rss / size.objects.max(1) as u64),
        );
    }
    out.push_str(
        "\nHow the fresh publishes found the files (the last repetition's): known unchanged by the blob id \
         Git's index holds for them (not read), read and known by their bytes, parsed.\n\n\
         | M | fresh + cache: by Git's index / read / parsed | fresh + nothing: by Git's index / read / parsed |\n\
         |---:|---:|---:|\n",
    );
    for size in &report.sizes {
        let f = &size.median.fresh;
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            thousands(size.objects as u64),
            found(&f.restored_published.files),
            found(&f.nothing_published.files),
        );
    }
    out.push_str(
        "\nSource maps: the full map the first publish wrote, the map (a patch) each measured publish wrote, and \
         every map in the store at the end of the run.\n\n\
         | M | full map | per publish (patch) | in the store |\n\
         |---:|---:|---:|---:|\n",
    );
    for size in &report.sizes {
        let stored = &size.source_maps_stored;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} in {} maps |",
            thousands(size.objects as u64),
            bytes(size.full_source_map_bytes),
            bytes(size.median.published.source_map_bytes),
            bytes(stored.bytes),
            stored.created,
        );
    }
}

/// `99,990 / 0 / 10`.
fn found(files: &FilesFound) -> String {
    format!(
        "{} / {} / {}",
        thousands(files.unchanged_by_git_index),
        thousands(files.unchanged_by_content),
        thousands(files.parsed)
    )
}

fn wall_cpu(u: &Usage) -> String {
    format!("{} ({})", seconds(u.wall_s), seconds(u.cpu_s()))
}

/// `0.93 s`, `41 ms`, `12.3 s`.
pub fn seconds(s: f64) -> String {
    if s.abs() < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// `812 B`, `14.2 KiB`, `37.5 MiB`.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

/// `20,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(seconds(0.0412), "41 ms");
        assert_eq!(seconds(1.234), "1.23 s");
        assert_eq!(bytes(2048), "2.0 KiB");
    }
}
