//! The layering of `src/`, kept true: every `crate::` reference points to a module of the same
//! layer or below (README, "Layout"), and no two modules (nor two files of one module) refer to
//! each other in a circle. Reads the sources as text: comments and `#[cfg(test)] mod tests`
//! blocks are left out (tests may use anything).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, bottom first. A module may refer only to modules of its own
/// layer or below.
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("password", 1),
    ("soap", 1),
    ("notice", 1),
    ("store", 1),
    ("config", 1),
    ("govpay", 2),
    ("metrics", 3),
    ("journal", 3),
    ("edge", 3),
    ("gestionale", 3),
    ("demo", 3),
    ("fdr", 3),
    ("servizi", 3),
    ("nodo", 4),
    ("outbox", 4),
    ("api", 5),
    ("console", 6),
    ("app", 6),
    ("server", 6),
    ("replay", 6),
    ("cli", 6),
    ("main", 6),
    ("lib", 6),
];

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("module {module} has no layer in tests/layers.rs"))
}

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

/// The code of a file without comments and without its `#[cfg(test)] mod tests` block.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers following `prefix` in `code` (`crate::api::dto` → `api`, then `dto`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        let after = &rest[at + prefix.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let path: Vec<&str> = after
            .split("::")
            .take(2)
            .map(|seg| {
                let end = seg
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(seg.len());
                &seg[..end]
            })
            .take_while(|s| !s.is_empty())
            .collect();
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

/// (module, file stem) of a source file: `src/api/pendenze.rs` → (api, pendenze),
/// `src/app.rs` → (app, app), `src/api/mod.rs` → (api, mod).
fn place(src: &Path, file: &Path) -> (String, String) {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    let module = parts.remove(0);
    let stem = parts.first().cloned().unwrap_or_else(|| module.clone());
    (module, stem)
}

/// A cycle in `graph`, if any (depth-first search).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut c = stack[at..].to_vec();
            c.push(node.to_owned());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn imports_point_down_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward = Vec::new();
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut inner: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let (module, stem) = place(&src, file);
        let code = code(&std::fs::read_to_string(file).unwrap());
        let siblings = inner.entry(module.clone()).or_default();
        siblings.entry(stem.clone()).or_default();
        for path in paths_after(&code, "crate::") {
            let target = path[0];
            if target == "xml_struct" {
                continue; // the macro, exported at the crate root from soap::schema
            }
            if target == module {
                if let Some(sub) = path.get(1).filter(|s| **s != stem) {
                    siblings
                        .entry(stem.clone())
                        .or_default()
                        .insert((*sub).to_owned());
                }
                continue;
            }
            if layer(target) > layer(&module) {
                upward.push(format!(
                    "{} uses crate::{target} (layer {} above {})",
                    file.strip_prefix(&src).unwrap().display(),
                    layer(target),
                    layer(&module)
                ));
            }
            modules
                .entry(module.clone())
                .or_default()
                .insert(target.to_owned());
        }
        if stem != "mod" {
            for path in paths_after(&code, "super::") {
                if path[0] != "super" && path[0] != stem {
                    siblings
                        .entry(stem.clone())
                        .or_default()
                        .insert(path[0].to_owned());
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run upward:\n{}",
        upward.join("\n")
    );
    if let Some(c) = cycle(&modules) {
        panic!("modules in a circle: {}", c.join(" → "));
    }
    for (module, graph) in &inner {
        // A file's parent (`mod.rs`) is not a sibling: only file ↔ file circles count.
        let graph: BTreeMap<String, BTreeSet<String>> = graph
            .iter()
            .filter(|(stem, _)| *stem != "mod")
            .map(|(stem, refs)| {
                let refs = refs
                    .iter()
                    .filter(|r| *r != "mod" && graph.contains_key(*r))
                    .cloned()
                    .collect();
                (stem.clone(), refs)
            })
            .collect();
        if let Some(c) = cycle(&graph) {
            panic!("files of {module} in a circle: {}", c.join(" → "));
        }
    }
    // The store is handed what it needs: it knows the domain and nothing else.
    let store_uses: Vec<&String> = modules["store"].iter().filter(|m| *m != "domain").collect();
    assert!(
        store_uses.is_empty(),
        "store must use only domain, uses {store_uses:?}"
    );
    // The check itself must see the layering it guards.
    assert!(modules["nodo"].contains("store") && modules["api"].contains("nodo"));
}

#[test]
fn the_check_finds_upward_imports_and_circles() {
    let code = code("use crate::api::dto; // crate::app\nfn f() { super::b::x(); }");
    assert_eq!(paths_after(&code, "crate::"), vec![vec!["api", "dto"]]);
    assert_eq!(paths_after(&code, "super::"), vec![vec!["b", "x"]]);
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    assert!(layer("api") > layer("store"));
}
