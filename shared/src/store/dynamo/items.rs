//! Records ↔ items: the only place that maps fields to attributes.

use super::connections::{OWNER, PROVIDER, STATUS};
use super::*;
use crate::domain::branding::{Branding, Logo, Rgb};
use crate::domain::connections::{
    Attempt, CachedToken, Connection, ConnectionKey, Lease, Owner, Sealed, Status,
};
use crate::ids::ProviderName;

impl TryFrom<&Item> for Tenant {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(Tenant {
            id: g.tenant()?,
            name: g.s("name")?,
            access_token_ttl: g.n_or("access_token_ttl", DEFAULT_ACCESS_TOKEN_TTL),
            refresh_token_ttl: g.n_or("refresh_token_ttl", DEFAULT_REFRESH_TOKEN_TTL),
            audiences: g.list("audiences"),
            signing_alg: SigningAlg::parse(&g.s("signing_alg")?)
                .ok_or_else(|| StoreError::Malformed("signing_alg".into()))?,
            public_jwks: g.s("public_jwks")?,
            current_kid: g.s("current_kid")?,
            sliding_max: g.n("sliding_max").ok(),
            key_rotation_days: g.n("key_rotation_days").ok(),
            branding: branding_of(&g),
            created_at: g.n_or("created_at", 0),
            keys: KeyState {
                generation: g.n_or(KEY_GEN, 0),
                changed_at: g.n_or("keys_at", 0),
                due: g.n_or(DUE, 0),
            },
            deleting: g.bool_or(DELETING, false),
        })
    }
}

/// The sign-in page's branding; every attribute optional (tenants written
/// before branding existed have none). A stored value that no longer parses
/// is left out rather than failing the tenant.
fn branding_of(g: &Get<'_>) -> Branding {
    Branding {
        display_name: g.opt_s("display_name"),
        logo: match g.0.get("logo_png") {
            Some(AttributeValue::B(blob)) => Logo::from_png(blob.as_ref().to_vec()).ok(),
            _ => None,
        },
        primary_color: g.opt_s("primary_color").and_then(|c| Rgb::parse(&c).ok()),
        scope_descriptions: g.map("scope_descriptions"),
    }
}

fn put_branding(i: &mut Item, b: &Branding) {
    if let Some(name) = &b.display_name {
        i.insert("display_name".into(), s(name.clone()));
    }
    if let Some(logo) = &b.logo {
        i.insert(
            "logo_png".into(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(logo.bytes())),
        );
    }
    if let Some(c) = b.primary_color {
        i.insert("primary_color".into(), s(c.css()));
    }
    if !b.scope_descriptions.is_empty() {
        i.insert(
            "scope_descriptions".into(),
            AttributeValue::M(
                b.scope_descriptions
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v.clone())))
                    .collect(),
            ),
        );
    }
}

impl From<&Tenant> for Item {
    fn from(t: &Tenant) -> Item {
        let mut i = key(&t.id, sk::TENANT.into());
        i.insert("name".into(), s(t.name.clone()));
        i.insert("access_token_ttl".into(), n(t.access_token_ttl));
        i.insert("refresh_token_ttl".into(), n(t.refresh_token_ttl));
        i.insert("audiences".into(), list(&t.audiences));
        i.insert("signing_alg".into(), s(t.signing_alg.as_str()));
        i.insert("public_jwks".into(), s(t.public_jwks.clone()));
        i.insert("current_kid".into(), s(t.current_kid.clone()));
        if let Some(m) = t.sliding_max {
            i.insert("sliding_max".into(), n(m));
        }
        if let Some(d) = t.key_rotation_days {
            i.insert("key_rotation_days".into(), n(d));
        }
        put_branding(&mut i, &t.branding);
        i.insert("created_at".into(), n(t.created_at));
        i.insert(KEY_GEN.into(), n(t.keys.generation));
        i.insert("keys_at".into(), n(t.keys.changed_at));
        i.insert(DUE.into(), n(t.keys.due));
        if t.deleting {
            i.insert(DELETING.into(), b(true));
        } else {
            // In the due index only while it is a tenant to look after.
            i.insert(DPK.into(), s(DUE_TENANTS));
        }
        i
    }
}

impl TryFrom<&Item> for Client {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(Client {
            tenant: g.tenant()?,
            client_id: g.client_id("client_id")?,
            name: g.s("name")?,
            grants: g
                .list("grants")
                .iter()
                .filter_map(|x| Grant::parse(x))
                .collect(),
            redirect_uris: g.list("redirect_uris"),
            scopes: g.list("scopes"),
            public: g.bool_or("public", false),
            require_pkce: g.bool_or("require_pkce", false),
            require_offline_access: g.bool_or("require_offline_access", false),
            web_origins: g.list("web_origins"),
            introspect: g.bool_or("introspect", false),
            enabled: g.bool_or("enabled", true),
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&Client> for Item {
    fn from(c: &Client) -> Item {
        let mut i = key(&c.tenant, sk::client(&c.client_id));
        i.insert("client_id".into(), s(c.client_id.as_str()));
        i.insert("name".into(), s(c.name.clone()));
        let grants: Vec<String> = c.grants.iter().map(|g| g.as_str().to_owned()).collect();
        i.insert("grants".into(), list(&grants));
        i.insert("redirect_uris".into(), list(&c.redirect_uris));
        i.insert("scopes".into(), list(&c.scopes));
        i.insert("public".into(), b(c.public));
        i.insert("require_pkce".into(), b(c.require_pkce));
        i.insert("require_offline_access".into(), b(c.require_offline_access));
        i.insert("web_origins".into(), list(&c.web_origins));
        i.insert("introspect".into(), b(c.introspect));
        i.insert("enabled".into(), b(c.enabled));
        i.insert("created_at".into(), n(c.created_at));
        i
    }
}

impl TryFrom<&Item> for User {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        Ok(User {
            tenant: g.tenant()?,
            user_id: g.user_id("user_id")?,
            username: g.s("username")?,
            password_hash: g.s("password_hash")?,
            email: g.opt_s("email"),
            name: g.opt_s("name"),
            attrs: g.map("attrs"),
            require_password_change: g.bool_or("require_password_change", false),
            pwd_version: g.n_or("pwd_version", 0),
            enabled: g.bool_or("enabled", true),
            created_at: g.n_or("created_at", 0),
        })
    }
}

impl From<&User> for Item {
    fn from(u: &User) -> Item {
        let mut i = key(&u.tenant, sk::user(&u.user_id));
        i.insert(LPK.into(), s(users_listing(&u.tenant)));
        i.insert(LSK.into(), s(sk::user(&u.user_id)));
        i.insert("user_id".into(), s(u.user_id.as_str()));
        i.insert("username".into(), s(u.username.clone()));
        i.insert("password_hash".into(), s(u.password_hash.clone()));
        if let Some(e) = &u.email {
            i.insert("email".into(), s(e.clone()));
        }
        if let Some(nm) = &u.name {
            i.insert("name".into(), s(nm.clone()));
        }
        i.insert(
            "attrs".into(),
            AttributeValue::M(
                u.attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v.clone())))
                    .collect(),
            ),
        );
        i.insert(
            "require_password_change".into(),
            b(u.require_password_change),
        );
        i.insert("pwd_version".into(), n(u.pwd_version));
        i.insert("enabled".into(), b(u.enabled));
        i.insert("created_at".into(), n(u.created_at));
        i
    }
}

impl TryFrom<&Item> for AuthCode {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let sk = g.s(SK)?;
        Ok(AuthCode {
            tenant: g.tenant()?,
            code_hash: sk.trim_start_matches("CODE#").to_owned(),
            client_id: g.client_id("client_id")?,
            redirect_uri: g.s("redirect_uri")?,
            redirect_uri_in_request: g.bool_or("redirect_uri_in_request", true),
            scope: g.s("scope")?,
            code_challenge: g.opt_s("code_challenge"),
            nonce: g.opt_s("nonce"),
            user_id: g.user_id("user_id")?,
            auth_time: g.n_or("auth_time", 0),
            expires_at: g.n("expires_at")?,
            family_id: g.opt_s("family_id"),
        })
    }
}

impl From<&AuthCode> for Item {
    fn from(c: &AuthCode) -> Item {
        let mut i = key(&c.tenant, sk::code(&c.code_hash));
        i.insert("client_id".into(), s(c.client_id.as_str()));
        i.insert("redirect_uri".into(), s(c.redirect_uri.clone()));
        i.insert(
            "redirect_uri_in_request".into(),
            b(c.redirect_uri_in_request),
        );
        i.insert("scope".into(), s(c.scope.clone()));
        if let Some(v) = &c.code_challenge {
            i.insert("code_challenge".into(), s(v.clone()));
        }
        if let Some(v) = &c.nonce {
            i.insert("nonce".into(), s(v.clone()));
        }
        i.insert("user_id".into(), s(c.user_id.as_str()));
        i.insert("auth_time".into(), n(c.auth_time));
        i.insert("expires_at".into(), n(c.expires_at));
        i.insert(TTL.into(), n(c.expires_at));
        i
    }
}

impl TryFrom<&Item> for Family {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let sk = g.s(SK)?;
        Ok(Family {
            tenant: g.tenant()?,
            family_id: sk.trim_start_matches("FAM#").to_owned(),
            client_id: g.client_id("client_id")?,
            user_id: g.user_id("user_id")?,
            pwd_version: g.n_or("pwd_version", 0),
            revoked: g.bool_or("revoked", false),
            created_at: g.n_or("created_at", 0),
            expires_at: g.n("expires_at")?,
            auth_time: g.n("auth_time").ok(),
            refresh: chain_of(&g)?,
        })
    }
}

/// The family's refresh-token chain, when it has one (`rt_hash` present).
fn chain_of(g: &Get<'_>) -> Result<Option<RefreshChain>, StoreError> {
    let Some(current_hash) = g.opt_s("rt_hash") else {
        return Ok(None);
    };
    Ok(Some(RefreshChain {
        scope: g.s("rt_scope")?,
        generation: g.n("rt_gen")?,
        current_hash,
        key: g.s("rt_key")?,
        salt: g.opt_s("rt_salt").unwrap_or_default(),
        issued_at: g.n("rt_issued_at")?,
        expires_at: g.n("rt_expires_at")?,
        last_rotation: match g.n("rotated_at") {
            Ok(at) => Some(LastRotation {
                at,
                retry_scope: g.opt_s("retry_scope").unwrap_or_default(),
            }),
            Err(_) => None,
        },
    }))
}

// ---- upstream connections (`connections.rs`) --------------------------------

impl TryFrom<&Item> for Connection {
    type Error = StoreError;
    fn try_from(i: &Item) -> Result<Self, StoreError> {
        let g = Get(i);
        let bad = |what: &str| StoreError::Malformed(format!("connection {what}"));
        let owner = Owner::from_key(&g.s(OWNER)?).ok_or_else(|| bad("owner"))?;
        let provider = ProviderName::parse(&g.s(PROVIDER)?).map_err(|_| bad("provider"))?;
        let access_token = match g.opt_s("at_ct") {
            Some(ct) => Some(CachedToken {
                sealed: Sealed::from_stored(ct),
                issued_at: g.n("at_iat")?,
                expires_at: g.n("at_exp")?,
            }),
            None => None,
        };
        Ok(Connection {
            key: ConnectionKey {
                tenant: g.tenant()?,
                owner,
                provider,
            },
            refresh_token: g.opt_s("rt_ct").map(Sealed::from_stored),
            access_token,
            scope: g.opt_s("c_scope").unwrap_or_default(),
            account: g.opt_s("c_account"),
            status: Status::parse(&g.s(STATUS)?).ok_or_else(|| bad("status"))?,
            reason: g.opt_s("c_reason"),
            generation: g.n("rt_gen")?,
            lease: match (g.opt_s("lease_owner"), g.n("lease_until").ok()) {
                (owner, Some(until)) => Some(Lease {
                    owner: owner.unwrap_or_default(),
                    until,
                }),
                _ => None,
            },
            attempt: match (g.n("attempt_gen"), g.n("attempt_at")) {
                (Ok(generation), Ok(at)) => Some(Attempt { generation, at }),
                _ => None,
            },
            connected_at: g.n_or("connected_at", 0),
            last_refresh_at: g.n("last_refresh_at").ok(),
            failures: u32::try_from(g.n_or("failures", 0)).unwrap_or(u32::MAX),
            refresh_due_at: g.n("refresh_due_at").ok(),
        })
    }
}
