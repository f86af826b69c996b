//! Token exchange over the fakes (SPEC: Token → token exchange, Trusted
//! issuers): delegation with a local subject, external subjects through a
//! fake issuer whose discovery document and JWKS the fake fetcher serves, and
//! every refusal named by its failure.

use super::*;
use crate::crypto::b64url;
use crate::domain::records::TrustedIssuer;
use crate::domain::token_exchange::{ACCESS_TOKEN_TYPE, GRANT_TYPE, ID_TOKEN_TYPE, JWT_TYPE};
use crate::tokens::keys::StoredKey;
use serde_json::json;

const AUDIENCE2: &str = "https://reports.acme.example";
const IDP: &str = "https://idp.example";
const IDP_JWKS: &str = "https://idp.example/jwks";
const IDP_AUD: &str = "acme-at-idp";

fn world() -> World {
    World::new_with(|t| t.audiences.push(AUDIENCE2.into()))
}

fn exchanger(w: &World) -> App {
    w.client(&[Grant::TokenExchange, Grant::ClientCredentials], |c| {
        c.scopes = vec!["api".into(), "openid".into(), "profile".into()];
    })
}

async fn user_token(w: &World, scope: &str) -> (UserId, String, String) {
    let app = w.code_client();
    let alice = w.alice();
    let v = w.code_tokens(&app, &alice, scope).await;
    (
        alice,
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn exchange(w: &World, app: &App, subject: &str, kind: &str, extra: &[(&str, &str)]) -> Resp {
    let mut form = vec![
        ("grant_type", GRANT_TYPE),
        ("subject_token", subject),
        ("subject_token_type", kind),
    ];
    form.extend_from_slice(extra);
    w.token(app, &form).await
}

async fn revoke_session(w: &World, family: &str) {
    use crate::ports::RefreshStore;
    w.fakes
        .store
        .revoke_family(&w.tenant, family, crate::clock::Now(w.now()))
        .await
        .unwrap();
}

/// A client_credentials token of `app` (an actor token).
async fn own_token(w: &World, app: &App) -> String {
    w.token(app, &[("grant_type", "client_credentials")])
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `invalid_request`, for the reason named.
fn assert_refused_because(r: &Resp, why: &str) {
    assert_eq!(r.error(), "invalid_request");
    let d = r.json()["error_description"].as_str().unwrap().to_owned();
    assert!(d.contains(why), "refused for the wrong reason: {d}");
}

fn claims_of(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&crate::crypto::b64url_decode(part).unwrap()).unwrap()
}

// ---- a local subject: delegation -------------------------------------------

#[tokio::test]
async fn delegation_down_scopes_to_another_audience_and_records_the_actor() {
    let w = world();
    let (alice, subject, _) = user_token(&w, "api openid").await;
    let svc = exchanger(&w);
    let actor = own_token(&w, &svc).await;
    let r = exchange(
        &w,
        &svc,
        &subject,
        ACCESS_TOKEN_TYPE,
        &[
            ("scope", "api"),
            ("audience", AUDIENCE2),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "api");
    assert_eq!(v["expires_in"], 600);
    assert!(v.get("refresh_token").is_none(), "no refresh token: {v}");
    let c = w.verify_jwt(v["access_token"].as_str().unwrap());
    let s = w.verify_jwt(&subject);
    assert_eq!(c["sub"], alice.as_str());
    assert_eq!(c["aud"], AUDIENCE2);
    assert_eq!(
        c["client_id"],
        svc.id.as_str(),
        "the caller is the new token's client"
    );
    assert_eq!(
        c["act"],
        json!({"sub": svc.id.as_str(), "client_id": svc.id.as_str()})
    );
    assert_eq!(
        c["sid"], s["sid"],
        "the exchanged token joins the subject's session"
    );
    assert_eq!(c["scope"], "api");
}

#[tokio::test]
async fn act_nests_the_subjects_prior_actor() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api").await;
    let first = exchanger(&w);
    let second = exchanger(&w);
    let a1 = own_token(&w, &first).await;
    let once = exchange(
        &w,
        &first,
        &subject,
        ACCESS_TOKEN_TYPE,
        &[
            ("actor_token", &a1),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    )
    .await
    .json();
    let a2 = own_token(&w, &second).await;
    let twice = exchange(
        &w,
        &second,
        once["access_token"].as_str().unwrap(),
        ACCESS_TOKEN_TYPE,
        &[
            ("actor_token", &a2),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    )
    .await;
    assert_eq!(twice.status, StatusCode::OK, "{}", twice.body);
    let c = claims_of(twice.json()["access_token"].as_str().unwrap());
    assert_eq!(c["act"]["sub"], second.id.as_str());
    assert_eq!(
        c["act"]["act"],
        json!({"sub": first.id.as_str(), "client_id": first.id.as_str()})
    );
    // Without an actor token, the recorded chain is kept, not erased.
    let again = exchange(
        &w,
        &first,
        twice.json()["access_token"].as_str().unwrap(),
        ACCESS_TOKEN_TYPE,
        &[],
    )
    .await;
    assert_eq!(
        claims_of(again.json()["access_token"].as_str().unwrap())["act"],
        c["act"]
    );
}

/// An exchange never widens a token: re-exchanging a token narrowed to one
/// audience (and scope, and lifetime) without naming an audience keeps what
/// the narrowed token had, never the tenant's defaults.
#[tokio::test]
async fn re_exchanging_without_audience_never_widens_the_token() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api openid").await;
    let app = exchanger(&w);
    // Without audience, the first exchange keeps the subject's own `aud`.
    let plain = exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &[]).await;
    assert_eq!(
        claims_of(plain.json()["access_token"].as_str().unwrap())["aud"],
        claims_of(&subject)["aud"]
    );
    w.advance(100);
    let once = exchange(
        &w,
        &app,
        &subject,
        ACCESS_TOKEN_TYPE,
        &[("audience", AUDIENCE2), ("scope", "api")],
    )
    .await;
    assert_eq!(once.status, StatusCode::OK, "{}", once.body);
    let narrowed = once.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&narrowed)["aud"], AUDIENCE2);
    w.advance(100);
    let again = exchange(&w, &app, &narrowed, ACCESS_TOKEN_TYPE, &[]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let v = again.json();
    let c = w.verify_jwt(v["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], AUDIENCE2, "the narrowed audience is kept");
    assert_eq!(c["scope"], "api", "the narrowed scope is kept");
    assert_eq!(v["scope"], "api");
    assert_eq!(v["expires_in"], 400, "never past the subject's own expiry");
    assert_eq!(c["exp"], claims_of(&narrowed)["exp"]);
    // Nor does a third exchange, asking for the scope the first one dropped.
    let wider = exchange(
        &w,
        &app,
        v["access_token"].as_str().unwrap(),
        ACCESS_TOKEN_TYPE,
        &[("scope", "api openid")],
    )
    .await;
    assert_eq!(wider.error(), "invalid_scope");
}

#[tokio::test]
async fn scope_growth_is_invalid_scope() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api").await;
    let r = exchange(
        &w,
        &exchanger(&w),
        &subject,
        ACCESS_TOKEN_TYPE,
        &[("scope", "api profile")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "invalid_scope");
}

#[tokio::test]
async fn an_audience_the_tenant_does_not_serve_is_invalid_target() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api").await;
    let app = exchanger(&w);
    for extra in [
        vec![("audience", "https://evil.example")],
        vec![("resource", "https://evil.example")],
        vec![("audience", AUDIENCE), ("resource", AUDIENCE2)],
    ] {
        let r = exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &extra).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.error(), "invalid_target", "{extra:?}");
    }
    let ok = exchange(
        &w,
        &app,
        &subject,
        ACCESS_TOKEN_TYPE,
        &[("resource", AUDIENCE2)],
    )
    .await;
    assert_eq!(
        claims_of(ok.json()["access_token"].as_str().unwrap())["aud"],
        AUDIENCE2
    );
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_unauthorized_client() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api").await;
    let cc = w.client(&[Grant::ClientCredentials], |_| {});
    let r = exchange(&w, &cc, &subject, ACCESS_TOKEN_TYPE, &[]).await;
    assert_eq!(r.error(), "unauthorized_client");
    let public = w.client(&[Grant::TokenExchange], |c| c.public = true);
    let r = exchange(&w, &public, &subject, ACCESS_TOKEN_TYPE, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "unauthorized_client");
}

#[tokio::test]
async fn an_inactive_or_foreign_subject_is_invalid_request() {
    let w = world();
    let app = exchanger(&w);
    let (_, subject, refresh) = user_token(&w, "api offline_access").await;
    // Another tenant's token (its own key and issuer) is not this tenant's.
    let other = keys::generate(SigningAlg::ES256).unwrap();
    let foreign = sign(
        &other,
        json!({"alg": "ES256", "typ": "at+jwt", "kid": other.kid}),
        claims_of(&subject),
    );
    for bad in ["garbage", "a.b.c", foreign.as_str()] {
        let r = exchange(&w, &app, bad, ACCESS_TOKEN_TYPE, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.error(), "invalid_request");
    }
    // Its session revoked: the subject is no longer active.
    let code_app = w.code_client();
    let _ = code_app;
    assert_eq!(
        exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &[])
            .await
            .status,
        StatusCode::OK
    );
    let family = w.verify_jwt(&subject)["sid"].as_str().unwrap().to_owned();
    revoke_session(&w, &family).await;
    let _ = refresh;
    assert_eq!(
        exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &[])
            .await
            .error(),
        "invalid_request"
    );
}

#[tokio::test]
async fn an_expired_subject_is_invalid_request_and_life_never_outlasts_it() {
    let w = world();
    let app = exchanger(&w);
    let (_, subject, _) = user_token(&w, "api").await;
    w.advance(500);
    let r = exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &[]).await;
    assert_eq!(r.json()["expires_in"], 100);
    let c = claims_of(r.json()["access_token"].as_str().unwrap());
    assert_eq!(c["exp"], w.verify_jwt(&subject)["exp"]);
    w.advance(100);
    assert_eq!(
        exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &[])
            .await
            .error(),
        "invalid_request"
    );
}

#[tokio::test]
async fn revoking_the_subjects_session_ends_the_exchanged_token() {
    let w = world();
    let rs = w.client(&[Grant::ClientCredentials], |c| c.introspect = true);
    let (_, subject, _) = user_token(&w, "api").await;
    let app = exchanger(&w);
    let new = exchange(&w, &app, &subject, ACCESS_TOKEN_TYPE, &[])
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.introspect(&rs, &new).await.json()["active"], true);
    let sid = w.verify_jwt(&subject)["sid"].as_str().unwrap().to_owned();
    revoke_session(&w, &sid).await;
    assert_eq!(w.introspect(&rs, &new).await.json()["active"], false);
}

#[tokio::test]
async fn malformed_exchange_requests_are_invalid_request() {
    let w = world();
    let app = exchanger(&w);
    let (_, subject, _) = user_token(&w, "api").await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
        ],
        vec![("grant_type", GRANT_TYPE), ("subject_token", &subject)],
        vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", &subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
        vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
        vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", &subject),
        ],
        vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
        vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", "nope"),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    ];
    for form in cases {
        let r = w.token(&app, &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form:?}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "{form:?}");
    }
}

// ---- external subjects ------------------------------------------------------

fn sign(key: &StoredKey, header: Value, claims: Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let alg: Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let ek = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(key.pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(key.pem.as_bytes()).unwrap(),
    };
    let mut h = Header::new(alg);
    h.kid = header["kid"].as_str().map(str::to_owned);
    h.typ = header["typ"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&h, &claims, &ek).unwrap()
}

/// A JWT with exactly this header and signature bytes (forgeries).
fn forge(header: Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(signature)
    )
}

fn rsa_key() -> &'static StoredKey {
    static KEY: OnceLock<StoredKey> = OnceLock::new();
    KEY.get_or_init(|| keys::generate(SigningAlg::RS256).unwrap())
}

/// A trusted issuer served by the fake fetcher: discovery, then JWKS.
struct Idp {
    es: StoredKey,
}

impl Idp {
    fn new(w: &World, create_users: bool) -> Idp {
        let es = keys::generate(SigningAlg::ES256).unwrap();
        let mut ps = rsa_key().public_jwk.clone();
        ps["kid"] = json!("ps-key");
        ps.as_object_mut().unwrap().remove("alg");
        w.fakes.fetcher.serve(
            format!("{IDP}/.well-known/openid-configuration"),
            json!({"issuer": IDP, "jwks_uri": IDP_JWKS}),
        );
        w.fakes.fetcher.serve(
            IDP_JWKS,
            json!({"keys": [es.public_jwk, rsa_key().public_jwk, ps]}),
        );
        w.fakes.store.put_trusted_issuer(&TrustedIssuer {
            tenant: w.tenant.clone(),
            issuer: IDP.into(),
            audiences: vec![IDP_AUD.into()],
            jwks_uri: None,
            create_users,
            created_at: T0,
        });
        Idp { es }
    }

    fn claims(&self, w: &World, sub: &str) -> Value {
        json!({
            "iss": IDP, "aud": IDP_AUD, "sub": sub, "iat": w.now(), "exp": w.now() + 300,
            "name": "Bob External", "email": "bob@partner.example", "email_verified": true,
        })
    }

    fn id_token(&self, w: &World, sub: &str) -> String {
        sign(
            &self.es,
            json!({"alg": "ES256", "kid": self.es.kid, "typ": "JWT"}),
            self.claims(w, sub),
        )
    }
}

#[tokio::test]
async fn an_external_token_of_a_linked_subject_becomes_this_tenants_token() {
    let w = world();
    let idp = Idp::new(&w, false);
    let alice = w.alice();
    w.fakes
        .store
        .create_link(&w.tenant, IDP, "ext-alice", &alice)
        .unwrap();
    let app = exchanger(&w);
    let r = exchange(
        &w,
        &app,
        &idp.id_token(&w, "ext-alice"),
        ID_TOKEN_TYPE,
        &[("scope", "api")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = w.verify_jwt(r.json()["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], alice.as_str());
    // An external token's `aud` names the issuer's audiences, not this
    // tenant's: the new token gets the tenant's own, as any new token does.
    assert_eq!(c["aud"], json!([AUDIENCE, AUDIENCE2]));
    assert_eq!(
        c["preferred_username"], "alice",
        "the local user's claims, not the token's"
    );
    assert!(
        c["sid"].is_string(),
        "a session of its own, so revocation reaches it"
    );
    assert!(c.get("act").is_none());
    // RS256 and PS256 (keys without a pinned alg) verify as well, as a JWT subject.
    for (alg, kid) in [("RS256", rsa_key().kid.as_str()), ("PS256", "ps-key")] {
        let t = sign(
            rsa_key(),
            json!({"alg": alg, "kid": kid, "typ": "at+jwt"}),
            idp.claims(&w, "ext-alice"),
        );
        let r = exchange(&w, &app, &t, JWT_TYPE, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{alg}: {}", r.body);
    }
    // The client's scopes bound an external subject.
    let r = exchange(
        &w,
        &app,
        &idp.id_token(&w, "ext-alice"),
        ID_TOKEN_TYPE,
        &[("scope", "admin")],
    )
    .await;
    assert_eq!(r.error(), "invalid_scope");
}

#[tokio::test]
async fn an_unlinked_subject_is_invalid_request_without_create_users() {
    let w = world();
    let idp = Idp::new(&w, false);
    let r = exchange(
        &w,
        &exchanger(&w),
        &idp.id_token(&w, "stranger"),
        ID_TOKEN_TYPE,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_refused_because(&r, "not linked");
}

#[tokio::test]
async fn create_users_makes_one_user_even_for_concurrent_first_exchanges() {
    let w = world();
    let idp = Idp::new(&w, true);
    let app = exchanger(&w);
    let before = w.fakes.store.user_count(&w.tenant);
    let t = idp.id_token(&w, "newcomer");
    let (a, b, c) = tokio::join!(
        exchange(&w, &app, &t, ID_TOKEN_TYPE, &[]),
        exchange(&w, &app, &t, ID_TOKEN_TYPE, &[]),
        exchange(&w, &app, &t, ID_TOKEN_TYPE, &[]),
    );
    let subs: Vec<Value> = [a, b, c]
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            claims_of(r.json()["access_token"].as_str().unwrap())["sub"].clone()
        })
        .collect();
    assert!(subs.iter().all(|s| *s == subs[0]), "{subs:?}");
    assert_eq!(w.fakes.store.user_count(&w.tenant), before + 1);
    let user = w.stored_user(&UserId::parse(subs[0].as_str().unwrap()).unwrap());
    assert_eq!(user.name.as_deref(), Some("Bob External"));
    assert_eq!(user.email.as_deref(), Some("bob@partner.example"));
    assert_eq!(user.username, "newcomer@idp.example");
    // It has no password: signing in with any password fails.
    let pw = w.password_client();
    assert_eq!(
        w.password_grant(&pw, "newcomer@idp.example", "")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

/// Every forged or stale external token, named by its failure.
#[tokio::test]
async fn forged_or_stale_external_tokens_are_invalid_request() {
    let w = world();
    let idp = Idp::new(&w, true);
    let app = exchanger(&w);
    let users_before = w.fakes.store.user_count(&w.tenant);
    let now = w.now();
    let good = idp.claims(&w, "victim");
    let es_header = json!({"alg": "ES256", "kid": idp.es.kid, "typ": "JWT"});
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let public_pem_bytes = serde_json::to_vec(&idp.es.public_jwk).unwrap();
    let hs256_with_public_key = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(idp.es.kid.clone());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(&public_pem_bytes)).unwrap()
    };
    let valid = idp.id_token(&w, "victim");
    let mut parts: Vec<&str> = valid.split('.').collect();
    let tampered_claims = b64url(with("sub", json!("admin")).to_string().as_bytes());
    parts[1] = &tampered_claims;
    let tampered = parts.join(".");
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "alg none",
            "alg",
            forge(json!({"alg": "none", "kid": idp.es.kid}), &good, b""),
        ),
        (
            "alg none, no signature part",
            "alg",
            format!(
                "{}.{}.",
                b64url(br#"{"alg":"none"}"#),
                b64url(good.to_string().as_bytes())
            ),
        ),
        (
            "HS256 signed with the issuer's public key",
            "alg",
            hs256_with_public_key,
        ),
        (
            "wrong audience",
            "aud",
            sign(
                &idp.es,
                es_header.clone(),
                with("aud", json!("someone-else")),
            ),
        ),
        (
            "expired",
            "expired",
            sign(&idp.es, es_header.clone(), with("exp", json!(now - 61))),
        ),
        (
            "future nbf",
            "nbf",
            sign(&idp.es, es_header.clone(), with("nbf", json!(now + 3600))),
        ),
        (
            "future iat",
            "iat",
            sign(&idp.es, es_header.clone(), with("iat", json!(now + 3600))),
        ),
        (
            "wrong issuer",
            "not trusted",
            sign(
                &idp.es,
                es_header.clone(),
                with("iss", json!("https://evil.example")),
            ),
        ),
        (
            "issuer with a trailing slash",
            "not trusted",
            sign(
                &idp.es,
                es_header.clone(),
                with("iss", json!(format!("{IDP}/"))),
            ),
        ),
        (
            "unknown kid",
            "does not publish",
            sign(
                &idp.es,
                json!({"alg": "ES256", "kid": "forged-kid"}),
                good.clone(),
            ),
        ),
        (
            "key of another alg",
            "does not publish",
            sign(
                &idp.es,
                json!({"alg": "ES256", "kid": rsa_key().kid}),
                good.clone(),
            ),
        ),
        ("tampered claims", "signature", tampered),
        (
            "signed by a stranger's key with the issuer's kid",
            "signature",
            sign(
                &keys::generate(SigningAlg::ES256).unwrap(),
                es_header.clone(),
                good.clone(),
            ),
        ),
        (
            "logout token typ",
            "typ",
            sign(
                &idp.es,
                json!({"alg": "ES256", "kid": idp.es.kid, "typ": "logout+jwt"}),
                good.clone(),
            ),
        ),
        (
            "no sub",
            "sub",
            sign(&idp.es, es_header.clone(), with("sub", json!(""))),
        ),
    ];
    for (name, why, token) in cases {
        let r = exchange(&w, &app, &token, ID_TOKEN_TYPE, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        assert_eq!(r.error(), "invalid_request", "{name}");
        let d = r.json()["error_description"].as_str().unwrap().to_owned();
        assert!(d.contains(why), "{name}: refused for the wrong reason: {d}");
    }
    let users_after = w.fakes.store.user_count(&w.tenant);
    // A crit header, or an id_token presented as the local access token type.
    let crit = sign_with_crit(&idp.es, &good);
    assert_eq!(
        exchange(&w, &app, &crit, ID_TOKEN_TYPE, &[]).await.error(),
        "invalid_request"
    );
    assert_eq!(
        exchange(&w, &app, &valid, ACCESS_TOKEN_TYPE, &[])
            .await
            .error(),
        "invalid_request"
    );
    // None of them created a user; the genuine token still works.
    assert_eq!(users_after, users_before);
    assert_eq!(
        exchange(&w, &app, &valid, ID_TOKEN_TYPE, &[]).await.status,
        StatusCode::OK
    );
}

fn sign_with_crit(key: &StoredKey, claims: &Value) -> String {
    // ES256 by hand: jsonwebtoken cannot emit `crit`.
    let header = json!({"alg": "ES256", "kid": key.kid, "crit": ["exp"], "exp": 1});
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::DecodePrivateKey;
    let sk = p256::ecdsa::SigningKey::from_pkcs8_pem(&key.pem).unwrap();
    let sig: p256::ecdsa::Signature = sk.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(&sig.to_bytes()))
}

#[tokio::test]
async fn unknown_kids_refetch_the_jwks_at_most_once_a_minute() {
    let w = world();
    let idp = Idp::new(&w, true);
    let app = exchanger(&w);
    assert_eq!(
        exchange(&w, &app, &idp.id_token(&w, "u1"), ID_TOKEN_TYPE, &[])
            .await
            .status,
        StatusCode::OK
    );
    let fetched = || {
        w.fakes
            .fetcher
            .requests()
            .iter()
            .filter(|u| *u == IDP_JWKS)
            .count()
    };
    assert_eq!(fetched(), 1);
    // A flood of forged kids right after: no fetch at all.
    for i in 0..20 {
        let t = sign(
            &idp.es,
            json!({"alg": "ES256", "kid": format!("forged-{i}")}),
            idp.claims(&w, "u1"),
        );
        assert_eq!(
            exchange(&w, &app, &t, ID_TOKEN_TYPE, &[]).await.error(),
            "invalid_request"
        );
    }
    assert_eq!(fetched(), 1);
    // The issuer rotates: a new key signs. A minute later, one refetch finds it.
    let new = keys::generate(SigningAlg::ES256).unwrap();
    w.fakes.fetcher.serve(
        IDP_JWKS,
        json!({"keys": [new.public_jwk, idp.es.public_jwk]}),
    );
    let rotated = |w: &World| {
        sign(
            &new,
            json!({"alg": "ES256", "kid": new.kid, "typ": "JWT"}),
            idp.claims(w, "u1"),
        )
    };
    assert_eq!(
        exchange(&w, &app, &rotated(&w), ID_TOKEN_TYPE, &[])
            .await
            .error(),
        "invalid_request"
    );
    w.advance(60);
    let r = exchange(&w, &app, &rotated(&w), ID_TOKEN_TYPE, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(fetched(), 2);
    for i in 0..20 {
        let t = sign(
            &idp.es,
            json!({"alg": "ES256", "kid": format!("again-{i}")}),
            idp.claims(&w, "u1"),
        );
        let _ = exchange(&w, &app, &t, ID_TOKEN_TYPE, &[]).await;
    }
    assert_eq!(fetched(), 2, "still one fetch per minute");
}

#[tokio::test]
async fn an_unreachable_issuer_is_invalid_request_not_a_server_error() {
    let w = world();
    let idp = Idp::new(&w, true);
    w.fakes.fetcher.set_down(true);
    let r = exchange(
        &w,
        &exchanger(&w),
        &idp.id_token(&w, "u1"),
        ID_TOKEN_TYPE,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_refused_because(&r, "unavailable");
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_not_trusted() {
    let w = world();
    let idp = Idp::new(&w, true);
    w.fakes.fetcher.serve(
        format!("{IDP}/.well-known/openid-configuration"),
        json!({"issuer": "https://evil.example", "jwks_uri": IDP_JWKS}),
    );
    let r = exchange(
        &w,
        &exchanger(&w),
        &idp.id_token(&w, "u1"),
        ID_TOKEN_TYPE,
        &[],
    )
    .await;
    assert_eq!(r.error(), "invalid_request");
}

#[tokio::test]
async fn an_unverified_email_is_not_copied() {
    let w = world();
    let idp = Idp::new(&w, true);
    let mut c = idp.claims(&w, "unverified");
    c["email"] = json!("ceo@acme.example");
    c["email_verified"] = json!(false);
    let t = sign(&idp.es, json!({"alg": "ES256", "kid": idp.es.kid}), c);
    let r = exchange(&w, &exchanger(&w), &t, ID_TOKEN_TYPE, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sub = claims_of(r.json()["access_token"].as_str().unwrap())["sub"].clone();
    let user = w.stored_user(&UserId::parse(sub.as_str().unwrap()).unwrap());
    assert_eq!(user.email, None);
    assert_eq!(user.name.as_deref(), Some("Bob External"));
}

#[tokio::test]
async fn an_actor_token_of_another_client_cannot_be_named() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api").await;
    let svc = exchanger(&w);
    let other = exchanger(&w);
    let theirs = own_token(&w, &other).await;
    let r = exchange(
        &w,
        &svc,
        &subject,
        ACCESS_TOKEN_TYPE,
        &[
            ("actor_token", &theirs),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    )
    .await;
    assert_refused_because(&r, "not issued to this client");
}

#[tokio::test]
async fn own_tokens_as_external_jwts_and_client_tokens_as_new_users_are_refused() {
    let w = world();
    let (_, subject, _) = user_token(&w, "api").await;
    let app = exchanger(&w);
    // Even if the tenant (wrongly) trusted its own issuer.
    w.fakes.store.put_trusted_issuer(&TrustedIssuer {
        tenant: w.tenant.clone(),
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        jwks_uri: None,
        create_users: true,
        created_at: T0,
    });
    let r = exchange(&w, &app, &subject, JWT_TYPE, &[]).await;
    assert_eq!(r.error(), "invalid_request");
    // A partner's client_credentials token is a machine: never a new user.
    let idp = Idp::new(&w, true);
    let mut c = idp.claims(&w, "partner-robot");
    c["client_id"] = json!("partner-robot");
    let t = sign(
        &idp.es,
        json!({"alg": "ES256", "kid": idp.es.kid, "typ": "at+jwt"}),
        c,
    );
    let before = w.fakes.store.user_count(&w.tenant);
    let r = exchange(&w, &app, &t, JWT_TYPE, &[]).await;
    assert_eq!(r.error(), "invalid_request", "{}", r.body);
    assert_eq!(w.fakes.store.user_count(&w.tenant), before);
}

/// Under sliding expiry, exchanging a token (again and again) never extends
/// the session past the subject's own `iat + --sliding-max`.
#[tokio::test]
async fn chained_exchanges_never_slide_past_the_subjects_cap() {
    let w = World::new_with(|t| t.sliding_max = Some(1_200));
    let rs = w.client(&[Grant::ClientCredentials], |c| c.introspect = true);
    let (_, subject, _) = user_token(&w, "api").await;
    let cap = w.verify_jwt(&subject)["iat"].as_u64().unwrap() + 1_200;
    let app = exchanger(&w);
    let mut token = subject;
    // Every 500 s: use the token (it slides) and exchange it for a new one.
    for _ in 0..4 {
        w.advance(500);
        let seen = w.introspect(&rs, &token).await.json();
        if seen["active"] == false {
            break;
        }
        assert!(seen["exp"].as_u64().unwrap() <= cap, "{seen}");
        let r = exchange(&w, &app, &token, ACCESS_TOKEN_TYPE, &[]).await;
        if r.status != StatusCode::OK {
            assert_eq!(r.error(), "invalid_request");
            break;
        }
        token = r.json()["access_token"].as_str().unwrap().to_owned();
        let seen = w.introspect(&rs, &token).await.json();
        assert!(
            seen["active"] == false || seen["exp"].as_u64().unwrap() <= cap,
            "{seen}"
        );
    }
    w.fakes.clock.set(cap);
    assert_eq!(w.introspect(&rs, &token).await.json()["active"], false);
}
