//! The crate's modules import each other without cycles.
//!
//! Reads every file under `src/`, turns each into its module path (`src/partition/iter.rs` is
//! `partition::iter`), and collects the modules each one names through `crate::` and
//! `super::` paths, `use` groups included; a name re-exported by `lib.rs` counts as the module
//! it comes from. A module that declares a child is not taken to depend on it (declaring and
//! re-exporting children is structure, not use); test modules (`tests`, `*_tests`, and inline
//! `#[cfg(test)] mod` blocks) are left out. Then every strongly connected component of more
//! than one module is a cycle, and the test lists them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `["a", "b"]`; `src/lib.rs` is `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

fn is_test_module(m: &[String]) -> bool {
    m.iter().any(|p| p == "tests" || p.ends_with("_tests"))
}

/// The source without comments and without inline `#[cfg(test)] mod name { ... }` blocks.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let code = line.find("//").map_or(line, |i| &line[..i]);
        out.push_str(code);
        out.push('\n');
    }
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let Some(brace) = rest.find('{') else { break };
        let header = &rest[..brace];
        if !header.contains("mod ") || header.contains(';') {
            // `#[cfg(test)]` on something else: keep it, look further.
            out.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        }
        let mut depth = 0usize;
        let mut end = out.len();
        for (i, ch) in out[at + brace..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + brace + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// The paths in a `use` tree starting right after `crate::` or `super::` at `rest`: either
/// one path of identifiers, or a `{...}` group of trees.
fn paths_at(rest: &str) -> Vec<Vec<String>> {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1usize;
        let mut items = Vec::new();
        let mut current = String::new();
        for ch in group.chars() {
            match ch {
                '{' => {
                    depth += 1;
                    current.push(ch);
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    current.push(ch);
                }
                ',' if depth == 1 => items.push(std::mem::take(&mut current)),
                _ => current.push(ch),
            }
        }
        items.push(current);
        return items
            .iter()
            .flat_map(|item| {
                let item = item.trim();
                match item.find("::") {
                    Some(i) if !item[..i].contains('{') => {
                        let head = item[..i].trim().to_owned();
                        paths_at(&item[i + 2..])
                            .into_iter()
                            .map(|mut p| {
                                p.insert(0, head.clone());
                                p
                            })
                            .collect::<Vec<_>>()
                    }
                    _ => vec![ident_path(item)],
                }
            })
            .filter(|p| !p.is_empty())
            .collect();
    }
    vec![ident_path(rest)]
}

/// The leading `a::b::c` identifiers of `s`.
fn ident_path(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        parts.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(r) if r.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') => rest = r,
            _ => break,
        }
    }
    parts
}

/// Every absolute path (from the crate root) that the code of module `module` names.
fn references(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        out.extend(paths_at(&code[i + "crate::".len()..]));
    }
    let mut i = 0;
    while let Some(j) = code[i..].find("super::") {
        let at = i + j;
        i = at + 1;
        if code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // `super::super::x`: count the hops.
        let mut rest = &code[at..];
        let mut hops = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            hops += 1;
            rest = r;
        }
        // In module `a::b` (`a/b.rs` or `a/b/mod.rs`) `super` is `a`.
        let keep = module.len().saturating_sub(hops);
        for p in paths_at(rest) {
            let mut full: Vec<String> = module[..keep].to_vec();
            full.extend(p);
            out.push(full);
        }
        i = at + "super::".len() * hops;
    }
    out
}

/// `pub use module::{A, B}` items of `lib.rs`: name -> module path.
fn re_exports(lib_code: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (i, _) in lib_code.match_indices("pub use ") {
        for p in paths_at(&lib_code[i + "pub use ".len()..]) {
            if let Some((name, module)) = p.split_last() {
                out.insert(name.clone(), module.to_vec());
            }
        }
    }
    out
}

/// Strongly connected components (Tarjan) with more than one node.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Module path -> the modules it uses (children excluded).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (module_of(src, f), code_of(&fs::read_to_string(f).unwrap())))
        .filter(|(m, _)| !is_test_module(m))
        .collect();
    let exports = re_exports(&modules[&Vec::new()]);
    let resolve = |path: &[String]| -> Vec<String> {
        // The longest prefix that is a module; a root-level re-export counts as its source.
        let mut best: Vec<String> = Vec::new();
        for n in 1..=path.len() {
            if modules.contains_key(&path[..n]) {
                best = path[..n].to_vec();
            }
        }
        if best.is_empty()
            && let Some(m) = path.first().and_then(|name| exports.get(name))
        {
            return m.clone();
        }
        best
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &modules {
        let name = if module.is_empty() {
            "crate".to_owned()
        } else {
            module.join("::")
        };
        let deps = graph.entry(name).or_default();
        for path in references(module, code) {
            let target = resolve(&path);
            // Itself, a descendant of its own (structure), or the root: not a use.
            if target.is_empty() || target.starts_with(module) {
                continue;
            }
            deps.insert(target.join("::"));
        }
    }
    graph
}

#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(
        graph.len() > 20,
        "found the crate's modules: {:?}",
        graph.keys()
    );
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("{a} -> {b}"))
                })
                .collect();
            format!("{{{}}}: {}", c.join(", "), edges.join("; "))
        })
        .collect();
    assert!(
        found.is_empty(),
        "module import cycles:\n{}",
        described.join("\n")
    );
}

#[test]
fn the_checker_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod c;\npub use c::Thing;\n",
    )
    .unwrap();
    fs::write(
        src.join("a.rs"),
        "use crate::b::X;\n// crate::c::Y in a comment\n",
    )
    .unwrap();
    fs::create_dir(src.join("b")).unwrap();
    fs::write(
        src.join("b/mod.rs"),
        "mod inner;\nuse crate::{Thing, a::Y};\n",
    )
    .unwrap();
    fs::write(src.join("b/inner.rs"), "use super::Z;\n").unwrap();
    fs::write(
        src.join("c.rs"),
        "pub struct Thing;\n#[cfg(test)]\nmod tests {\n use crate::a::T;\n}\n",
    )
    .unwrap();
    let graph = module_graph(src);
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned()]));
    assert_eq!(graph["b"], BTreeSet::from(["a".to_owned(), "c".to_owned()]));
    assert_eq!(graph["b::inner"], BTreeSet::from(["b".to_owned()]));
    assert!(graph["c"].is_empty(), "test modules are left out");
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned()]]);
}
