//! The token-exchange half of `tollgate-admin` (SPEC: Provisioning CLI,
//! Trusted issuers): `issuer add|list|remove` and `user link|unlink`.

use super::*;
use crate::clock::Now;
use crate::domain::outbound::OutboundPolicy;
use crate::domain::records::ExternalLink;
use crate::domain::records::TrustedIssuer;
use crate::ports::FederationStore;
use crate::ports::StoreError;
use serde_json::Value;
use serde_json::json;

pub(super) fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && one_line(s)
}

/// An issuer (or JWKS) URL Tollgate will fetch under `policy`: https (http
/// only to loopback on a local stack), not to an internal address literal;
/// no query, fragment or credentials. (A name's addresses are checked when
/// it is fetched.)
pub(super) fn fetchable(policy: OutboundPolicy, flag: &str, raw: &str) -> Result<(), AdminError> {
    if !printable(raw, 512) {
        return fail(format!("{flag} must be 1 to 512 printable characters"));
    }
    let u = policy
        .check_url(raw)
        .map_err(|e| AdminError(format!("{flag} {raw}: {e}")))?;
    if u.query().is_some() || u.fragment().is_some() {
        return fail(format!("{flag} must have no query or fragment: {raw}"));
    }
    Ok(())
}

pub struct IssuerOpts {
    pub tenant: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    pub create_users: bool,
}

pub(super) fn issuer_json(t: &TrustedIssuer) -> Value {
    json!({
        "tenant": t.tenant.as_str(),
        "issuer": t.issuer,
        "audiences": t.audiences,
        "jwks_uri": t.jwks_uri,
        "create_users": t.create_users,
        "created_at": t.created_at,
    })
}

impl Admin {
    /// Trust (or re-configure) an external issuer for token exchange.
    pub async fn add_issuer(&self, o: IssuerOpts) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(&o.tenant).await?;
        let policy = OutboundPolicy::for_stack(&self.config);
        fetchable(policy, "--issuer", &o.issuer)?;
        if let Some(j) = &o.jwks_uri {
            fetchable(policy, "--jwks-uri", j)?;
        }
        if o.audiences.is_empty() {
            return fail(
                "at least one --audience is required (the aud its tokens carry for this tenant)",
            );
        }
        let mut audiences: Vec<String> = Vec::new();
        for a in &o.audiences {
            if !printable(a, 256) {
                return fail("--audience must be 1 to 256 printable characters");
            }
            if !audiences.contains(a) {
                audiences.push(a.clone());
            }
        }
        let t = TrustedIssuer {
            tenant,
            issuer: o.issuer,
            audiences,
            jwks_uri: o.jwks_uri,
            create_users: o.create_users,
            created_at: Now::system().secs(),
        };
        self.db.put_trusted_issuer(&t).await?;
        Ok(issuer_json(&t))
    }

    pub async fn list_issuers(&self, alias: &str) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        let items: Vec<Value> = self
            .db
            .list_trusted_issuers(&tenant)
            .await?
            .iter()
            .map(issuer_json)
            .collect();
        Ok(json!({ "items": items }))
    }

    /// Stop trusting an issuer: its tokens are refused from then on (within
    /// the functions' 30 s record cache). Its links stay, inert.
    pub async fn remove_issuer(&self, alias: &str, issuer: &str) -> Result<Value, AdminError> {
        let tenant = self.tenant_id(alias).await?;
        if !self.db.remove_trusted_issuer(&tenant, issuer).await? {
            return fail(format!("unknown issuer: {issuer}"));
        }
        Ok(json!({"tenant": tenant.as_str(), "issuer": issuer, "removed": true}))
    }

    /// Map a subject of a trusted issuer to an existing user.
    pub async fn link_user(
        &self,
        alias: &str,
        user_id: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<Value, AdminError> {
        let (tenant, user) = self.user_of(alias, user_id).await?;
        if !printable(subject, crate::domain::token_exchange::MAX_SUBJECT) {
            return fail("--subject must be 1 to 255 printable characters");
        }
        // A trusted issuer, or the issuer of a `--sign-in` provider.
        let sign_in_issuer = || async {
            let all = crate::ports::ProviderStore::providers(&self.db, &tenant).await?;
            Ok::<bool, StoreError>(
                all.iter()
                    .any(|p| p.sign_in && p.endpoints.issuer.as_deref() == Some(issuer)),
            )
        };
        if self.db.trusted_issuer(&tenant, issuer).await?.is_none() && !sign_in_issuer().await? {
            return fail(format!(
                "unknown issuer: {issuer} (add it first with `issuer add`, or a `provider add --sign-in`)"
            ));
        }
        let link = ExternalLink {
            tenant: tenant.clone(),
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            user_id: user.user_id.clone(),
        };
        match self.db.create_link(&link).await {
            Ok(()) => Ok(json!({
                "tenant": tenant.as_str(),
                "user_id": user.user_id.as_str(),
                "issuer": issuer,
                "subject": subject,
            })),
            Err(StoreError::AlreadyExists) => {
                let holder = self.db.linked_user(&tenant, issuer, subject).await?;
                fail(format!(
                    "this subject is already linked to user {}",
                    holder.map(|h| h.to_string()).unwrap_or_default()
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn unlink_user(
        &self,
        alias: &str,
        user_id: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<Value, AdminError> {
        let (tenant, user) = self.user_of(alias, user_id).await?;
        if !self
            .db
            .remove_link(&tenant, &user.user_id, issuer, subject)
            .await?
        {
            return fail("the user has no such link");
        }
        Ok(json!({
            "tenant": tenant.as_str(),
            "user_id": user.user_id.as_str(),
            "issuer": issuer,
            "subject": subject,
            "unlinked": true,
        }))
    }
}
