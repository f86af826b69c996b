//! The fields that carry every provider's quirks (research §1.6): what the
//! generic engine reads instead of branching on a provider.

use super::vars::VarSpec;

/// The grant Tollgate uses at the provider (exactly one per provider:
/// Profix "A Client ID / Client Secret are only allowed one method").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamGrant {
    AuthorizationCode,
    Password,
    ClientCredentials,
}

impl UpstreamGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamGrant::AuthorizationCode => "authorization_code",
            UpstreamGrant::Password => "password",
            UpstreamGrant::ClientCredentials => "client_credentials",
        }
    }
    pub fn parse(s: &str) -> Option<UpstreamGrant> {
        [
            UpstreamGrant::AuthorizationCode,
            UpstreamGrant::Password,
            UpstreamGrant::ClientCredentials,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }
}

/// How Tollgate authenticates as the provider's client on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    Body,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
    /// `client_id` in the body, no secret (a public client).
    None,
}

/// Whether the provider wants a client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRule {
    Required,
    Optional,
    /// A public client (B2C ROPC): a secret is refused, never sent.
    Refused,
}

/// The characters of the upstream `state` Tollgate generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCharset {
    /// `A-Z a-z 0-9` only (Maximizer: "An alphanumeric value").
    Alphanumeric,
    /// base64url.
    UrlSafe,
}

/// The characters accepted in the provider's codes and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenChars {
    /// base64/base64url and JWT characters (`A-Z a-z 0-9 - . _ ~ + / =`)
    /// plus these.
    UrlSafePlus(&'static str),
    /// Any VSCHAR but space (RFC 6749 Appendix A: `code`, `refresh_token`).
    Vschar,
}

impl TokenChars {
    /// Whether `s` (a code or token from the provider) is 1 to `max` bytes
    /// of allowed characters.
    pub fn accepts(self, s: &str, max: usize) -> bool {
        !s.is_empty()
            && s.len() <= max
            && s.bytes().all(|c| match self {
                TokenChars::UrlSafePlus(extra) => {
                    c.is_ascii_alphanumeric()
                        || b"-._~+/=".contains(&c)
                        || extra.as_bytes().contains(&c)
                }
                TokenChars::Vschar => (0x21..=0x7e).contains(&c),
            })
    }
}

/// An upstream error that means the stored grant is dead (reconnect), not
/// a passing failure: `error` equal, and `error_description` containing
/// `description` when given (case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadGrant {
    pub error: &'static str,
    pub description: Option<&'static str>,
}

/// Everything the engine needs to know about a kind of provider. All
/// durations in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// URL templates (`{var}` placeholders; `None`: given on the command
    /// line or found by discovery).
    pub authorize_url: Option<&'static str>,
    pub token_url: Option<&'static str>,
    pub revocation_url: Option<&'static str>,
    pub password_change_url: Option<&'static str>,
    /// The vars the templates use.
    pub vars: &'static [VarSpec],
    /// The grants it supports; the first is the default.
    pub grants: &'static [UpstreamGrant],
    pub secret: SecretRule,
    /// Client authentication when redeeming a code (and for the password and
    /// client credentials grants).
    pub token_auth: ClientAuth,
    /// Client authentication when refreshing.
    pub refresh_auth: ClientAuth,
    /// PKCE S256 on the authorization code leg.
    pub pkce: bool,
    pub state: StateCharset,
    /// `response_type=code` sent on the authorize redirect.
    pub send_response_type: bool,
    /// `redirect_uri` sent when redeeming the code.
    pub code_sends_redirect_uri: bool,
    /// `redirect_uri` sent again on refresh (Maximizer).
    pub refresh_sends_redirect_uri: bool,
    /// Scopes asked for when the provider is added without `--scope`.
    pub default_scopes: &'static [&'static str],
    /// At least one scope must be given (`--scope`): B2C's API scope, which
    /// names the tenant's own API and so has no default.
    pub scope_required: bool,
    /// Scopes always added (`offline_access` for a refresh token).
    pub required_scopes: &'static [&'static str],
    pub scope_separator: &'static str,
    pub extra_authorize_params: &'static [(&'static str, &'static str)],
    pub extra_token_params: &'static [(&'static str, &'static str)],
    pub extra_refresh_params: &'static [(&'static str, &'static str)],
    /// Parameters of the provider's redirect kept as the account's label.
    pub account_label_params: &'static [&'static str],
    /// `expires_in` when the answer has none.
    pub default_expires_in: u64,
    /// Errors meaning the stored grant is dead.
    pub dead_grant: &'static [DeadGrant],
    pub token_chars: TokenChars,
    /// The longest code or token accepted (Maximizer: "can vary in length").
    pub max_token_bytes: usize,
    /// Refresh tokens are single use (rotated on every refresh).
    pub single_use_refresh: bool,
    /// How long the refresh token lives unused (`None`: not documented).
    pub refresh_token_idle: Option<u64>,
    /// Refresh an idle connection once its refresh token is this old
    /// (background upkeep; `None`: not needed).
    pub background_refresh_after: Option<u64>,
    /// The provider returns ID tokens (an OpenID provider).
    pub id_token: bool,
    /// The field of a password-grant answer saying the upstream password
    /// must be changed first (Profix `RequireChangePassword`).
    pub password_change_marker: Option<&'static str>,
}

impl Quirks {
    /// Whether an upstream error answer means the grant is dead.
    pub fn is_dead_grant(&self, error: &str, description: Option<&str>) -> bool {
        self.dead_grant.iter().any(|d| {
            d.error == error
                && d.description.is_none_or(|want| {
                    description.is_some_and(|got| {
                        got.to_ascii_lowercase()
                            .contains(&want.to_ascii_lowercase())
                    })
                })
        })
    }

    /// Whether a code or token from the provider is acceptable.
    pub fn accepts_token(&self, s: &str) -> bool {
        self.token_chars.accepts(s, self.max_token_bytes)
    }

    /// The scopes to ask for: `given` (or the defaults) plus the required ones.
    pub fn scopes(&self, given: &[String]) -> Vec<String> {
        let mut out: Vec<String> = if given.is_empty() {
            self.default_scopes
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            given.to_vec()
        };
        for r in self.required_scopes {
            if !out.iter().any(|s| s == r) {
                out.push((*r).to_owned());
            }
        }
        out
    }
}
