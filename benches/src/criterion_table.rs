//! Criterion's saved estimates (`target/criterion/**/new/`) as one Markdown table of medians:
//! a row per benchmark function, a column per parameter (the snapshot size M).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// One benchmark's median, as criterion saved it.
#[derive(Clone, Debug, PartialEq)]
pub struct Median {
    /// Benchmark group (e.g. `diff_indexes`).
    pub group: String,
    /// Function within the group (e.g. `10_changes`), empty if the group has none.
    pub function: String,
    /// Parameter (the snapshot size).
    pub parameter: String,
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// Lower and upper bound of the median's 95% confidence interval, in nanoseconds.
    pub interval_ns: (f64, f64),
}

#[derive(Deserialize)]
struct BenchmarkFile {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct EstimatesFile {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// Every benchmark's latest median under `dir` (criterion's output directory).
pub fn read(dir: &Path) -> Result<Vec<Median>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
            let path = item.map_err(Error::io("listing", &dir))?.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some(median) = read_one(&path)? {
                    out.push(median);
                }
            } else if path
                .file_name()
                .is_none_or(|n| n != "base" && n != "change" && n != "report")
            {
                pending.push(path);
            }
        }
    }
    Ok(out)
}

fn read_one(dir: &Path) -> Result<Option<Median>> {
    let (benchmark, estimates) = (dir.join("benchmark.json"), dir.join("estimates.json"));
    if !benchmark.is_file() || !estimates.is_file() {
        return Ok(None);
    }
    let benchmark: BenchmarkFile = parse(&benchmark)?;
    let estimates: EstimatesFile = parse(&estimates)?;
    Ok(Some(Median {
        group: benchmark.group_id,
        function: benchmark.function_id.unwrap_or_default(),
        parameter: benchmark.value_str.unwrap_or_default(),
        median_ns: estimates.median.point_estimate,
        interval_ns: (
            estimates.median.confidence_interval.lower_bound,
            estimates.median.confidence_interval.upper_bound,
        ),
    }))
}

fn parse<T: for<'de> Deserialize<'de>>(path: &PathBuf) -> Result<T> {
    let bytes = std::fs::read(path).map_err(Error::io("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Io {
        what: format!("parsing {}", path.display()),
        message: e.to_string(),
    })
}

/// A Markdown table: a row per group and function, a column per parameter (numeric order),
/// each cell the median time per iteration.
pub fn markdown(medians: &[Median]) -> String {
    let number = |p: &str| p.replace(',', "").parse::<f64>().unwrap_or(f64::MAX);
    let mut parameters: Vec<&str> = medians.iter().map(|m| m.parameter.as_str()).collect();
    parameters.sort_by(|a, b| number(a).total_cmp(&number(b)).then(a.cmp(b)));
    parameters.dedup();
    // Rows by group, then by function with numbers compared as numbers (`1_changes` before
    // `10_changes`).
    let leading = |f: &str| {
        f.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse::<u64>().ok())
    };
    let mut rows: BTreeMap<(&str, Option<u64>, &str), BTreeMap<&str, f64>> = BTreeMap::new();
    for m in medians {
        rows.entry((&m.group, leading(&m.function), &m.function))
            .or_default()
            .insert(&m.parameter, m.median_ns);
    }
    let mut out = String::from("| benchmark |");
    for p in &parameters {
        match p.parse::<u64>() {
            Ok(n) => out.push_str(&format!(" M = {} |", crate::scaling::table::thousands(n))),
            Err(_) => out.push_str(&format!(" {p} |")),
        }
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(parameters.len()));
    out.push('\n');
    for ((group, _, function), cells) in &rows {
        let name = if function.is_empty() {
            group.to_string()
        } else {
            format!("{group} / {function}")
        };
        out.push_str(&format!("| {name} |"));
        for p in &parameters {
            match cells.get(p) {
                Some(ns) => out.push_str(&format!(" {} |", time(*ns))),
                None => out.push_str(" |"),
            }
        }
        out.push('\n');
    }
    out
}

/// `812 ns`, `14.2 µs`, `3.10 ms`, `1.25 s`.
pub fn time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_function_and_a_column_per_size_in_numeric_order() {
        let m = |g: &str, f: &str, p: &str, ns| Median {
            group: g.into(),
            function: f.into(),
            parameter: p.into(),
            median_ns: ns,
            interval_ns: (ns, ns),
        };
        let table = markdown(&[
            m("index_build", "", "20000", 2.5e7),
            m("index_build", "", "1000", 1.2e6),
            m("diff_indexes", "10_changes", "1000", 9000.0),
            m("diff_indexes", "1_changes", "1000", 900.0),
        ]);
        assert_eq!(
            table,
            "| benchmark | M = 1,000 | M = 20,000 |\n|---|---:|---:|\n\
             | diff_indexes / 1_changes | 900 ns | |\n| diff_indexes / 10_changes | 9.0 µs | |\n\
             | index_build | 1.20 ms | 25.00 ms |\n"
        );
    }
}
