//! Scope parsing and policy.

use crate::domain::records::Client;
use std::collections::HashSet;

/// The longest scope string accepted, in bytes, and the most scope-tokens.
pub const MAX_LEN: usize = 2048;
pub const MAX_TOKENS: usize = 64;

/// Scopes every client may request in addition to its registered ones.
pub const STANDARD: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// RFC 6749 §3.3: space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E.
/// Duplicates are dropped, order kept. `Err` for a malformed scope string.
/// A scope string that is not RFC 6749 §3.3 syntax.
#[derive(Debug)]
pub struct MalformedScope;

pub fn parse(s: &str) -> Result<Vec<String>, MalformedScope> {
    if s.len() > MAX_LEN {
        return Err(MalformedScope);
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for tok in s.split(' ') {
        if tok.is_empty() {
            continue;
        }
        let ok = tok
            .bytes()
            .all(|c| c == 0x21 || (0x23..=0x5B).contains(&c) || (0x5D..=0x7E).contains(&c));
        if !ok {
            return Err(MalformedScope);
        }
        if seen.insert(tok) {
            if out.len() == MAX_TOKENS {
                return Err(MalformedScope);
            }
            out.push(tok.to_owned());
        }
    }
    Ok(out)
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn contains(scope: &str, s: &str) -> bool {
    scope.split(' ').any(|x| x == s)
}

/// The scopes granted to `client` for a request: the requested ones if every
/// one is registered (or standard), else the first offending scope. With no
/// scope requested, the client's registered scopes.
pub fn resolve(client: &Client, requested: Option<&str>) -> Result<Vec<String>, String> {
    let Some(req) = requested else {
        return Ok(client.scopes.clone());
    };
    let parsed = parse(req).map_err(|_| "malformed scope".to_owned())?;
    for s in &parsed {
        let allowed = client.scopes.iter().any(|c| c == s) || STANDARD.contains(&s.as_str());
        if !allowed {
            return Err(format!("scope not allowed for this client: {s}"));
        }
    }
    if parsed.is_empty() {
        return Ok(client.scopes.clone());
    }
    Ok(parsed)
}

/// Scope can only shrink: every requested scope must be in `granted`.
pub fn narrow(granted: &str, requested: Option<&str>) -> Result<String, String> {
    let Some(req) = requested else {
        return Ok(granted.to_owned());
    };
    let parsed = parse(req).map_err(|_| "malformed scope".to_owned())?;
    for s in &parsed {
        if !contains(granted, s) {
            return Err(format!("scope exceeds the original grant: {s}"));
        }
    }
    Ok(join(&parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_bad_characters_and_dedupes() {
        assert_eq!(parse("a b a").unwrap(), vec!["a", "b"]);
        assert!(parse("a \"b").is_err());
        assert!(parse("a\\b").is_err());
        assert!(parse(&"a ".repeat(1000)).is_ok());
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert!(parse(&many.join(" ")).is_err());
        assert!(parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn narrow_only_shrinks() {
        assert_eq!(narrow("a b", Some("a")).unwrap(), "a");
        assert!(narrow("a b", Some("a c")).is_err());
        assert_eq!(narrow("a b", None).unwrap(), "a b");
    }
}
