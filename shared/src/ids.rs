//! Parsed identifiers. Built once at the edge; storage keys are built only from these.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ParseIdError(&'static str);

/// A tenant alias: `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok {
            Ok(TenantId(s.to_owned()))
        } else {
            Err(ParseIdError(
                "tenant alias must match [a-z0-9][a-z0-9-]{0,62}",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client id: 20 ASCII alphanumerics (what the CLI issues).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub const LEN: usize = 20;

    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        if s.len() == Self::LEN && s.bytes().all(|c| c.is_ascii_alphanumeric()) {
            Ok(ClientId(s.to_owned()))
        } else {
            Err(ParseIdError("client_id must be 20 ASCII letters or digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upstream provider's name within a tenant: a slug of 1 to
/// [`ProviderName::MAX_LEN`] `a-z`, `0-9` and single `-`, starting with a
/// letter and not ending with `-`. It has no scheme, so as a token exchange's
/// `audience` it never collides with a tenant's audience URIs; it is safe in
/// a URL path (`…/upstream/{name}/callback`), a scope (`upstream:{name}`),
/// storage keys and the vault's authenticated data (no `#`, `|`, `.`, `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderName(String);

impl ProviderName {
    pub const MAX_LEN: usize = 40;

    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= Self::MAX_LEN
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && !s.ends_with('-')
            && !s.contains("--");
        if ok {
            Ok(ProviderName(s.to_owned()))
        } else {
            Err(ParseIdError(
                "a provider name is 1 to 40 of a-z, 0-9 and single '-', starting with a letter",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user id: 1 to 64 of `[A-Za-z0-9_-]` (the CLI issues 22-char random ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        if !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            Ok(UserId(s.to_owned()))
        } else {
            Err(ParseIdError("malformed user id"))
        }
    }

    /// A fresh random id (22 characters, 128 bits) that starts with a letter or
    /// digit, so it never reads as a flag on a command line (`--user-id -x…`).
    pub fn generate() -> UserId {
        loop {
            let t = crate::crypto::random_token(16);
            if t.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric) {
                return UserId(t);
            }
        }
    }

    /// An id no user has (the CLI issues 22-character random ids): for a read
    /// that must cost the same as a real one.
    pub fn nobody() -> UserId {
        UserId("-".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_alias_grammar() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("0-a").is_ok());
        assert!(TenantId::parse(&"a".repeat(63)).is_ok());
        assert!(TenantId::parse(&"a".repeat(64)).is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("-acme").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("ac#me").is_err());
        assert!(TenantId::parse("ac/me").is_err());
    }

    #[test]
    fn generated_user_ids_never_look_like_flags() {
        for _ in 0..2_000 {
            let id = UserId::generate();
            assert_eq!(id.as_str().len(), 22);
            assert!(id.as_str().as_bytes()[0].is_ascii_alphanumeric(), "{id}");
            assert!(UserId::parse(id.as_str()).is_ok());
        }
    }

    #[test]
    fn client_id_is_twenty_alphanumerics() {
        assert!(ClientId::parse("abcdefghij0123456789").is_ok());
        assert!(ClientId::parse("abcdefghij012345678").is_err());
        assert!(ClientId::parse("abcdefghij012345678-").is_err());
    }
}
