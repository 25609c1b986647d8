//! The library's modules import each other one way only: every `crate::`/`super::` path in
//! src/ (the binary's src/main.rs and src/cli/ excluded) is an edge from the file's module
//! to the module it names (items re-exported by a parent resolved to the child defining
//! them), and the graph must have no cycle. A cycle is printed in full.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("gpu::forward") of a file under src/, or None for the binary's files.
fn module_of(rel: &str) -> Option<String> {
    if rel == "main.rs" || rel.starts_with("cli/") {
        return None;
    }
    let rel = rel.strip_suffix(".rs")?;
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    Some(if rel == "lib" { String::new() } else { rel.replace('/', "::") })
}

fn files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            if let Some(m) = module_of(&rel) {
                out.push((m, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
}

/// Expands a use-tree such as `a::{b, c::{d, E}}` (the text after `crate::`) into paths.
fn expand(tree: &str, base: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let (head, group) = match tree.find('{') {
        Some(i) => (&tree[..i], Some(&tree[i + 1..tree.rfind('}').unwrap_or(tree.len())])),
        None => (tree, None),
    };
    let mut segs = base.to_vec();
    segs.extend(
        head.split("::").map(str::trim).filter(|s| !s.is_empty() && *s != "self").map(String::from),
    );
    let Some(group) = group else {
        out.push(segs);
        return;
    };
    // split the group at its top-level commas
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&group[start..i], &segs, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    expand(&group[start..], &segs, out);
}

/// Every `crate::…` and `super::…` path in `src` (use-trees expanded), as absolute segment
/// lists.
fn paths(module: &str, is_mod_file: bool, src: &str) -> Vec<Vec<String>> {
    // a file `x/y.rs` is module x::y; its `super` is x. A `mod.rs` or lib.rs is its module.
    let parent: Vec<String> = {
        let mut segs: Vec<String> =
            module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
        if !is_mod_file {
            segs.pop();
        }
        segs
    };
    let code: String =
        src.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `my_crate::`
            }
            // the path, with a brace group (balanced) if it has one
            let mut end = 0;
            let mut depth = 0;
            for (j, c) in rest.char_indices() {
                let in_path = c.is_alphanumeric() || c == '_' || c == ':';
                match c {
                    '{' => depth += 1,
                    '}' if depth > 0 => depth -= 1,
                    _ if depth > 0 || in_path => {}
                    _ => break,
                }
                end = j + c.len_utf8();
                if depth == 0 && c == '}' {
                    break;
                }
            }
            expand(&rest[..end], &base, &mut out);
        }
    }
    out
}

#[test]
fn library_modules_form_a_one_way_graph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&root, &root, &mut all);
    let modules: BTreeSet<String> = all.iter().map(|(m, _)| m.clone()).collect();
    // Items a parent re-exports (`pub use child::{A, B}`) and items each module defines.
    let mut defined_in: BTreeMap<(String, String), String> = BTreeMap::new();
    for (m, src) in &all {
        for line in src.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("pub use ") else { continue };
            let rest = rest.trim_end_matches(';');
            let (child, items) = match rest.split_once("::{") {
                Some((c, items)) => (c, items.trim_end_matches('}').to_string()),
                None => match rest.rsplit_once("::") {
                    Some((c, item)) => (c, item.to_string()),
                    None => continue,
                },
            };
            let child = child.trim_start_matches("self::");
            let full = if m.is_empty() { child.to_string() } else { format!("{m}::{child}") };
            let target = if modules.contains(&full) {
                full
            } else if let Some(c) = child.strip_prefix("crate::") {
                c.to_string()
            } else {
                continue;
            };
            for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                defined_in.insert((m.clone(), item.to_string()), target.clone());
            }
        }
    }
    let resolve = |segs: &[String]| -> Option<String> {
        // the longest prefix naming a module, then through its re-exports
        let mut best = None;
        for n in (1..=segs.len()).rev() {
            let candidate = segs[..n].join("::");
            if modules.contains(&candidate) {
                best = Some((candidate, n));
                break;
            }
        }
        let (mut m, n) = best?;
        if let Some(item) = segs.get(n) {
            if let Some(child) = defined_in.get(&(m.clone(), item.clone())) {
                m = child.clone();
            }
        }
        Some(m)
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, src) in &all {
        let is_mod_file = m.is_empty() || all.iter().any(|(o, _)| o.starts_with(&format!("{m}::")));
        for segs in paths(m, is_mod_file, src) {
            let Some(target) = resolve(&segs) else { continue };
            // a parent declares and re-exports its children; that is not a dependency
            let child_of_m = m.is_empty() || target.starts_with(&format!("{m}::"));
            if target != *m && !child_of_m && !target.is_empty() {
                edges.entry(m.clone()).or_default().insert(target);
            }
        }
    }
    assert!(edges.len() > 10, "too few modules with imports: {edges:?}");
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for next in edges.get(n).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|s| s == next).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in &modules {
        if !state.contains_key(m.as_str()) {
            if let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new()) {
                panic!("import cycle: {}", cycle.join(" -> "));
            }
        }
    }
}
