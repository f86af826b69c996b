//! How long a session (a refresh-token family) lives: never shorter than the
//! access tokens it vouches for — their fixed lifetime, or under sliding
//! expiry their cap (`iat + --sliding-max`) — and, when it holds refresh
//! tokens, as long as they live. Introspection and userinfo judge a user's
//! access token by its family, so a family that ended early would end live
//! tokens with it.

use crate::domain::records::Tenant;

/// The longest an access token of `tenant` can stay active after it is
/// issued (its TTL, or the sliding cap when that is longer).
pub fn access_token_life(tenant: &Tenant) -> u64 {
    tenant.access_token_ttl.max(tenant.sliding_max.unwrap_or(0))
}

/// When a family started at `now` ends: with refresh tokens, their TTL (but
/// never before its access tokens); without, its access tokens' life.
pub fn started(tenant: &Tenant, now: u64, with_refresh: bool) -> u64 {
    let access = access_token_life(tenant);
    let life = if with_refresh {
        tenant.refresh_token_ttl.max(access)
    } else {
        access
    };
    now.saturating_add(life)
}

/// When a family ends after a rotation committed at `now`: never earlier
/// than it did, than its new refresh token, or than the access token issued
/// with it.
pub fn rotated(tenant: &Tenant, family_ends: u64, refresh_ends: u64, now: u64) -> u64 {
    family_ends
        .max(refresh_ends)
        .max(now.saturating_add(access_token_life(tenant)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::{DEFAULT_REFRESH_TOKEN_TTL, SigningAlg};

    fn tenant(ttl: u64, sliding: Option<u64>) -> Tenant {
        Tenant {
            id: crate::ids::TenantId::parse("acme").unwrap(),
            name: "Acme".into(),
            access_token_ttl: ttl,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            audiences: vec![],
            signing_alg: SigningAlg::ES256,
            public_jwks: "[]".into(),
            current_kid: String::new(),
            sliding_max: sliding,
            key_rotation_days: None,
            branding: Default::default(),
            created_at: 0,
            keys: Default::default(),
            deleting: false,
        }
    }

    #[test]
    fn a_family_outlives_every_access_token_it_vouches_for() {
        let t = tenant(600, Some(86_400));
        assert_eq!(started(&t, 100, false), 100 + 86_400);
        assert_eq!(started(&t, 100, true), 100 + DEFAULT_REFRESH_TOKEN_TTL);
        let short = Tenant {
            refresh_token_ttl: 60,
            ..tenant(600, None)
        };
        assert_eq!(
            started(&short, 100, true),
            700,
            "never before its access tokens"
        );
        assert_eq!(rotated(&t, 1_000, 500, 200), 200 + 86_400);
        assert_eq!(
            rotated(&t, 10_000_000, 500, 200),
            10_000_000,
            "never shortened"
        );
    }
}
