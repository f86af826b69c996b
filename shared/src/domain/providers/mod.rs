//! Upstream providers as data (SPEC: Upstream providers (the token vault);
//! issue #22 item 1): the provider record a tenant's admin writes, the
//! validated `--var`s its URL templates are filled from, and the endpoints
//! that result — every one of them checked against the stack's
//! [`OutboundPolicy`]. What makes Maximizer, Keap, Profix or B2C different
//! from plain OAuth 2.0 is a [`Quirks`] value per [`Preset`] (`presets.rs`):
//! the engine that will call the providers reads only those fields, and has
//! no provider-specific branch.

pub mod engine;
pub mod presets;
mod quirks;
mod vars;

pub use presets::Preset;
pub use quirks::{
    ClientAuth, DeadGrant, Quirks, SecretRule, StateCharset, TokenChars, UpstreamGrant,
};
pub use vars::{VarKind, VarSpec, fill_template, validate_vars};

use crate::domain::outbound::OutboundPolicy;
use crate::ids::TenantId;
use std::collections::BTreeMap;

/// The longest provider name.
pub const MAX_NAME: usize = crate::ids::ProviderName::MAX_LEN;
/// The longest endpoint URL, display name, client id.
pub const MAX_URL: usize = 512;
pub const MAX_DISPLAY_NAME: usize = 80;
pub const MAX_CLIENT_ID: usize = 256;

/// Why a provider definition was refused (one line, for the CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// A provider's name: a slug (`a-z`, `0-9`, `-`; starting with a letter,
/// no `--` and no trailing `-`). It has no scheme, so as a token exchange's
/// `audience` it never collides with a tenant's audience URIs; and it is
/// safe in a URL path (`…/upstream/{name}/callback`) and a scope
/// (`upstream:{name}`).
pub fn check_name(name: &str) -> Result<(), Invalid> {
    // One rule for every provider name: the id type's (`ids::ProviderName`).
    match crate::ids::ProviderName::parse(name) {
        Ok(_) => Ok(()),
        Err(_) => invalid(format!(
            "--name must be 1 to {MAX_NAME} of a-z, 0-9 and single '-', starting with a letter"
        )),
    }
}

/// The scope a client must be registered with to use the provider.
pub fn upstream_scope(name: &str) -> String {
    format!("upstream:{name}")
}

/// The provider's endpoints, resolved when it was added (templates filled,
/// overrides applied, discovery done) and checked against the stack's policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoints {
    /// Absent for presets without a browser leg (B2C ROPC).
    pub authorize: Option<String>,
    pub token: String,
    /// Where refresh grants go when not to `token` (`--refresh-url`).
    pub refresh: Option<String>,
    pub revocation: Option<String>,
    /// Profix's ChangePassword endpoint.
    pub password_change: Option<String>,
    /// The OpenID issuer (`oidc`): ID tokens must name it exactly.
    pub issuer: Option<String>,
    /// The issuer's JWKS (`oidc`), for validating its ID tokens.
    pub jwks_uri: Option<String>,
}

impl Endpoints {
    /// Where a refresh grant is sent.
    pub fn refresh_url(&self) -> &str {
        self.refresh.as_deref().unwrap_or(&self.token)
    }
}

/// A provider: one upstream OAuth server and Tollgate's client registration
/// there. Never holds the client secret (Secrets Manager does); `Debug`
/// shows nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub tenant: TenantId,
    pub name: String,
    pub preset: Preset,
    /// The validated `--var`s the templates were filled from (for display
    /// and `update`).
    pub vars: BTreeMap<String, String>,
    pub endpoints: Endpoints,
    pub client_id: String,
    /// Whether `{prefix}/{tenant}/upstream/{name}` holds a client secret.
    pub has_client_secret: bool,
    /// The scopes asked of the provider (the preset's defaults when none given).
    pub scopes: Vec<String>,
    pub grant: UpstreamGrant,
    pub display_name: String,
    /// Offered on the login page as "Sign in with {display_name}".
    pub sign_in: bool,
    /// An unlinked subject of a sign-in provider becomes a new user.
    pub create_users: bool,
    pub created_at: u64,
}

impl Provider {
    /// The quirks the engine follows for this provider.
    pub fn quirks(&self) -> &'static Quirks {
        self.preset.quirks()
    }

    /// Whether the login page offers "Sign in with {display_name}": a
    /// sign-in provider used with the authorization code grant, with an
    /// authorize endpoint, PKCE, and a known issuer and JWKS.
    pub fn offers_sign_in(&self) -> bool {
        self.sign_in
            && self.grant == UpstreamGrant::AuthorizationCode
            && self.endpoints.authorize.is_some()
            && self.endpoints.issuer.is_some()
            && self.endpoints.jwks_uri.is_some()
            && self.quirks().pkce
    }
}

/// Endpoint overrides given on the command line (`--authorize-url`, …).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub authorize: Option<String>,
    pub token: Option<String>,
    pub refresh: Option<String>,
    pub revocation: Option<String>,
    /// `--password-change-url` (presets with a ChangePassword step only).
    pub password_change: Option<String>,
}

/// What an `oidc` provider's discovery document named (already required to
/// name the issuer exactly).
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub issuer: String,
    pub authorize: Option<String>,
    pub token: Option<String>,
    pub revocation: Option<String>,
    pub jwks_uri: Option<String>,
}

/// A URL Tollgate will call (or send a browser to) under `policy`: at most
/// [`MAX_URL`] printable characters, https (plain http only to loopback on a
/// local stack), no credentials, no internal address literal, no fragment.
/// A host name's addresses are checked again when it is called.
pub fn check_endpoint(policy: OutboundPolicy, what: &str, raw: &str) -> Result<String, Invalid> {
    if raw.is_empty() || raw.len() > MAX_URL || !raw.bytes().all(|c| (0x21..0x7f).contains(&c)) {
        return invalid(format!(
            "{what} must be 1 to {MAX_URL} printable characters"
        ));
    }
    let url = policy
        .check_url(raw)
        .map_err(|e| Invalid(format!("{what} {raw}: {e}")))?;
    if url.fragment().is_some() {
        return invalid(format!("{what} must have no fragment: {raw}"));
    }
    Ok(raw.to_owned())
}

/// The endpoints of a provider of `preset` used with `grant`, with these
/// `vars`, `overrides` and (for `oidc`) `discovered` document, every one
/// checked under `policy`. Vars are validated before they are substituted;
/// the overrides replace the preset's URLs and keep its other quirks.
pub fn resolve_endpoints(
    preset: Preset,
    grant: UpstreamGrant,
    vars: &BTreeMap<String, String>,
    overrides: &Overrides,
    discovered: Option<&Discovered>,
    policy: OutboundPolicy,
) -> Result<Endpoints, Invalid> {
    let q = preset.quirks();
    validate_vars(q.vars, vars)?;
    let fill = |t: Option<&str>| t.map(|t| fill_template(t, vars)).transpose();
    let mut authorize = fill(q.authorize_url)?;
    let mut token = fill(q.token_url)?;
    let mut revocation = fill(q.revocation_url)?;
    let password_change = match (&overrides.password_change, &overrides.token) {
        (Some(_), _) if q.password_change_url.is_none() => {
            return invalid(format!(
                "--password-change-url is for presets with a ChangePassword step, not {preset}"
            ));
        }
        (Some(u), _) => Some(u.clone()),
        // Profix's ChangePassword is "../token/ChangePassword" (003:81), next
        // to its token endpoint: a token URL given on the command line takes
        // it along, so an upstream password never goes to the preset's host
        // while the tokens come from elsewhere (a proxy, a test server).
        (None, Some(t)) if q.password_change_url.is_some() => {
            Some(format!("{}/ChangePassword", t.trim_end_matches('/')))
        }
        (None, _) => fill(q.password_change_url)?,
    };
    let (mut issuer, mut jwks_uri) = (None, None);
    if let Some(d) = discovered {
        if preset != Preset::Oidc {
            return invalid("only the oidc preset reads a discovery document");
        }
        // An issuer on a public host may not name internal endpoints, whatever the policy.
        for u in [&d.authorize, &d.token, &d.revocation, &d.jwks_uri]
            .into_iter()
            .flatten()
        {
            crate::domain::outbound::allowed_discovered(u, &d.issuer)
                .map_err(|e| Invalid(format!("the discovery document names {u}: {e}")))?;
        }
        authorize = d.authorize.clone();
        token = d.token.clone();
        revocation = d.revocation.clone();
        issuer = Some(d.issuer.clone());
        jwks_uri = d.jwks_uri.clone();
    } else if preset == Preset::Oidc {
        return invalid("the oidc preset needs --issuer (its discovery document)");
    }
    if let Some(a) = &overrides.authorize {
        authorize = Some(a.clone());
    }
    if let Some(t) = &overrides.token {
        token = Some(t.clone());
    }
    if let Some(r) = &overrides.revocation {
        revocation = Some(r.clone());
    }
    let Some(token) = token else {
        return invalid(format!("the {preset} preset needs --token-url"));
    };
    if grant == UpstreamGrant::AuthorizationCode && authorize.is_none() {
        return invalid(format!("the {preset} preset needs --authorize-url"));
    }
    let check = |what: &str, u: Option<String>| -> Result<Option<String>, Invalid> {
        u.map(|u| check_endpoint(policy, what, &u)).transpose()
    };
    Ok(Endpoints {
        authorize: check("the authorize URL", authorize)?,
        token: check_endpoint(policy, "the token URL", &token)?,
        refresh: check("the refresh URL", overrides.refresh.clone())?,
        revocation: check("the revocation URL", revocation)?,
        password_change: check("the password change URL", password_change)?,
        issuer: check("the issuer", issuer)?,
        jwks_uri: check("the JWKS URL", jwks_uri)?,
    })
}

/// The grant a provider of `preset` uses: `requested`, if the preset allows
/// it, else the preset's first.
pub fn choose_grant(preset: Preset, requested: Option<&str>) -> Result<UpstreamGrant, Invalid> {
    let q = preset.quirks();
    let Some(r) = requested else {
        return Ok(q.grants[0]);
    };
    match UpstreamGrant::parse(r) {
        Some(g) if q.grants.contains(&g) => Ok(g),
        _ => invalid(format!(
            "--grant {r} is not one the {preset} preset supports ({})",
            q.grants
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Whether `sign_in` is possible: an OpenID provider (one that returns ID
/// tokens) used with the authorization code grant.
pub fn check_sign_in(preset: Preset, grant: UpstreamGrant, sign_in: bool) -> Result<(), Invalid> {
    if sign_in && !(preset.quirks().id_token && grant == UpstreamGrant::AuthorizationCode) {
        return invalid(format!(
            "--sign-in needs an OpenID provider used with the authorization code grant (not {preset})"
        ));
    }
    Ok(())
}

/// The scopes to ask of a provider of `preset`, from the `given` ones: the
/// preset's defaults when none are given, its required ones always added.
pub fn scopes_for(preset: Preset, given: &[String]) -> Result<Vec<String>, Invalid> {
    let q = preset.quirks();
    if q.scope_required && given.is_empty() {
        return invalid(format!(
            "the {preset} preset needs --scope (the API's scope at the provider)"
        ));
    }
    Ok(q.scopes(given))
}

/// Whether a client secret is given as the preset wants.
pub fn check_secret(preset: Preset, has_secret: bool) -> Result<(), Invalid> {
    match (preset.quirks().secret, has_secret) {
        (SecretRule::Required, false) => invalid(format!(
            "the {preset} preset needs the client secret (--client-secret-stdin)"
        )),
        (SecretRule::Refused, true) => invalid(format!(
            "the {preset} preset is a public client: it takes no client secret"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod ssrf_tests;
#[cfg(test)]
mod tests;
