//! The connect flow (SPEC: Upstream providers — Connecting a user's account):
//! authorize with `upstream={name}`, sign-in and `allow`, the browser on to
//! the provider (bound by a `__Host-` cookie and a single-use upstream
//! transaction), the provider's redirect to `…/upstream/{name}/callback`,
//! the code redeemed at the fake provider (`Fakes::upstream`), the
//! connection sealed and stored, and the client's code. Every way of
//! finishing a transaction that is not this browser's connects nothing.

use super::*;
use crate::domain::connections::{ConnectionKey, Field, Owner, Status};
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::domain::upstream_tx::{COOKIE, state_key};
use crate::ids::ProviderName;
use crate::ports::{ConnectionStore, ProviderStore};
use crate::testing::fakes::Fault;
use crate::tokens::vault::VaultKeys;
use secrecy::ExposeSecret;

const MAX: &str = "max";
const CALLBACK_URI: &str = "https://fn.example/callback/oauth2/acme/upstream/max/callback";

/// A provider of the tenant (its client secret and the tenant's vault keys
/// in the secrets, as `provider add` leaves them).
async fn provider(w: &World, name: &str, preset: Preset, grant: UpstreamGrant) {
    let p = Provider {
        tenant: w.tenant.clone(),
        name: name.to_owned(),
        preset,
        vars: Default::default(),
        endpoints: Endpoints {
            authorize: (grant == UpstreamGrant::AuthorizationCode)
                .then(|| format!("https://{name}.example/OAuth2/Authorize")),
            token: format!("https://{name}.example/OAuth2/Token"),
            ..Endpoints::default()
        },
        client_id: "tollgate-at-upstream".into(),
        has_client_secret: true,
        scopes: Vec::new(),
        grant,
        display_name: format!("{} CRM", name.to_uppercase()),
        sign_in: false,
        create_users: false,
        created_at: T0,
    };
    w.fakes.store.create_provider(&p).await.unwrap();
    let config = &w.state.config;
    w.fakes.secrets.put(
        config.upstream_secret_name(&w.tenant, name),
        "upstream-s3cret",
    );
    let vault = config.vault_key_secret(&w.tenant);
    if crate::ports::SecretSource::fetch(w.fakes.secrets.as_ref(), &vault)
        .await
        .unwrap()
        .is_none()
    {
        let keys = VaultKeys::generate().to_json().unwrap();
        w.fakes.secrets.put(vault, keys.expose_secret());
    }
}

/// A tenant with the Maximizer-style provider `max`, a code client
/// registered for `upstream:max`, and alice.
async fn world() -> (World, App, UserId) {
    let w = World::new();
    provider(&w, MAX, Preset::Maximizer, UpstreamGrant::AuthorizationCode).await;
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["api".into(), "upstream:max".into()];
    });
    let alice = w.alice();
    (w, app, alice)
}

fn connect_query<'a>(app: &'a App, provider: &str) -> Vec<(&'a str, String)> {
    let mut q: Vec<(&str, String)> = code_request(app)
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    q.push(("scope", format!("openid upstream:{provider}")));
    q.push(("upstream", provider.to_owned()));
    q
}

/// The browser at the provider: where it was sent, and its cookie.
struct AtProvider {
    location: url::Url,
    cookie: String,
}

impl AtProvider {
    fn param(&self, name: &str) -> Option<String> {
        self.location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    fn state(&self) -> String {
        self.param("state").unwrap()
    }
}

impl World {
    /// Authorize with `upstream=max`, sign in as `user`, allow: the browser
    /// is on its way to the provider.
    async fn to_provider(&self, app: &App, user: &str) -> AtProvider {
        let q = connect_query(app, MAX);
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = self.authorize(&q).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let r = self.sign_in(&page, user, PASSWORD, "allow").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let set = r.header("set-cookie").unwrap().to_owned();
        let cookie = set
            .strip_prefix(&format!("{COOKIE}="))
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        AtProvider {
            location: r.location(),
            cookie,
        }
    }

    /// The provider's redirect to the callback function, with `cookie`.
    async fn upstream_callback(
        &self,
        provider: &str,
        query: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Resp {
        let uri = format!(
            "/oauth2/acme/upstream/{provider}/callback?{}",
            crate::web::response::encode_pairs(query)
        );
        let mut b = lambda_http::http::Request::builder().method("GET").uri(uri);
        if let Some(c) = cookie {
            b = b.header("cookie", format!("theme=dark; {COOKIE}={c}"));
        }
        let req = b.body(Body::Empty).unwrap();
        Resp::from(handlers::callback_function(&self.state, req).await)
    }

    fn connection_key(&self, user: &UserId, provider: &str) -> ConnectionKey {
        ConnectionKey {
            tenant: self.tenant.clone(),
            owner: Owner::User(user.clone()),
            provider: ProviderName::parse(provider).unwrap(),
        }
    }

    async fn connection(
        &self,
        user: &UserId,
        provider: &str,
    ) -> Option<crate::domain::connections::Connection> {
        ConnectionStore::get(
            self.fakes.store.as_ref(),
            &self.connection_key(user, provider),
        )
        .await
        .unwrap()
    }

    /// Redeems the client's code (PKCE, as `code_request` asked).
    async fn redeem(&self, app: &App, code: &str) -> Resp {
        self.token(
            app,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }
}

fn assert_error_page(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.header("location").is_none(), "never a redirect");
    assert!(r.body.contains("Account not connected"), "{}", r.body);
}

fn assert_clears_cookie(r: &Resp) {
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with(&format!("{COOKIE}=;")), "{set}");
    assert!(set.contains("Max-Age=0"), "{set}");
}

#[tokio::test]
async fn connect_stores_a_sealed_connection_and_the_clients_code_redeems() {
    let (w, app, alice) = world().await;
    // The consent page names the provider, in the user's language.
    let q = connect_query(&app, MAX);
    let mut q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = w.authorize(&q).await;
    assert!(
        page.body
            .contains("<strong>Test App</strong> will use your <strong>MAX CRM</strong> account"),
        "{}",
        page.body
    );
    q.push(("ui_locales", "fr"));
    let page = w.authorize(&q).await;
    assert!(
        page.body
            .contains("utilisera votre compte <strong>MAX CRM</strong>"),
        "{}",
        page.body
    );

    let at = w.to_provider(&app, "alice").await;
    // On to the provider's authorize URL, Maximizer's way: alphanumeric
    // state, no PKCE, the provider's callback_uri as redirect URI.
    assert!(
        at.location
            .as_str()
            .starts_with("https://max.example/OAuth2/Authorize?")
    );
    assert_eq!(
        at.param("client_id").as_deref(),
        Some("tollgate-at-upstream")
    );
    assert_eq!(at.param("redirect_uri").as_deref(), Some(CALLBACK_URI));
    assert_eq!(
        w.state.config.upstream_callback(&w.tenant, MAX),
        CALLBACK_URI,
        "the same value `provider add` prints"
    );
    let state = at.state();
    assert!(state.len() >= 22 && state.bytes().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(at.param("code_challenge"), None, "Maximizer: no PKCE");
    assert!(
        !at.location.as_str().contains("st-1"),
        "the client's state stays home"
    );
    assert_eq!(at.cookie.len(), 43);
    // The cookie's attributes, and the transaction: stored under the state's
    // hash, with the cookie's hash only.
    let page = w.to_provider(&app, "alice").await;
    let _ = page;
    let tx = w
        .fakes
        .store
        .upstream_tx_raw(&w.tenant, &state_key(&state))
        .unwrap();
    assert_eq!(
        tx.leg,
        crate::domain::upstream_tx::Leg::Connect(alice.clone())
    );
    assert_eq!(tx.expires_at, T0 + 600);
    assert!(tx.bound_to(&at.cookie));
    assert_ne!(tx.binding_hash, at.cookie);
    assert!(
        w.connection(&alice, MAX).await.is_none(),
        "nothing connected yet"
    );

    let r = w
        .upstream_callback(
            MAX,
            &[
                ("code", "upstream-code-1"),
                ("state", &state),
                ("login_hint", "d maxdb u alice01"),
            ],
            Some(&at.cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().as_str().starts_with(&format!("{REDIRECT}?")));
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
    assert_eq!(r.param("login_hint"), Some(format!("d {TENANT} u {alice}")));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_clears_cookie(&r);
    // The provider got the code, with Tollgate's credentials and the same
    // redirect URI.
    assert_eq!(
        w.fakes.upstream.calls(),
        vec![(
            "authorization_code".to_owned(),
            Some("upstream-code-1".to_owned())
        )]
    );
    // The connection: active, sealed (opens only with the vault), labelled.
    let conn = w.connection(&alice, MAX).await.unwrap();
    assert_eq!(conn.status, Status::Active);
    assert_eq!(conn.account.as_deref(), Some("d maxdb u alice01"));
    assert_eq!(conn.connected_at, T0);
    let vault = w.state.vault(&w.tenant).await.unwrap();
    let key = w.connection_key(&alice, MAX);
    let rt = conn.refresh_token.as_ref().unwrap();
    assert!(rt.as_str().starts_with("v1."), "sealed");
    assert_eq!(
        vault
            .open(&key, Field::RefreshToken, rt)
            .unwrap()
            .expose_secret(),
        w.fakes.upstream.current_refresh_token().unwrap()
    );
    let at_sealed = &conn.access_token.as_ref().unwrap().sealed;
    assert!(
        vault
            .open(&key, Field::AccessToken, at_sealed)
            .unwrap()
            .expose_secret()
            .starts_with("at-")
    );
    // The upstream transaction is spent; the client's code redeems.
    assert!(
        w.fakes
            .store
            .upstream_tx_raw(&w.tenant, &state_key(&state))
            .is_none()
    );
    let t = w.redeem(&app, &r.param("code").unwrap()).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    let claims = w.verify_jwt(t.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["scope"], "openid upstream:max");
    // Nothing upstream in the pages or the redirect.
    for s in [r.header("location").unwrap(), r.body.as_str()] {
        assert!(
            !s.contains("upstream-code-1") && !s.contains("upstream-s3cret") && !s.contains("at-")
        );
    }
}

#[tokio::test]
async fn a_replayed_provider_redirect_connects_nothing_and_shows_the_error_page() {
    let (w, app, alice) = world().await;
    let at = w.to_provider(&app, "alice").await;
    let state = at.state();
    let q = [("code", "c-1"), ("state", state.as_str())];
    let first = w.upstream_callback(MAX, &q, Some(&at.cookie)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let generation = w.connection(&alice, MAX).await.unwrap().generation;
    // The same redirect again (the cookie is still in the browser if the
    // clearing was lost), and with another code.
    for code in ["c-1", "c-2"] {
        let again = w
            .upstream_callback(MAX, &[("code", code), ("state", &state)], Some(&at.cookie))
            .await;
        assert_error_page(&again);
    }
    assert_eq!(
        w.fakes.upstream.calls().len(),
        1,
        "the provider was called once"
    );
    assert_eq!(
        w.connection(&alice, MAX).await.unwrap().generation,
        generation
    );
}

#[tokio::test]
async fn a_redirect_without_this_browsers_cookie_connects_nothing_and_leaves_the_transaction() {
    let (w, app, alice) = world().await;
    let at = w.to_provider(&app, "alice").await;
    let state = at.state();
    let q = [("code", "c-1"), ("state", state.as_str())];
    // No cookie, another browser's, a malformed one.
    let other = w.to_provider(&app, "alice").await;
    for cookie in [None, Some(other.cookie.as_str()), Some("x"), Some("")] {
        let r = w.upstream_callback(MAX, &q, cookie).await;
        assert_error_page(&r);
    }
    assert!(w.fakes.upstream.calls().is_empty(), "no code was redeemed");
    assert!(w.connection(&alice, MAX).await.is_none());
    // Nor an unknown state, or none.
    let r = w
        .upstream_callback(MAX, &[("code", "c-1"), ("state", "nope")], Some(&at.cookie))
        .await;
    assert_error_page(&r);
    let r = w
        .upstream_callback(MAX, &[("code", "c-1")], Some(&at.cookie))
        .await;
    assert_error_page(&r);
    // The transaction still works for its own browser.
    let r = w.upstream_callback(MAX, &q, Some(&at.cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.param("code").is_some());
    assert!(w.connection(&alice, MAX).await.is_some());
}

#[tokio::test]
async fn a_state_swapped_between_two_users_connects_neither_to_the_other() {
    let (w, app, alice) = world().await;
    let bob = w.user("bob", |_| {});
    let a = w.to_provider(&app, "alice").await;
    let b = w.to_provider(&app, "bob").await;
    // Bob's state in Alice's browser (a code minted for Bob's account, or
    // an attacker's redirect planted in Alice's browser), and the reverse.
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "bobs-code"), ("state", &b.state())],
            Some(&a.cookie),
        )
        .await;
    assert_error_page(&r);
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "alices-code"), ("state", &a.state())],
            Some(&b.cookie),
        )
        .await;
    assert_error_page(&r);
    assert!(w.connection(&alice, MAX).await.is_none());
    assert!(w.connection(&bob, MAX).await.is_none());
    assert!(w.fakes.upstream.calls().is_empty());
    // Each finishes in their own browser, for themselves.
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "bobs-code"), ("state", &b.state())],
            Some(&b.cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(w.connection(&bob, MAX).await.is_some());
    assert!(w.connection(&alice, MAX).await.is_none());
}

#[tokio::test]
async fn a_redirect_to_another_providers_callback_spends_the_transaction_and_connects_nothing() {
    let (w, app, alice) = world().await;
    provider(
        &w,
        "other",
        Preset::Maximizer,
        UpstreamGrant::AuthorizationCode,
    )
    .await;
    let at = w.to_provider(&app, "alice").await;
    let q = [("code", "c-1"), ("state", &at.state() as &str)];
    let r = w.upstream_callback("other", &q, Some(&at.cookie)).await;
    assert_error_page(&r);
    let r = w.upstream_callback(MAX, &q, Some(&at.cookie)).await;
    assert_error_page(&r);
    assert!(w.fakes.upstream.calls().is_empty());
    assert!(w.connection(&alice, MAX).await.is_none());
}

#[tokio::test]
async fn an_expired_transaction_connects_nothing() {
    let (w, app, alice) = world().await;
    let at = w.to_provider(&app, "alice").await;
    w.advance(600);
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "c-1"), ("state", &at.state())],
            Some(&at.cookie),
        )
        .await;
    assert_error_page(&r);
    assert!(w.connection(&alice, MAX).await.is_none());
}

#[tokio::test]
async fn the_providers_access_denied_reaches_the_client_with_its_state_and_iss() {
    let (w, app, alice) = world().await;
    for (upstream_error, client_error) in [
        ("access_denied", "access_denied"),
        ("temporarily_unavailable", "temporarily_unavailable"),
        ("consent_required", "access_denied"),
    ] {
        let at = w.to_provider(&app, "alice").await;
        let r = w
            .upstream_callback(
                MAX,
                &[
                    ("error", upstream_error),
                    ("error_description", "<b>secret upstream text</b>"),
                    ("state", &at.state()),
                ],
                Some(&at.cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location().as_str().starts_with(REDIRECT));
        assert_eq!(r.param("error").as_deref(), Some(client_error));
        assert_eq!(r.param("state").as_deref(), Some("st-1"));
        assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
        assert_eq!(r.param("code"), None);
        assert!(
            !r.header("location").unwrap().contains("secret"),
            "no upstream text"
        );
        assert_clears_cookie(&r);
        // Spent: the same redirect again is the error page.
        let again = w
            .upstream_callback(
                MAX,
                &[("error", upstream_error), ("state", &at.state())],
                Some(&at.cookie),
            )
            .await;
        assert_error_page(&again);
    }
    assert!(w.fakes.upstream.calls().is_empty());
    assert!(w.connection(&alice, MAX).await.is_none());
}

#[tokio::test]
async fn a_profix_code_with_an_exclamation_mark_is_redeemed_as_it_is() {
    let w = World::new();
    provider(
        &w,
        "profix",
        Preset::Profix,
        UpstreamGrant::AuthorizationCode,
    )
    .await;
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["upstream:profix".into()];
    });
    let alice = w.alice();
    let q = connect_query(&app, "profix");
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = w.authorize(&q).await;
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie =
        r.header("set-cookie").unwrap().split(';').next().unwrap()[COOKIE.len() + 1..].to_owned();
    let state = r.param("state").unwrap();
    let code = "Ab3!x9!Q";
    let back = w
        .upstream_callback(
            "profix",
            &[("code", code), ("state", &state)],
            Some(&cookie),
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert!(back.param("code").is_some(), "{:?}", back.location());
    assert_eq!(
        w.fakes.upstream.calls(),
        vec![("authorization_code".to_owned(), Some(code.to_owned()))],
        "the `!` reached the provider unchanged"
    );
    assert!(w.connection(&alice, "profix").await.is_some());
    // Maximizer's codes have no `!`: such a code is not redeemed.
    let (w, app, alice) = world().await;
    let at = w.to_provider(&app, "alice").await;
    let r = w
        .upstream_callback(
            MAX,
            &[("code", code), ("state", &at.state())],
            Some(&at.cookie),
        )
        .await;
    assert_eq!(r.param("error").as_deref(), Some("server_error"));
    assert!(w.fakes.upstream.calls().is_empty());
    assert!(w.connection(&alice, MAX).await.is_none());
}

#[tokio::test]
async fn a_provider_failing_to_redeem_the_code_connects_nothing_and_the_client_may_retry() {
    let (w, app, alice) = world().await;
    for fault in [
        Fault::Answer(500, "<html>oops</html>".into(), None),
        Fault::Answer(400, r#"{"error":"invalid_grant"}"#.into(), None),
        Fault::LoseAnswerAfterRotating,
        Fault::NotSent,
    ] {
        w.fakes.upstream.push_fault(fault.clone());
        let at = w.to_provider(&app, "alice").await;
        let r = w
            .upstream_callback(
                MAX,
                &[("code", "c-1"), ("state", &at.state())],
                Some(&at.cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{fault:?}: {}", r.body);
        assert_eq!(
            r.param("error").as_deref(),
            Some("temporarily_unavailable"),
            "{fault:?}"
        );
        assert_eq!(r.param("state").as_deref(), Some("st-1"));
        assert_eq!(r.param("code"), None);
        assert!(!r.header("location").unwrap().contains("oops"));
        assert_clears_cookie(&r);
        assert!(w.connection(&alice, MAX).await.is_none(), "{fault:?}");
    }
    // A storage outage after the provider answered: the same answer.
    w.fakes.store.fail("connections.connect");
    let at = w.to_provider(&app, "alice").await;
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "c-1"), ("state", &at.state())],
            Some(&at.cookie),
        )
        .await;
    assert_eq!(r.param("error").as_deref(), Some("temporarily_unavailable"));
    w.fakes.store.heal();
    assert!(w.connection(&alice, MAX).await.is_none());
    // Then a new attempt connects.
    let at = w.to_provider(&app, "alice").await;
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "c-1"), ("state", &at.state())],
            Some(&at.cookie),
        )
        .await;
    assert!(r.param("code").is_some(), "{:?}", r.location());
    assert_eq!(
        w.connection(&alice, MAX).await.unwrap().status,
        Status::Active
    );
}

#[tokio::test]
async fn authorize_refuses_an_upstream_the_client_or_the_tenant_cannot_use() {
    let (w, app, _) = world().await;
    provider(&w, "b2c", Preset::B2cRopc, UpstreamGrant::Password).await;
    let unregistered = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["api".into(), "upstream:b2c".into(), "upstream:nope".into()];
    });
    type Case<'a> = (&'a App, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        // A client not registered with upstream:max.
        (
            &unregistered,
            vec![("scope", "upstream:max"), ("upstream", "max")],
            "invalid_scope",
        ),
        // The scope not asked for.
        (
            &app,
            vec![("scope", "api"), ("upstream", "max")],
            "invalid_scope",
        ),
        (&app, vec![("upstream", "max")], "invalid_scope"),
        // The scope of another provider.
        (
            &unregistered,
            vec![("scope", "upstream:b2c"), ("upstream", "max")],
            "invalid_scope",
        ),
        // Unknown providers, malformed names.
        (
            &unregistered,
            vec![("scope", "upstream:nope"), ("upstream", "nope")],
            "invalid_request",
        ),
        (
            &app,
            vec![("scope", "upstream:max"), ("upstream", "Max!")],
            "invalid_request",
        ),
        // A provider without a browser leg (password grant).
        (
            &unregistered,
            vec![("scope", "upstream:b2c"), ("upstream", "b2c")],
            "invalid_request",
        ),
    ];
    for (client, extra, error) in cases {
        let mut q: Vec<(&str, &str)> = code_request(client);
        q.extend(extra.iter().copied());
        let r = w.authorize(&q).await;
        assert_eq!(r.status, StatusCode::FOUND, "{extra:?}: {}", r.body);
        assert_eq!(r.param("error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(r.param("state").as_deref(), Some("st-1"));
        assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
    }
    // The implicit grant cannot connect.
    let implicit = w.client(&[Grant::Implicit], |c| {
        c.scopes = vec!["upstream:max".into()];
    });
    let r = w
        .authorize(&[
            ("response_type", "token"),
            ("client_id", implicit.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "st-1"),
            ("scope", "upstream:max"),
            ("upstream", "max"),
        ])
        .await;
    assert_eq!(
        r.param("error").as_deref(),
        Some("invalid_request"),
        "{}",
        r.body
    );
    // An unknown client is still the error page, never a redirect.
    let r = w
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "x"),
            ("upstream", "max"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header("location").is_none());
    assert_eq!(w.fakes.store.upstream_tx_count(&w.tenant), 0);
}

#[tokio::test]
async fn without_upstream_the_callback_issues_the_code_at_once_and_sets_no_cookie() {
    let (w, app, alice) = world().await;
    let q = [
        ("response_type", "code"),
        ("client_id", app.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("scope", "upstream:max"),
    ];
    let page = w.authorize(&q).await;
    assert!(!page.body.contains("MAX CRM"));
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().as_str().starts_with(REDIRECT));
    assert!(r.header("set-cookie").is_none());
    assert!(r.param("code").is_some());
    assert!(w.connection(&alice, MAX).await.is_none());
    // Deny with upstream: the usual access_denied, no provider.
    let q = connect_query(&app, MAX);
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = w.authorize(&q).await;
    let r = w.sign_in(&page, "", "", "deny").await;
    assert_eq!(r.param("error").as_deref(), Some("access_denied"));
    assert!(r.header("set-cookie").is_none());
    assert_eq!(w.fakes.store.upstream_tx_count(&w.tenant), 0);
}

#[tokio::test]
async fn the_cookie_binding_the_browser_is_host_only_secure_httponly_and_lax() {
    let (w, app, _) = world().await;
    let q = connect_query(&app, MAX);
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = w.authorize(&q).await;
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with("__Host-"), "{set}");
    for attr in [
        "; Path=/",
        "; Secure",
        "; HttpOnly",
        "; SameSite=Lax",
        "; Max-Age=600",
    ] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
}

#[tokio::test]
async fn a_wrong_password_shows_the_provider_line_again() {
    let (w, app, _) = world().await;
    let q = connect_query(&app, MAX);
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = w.authorize(&q).await;
    let r = w.sign_in(&page, "alice", "wrong", "allow").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("<strong>MAX CRM</strong> account"),
        "{}",
        r.body
    );
    assert!(r.header("set-cookie").is_none());
}

#[tokio::test]
async fn an_outage_before_the_provider_sends_the_client_temporarily_unavailable() {
    let (w, app, _) = world().await;
    w.fakes.store.fail("upstream_txs.put");
    let q = connect_query(&app, MAX);
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = w.authorize(&q).await;
    let r = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().as_str().starts_with(REDIRECT));
    assert_eq!(r.param("error").as_deref(), Some("temporarily_unavailable"));
    assert!(r.header("set-cookie").is_none());
    // And a storage outage at the provider's redirect is a 503 page.
    w.fakes.store.heal();
    let at = w.to_provider(&app, "alice").await;
    w.fakes.store.fail("upstream_txs.get");
    let r = w
        .upstream_callback(
            MAX,
            &[("code", "c"), ("state", &at.state())],
            Some(&at.cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.header("location").is_none());
}
