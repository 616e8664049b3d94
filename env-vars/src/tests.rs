//! The list is complete, used, and what the README says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README's table of variables, as generated from [`ALL`].
fn table() -> String {
    let mut out = String::from("| variable | read by | what it is for |\n|---|---|---|\n");
    for var in ALL {
        let doc = var.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!(
            "| `{}` | {} | {doc} |\n",
            var.name,
            var.read_by.as_str()
        ));
    }
    out
}

const START: &str = "<!-- env-vars: generated from env-vars/src/lib.rs; CAIRN_BLESS=1 cargo test -p cairn-env-vars rewrites it -->\n";
const END: &str = "<!-- env-vars: end -->";

#[test]
fn the_readme_lists_every_variable() {
    let path = workspace().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md has no generated table of variables (markers {START:?} … {END:?})");
    };
    let current = &readme[start + START.len()..end];
    let wanted = table();
    if current == wanted {
        return;
    }
    if std::env::var_os(EnvVars::CAIRN_BLESS).is_some() {
        let updated = format!("{}{START}{wanted}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's table of variables is out of date; run CAIRN_BLESS=1 cargo test -p cairn-env-vars\n{wanted}"
    );
}

/// Every file of the workspace that may read a variable.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "env-vars" | "node_modules"
            ) {
                sources(&path, out);
            }
        } else if [".rs", ".sh", ".yaml", ".yml", ".py", ".toml"]
            .iter()
            .any(|ext| name.ends_with(ext))
            || path.parent().is_some_and(|p| p.ends_with("scripts"))
        {
            out.push(path);
        }
    }
}

/// The `CAIRN_*` names in `text`.
fn names(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("CAIRN_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let preceded = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded && end > "CAIRN_".len() {
            found.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    found
}

#[test]
fn every_variable_read_anywhere_is_listed_and_rust_code_spells_none() {
    let listed: BTreeSet<&str> = ALL.iter().map(|v| v.name).collect();
    let mut files = Vec::new();
    sources(&workspace(), &mut files);
    let mut used = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for name in names(&text) {
            assert!(
                listed.contains(name.as_str()),
                "{} reads {name}, which env-vars/src/lib.rs does not list",
                file.display()
            );
            if file.extension().is_some_and(|e| e == "rs") {
                assert!(
                    !text.contains(&format!("\"{name}\"")),
                    "{} spells \"{name}\": use EnvVars::{name}",
                    file.display()
                );
            }
            used.insert(name);
        }
    }
    for name in listed {
        assert!(used.contains(name), "{name} is listed but nothing reads it");
    }
}

#[test]
fn names_are_found_whole() {
    let found = names("a CAIRN_STORE, ${CAIRN_TEST_S3_MOTO} and XCAIRN_NOT; CAIRN_");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["CAIRN_STORE", "CAIRN_TEST_S3_MOTO"]
    );
}
