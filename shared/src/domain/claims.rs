//! Claims policy (SPEC: Tokens, UserInfo): what a token says about its user
//! and for whom it is meant. Access tokens carry the user's name, email and
//! extra attributes for the tenant's APIs; id_tokens (and userinfo) release
//! `profile` claims (name, preferred_username, attributes) and `email` only for
//! those scopes. An attribute can never override a registered claim. An access
//! token's `aud` is the tenant's audiences, or the tenant's issuer when it has
//! none — never the client id, so it cannot pass for an id_token.

use crate::domain::records::{Tenant, User};
use serde_json::{Map, Value, json};

/// Claims an attribute may not override.
pub const RESERVED: [&str; 17] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "typ",
    "sid",
    "act",
    crate::domain::token_exchange::SLIDING_CAP_CLAIM,
];

/// Which of a user's claims a token carries.
#[derive(Clone, Copy)]
pub struct ClaimSet {
    /// `name`, `preferred_username` and the extra attributes.
    pub profile: bool,
    pub email: bool,
}

impl ClaimSet {
    pub const ALL: ClaimSet = ClaimSet {
        profile: true,
        email: true,
    };

    /// OIDC Core §5.4: what the granted scopes release (id_token, userinfo).
    pub fn for_scope(scope: &str) -> ClaimSet {
        ClaimSet {
            profile: crate::domain::scope::contains(scope, "profile"),
            email: crate::domain::scope::contains(scope, "email"),
        }
    }
}

pub fn user_claims(claims: &mut Map<String, Value>, user: &User, set: ClaimSet) {
    if set.profile {
        for (k, v) in &user.attrs {
            if !RESERVED.contains(&k.as_str()) {
                claims.insert(k.clone(), json!(v));
            }
        }
        if let Some(n) = &user.name {
            claims.insert("name".into(), json!(n));
        }
        claims.insert("preferred_username".into(), json!(user.username));
    }
    if set.email
        && let Some(e) = &user.email
    {
        claims.insert("email".into(), json!(e));
    }
}

/// The tenant's audiences. A tenant that names none gets its issuer as the
/// default audience, never the client id: an access token must not carry the
/// `aud` of an id_token, or one could pass for the other (RFC 9068 §4,
/// RFC 8725 §3.11).
pub fn audience(tenant: &Tenant, issuer: &str) -> Value {
    match tenant.audiences.as_slice() {
        [] => json!(issuer),
        [one] => json!(one),
        many => json!(many),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};

    fn user() -> User {
        User {
            tenant: TenantId::parse("acme").unwrap(),
            user_id: UserId::parse("u1").unwrap(),
            username: "ann".into(),
            password_hash: String::new(),
            email: Some("ann@example.com".into()),
            name: Some("Ann".into()),
            attrs: [
                ("tier".to_owned(), "gold".to_owned()),
                ("sub".to_owned(), "evil".to_owned()),
            ]
            .into_iter()
            .collect(),
            require_password_change: false,
            pwd_version: 0,
            enabled: true,
            created_at: 0,
        }
    }

    #[test]
    fn claims_follow_scope_and_never_override_registered_ones() {
        let mut m = Map::new();
        user_claims(&mut m, &user(), ClaimSet::for_scope("openid"));
        assert!(m.is_empty());
        user_claims(&mut m, &user(), ClaimSet::for_scope("openid email"));
        assert_eq!(m.len(), 1);
        assert_eq!(m["email"], "ann@example.com");
        let mut m = Map::new();
        user_claims(&mut m, &user(), ClaimSet::for_scope("profile"));
        assert_eq!(m["name"], "Ann");
        assert_eq!(m["preferred_username"], "ann");
        assert_eq!(m["tier"], "gold");
        assert!(m.get("sub").is_none(), "an attribute cannot set sub");
        assert!(m.get("email").is_none());
    }
}
