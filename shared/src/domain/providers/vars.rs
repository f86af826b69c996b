//! `--var KEY=VALUE`: the values a preset's URL templates are filled from
//! (Maximizer's `region` and `company_alias`, B2C's `tenant` and `policy`,
//! an on-premise `server`). Each is validated against a strict charset of
//! its own and a length bound BEFORE it is substituted, so no value can
//! change the scheme, host, port, userinfo, path or query of the URL it goes
//! into (no `/`, `@`, `:`, `?`, `#`, `%`, `\`, whitespace, `..`).

use super::{Invalid, invalid};
use std::collections::BTreeMap;

/// What a var may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// One DNS label: `a-z`, `0-9`, `-` (not first or last), 1 to 63.
    /// Lower case only: it becomes part of a host name.
    DnsLabel,
    /// A host name: DNS labels joined by single dots, at most 253 in all, at
    /// least two labels (no port, no IP-literal brackets; an address made of
    /// digits and dots is still checked by the outbound policy).
    HostName,
    /// A path segment: `A-Z`, `a-z`, `0-9`, `-`, `_` (no `.`, so never
    /// `..`), 1 to `max_len`.
    PathSegment,
}

/// A var a preset's templates use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSpec {
    pub name: &'static str,
    pub kind: VarKind,
    pub max_len: usize,
    /// What it is, for the error message.
    pub help: &'static str,
}

fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl VarSpec {
    /// Whether `value` may be substituted for this var.
    pub fn accepts(&self, value: &str) -> bool {
        if value.is_empty() || value.len() > self.max_len {
            return false;
        }
        match self.kind {
            VarKind::DnsLabel => dns_label(value),
            VarKind::HostName => {
                value.len() <= 253
                    && value.split('.').count() >= 2
                    && value.split('.').all(dns_label)
            }
            VarKind::PathSegment => value
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        }
    }
}

/// Checks that `vars` are exactly the preset's (none missing, none unknown)
/// and each is acceptable.
pub fn validate_vars(specs: &[VarSpec], vars: &BTreeMap<String, String>) -> Result<(), Invalid> {
    for k in vars.keys() {
        if !specs.iter().any(|s| s.name == k) {
            let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
            return invalid(if known.is_empty() {
                format!("unknown --var {k}: this preset takes none")
            } else {
                format!("unknown --var {k} (this preset takes {})", known.join(", "))
            });
        }
    }
    for s in specs {
        match vars.get(s.name) {
            None => return invalid(format!("--var {}=… is required ({})", s.name, s.help)),
            Some(v) if !s.accepts(v) => {
                return invalid(format!(
                    "--var {} must be {} (at most {} characters)",
                    s.name, s.help, s.max_len
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `template` with every `{name}` replaced by its (already validated) var.
/// A placeholder without a var, or an unclosed brace, is an error: a
/// template never reaches the network half-filled.
pub fn fill_template(template: &str, vars: &BTreeMap<String, String>) -> Result<String, Invalid> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return invalid("a URL template has an unclosed placeholder");
        };
        let name = &after[..close];
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => return invalid(format!("--var {name}=… is required")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
