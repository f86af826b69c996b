//! The library's layers (docs/architecture.md): every `crate::…` path in
//! `shared/src` points the allowed way, no two top-level modules import each
//! other in a cycle, and the outside world is named only where it belongs
//! (`lambda_http` by `web`, the AWS SDK by `store`, reqwest by the outbound
//! fetcher in `store`). New files are checked as they appear; a file the
//! table does not know fails the test, so the map stays complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first, and what each may import (besides
/// itself). `testing` may import anything and is not checked.
const FOUNDATION: &[&str] = &["ids", "clock", "cache", "config", "crypto", "audit"];

fn allowed(module: &str) -> Option<Vec<&'static str>> {
    let above_foundation: &[&'static str] = match module {
        m if FOUNDATION.contains(&m) => &[],
        "domain" => &[],
        "ports" => &["domain"],
        "store" | "tokens" => &["domain", "ports"],
        "state" => &["domain", "ports", "store", "tokens"],
        "oauth" => &["domain", "ports", "store", "tokens", "state"],
        "web" => &["domain", "ports", "store", "tokens", "state", "oauth"],
        "admin" => &["domain", "ports", "store", "tokens"],
        _ => return None,
    };
    Some([FOUNDATION, above_foundation].concat())
}

/// External crates and the only top-level modules that may name them.
const OUTSIDE: &[(&str, &[&str])] = &[
    ("lambda_http", &["web"]),
    ("lambda_runtime", &["web"]),
    ("aws_sdk_dynamodb", &["store"]),
    ("aws_sdk_secretsmanager", &["store"]),
    ("aws_config", &["store", "state"]),
    ("aws_smithy_runtime_api", &["store"]),
    ("aws_smithy_types", &["store"]),
    ("reqwest", &["store"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for lib.rs).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(m) => Some(m.to_owned()),
        None => Some(first),
    }
}

/// The production part of a file: everything before its unit tests.
fn production(text: &str) -> &str {
    let mut cut = text.len();
    for marker in [
        "#[cfg(test)]\nmod ",
        "#[cfg(test)]\npub mod ",
        "#[cfg(test)]\npub(crate) mod ",
    ] {
        if let Some(i) = text.find(marker) {
            cut = cut.min(i);
        }
    }
    &text[..cut]
}

/// Without comments: `//` to the end of the line (doc comments cite paths).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules named through `crate::`: `crate::a::…` and the first
/// names of a `use crate::{a, b::c}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top(&group[..end]) {
                if let Some(name) = ident(item.trim()) {
                    refs.insert(name);
                }
            }
        } else if let Some(name) = ident(rest) {
            refs.insert(name);
        }
    }
    refs
}

fn ident(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Names the crate itself re-exports at the root (`crate::Now`, …): they
/// count as the module they come from.
fn root_alias(name: &str) -> Option<&'static str> {
    match name {
        "Now" => Some("clock"),
        "Config" => Some("config"),
        "TenantId" | "ClientId" | "UserId" => Some("ids"),
        "AppState" => Some("state"),
        "BoxError" => Some("ids"),
        _ => None,
    }
}

#[test]
fn imports_follow_the_layers_and_form_no_cycle() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all.sort();
    let mut violations = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let Some(module) = module_of(path) else {
            continue;
        };
        if module == "testing" {
            continue;
        }
        let rel = path.strip_prefix(src()).unwrap().display().to_string();
        let Some(may) = allowed(&module) else {
            violations.push(format!(
                "{rel}: top-level module `{module}` has no place in the layers (tests/layering.rs)"
            ));
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let code = code(production(&text));
        for r in crate_refs(&code) {
            let target = root_alias(&r).map(str::to_owned).unwrap_or(r);
            if target == module {
                continue;
            }
            graph
                .entry(module.clone())
                .or_default()
                .insert(target.clone());
            if !may.contains(&target.as_str()) {
                violations.push(format!(
                    "{rel}: `{module}` imports `{target}` against the layers"
                ));
            }
        }
        for (krate, only) in OUTSIDE {
            let named =
                code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}"));
            if named && !only.contains(&module.as_str()) {
                violations.push(format!(
                    "{rel}: `{module}` names `{krate}` (only {only:?} may)"
                ));
            }
        }
    }
    // Cycles between top-level modules (depth-first search).
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == n) {
            out.push(format!("import cycle: {} -> {n}", stack[i..].join(" -> ")));
            return;
        }
        if !done.insert(n.to_owned()) {
            return;
        }
        stack.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, stack, done, out);
        }
        stack.pop();
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done, &mut violations);
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn no_production_file_is_over_500_lines() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let long: Vec<String> = all
        .iter()
        .filter(|p| module_of(p).as_deref() != Some("testing"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let n = production(&text).lines().count();
            (n > 500).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}
