//! The domain: the SPEC's records and every policy rule, each rule in one file
//! named after it. Nothing here knows AWS or HTTP (no SDK, no `lambda_http`):
//! the rules are plain functions and data, tested in milliseconds.
//!
//! | rule | file |
//! |---|---|
//! | records (tenant, client, user, code, family and its refresh-token chain) | `records.rs` |
//! | redirect URI registration and exact matching | `redirect.rs` |
//! | scope syntax, what a client may ask for, scope only shrinks | `scope.rs` |
//! | PKCE (S256 only, when required, enforced at the exchange) | `pkce.rs` |
//! | who gets a refresh token (implied grant, offline_access) | `refresh_eligibility.rs` |
//! | refresh tokens (format, tag, successor), rotation and the 10 s exact-retry window | `refresh_rotation.rs` |
//! | throttling of password guesses (per user per 15 min, sliding: 5 wrong per source address, 25 in all; a correct password gives its slot back) | `throttling.rs` |
//! | how long a session (refresh-token family) lives | `family_lifetime.rs` |
//! | where outbound calls may go (public addresses, HTTPS; loopback on a local stack) | `outbound.rs` |
//! | sliding expiry of access tokens (Maximizer) | `sliding_expiry.rs` |
//! | authorization code lifetime and single use | `code_lifetime.rs` |
//! | claims in tokens (by scope; default audience) | `claims.rs` |
//! | signing keys: publish, then sign, then retire | `key_rotation.rs` |
//! | the login transaction (signed, short-lived, single use) | `login_tx.rs` |
//! | new-password policy (NIST SP 800-63B) | `password_policy.rs` |
//! | token exchange: subject tokens, external JWTs (RFC 8725), `act` | `token_exchange.rs` |
//! | sign-in page branding (logo, colour and its contrast, scope words) | `branding.rs` |
//! | upstream connections: the record, owner, health, lease and generation | `connections.rs` |
//! | upstream refresh timing: freshness margin, lease > function > call, lenient `expires_in` | `upstream_refresh.rs` |
//! | the connect flow's upstream transaction: browser binding, state key, single use | `upstream_tx.rs` |

pub mod branding;
pub mod claims;
pub mod code_lifetime;
pub mod connections;
pub mod family_lifetime;
pub mod key_rotation;
pub mod login_tx;
pub mod outbound;
pub mod password_policy;
pub mod pkce;
pub mod providers;
pub mod records;
pub mod redirect;
pub mod refresh_eligibility;
pub mod refresh_rotation;
pub mod scope;
pub mod sliding_expiry;
pub mod throttling;
pub mod token_exchange;
pub mod upstream_refresh;
pub mod upstream_tx;

#[cfg(test)]
mod tests {
    /// The domain stays free of AWS and HTTP: no SDK, no Lambda HTTP types, no
    /// adapter, no handler, no response builder.
    #[test]
    fn the_domain_imports_no_aws_or_http() {
        let files = [
            ("branding.rs", include_str!("branding.rs")),
            ("claims.rs", include_str!("claims.rs")),
            ("code_lifetime.rs", include_str!("code_lifetime.rs")),
            ("connections.rs", include_str!("connections.rs")),
            ("family_lifetime.rs", include_str!("family_lifetime.rs")),
            ("outbound.rs", include_str!("outbound.rs")),
            ("key_rotation.rs", include_str!("key_rotation.rs")),
            ("login_tx.rs", include_str!("login_tx.rs")),
            ("password_policy.rs", include_str!("password_policy.rs")),
            ("pkce.rs", include_str!("pkce.rs")),
            ("records.rs", include_str!("records.rs")),
            ("redirect.rs", include_str!("redirect.rs")),
            (
                "refresh_eligibility.rs",
                include_str!("refresh_eligibility.rs"),
            ),
            ("refresh_rotation.rs", include_str!("refresh_rotation.rs")),
            ("scope.rs", include_str!("scope.rs")),
            ("sliding_expiry.rs", include_str!("sliding_expiry.rs")),
            ("throttling.rs", include_str!("throttling.rs")),
            ("token_exchange.rs", include_str!("token_exchange.rs")),
            ("upstream_refresh.rs", include_str!("upstream_refresh.rs")),
        ];
        let forbidden = [
            "aws_sdk",
            "aws_config",
            "aws_smithy",
            "lambda_http",
            "lambda_runtime",
            "crate::http",
            "crate::store",
            "crate::secrets",
            "crate::handlers",
            "crate::respond",
            "crate::state",
            "crate::web",
            "crate::oauth",
            "crate::tokens",
            "reqwest",
        ];
        for (name, src) in files {
            for f in forbidden {
                assert!(!src.contains(f), "domain/{name} mentions {f}");
            }
        }
    }
}
