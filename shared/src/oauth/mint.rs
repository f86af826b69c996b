//! Minting tokens: the one place every access token, id_token and refresh
//! token is made (the code, password, refresh, client_credentials and
//! implicit grants all come here). Nothing is written: callers store the
//! refresh token together with whatever else must happen atomically.

use crate::AppState;
use crate::clock::Now;
use crate::crypto::{b64url, random_bytes, token_hash};
use crate::domain::family_lifetime;
use crate::domain::records::{Client, Family, RefreshChain, Tenant, User};
use crate::domain::refresh_eligibility::gets_refresh_token;
use crate::domain::refresh_rotation::first_token;
use crate::domain::scope;
use crate::oauth::error::OAuthError;
use crate::oauth::outcome::Tokens;
use crate::tokens::jwt::{AccessToken, IdToken};

/// Who issues, to whom, when.
pub struct Minter<'a> {
    pub state: &'a AppState,
    pub tenant: &'a Tenant,
    pub client: &'a Client,
    /// The tenant's issuer URL (`iss`).
    pub issuer: &'a str,
    pub now: Now,
}

/// A user's authorization to turn into tokens.
pub struct UserGrant<'a> {
    pub user: &'a User,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: u64,
    /// The family to start (decided before, e.g. recorded on the code).
    pub family_id: String,
}

/// A user's tokens, signed but not yet stored: the session (family) every
/// one of them belongs to, with the refresh token's chain if the client gets
/// one.
pub struct Minted {
    pub tokens: Tokens,
    pub family: Family,
}

impl Minter<'_> {
    /// An RFC 9068 access token; `user: None` for client_credentials (then
    /// `sub` is the client id).
    pub async fn access_token(
        &self,
        scope: &str,
        user: Option<&User>,
        auth_time: Option<u64>,
        sid: Option<&str>,
    ) -> Result<String, OAuthError> {
        let signer = self.state.signer(self.tenant).await?;
        AccessToken {
            issuer: self.issuer,
            tenant: self.tenant,
            client_id: &self.client.client_id,
            scope,
            user,
            auth_time,
            sid,
            exchange: Default::default(),
        }
        .sign(&signer, self.now)
        .map_err(OAuthError::from)
    }

    /// An OIDC id_token when `scope` holds `openid` (its profile claims by
    /// scope, as at userinfo), else `None`. `nonce` only from an
    /// authentication request; `auth_time` the session's (OIDC Core §12.2: a
    /// refreshed id_token names the original authentication, and carries no
    /// nonce, a refresh being no authentication request).
    pub async fn id_token(
        &self,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        auth_time: Option<u64>,
    ) -> Result<Option<String>, OAuthError> {
        if !scope::contains(scope, "openid") {
            return Ok(None);
        }
        let signer = self.state.signer(self.tenant).await?;
        IdToken {
            issuer: self.issuer,
            client_id: &self.client.client_id,
            user,
            published_jwks: &self.tenant.public_jwks,
            scope,
            nonce,
            auth_time,
            ttl: self.tenant.access_token_ttl,
        }
        .sign(&signer, self.now)
        .map(Some)
        .map_err(OAuthError::from)
    }

    /// A session for a user's tokens: it lives as long as its refresh tokens,
    /// or, without one, as long as its access token can (sliding included).
    /// `auth_time`: when the user authenticated for it, if they did.
    pub fn family(
        &self,
        user: &User,
        family_id: String,
        refresh: Option<RefreshChain>,
        auth_time: Option<u64>,
    ) -> Family {
        Family {
            tenant: self.tenant.id.clone(),
            family_id,
            client_id: self.client.client_id.clone(),
            user_id: user.user_id.clone(),
            pwd_version: user.pwd_version,
            revoked: false,
            created_at: self.now.secs(),
            expires_at: family_lifetime::started(self.tenant, self.now.secs(), refresh.is_some()),
            auth_time,
            refresh,
        }
    }

    /// Access-token-only answer (client_credentials, refresh's new access token
    /// is made with [`Minter::access_token`] and the successor).
    pub async fn access_only(&self, scope: String) -> Result<Tokens, OAuthError> {
        Ok(Tokens {
            access_token: self.access_token(&scope, None, None, None).await?,
            expires_in: self.tenant.access_token_ttl,
            refresh_token: None,
            scope,
            id_token: None,
        })
    }

    /// The access token, an id_token with `openid`, and a refresh token when
    /// the client gets one for this scope; nothing stored yet.
    pub async fn user_tokens(&self, g: UserGrant<'_>) -> Result<Minted, OAuthError> {
        let access_token = self
            .access_token(g.scope, Some(g.user), Some(g.auth_time), Some(&g.family_id))
            .await?;
        let id_token = self
            .id_token(g.user, g.scope, g.nonce, Some(g.auth_time))
            .await?;
        // A refresh token: a fresh family key and a random first secret; the
        // family stores the key and the token's hash, never the token.
        let (refresh_token, chain) = if gets_refresh_token(self.client, g.scope) {
            let key = random_bytes::<32>();
            let token = first_token(&key, &g.family_id, &random_bytes::<32>());
            let chain = RefreshChain {
                scope: g.scope.to_owned(),
                generation: 0,
                current_hash: token_hash(&token),
                key: b64url(&key),
                salt: String::new(),
                issued_at: self.now.secs(),
                expires_at: self.now.plus(self.tenant.refresh_token_ttl),
                last_rotation: None,
            };
            (Some(token), Some(chain))
        } else {
            (None, None)
        };
        let family = self.family(g.user, g.family_id, chain, Some(g.auth_time));
        Ok(Minted {
            tokens: Tokens {
                access_token,
                expires_in: self.tenant.access_token_ttl,
                refresh_token,
                scope: g.scope.to_owned(),
                id_token,
            },
            family,
        })
    }

    /// Mints and stores (the password grant: nothing else to write atomically).
    pub async fn user_tokens_stored(&self, g: UserGrant<'_>) -> Result<Tokens, OAuthError> {
        let minted = self.user_tokens(g).await?;
        self.state
            .refresh_tokens()
            .start_family(&minted.family)
            .await?;
        Ok(minted.tokens)
    }
}
