//! The presets: each provider's quirks as data. Sources are quoted as
//! `seed:line` (../shared/seeds/NNN_*.txt) and research §§ of
//! ../shared/research/upstream-providers.md.

use super::quirks::{
    ClientAuth, DeadGrant, Quirks, SecretRule, StateCharset, TokenChars, UpstreamGrant,
};
use super::vars::{VarKind, VarSpec};

const DAY: u64 = 24 * 3600;

/// A kind of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    Maximizer,
    MaximizerOnPremise,
    Profix,
    Keap,
    B2cRopc,
    Oidc,
    OAuth2,
}

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::Maximizer,
        Preset::MaximizerOnPremise,
        Preset::Profix,
        Preset::Keap,
        Preset::B2cRopc,
        Preset::Oidc,
        Preset::OAuth2,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Maximizer => "maximizer",
            Preset::MaximizerOnPremise => "maximizer-on-premise",
            Preset::Profix => "profix",
            Preset::Keap => "keap",
            Preset::B2cRopc => "b2c-ropc",
            Preset::Oidc => "oidc",
            Preset::OAuth2 => "oauth2",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The name shown to users when none is given (`None`: the provider's name).
    pub fn display_name(self) -> Option<&'static str> {
        match self {
            Preset::Maximizer | Preset::MaximizerOnPremise => Some("Maximizer"),
            Preset::Profix => Some("Profix"),
            Preset::Keap => Some("Keap"),
            Preset::B2cRopc => Some("MAX Customer API"),
            Preset::Oidc | Preset::OAuth2 => None,
        }
    }

    /// The preset's quirks.
    pub fn quirks(self) -> &'static Quirks {
        match self {
            Preset::Maximizer => &MAXIMIZER,
            Preset::MaximizerOnPremise => &MAXIMIZER_ON_PREMISE,
            Preset::Profix => &PROFIX,
            Preset::Keap => &KEAP,
            Preset::B2cRopc => &B2C_ROPC,
            Preset::Oidc => &OIDC,
            Preset::OAuth2 => &OAUTH2,
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The standard OAuth 2.0 answer to a dead refresh token (RFC 6749 §5.2).
const INVALID_GRANT: DeadGrant = DeadGrant {
    error: "invalid_grant",
    description: None,
};

/// Plain OAuth 2.0, every endpoint given (`--authorize-url`, `--token-url`).
/// The baseline the seed presets differ from.
const BASE: Quirks = Quirks {
    authorize_url: None,
    token_url: None,
    revocation_url: None,
    password_change_url: None,
    vars: &[],
    grants: &[
        UpstreamGrant::AuthorizationCode,
        UpstreamGrant::Password,
        UpstreamGrant::ClientCredentials,
    ],
    secret: SecretRule::Optional,
    token_auth: ClientAuth::Body,
    refresh_auth: ClientAuth::Body,
    // RFC 9700 §2.1.1: PKCE for confidential clients too.
    pkce: true,
    state: StateCharset::UrlSafe,
    send_response_type: true,
    code_sends_redirect_uri: true,
    refresh_sends_redirect_uri: false,
    default_scopes: &[],
    scope_required: false,
    required_scopes: &[],
    scope_separator: " ",
    extra_authorize_params: &[],
    extra_token_params: &[],
    extra_refresh_params: &[],
    account_label_params: &[],
    default_expires_in: 3600,
    dead_grant: &[INVALID_GRANT],
    // RFC 6749 Appendix A: code and refresh_token are 1*VSCHAR.
    token_chars: TokenChars::Vschar,
    max_token_bytes: 16 * 1024,
    single_use_refresh: false,
    refresh_token_idle: None,
    background_refresh_after: None,
    id_token: false,
    password_change_marker: None,
};

const REGION: VarSpec = VarSpec {
    name: "region",
    kind: VarKind::DnsLabel,
    max_len: 16,
    // 000:39–41 "Region-specific subdomain (e.g.,caw ,ukw)".
    help: "Maximizer's region subdomain, e.g. caw or ukw",
};

const COMPANY_ALIAS: VarSpec = VarSpec {
    name: "company_alias",
    kind: VarKind::PathSegment,
    max_len: 64,
    // 000:30–32 "https://caw.maximizercrmlive.com/whitecaps … "whitecaps" is the {company_alias}".
    help: "the company alias (the path of the Maximizer login URL, letters, digits, - and _)",
};

/// Maximizer Cloud (seed 000; research §1.1, Nango `maximizer`).
const MAXIMIZER: Quirks = Quirks {
    // 000:35 "https://{region}.maximizercrmlive.com/OAuth2/{company_alias}/Authorize"
    authorize_url: Some("https://{region}.maximizercrmlive.com/OAuth2/{company_alias}/Authorize"),
    // 000:37 "https://{region}.maximizercrmlive.com/OAuth2/{company_alias}/Token"
    token_url: Some("https://{region}.maximizercrmlive.com/OAuth2/{company_alias}/Token"),
    vars: &[REGION, COMPANY_ALIAS],
    grants: &[UpstreamGrant::AuthorizationCode],
    // 000:139 "client_secret … 64-character", in the body (000:137–141).
    secret: SecretRule::Required,
    // Nango `maximizer`: "disable_pkce: true".
    pkce: false,
    // 000:98 "An alphanumeric value … If omitted, a warning is displayed".
    state: StateCharset::Alphanumeric,
    // 000:190 refresh sends "redirect_uri … The same Redirect URI registered in Maximizer".
    refresh_sends_redirect_uri: true,
    // 000:118 "…&login_hint=d%20{database_name}%20u%20{user_id}".
    account_label_params: &["login_hint"],
    // 000:153 "expires_in" "(e.g., 600 )"; 000:169 "valid for 10 minutes (600 seconds)".
    default_expires_in: 600,
    // 000:120, 141 the code "is a JWT token and can vary in length".
    token_chars: TokenChars::UrlSafePlus(""),
    // 000:219 "valid for up to 180 days … can be used only once".
    single_use_refresh: true,
    refresh_token_idle: Some(180 * DAY),
    // "well inside 180" days (SPEC: Background upkeep).
    background_refresh_after: Some(90 * DAY),
    ..BASE
};

/// Maximizer On-Premise (000:69–73): the same quirks on the customer's own
/// Web Access server.
const MAXIMIZER_ON_PREMISE: Quirks = Quirks {
    // 000:69 "https://{server}/MaximizerWebAuthentication/OAuth2/Authorize"
    authorize_url: Some("https://{server}/MaximizerWebAuthentication/OAuth2/Authorize"),
    // 000:71 "https://{server}/MaximizerWebAuthentication/OAuth2/Token"
    token_url: Some("https://{server}/MaximizerWebAuthentication/OAuth2/Token"),
    vars: &[VarSpec {
        name: "server",
        kind: VarKind::HostName,
        max_len: 253,
        // 000:73 "Domain name of your Web Access server".
        help: "the domain name of the Web Access server (no scheme, port or path)",
    }],
    ..MAXIMIZER
};

/// Profix (seed 003; research §1.3).
const PROFIX: Quirks = Quirks {
    // 003:10 "GET https://api.profix-it.nl/Authorization?client_id=…&redirect_uri=…"
    authorize_url: Some("https://api.profix-it.nl/Authorization"),
    // 003:14 "POST ../token" relative to the API host (research §1.3, inferred).
    token_url: Some("https://api.profix-it.nl/token"),
    // 003:81 "POST ../token/ChangePassword".
    password_change_url: Some("https://api.profix-it.nl/token/ChangePassword"),
    // 003:1 "1. Authorization code (default), 2. Client credentials and 3. Password."
    grants: &[
        UpstreamGrant::AuthorizationCode,
        UpstreamGrant::Password,
        UpstreamGrant::ClientCredentials,
    ],
    // 003:17–20, 35–38, 65–70: client_id and client_secret in the body.
    secret: SecretRule::Required,
    // Not documented (003:10 names only client_id and redirect_uri).
    pkce: false,
    // 003:17–20: the code exchange has "code, grant_type, client_id, client_secret" only.
    code_sends_redirect_uri: false,
    // 003:25 "expires_in: 600"; 003:46 "valid for 10 minutes".
    default_expires_in: 600,
    // 003:11 "code=XTzM!IAAAACbPTzQJXwFhM..."; 003:26, 44 "Gcp7!IAAAAB…", "__1P!…".
    token_chars: TokenChars::UrlSafePlus("!"),
    // 003:46 "Your old refresh token is no longer valid." Lifetime not stated.
    single_use_refresh: true,
    // 003:77–80 "{ userid: "123", RequireChangePassword: true }".
    password_change_marker: Some("RequireChangePassword"),
    ..BASE
};

/// Keap / Infusionsoft (seed 004 and Keap's docs; research §1.4, Nango `keap`).
const KEAP: Quirks = Quirks {
    // developer.infusionsoft.com/getting-started-oauth-keys, Nango `keap`
    // (004:55 shows the older signin.infusionsoft.com host).
    authorize_url: Some("https://accounts.infusionsoft.com/app/oauth/authorize"),
    // Keap getting-started page: "POST https://api.infusionsoft.com/token".
    token_url: Some("https://api.infusionsoft.com/token"),
    grants: &[UpstreamGrant::AuthorizationCode],
    secret: SecretRule::Required,
    // infusionsoft-php `requestAccessToken`: all in the body …
    token_auth: ClientAuth::Body,
    // … `refreshAccessToken`: "Authorization: Basic base64(client_id:client_secret)".
    refresh_auth: ClientAuth::Basic,
    pkce: false,
    // developer.infusionsoft.com/authentication: "The only current valid value is scope=full".
    default_scopes: &["full"],
    // The redirect carries "scope=full%7Chl214.infusionsoft.com" (keap-python README).
    account_label_params: &["scope"],
    // "The Access Token is valid for 24 hours" (integration.keap.com/t/86529).
    default_expires_in: 24 * 3600,
    // integration.keap.com/t/82597: 400 {"error":"invalid_request","error_description":"Invalid Refresh Token"}.
    dead_grant: &[
        INVALID_GRANT,
        DeadGrant {
            error: "invalid_request",
            description: Some("Invalid Refresh Token"),
        },
    ],
    token_chars: TokenChars::UrlSafePlus(""),
    // "the Refresh Token is valid for 45 days … you will receive a new Refresh Token".
    single_use_refresh: true,
    refresh_token_idle: Some(45 * DAY),
    // "refresh any token > 30 days or so" (same thread); SPEC: after 30 of 45 days.
    background_refresh_after: Some(30 * DAY),
    ..BASE
};

/// MAX Customer API, Azure AD B2C ROPC (seed 002; research §1.2).
const B2C_ROPC: Quirks = Quirks {
    // 002:51 "https://maxcustomerportal.b2clogin.com/maxcustomerportal.onmicrosoft.com/B2C_1_ROPC/oauth2/v2.0/token"
    token_url: Some(
        "https://{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}/oauth2/v2.0/token",
    ),
    vars: &[
        VarSpec {
            name: "tenant",
            kind: VarKind::DnsLabel,
            max_len: 63,
            help: "the B2C tenant, e.g. maxcustomerportal",
        },
        VarSpec {
            name: "policy",
            kind: VarKind::PathSegment,
            max_len: 64,
            help: "the ROPC user flow, e.g. B2C_1_ROPC",
        },
    ],
    // 002:48 ROPC is for "technical accounts and your Daemon".
    grants: &[UpstreamGrant::Password],
    // 002:54 "ROPC Proxy Client ID": a public client; B2C's "application secret is not validated".
    secret: SecretRule::Refused,
    token_auth: ClientAuth::None,
    refresh_auth: ClientAuth::None,
    pkce: false,
    // 002:56 "you must include the application's scope"; 002:66–72
    // "scope=https://maxcustomerportal.onmicrosoft.com/ea/api" (given with --scope);
    // 002:58 "You may also include the scope offline_access … to receive a refresh token".
    scope_required: true,
    required_scopes: &["offline_access"],
    // Microsoft's sample also sends `response_type=token id_token`; MAX's curl
    // (002:66–72) does not, so none (research §1.2: unconfirmed).
    extra_token_params: &[],
    // add-ropc-policy.md: "expires_in": "3600" (a string), then 3600.
    default_expires_in: 3600,
    // error-codes: "AADB2C90080: The provided grant has expired" is an invalid_grant.
    token_chars: TokenChars::UrlSafePlus(""),
    // configure-tokens.md: refresh token default 14 days; rotation unconfirmed, so single use.
    single_use_refresh: true,
    refresh_token_idle: Some(14 * DAY),
    // "inside 14" days (SPEC); research §0.6: "about half of 14 days".
    background_refresh_after: Some(7 * DAY),
    // add-ropc-policy.md sample answer carries an id_token.
    id_token: true,
    ..BASE
};

/// A standard OpenID provider: endpoints from `{issuer}/.well-known/openid-configuration`.
const OIDC: Quirks = Quirks {
    grants: &[UpstreamGrant::AuthorizationCode],
    // OIDC Core §9: client_secret_basic is the default method.
    token_auth: ClientAuth::Basic,
    refresh_auth: ClientAuth::Basic,
    default_scopes: &["openid"],
    id_token: true,
    ..BASE
};

/// Generic OAuth 2.0: endpoints given.
const OAUTH2: Quirks = BASE;
