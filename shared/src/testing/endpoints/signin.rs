//! Federated sign-in over the fakes (SPEC: Federated sign-in): the login
//! page's link, the browser on to the provider (state, nonce, PKCE S256,
//! `openid`), the provider's redirect to the callback function, the code
//! redeemed at `FakeUpstream` (which answers with an ID token signed here,
//! its keys served by `FakeFetcher`), the ID token judged, the user found by
//! its link (or made once), and the client's code. Every refusal named.

use super::*;
use crate::crypto::b64url;
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::domain::records::SigningAlg;
use crate::domain::upstream_tx::COOKIE;
use crate::ports::ProviderStore;
use crate::tokens::keys::StoredKey;
use crate::tokens::vault::VaultKeys;
use secrecy::ExposeSecret;
use serde_json::json;

const CORP: &str = "corp";
const IDP: &str = "https://corp.example";
const JWKS: &str = "https://corp.example/jwks";
const AT_IDP: &str = "tollgate-at-corp";
const SIGNIN_PATH: &str = "/oauth2/acme/upstream/corp/signin";

struct Idp {
    key: StoredKey,
    rsa: StoredKey,
}

fn rsa() -> &'static StoredKey {
    static KEY: OnceLock<StoredKey> = OnceLock::new();
    KEY.get_or_init(|| keys::generate(SigningAlg::RS256).unwrap())
}

/// The OpenID provider `corp` of the tenant (sign-in on), its client secret,
/// the tenant's vault keys, and its JWKS at the fake fetcher.
async fn idp(w: &World, create_users: bool) -> Idp {
    let p = Provider {
        tenant: w.tenant.clone(),
        name: CORP.into(),
        preset: Preset::Oidc,
        vars: Default::default(),
        endpoints: Endpoints {
            authorize: Some(format!("{IDP}/authorize")),
            token: format!("{IDP}/token"),
            issuer: Some(IDP.into()),
            jwks_uri: Some(JWKS.into()),
            ..Endpoints::default()
        },
        client_id: AT_IDP.into(),
        has_client_secret: true,
        scopes: vec!["openid".into(), "email".into()],
        grant: UpstreamGrant::AuthorizationCode,
        display_name: "Corp ID".into(),
        sign_in: true,
        create_users,
        created_at: T0,
    };
    w.fakes.store.create_provider(&p).await.unwrap();
    let config = &w.state.config;
    w.fakes
        .secrets
        .put(config.upstream_secret_name(&w.tenant, CORP), "corp-s3cret");
    let keys = VaultKeys::generate().to_json().unwrap();
    w.fakes
        .secrets
        .put(config.vault_key_secret(&w.tenant), keys.expose_secret());
    let key = keys::generate(SigningAlg::ES256).unwrap();
    w.fakes
        .fetcher
        .serve(JWKS, json!({"keys": [key.public_jwk, rsa().public_jwk]}));
    Idp {
        key,
        rsa: rsa().clone(),
    }
}

fn sign(key: &StoredKey, claims: &Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let (alg, ek) = match key.alg.as_str() {
        "ES256" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(key.pem.as_bytes()).unwrap(),
        ),
        _ => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(key.pem.as_bytes()).unwrap(),
        ),
    };
    let mut h = Header::new(alg);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &ek).unwrap()
}

/// The browser at the provider.
struct AtProvider {
    location: url::Url,
    cookie: String,
}

impl AtProvider {
    fn param(&self, name: &str) -> String {
        self.location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }

    /// The ID token the provider would sign for `sub`, this sign-in's nonce.
    fn claims(&self, w: &World, sub: &str) -> Value {
        json!({
            "iss": IDP, "aud": AT_IDP, "sub": sub, "nonce": self.param("nonce"),
            "iat": w.now(), "exp": w.now() + 300,
            "email": "pat@corp.example", "email_verified": true, "name": "Pat Corp",
        })
    }
}

impl World {
    async fn signin_get(&self, tx: &str, referer: Option<&str>) -> Resp {
        let uri = format!(
            "{SIGNIN_PATH}?{}",
            crate::web::response::encode_pairs(&[("tx", tx)])
        );
        let mut b = lambda_http::http::Request::builder().method("GET").uri(uri);
        if let Some(r) = referer {
            b = b.header("referer", r);
        }
        Resp::from(handlers::callback_function(&self.state, b.body(Body::Empty).unwrap()).await)
    }

    /// The login page's "Sign in with Corp ID", followed: at the provider.
    async fn to_idp(&self, app: &App) -> AtProvider {
        self.to_idp_with(app, &[]).await
    }

    async fn to_idp_with(&self, app: &App, extra: &[(&str, &str)]) -> AtProvider {
        let page = self.login_page(app, extra).await;
        let r = self
            .signin_get(&page.form_tx(), Some("https://fn.example/"))
            .await;
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

    /// The provider's redirect back with `code`, from the browser holding `cookie`.
    async fn back(&self, at: &AtProvider, code: &str, cookie: Option<&str>) -> Resp {
        let uri = format!(
            "/oauth2/acme/upstream/corp/callback?{}",
            crate::web::response::encode_pairs(&[("code", code), ("state", &at.param("state"))])
        );
        let mut b = lambda_http::http::Request::builder().method("GET").uri(uri);
        if let Some(c) = cookie {
            b = b.header("cookie", format!("{COOKIE}={c}"));
        }
        Resp::from(handlers::callback_function(&self.state, b.body(Body::Empty).unwrap()).await)
    }

    /// Signs in at the provider with an ID token of `claims`: the redirect back.
    async fn sign_in_with(&self, at: &AtProvider, id_token: String) -> Resp {
        self.fakes.upstream.set_id_token(Some(id_token));
        self.back(at, "code-1", Some(&at.cookie)).await
    }

    async fn redeem_code(&self, app: &App, code: &str) -> Value {
        let r = self
            .token(
                app,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.json()
    }
}

/// A page (never a redirect) that signs nobody in and offers the password form
/// of the same request.
fn assert_not_signed_in(r: &Resp, title: &str) {
    assert!(
        r.header("location").is_none(),
        "never a redirect: {}",
        r.body
    );
    assert!(r.body.contains(title), "{}", r.body);
    assert!(
        r.body
            .contains("href=\"https://fn.example/authorize/oauth2/acme/authorize?response_type=code&amp;client_id="),
        "{}",
        r.body
    );
    assert!(r.body.contains("state=st-1"), "{}", r.body);
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("Max-Age=0"), "the cookie is cleared: {set}");
}

fn refused(r: &Resp) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_not_signed_in(r, "Not signed in");
}

#[tokio::test]
async fn a_linked_subject_signs_in_and_the_clients_code_redeems() {
    let w = World::new();
    let idp = idp(&w, false).await;
    let app = w.code_client();
    let alice = w.alice();
    w.fakes
        .store
        .create_link(&w.tenant, IDP, "corp-sub-1", &alice)
        .unwrap();
    let page = w.login_page(&app, &[]).await;
    assert!(
        page.body.contains(">Sign in with Corp ID</a>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("href=\"https://fn.example/callback/oauth2/acme/upstream/corp/signin?tx=")
    );
    let at = w.to_idp(&app).await;
    // On to the provider: state, nonce, PKCE S256, openid, the callback URI.
    assert_eq!(
        at.location.as_str().split('?').next(),
        Some("https://corp.example/authorize")
    );
    assert_eq!(at.param("client_id"), AT_IDP);
    assert_eq!(at.param("code_challenge_method"), "S256");
    assert_eq!(at.param("code_challenge").len(), 43);
    assert!(at.param("nonce").len() >= 43 && at.param("state").len() >= 32);
    assert!(at.param("scope").split(' ').any(|s| s == "openid"));
    assert_eq!(
        at.param("redirect_uri"),
        "https://fn.example/callback/oauth2/acme/upstream/corp/callback"
    );
    let r = w
        .sign_in_with(&at, sign(&idp.key, &at.claims(&w, "corp-sub-1")))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let code = r.param("code").unwrap();
    assert_eq!(r.param("state").as_deref(), Some("st-1"));
    assert_eq!(r.param("iss").as_deref(), Some(ISSUER));
    assert_eq!(r.param("login_hint"), Some(format!("d acme u {alice}")));
    // The code exchange at the provider carried the PKCE verifier.
    let posted = w.fakes.upstream.posts();
    let verifier = posted[0].field("code_verifier").unwrap();
    assert_eq!(
        crate::domain::providers::engine::pkce_challenge(verifier),
        at.param("code_challenge")
    );
    let tokens = w.redeem_code(&app, &code).await;
    let claims = w.verify_jwt(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());
    // Replayed: the transaction is spent.
    let again = w.back(&at, "code-1", Some(&at.cookie)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.header("location").is_none());
}

#[tokio::test]
async fn the_return_counts_only_in_the_browser_that_started_it() {
    let w = World::new();
    let idp = idp(&w, false).await;
    let app = w.code_client();
    let alice = w.alice();
    w.fakes
        .store
        .create_link(&w.tenant, IDP, "s1", &alice)
        .unwrap();
    let at = w.to_idp(&app).await;
    w.fakes
        .upstream
        .set_id_token(Some(sign(&idp.key, &at.claims(&w, "s1"))));
    for cookie in [None, Some("another-browsers-binding-value-xxxxxxxxxxxxxx")] {
        let r = w.back(&at, "code-1", cookie).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.header("location").is_none());
    }
    assert!(w.fakes.upstream.posts().is_empty(), "no code redeemed");
    let r = w.back(&at, "code-1", Some(&at.cookie)).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "its own browser still can: {}",
        r.body
    );
}

#[tokio::test]
async fn every_bad_id_token_is_refused() {
    let w = World::new();
    let idp = idp(&w, true).await;
    let app = w.code_client();
    let stranger = keys::generate(SigningAlg::ES256).unwrap();
    let users = w.fakes.store.user_count(&w.tenant);
    type Case = Box<dyn Fn(&World, &AtProvider) -> String>;
    let with = |f: fn(&mut Value)| -> Case {
        let key = idp.key.clone();
        Box::new(move |w: &World, at: &AtProvider| {
            let mut c = at.claims(w, "s1");
            f(&mut c);
            sign(&key, &c)
        })
    };
    let hs256_with_public_key = {
        let jwk = idp.rsa.public_jwk.to_string();
        Box::new(move |w: &World, at: &AtProvider| {
            let h = json!({"alg": "HS256", "kid": rsa().kid});
            let c = at.claims(w, "s1");
            let signed = format!(
                "{}.{}",
                b64url(h.to_string().as_bytes()),
                b64url(c.to_string().as_bytes())
            );
            let mac = crate::crypto::hmac_sha256(jwk.as_bytes(), signed.as_bytes());
            format!("{signed}.{}", b64url(&mac))
        }) as Case
    };
    let none = Box::new(|w: &World, at: &AtProvider| {
        let h = json!({"alg": "none"});
        let c = at.claims(w, "s1");
        format!(
            "{}.{}.",
            b64url(h.to_string().as_bytes()),
            b64url(c.to_string().as_bytes())
        )
    }) as Case;
    let unknown_kid =
        Box::new(move |w: &World, at: &AtProvider| sign(&stranger, &at.claims(w, "s1"))) as Case;
    let cases: Vec<(&str, Case)> = vec![
        (
            "nonce",
            with(|c| c["nonce"] = json!("another-sign-ins-nonce")),
        ),
        (
            "no nonce",
            with(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        ("aud", with(|c| c["aud"] = json!("someone-else"))),
        ("azp", with(|c| c["aud"] = json!([AT_IDP, "other"]))),
        ("azp other", with(|c| c["azp"] = json!("other"))),
        ("iss", with(|c| c["iss"] = json!("https://evil.example"))),
        (
            "expired",
            with(|c| {
                c["exp"] = json!(T0 - 120);
                c["iat"] = json!(T0 - 900);
            }),
        ),
        ("alg none", none),
        ("HS256 with the public key", hs256_with_public_key),
        ("unknown kid", unknown_kid),
    ];
    for (name, token) in cases {
        let at = w.to_idp(&app).await;
        let r = w.sign_in_with(&at, token(&w, &at)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        refused(&r);
    }
    // No ID token at all.
    w.fakes.upstream.set_id_token(None);
    let at = w.to_idp(&app).await;
    refused(&w.back(&at, "code-1", Some(&at.cookie)).await);
    assert_eq!(
        w.fakes.store.user_count(&w.tenant),
        users,
        "nobody was made"
    );
    // The unknown kid made one refetch of the JWKS, no more.
    let fetches = w
        .fakes
        .fetcher
        .requests()
        .iter()
        .filter(|u| *u == JWKS)
        .count();
    assert!(fetches <= 2, "{fetches}");
}

#[tokio::test]
async fn an_unlinked_subject_without_create_users_is_offered_the_password_form() {
    let w = World::new();
    let idp = idp(&w, false).await;
    let app = w.code_client();
    let at = w.to_idp(&app).await;
    let r = w
        .sign_in_with(&at, sign(&idp.key, &at.claims(&w, "nobody")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_not_signed_in(&r, "No account linked");
    assert!(r.body.contains("Corp ID"));
    assert!(
        r.body
            .contains("Sign in with your username and password</a>")
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_this_way() {
    let w = World::new();
    let idp = idp(&w, false).await;
    let app = w.code_client();
    let bob = w.user("bob", |u| u.enabled = false);
    w.fakes
        .store
        .create_link(&w.tenant, IDP, "bob-at-corp", &bob)
        .unwrap();
    let at = w.to_idp(&app).await;
    refused(
        &w.sign_in_with(&at, sign(&idp.key, &at.claims(&w, "bob-at-corp")))
            .await,
    );
}

#[tokio::test]
async fn create_users_makes_one_user_under_concurrent_first_sign_ins() {
    let w = World::new();
    let idp = idp(&w, true).await;
    let app = w.code_client();
    let before = w.fakes.store.user_count(&w.tenant);
    let mut browsers = Vec::new();
    for i in 0..5 {
        let at = w.to_idp(&app).await;
        let code = format!("code-{i}");
        w.fakes
            .upstream
            .set_id_token_for(&code, sign(&idp.key, &at.claims(&w, "new-sub")));
        browsers.push((at, code));
    }
    let backs: Vec<crate::ports::BoxFuture<'_, Resp>> = browsers
        .iter()
        .map(|(at, code)| {
            Box::pin(w.back(at, code, Some(&at.cookie))) as crate::ports::BoxFuture<'_, Resp>
        })
        .collect();
    let answers = crate::testing::contract::join_all(backs).await;
    let mut subs = std::collections::BTreeSet::new();
    for r in answers {
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let tokens = w.redeem_code(&app, &r.param("code").unwrap()).await;
        subs.insert(
            w.verify_jwt(tokens["access_token"].as_str().unwrap())["sub"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(subs.len(), 1, "one user for all: {subs:?}");
    assert_eq!(w.fakes.store.user_count(&w.tenant), before + 1);
    let id = UserId::parse(subs.first().unwrap()).unwrap();
    let user = w.stored_user(&id);
    assert_eq!(user.email.as_deref(), Some("pat@corp.example"));
    assert_eq!(user.username, "new-sub@corp.example");
    assert!(user.password_hash.is_empty());
}

#[tokio::test]
async fn an_unverified_email_is_not_copied_and_never_links() {
    let w = World::new();
    let idp = idp(&w, true).await;
    let app = w.code_client();
    // alice@acme.example exists: an ID token claiming it (unverified) makes
    // a new user without an email, never alice.
    let alice = w.alice();
    let at = w.to_idp(&app).await;
    let mut c = at.claims(&w, "claims-alice");
    c["email"] = json!("alice@acme.example");
    c["email_verified"] = json!(false);
    let r = w.sign_in_with(&at, sign(&idp.key, &c)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let tokens = w.redeem_code(&app, &r.param("code").unwrap()).await;
    let sub = w.verify_jwt(tokens["access_token"].as_str().unwrap())["sub"].clone();
    assert_ne!(sub, alice.as_str());
    let user = w.stored_user(&UserId::parse(sub.as_str().unwrap()).unwrap());
    assert_eq!(user.email, None);
}

#[tokio::test]
async fn the_sign_in_link_is_the_login_pages_own_and_works_once() {
    let w = World::new();
    let _idp = idp(&w, false).await;
    let app = w.code_client();
    let _alice = w.alice();
    let page = w.login_page(&app, &[]).await;
    let tx = page.form_tx();
    // No Referer, or another site's: login CSRF / consent bypass refused.
    for referer in [None, Some("https://evil.example/page")] {
        let r = w.signin_get(&tx, referer).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{referer:?}");
        assert!(r.header("set-cookie").is_none());
    }
    // Another provider's name in the path: not found, the transaction unspent.
    let path = SIGNIN_PATH.replace("/corp/", "/max/");
    let req = lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!(
            "{path}?{}",
            crate::web::response::encode_pairs(&[("tx", &tx)])
        ))
        .header("referer", "https://fn.example/")
        .body(Body::Empty)
        .unwrap();
    let r = Resp::from(handlers::callback_function(&w.state, req).await);
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = w.signin_get(&tx, Some("https://fn.example/")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // The login transaction is spent: neither the link nor the form again.
    let again = w.signin_get(&tx, Some("https://fn.example/")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let form = w.sign_in(&page, "alice", PASSWORD, "allow").await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST, "{}", form.body);
    assert!(form.body.contains("expired"), "{}", form.body);
}

#[tokio::test]
async fn the_login_page_lists_sign_in_providers_only_where_they_apply() {
    let w = World::new();
    let app = w.code_client();
    let page = w.login_page(&app, &[]).await;
    assert!(
        !page.body.contains("class=\"fed\""),
        "no providers, no list"
    );
    let _idp = idp(&w, false).await;
    // A fresh state (the list is cached like records).
    let state = AppState::with_ports(w.state.config.clone(), w.fakes.ports());
    let w = World { state, ..w };
    for (lang, words) in [
        ("en", "Sign in with Corp ID"),
        ("fr", "Se connecter avec Corp ID"),
        ("nl", "Aanmelden met Corp ID"),
        ("de", "Mit Corp ID anmelden"),
    ] {
        let page = w.login_page(&app, &[("ui_locales", lang)]).await;
        assert!(page.body.contains(words), "{lang}: {}", page.body);
    }
    // An implicit request gets no link.
    let implicit = w.client(&[Grant::Implicit], |_| {});
    let r = w
        .authorize(&[
            ("response_type", "token"),
            ("client_id", implicit.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("class=\"fed\""));
}

#[tokio::test]
async fn a_request_connecting_the_same_provider_is_connected_by_the_sign_in() {
    use crate::domain::connections::{ConnectionKey, Owner};
    use crate::ids::ProviderName;
    let w = World::new();
    let idp = idp(&w, false).await;
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["api".into(), "upstream:corp".into()];
    });
    let alice = w.alice();
    w.fakes
        .store
        .create_link(&w.tenant, IDP, "s1", &alice)
        .unwrap();
    let at = w
        .to_idp_with(&app, &[("scope", "api upstream:corp"), ("upstream", CORP)])
        .await;
    let r = w
        .sign_in_with(&at, sign(&idp.key, &at.claims(&w, "s1")))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let key = ConnectionKey {
        tenant: w.tenant.clone(),
        owner: Owner::User(alice.clone()),
        provider: ProviderName::parse(CORP).unwrap(),
    };
    let conn = crate::ports::ConnectionStore::get(w.fakes.store.as_ref(), &key)
        .await
        .unwrap()
        .expect("the same token answer is stored as alice's connection");
    assert!(conn.refresh_token.is_some());
    assert_eq!(
        w.fakes.upstream.posts().len(),
        1,
        "one code exchange for both"
    );
}

#[tokio::test]
async fn the_providers_error_or_outage_signs_nobody_in() {
    let w = World::new();
    let idp = idp(&w, false).await;
    let app = w.code_client();
    let alice = w.alice();
    w.fakes
        .store
        .create_link(&w.tenant, IDP, "s1", &alice)
        .unwrap();
    // The user cancelled at the provider.
    let at = w.to_idp(&app).await;
    let uri = format!(
        "/oauth2/acme/upstream/corp/callback?{}",
        crate::web::response::encode_pairs(&[
            ("error", "access_denied"),
            ("state", &at.param("state"))
        ])
    );
    let req = lambda_http::http::Request::builder()
        .method("GET")
        .uri(uri)
        .header("cookie", format!("{COOKIE}={}", at.cookie))
        .body(Body::Empty)
        .unwrap();
    let r = Resp::from(handlers::callback_function(&w.state, req).await);
    refused(&r);
    // The provider answers the code with HTML 500: 503, try again later.
    let at = w.to_idp(&app).await;
    w.fakes
        .upstream
        .set_id_token(Some(sign(&idp.key, &at.claims(&w, "s1"))));
    w.fakes
        .upstream
        .push_fault(crate::testing::fakes::Fault::Answer(
            500,
            "<html>oops</html>".into(),
            None,
        ));
    let r = w.back(&at, "code-1", Some(&at.cookie)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert_not_signed_in(&r, "could not be reached");
    assert!(!r.body.contains("oops"), "no upstream text");
}

#[tokio::test]
async fn a_request_connecting_another_provider_offers_no_sign_in() {
    let w = World::new();
    let _idp = idp(&w, false).await;
    let other = Provider {
        tenant: w.tenant.clone(),
        name: "crm".into(),
        preset: Preset::OAuth2,
        vars: Default::default(),
        endpoints: Endpoints {
            authorize: Some("https://crm.example/authorize".into()),
            token: "https://crm.example/token".into(),
            ..Endpoints::default()
        },
        client_id: "tg".into(),
        has_client_secret: false,
        scopes: Vec::new(),
        grant: UpstreamGrant::AuthorizationCode,
        display_name: "CRM".into(),
        sign_in: false,
        create_users: false,
        created_at: T0,
    };
    w.fakes.store.create_provider(&other).await.unwrap();
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["api".into(), "upstream:crm".into()];
    });
    let page = w
        .login_page(&app, &[("scope", "api upstream:crm"), ("upstream", "crm")])
        .await;
    assert!(!page.body.contains("class=\"fed\""), "{}", page.body);
    let r = w
        .signin_get(&page.form_tx(), Some("https://fn.example/"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.header("set-cookie").is_none());
}
