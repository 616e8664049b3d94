//! The hub's modules are layered, as the module map in `src/lib.rs` says: a module imports only
//! from layers below its own. This reads the sources and checks every `crate::` and `super::`
//! path outside `#[cfg(test)]` (doc links included) against the map, so the map and the import
//! graph cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each top-level module's layer, from the rows of the module map (`//! | 3 | `channel` | …`).
fn layers(lib: &str) -> BTreeMap<String, u32> {
    lib.lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("//! |")?.split('|').map(str::trim);
            let layer = cells.next()?.parse().ok()?;
            let module = cells.next()?.trim_matches(['[', ']', '`']);
            Some((module.to_owned(), layer))
        })
        .collect()
}

/// The modules `lib.rs` declares.
fn declared(lib: &str) -> Vec<&str> {
    lib.lines()
        .filter_map(|line| {
            let line = line.strip_prefix("pub ").unwrap_or(line);
            line.strip_prefix("mod ")?.strip_suffix(';')
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`publish/packs/mod.rs` → `[publish, packs]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file before its tests.
fn without_tests(text: &str) -> &str {
    ["#[cfg(test", "#[cfg(all(test"]
        .iter()
        .filter_map(|marker| text.find(marker))
        .min()
        .map_or(text, |at| &text[..at])
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Each path in `code` that starts with `head` (`crate::`, `super::`) at a word boundary: how
/// many times `head` repeats, and the name after the last.
fn paths<'a>(code: &'a str, head: &str) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(head) {
        let start = from + found;
        let mut end = start;
        let mut repeats = 0;
        while code[end..].starts_with(head) {
            end += head.len();
            repeats += 1;
        }
        from = end;
        if code[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let name_end = code[end..]
            .find(|c| !is_ident(c))
            .map_or(code.len(), |n| end + n);
        out.push((repeats, &code[end..name_end]));
    }
    out
}

/// The top-level modules `code`, in the module at `path`, refers to outside its own.
fn referred(path: &[String], code: &str) -> Vec<String> {
    let mut out: Vec<String> = paths(code, "crate::")
        .into_iter()
        .map(|(_, name)| name.to_owned())
        .collect();
    for (climbs, name) in paths(code, "super::") {
        // Climbing to the crate root names a top-level module; anything less stays inside
        // this file's own top-level module.
        if climbs >= path.len() {
            out.push(name.to_owned());
        }
    }
    out.retain(|m| *m != path[0]);
    out
}

#[test]
fn every_import_points_to_a_lower_layer() {
    let root = src();
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let layers = layers(&lib);
    for module in declared(&lib) {
        assert!(
            layers.contains_key(module),
            "module {module} is missing from the module map in lib.rs"
        );
    }
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut back_arrows = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let path = module_path(relative);
        if path == ["lib"] || path == ["main"] {
            continue;
        }
        let own = layers[&path[0]];
        let text = std::fs::read_to_string(&file).unwrap();
        for target in referred(&path, without_tests(&text)) {
            let layer = *layers
                .get(&target)
                .unwrap_or_else(|| panic!("{}: crate::{target} is not a module", file.display()));
            if layer >= own {
                back_arrows.push(format!(
                    "{} (layer {own}) uses {target} (layer {layer})",
                    relative.display()
                ));
            }
        }
    }
    back_arrows.sort();
    back_arrows.dedup();
    assert!(back_arrows.is_empty(), "{back_arrows:#?}");
}

/// The modules of `path`'s folder (`publish::scan`'s are `publish::*`) that `code` uses.
fn siblings(path: &[String], code: &str) -> BTreeSet<String> {
    let inside = format!("crate::{}::", path[0]);
    let mut out: BTreeSet<String> = paths(code, &inside)
        .into_iter()
        .map(|(_, name)| name.to_owned())
        .collect();
    for (climbs, name) in paths(code, "super::") {
        // From `folder/x.rs` one climb, from `folder/x/y.rs` two, reach the folder itself.
        if climbs + 1 == path.len() {
            out.insert(name.to_owned());
        }
    }
    out.remove(&path[1]);
    out
}

#[test]
fn no_folder_has_an_import_cycle_inside() {
    let root = src();
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut uses: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let path = module_path(file.strip_prefix(&root).unwrap());
        if path.len() < 2 {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let used = siblings(&path, without_tests(&text));
        let key = (path[0].clone(), path[1].clone());
        uses.entry(key).or_default().extend(used);
    }
    // A module that reaches itself through its siblings is on a cycle.
    let mut on_cycles = Vec::new();
    for (folder, module) in uses.keys() {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<String> = uses[&(folder.clone(), module.clone())]
            .iter()
            .cloned()
            .collect();
        while let Some(next) = pending.pop() {
            if next == *module {
                on_cycles.push(format!("{folder}::{module}"));
                break;
            }
            if seen.insert(next.clone()) {
                let key = (folder.clone(), next);
                pending.extend(uses.get(&key).into_iter().flatten().cloned());
            }
        }
    }
    assert!(
        on_cycles.is_empty(),
        "modules on an import cycle: {on_cycles:?}"
    );
}

#[test]
fn the_check_sees_crate_and_super_paths() {
    let file = [
        "publish".to_owned(),
        "packs".to_owned(),
        "snapshot_pack".to_owned(),
    ];
    let code = "use super::Blobs; use super::super::scan::Scan; use super::super::super::ui::x; \
                use crate::objects::read_pack; /// [`crate::error::Error`]";
    assert_eq!(referred(&file, code), ["objects", "error", "ui"]);
    let sibling = ["publish".to_owned(), "commit".to_owned()];
    let code =
        "use super::packs::PackWriter; use crate::publish::request::Settings; use super::commit;";
    assert_eq!(
        siblings(&sibling, code),
        BTreeSet::from(["packs".to_owned(), "request".to_owned()])
    );
}
