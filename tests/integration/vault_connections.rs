//! Upstream connections' health and disconnecting on the real stack (SPEC:
//! Upstream providers — Health; Provisioning CLI `connection …`): a
//! connection is stored in DynamoDB Local through the library, sealed with
//! the tenant's vault keys from the Secrets Manager emulator (as the callback
//! stores one), and then
//! - `GET …/connections` on the userinfo function lists it for its user only,
//! - `DELETE …/connections/{provider}` removes it and revokes its refresh
//!   token at the provider,
//! - `tollgate-admin connection list|get|remove` show and remove it,
//! - `user delete`, `provider remove` and `tenant delete` remove (and revoke)
//!   theirs.
//!
//! The provider is another tenant of the same stack (its token and revoke
//! functions): the refresh tokens are real ones it issued, and "revoked at
//! the provider" is checked with its own introspection.

use crate::helpers::*;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tollgate::domain::connections::{ConnectionKey, Owner};
use tollgate::domain::providers::Preset;
use tollgate::domain::providers::engine::TokenAnswer;
use tollgate::ids::{ProviderName, UserId};
use tollgate::ports::ConnectionStore;
use tollgate::store::secrets_manager::{SecretSource, SecretsManager};
use tollgate::tokens::vault::VaultKeys;

/// The provider's name in the downstream tenant.
const UP: &str = "upstream";

/// A downstream tenant with a provider that is an upstream tenant of the
/// same stack (`oauth2` preset: client authentication in the body, its
/// revoke function as the revocation endpoint).
struct Vaulted {
    /// The upstream tenant: its user `alice`, its password-grant `app` (the
    /// downstream's registration there) and its resource server `rs`.
    up: World,
    t: TestTenant,
    /// A downstream password-grant app (scope `openid` for the user's token).
    app: TestClient,
}

async fn cli(args: &[&str]) -> Result<Value, String> {
    admin_async(args.iter().map(|s| s.to_string()).collect(), None).await
}

impl Vaulted {
    async fn new(revocation: bool) -> Vaulted {
        let up = World::new(&[]).await;
        let t = TestTenant::new().await;
        let token_url = up.t.token_url();
        let revoke_url = up.t.revoke_url();
        let mut args = vec![
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            UP,
            "--preset",
            "oauth2",
            "--grant",
            "password",
            "--token-url",
            &token_url,
            "--client-id",
            &up.app.id,
            "--client-secret-stdin",
        ];
        if revocation {
            args.extend(["--revocation-url", &revoke_url]);
        }
        let secret = format!("{}\n", up.app.secret());
        admin_async(args.iter().map(|s| s.to_string()).collect(), Some(secret))
            .await
            .unwrap();
        let app = t
            .client(&["--name", "App", "--grant", "password", "--scope", "api"])
            .await;
        Vaulted { up, t, app }
    }

    /// A downstream user and an access token of theirs with `scope`.
    async fn user(&self, username: &str, scope: &str) -> (String, String) {
        let id = self.t.user(username, &[]).await;
        let (s, v) = self
            .t
            .password_grant(&self.app, username, Some(scope))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        (id, v["access_token"].as_str().unwrap().to_owned())
    }

    /// A connection of `owner` (a user id, or the service) holding a fresh
    /// refresh token the upstream tenant issued, stored as the callback
    /// stores one; that refresh token.
    async fn connect(&self, owner: Option<&str>, account: Option<&str>) -> String {
        let (at, rt) = self.up.session(&self.up.app, "api").await;
        let id = self.t.tenant_id();
        let raw = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk().await))
            .fetch(&config().vault_key_secret(&id))
            .await
            .unwrap()
            .expect("the tenant's vault keys");
        let vault = VaultKeys::parse(&raw).unwrap().vault().unwrap();
        let key = ConnectionKey {
            tenant: id,
            owner: owner.map_or(Owner::Service, |u| Owner::User(UserId::parse(u).unwrap())),
            provider: ProviderName::parse(UP).unwrap(),
        };
        let answer = TokenAnswer {
            access_token: SecretString::from(at),
            refresh_token: Some(SecretString::from(rt.clone())),
            expires_in: 600,
            scope: Some("api".into()),
            id_token: None,
        };
        let now = tollgate::Now(now_secs());
        let new = tollgate::tokens::upstream::new_connection(
            &vault,
            key,
            Preset::OAuth2.quirks(),
            &answer,
            account.map(str::to_owned),
            now,
        )
        .unwrap();
        db().await.connect(&new, now).await.unwrap();
        rt
    }

    /// Whether the upstream tenant still honours `rt` (its introspection).
    async fn alive_upstream(&self, rt: &str) -> bool {
        self.up.rs_sees(rt).await["active"] == json!(true)
    }

    fn connections_url(&self) -> String {
        self.t.url("userinfo", "connections")
    }

    async fn list(&self, token: &str) -> Answer {
        send(stack().http.get(self.connections_url()).bearer_auth(token)).await
    }

    async fn delete(&self, token: &str) -> Answer {
        let url = format!("{}/{UP}", self.connections_url());
        send(stack().http.delete(url).bearer_auth(token)).await
    }

    async fn stored(&self) -> Vec<tollgate::domain::connections::Connection> {
        db().await
            .list_for_tenant(&self.t.tenant_id(), None, 100, None)
            .await
            .unwrap()
            .items
    }
}

#[tokio::test]
async fn a_user_lists_their_connections_and_disconnecting_revokes_at_the_provider() {
    let v = Vaulted::new(true).await;
    let (dana, dana_at) = v.user("dana", "api openid").await;
    let (erin, erin_at) = v.user("erin", "api openid").await;
    let rt = v.connect(Some(&dana), Some("dana@upstream")).await;
    let erins = v.connect(Some(&erin), None).await;
    assert!(v.alive_upstream(&rt).await);

    let a = v.list(&dana_at).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let items = a.json()["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    let item = &items[0];
    assert_eq!(item["provider"], UP);
    assert_eq!(item["status"], "active");
    assert_eq!(item["account"], "dana@upstream");
    assert_eq!(item["failures"], 0);
    assert_eq!(item["last_refresh_at"], Value::Null);
    assert!(item["connected_at"].as_u64().unwrap() >= now_secs() - 120);
    assert!(!a.body.contains(&rt) && !a.body.contains("v1."), "{a:?}");

    // Without a token, with a bad one, without openid.
    let a = send(stack().http.get(v.connections_url())).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(v.list("garbage").await.status, StatusCode::UNAUTHORIZED);
    let (_, api_only) = v.user("frank", "api").await;
    assert_eq!(v.list(&api_only).await.status, StatusCode::FORBIDDEN);
    // The upstream tenant's own user token is another tenant's: refused.
    let (up_at, _) = v.up.session(&v.up.app, "api openid").await;
    assert_eq!(v.list(&up_at).await.status, StatusCode::UNAUTHORIZED);

    // Disconnect: gone here, revoked there; Erin's untouched.
    let a = v.delete(&dana_at).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{a:?}");
    assert!(!v.alive_upstream(&rt).await, "still alive at the provider");
    let (s, body) = v.up.t.refresh(&v.up.app, &rt).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(v.list(&dana_at).await.json(), json!({"items": []}));
    let a = v.delete(&dana_at).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{a:?}");
    assert_eq!(err_code(&a.json()), "not_linked");
    assert!(v.alive_upstream(&erins).await);
    assert_eq!(v.list(&erin_at).await.json()["items"][0]["provider"], UP);
}

#[tokio::test]
async fn disconnecting_from_a_provider_without_a_revocation_endpoint_still_removes() {
    let v = Vaulted::new(false).await;
    let (dana, at) = v.user("dana", "api openid").await;
    let rt = v.connect(Some(&dana), None).await;
    assert_eq!(v.delete(&at).await.status, StatusCode::NO_CONTENT);
    assert!(v.stored().await.is_empty());
    // Nobody told the provider.
    assert!(v.alive_upstream(&rt).await);
}

#[tokio::test]
async fn connection_list_get_and_remove_from_the_cli() {
    let v = Vaulted::new(true).await;
    let (dana, _) = v.user("dana", "api openid").await;
    let rt = v.connect(Some(&dana), Some("dana@upstream")).await;
    let service_rt = v.connect(None, None).await;
    let alias = v.t.alias.as_str();

    let all = cli(&["connection", "list", "--tenant", alias])
        .await
        .unwrap();
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{all}");
    let text = all.to_string();
    assert!(!text.contains(&rt) && !text.contains(&service_rt) && !text.contains("v1."));
    let danas = cli(&["connection", "list", "--tenant", alias, "--user-id", &dana])
        .await
        .unwrap();
    assert_eq!(danas["items"].as_array().unwrap().len(), 1, "{danas}");
    let by_provider = cli(&["connection", "list", "--tenant", alias, "--provider", UP])
        .await
        .unwrap();
    assert_eq!(by_provider["items"].as_array().unwrap().len(), 2);

    let one = cli(&[
        "connection",
        "get",
        "--tenant",
        alias,
        "--provider",
        UP,
        "--user-id",
        &dana,
    ])
    .await
    .unwrap();
    assert_eq!(one["owner"], "user");
    assert_eq!(one["user_id"], dana.as_str());
    assert_eq!(one["status"], "active");
    assert_eq!(one["account"], "dana@upstream");
    assert_eq!(one["failures"], 0);
    assert_eq!(one["has_refresh_token"], true);
    let service = cli(&["connection", "get", "--tenant", alias, "--provider", UP])
        .await
        .unwrap();
    assert_eq!(service["owner"], "service");

    let (ok, out, err) = admin_raw(
        &[
            "connection",
            "remove",
            "--tenant",
            alias,
            "--provider",
            UP,
            "--user-id",
            &dana,
        ],
        None,
    );
    assert!(ok, "{err}");
    let out: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(out["removed"], true);
    assert_eq!(out["revoked"], true, "{out}");
    assert!(!v.alive_upstream(&rt).await);
    // The change is audited (ids only).
    assert!(err.contains("\"command\":\"connection remove\""), "{err}");
    assert!(err.contains(&format!("\"provider\":\"{UP}\"")), "{err}");
    assert!(!err.contains(&rt));

    let out = cli(&["connection", "remove", "--tenant", alias, "--provider", UP])
        .await
        .unwrap();
    assert_eq!(out["revoked"], true, "{out}");
    assert!(!v.alive_upstream(&service_rt).await);
    assert!(v.stored().await.is_empty());

    // Nothing left to remove or show: errors, one line each.
    let e = cli(&["connection", "remove", "--tenant", alias, "--provider", UP])
        .await
        .unwrap_err();
    assert!(e.contains("no service connection"), "{e}");
    let e = cli(&[
        "connection",
        "get",
        "--tenant",
        alias,
        "--provider",
        "No Such",
    ])
    .await
    .unwrap_err();
    assert!(e.contains("--provider"), "{e}");
    assert!(
        cli(&["connection", "list", "--tenant", "t-no-such-tenant"])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn user_delete_removes_and_revokes_the_users_connections() {
    let v = Vaulted::new(true).await;
    let (dana, _) = v.user("dana", "api openid").await;
    let (erin, _) = v.user("erin", "api openid").await;
    let rt = v.connect(Some(&dana), None).await;
    let erins = v.connect(Some(&erin), None).await;
    let out = cli(&["user", "delete", "--tenant", &v.t.alias, "--user-id", &dana])
        .await
        .unwrap();
    assert_eq!(out["deleted"], true);
    assert_eq!(out["connections_removed"], 1, "{out}");
    assert_eq!(out["connections_revoked"], 1, "{out}");
    assert!(!v.alive_upstream(&rt).await);
    let left = v.stored().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key.owner.as_key(), erin);
    assert!(v.alive_upstream(&erins).await);
    let owned = db()
        .await
        .list_for_owner(
            &v.t.tenant_id(),
            &Owner::User(UserId::parse(&dana).unwrap()),
        )
        .await
        .unwrap();
    assert!(owned.is_empty());
}

#[tokio::test]
async fn provider_remove_removes_and_revokes_every_connection_to_it() {
    let v = Vaulted::new(true).await;
    let (dana, _) = v.user("dana", "api openid").await;
    let (erin, _) = v.user("erin", "api openid").await;
    let rts = [
        v.connect(Some(&dana), None).await,
        v.connect(Some(&erin), None).await,
        v.connect(None, None).await,
    ];
    let out = cli(&["provider", "remove", "--tenant", &v.t.alias, "--name", UP])
        .await
        .unwrap();
    assert_eq!(out["removed"], true);
    assert_eq!(out["connections_removed"], 3, "{out}");
    assert_eq!(out["connections_revoked"], 3, "{out}");
    for rt in &rts {
        assert!(!v.alive_upstream(rt).await);
    }
    assert!(v.stored().await.is_empty());
}

#[tokio::test]
async fn tenant_delete_removes_the_connections_items_and_their_listing() {
    let v = Vaulted::new(true).await;
    let (dana, _) = v.user("dana", "api openid").await;
    let rt = v.connect(Some(&dana), None).await;
    v.connect(None, None).await;
    let id = v.t.tenant_id();
    let out = cli(&["tenant", "delete", &v.t.alias]).await.unwrap();
    assert_eq!(out["connections_removed"], 2, "{out}");
    assert_eq!(out["connections_revoked"], 2, "{out}");
    assert!(!v.alive_upstream(&rt).await);
    // Neither the items (their own partitions) nor the `list` index's view.
    let db = db().await;
    assert!(db.tenant_items(&id).await.unwrap().is_empty());
    assert!(v.stored().await.is_empty());
    let owned = db
        .list_for_owner(&id, &Owner::User(UserId::parse(&dana).unwrap()))
        .await
        .unwrap();
    assert!(owned.is_empty());
    let service = ConnectionKey {
        tenant: id,
        owner: Owner::Service,
        provider: ProviderName::parse(UP).unwrap(),
    };
    assert!(db.get(&service).await.unwrap().is_none());
}
