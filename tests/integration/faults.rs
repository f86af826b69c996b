//! Outages of DynamoDB and Secrets Manager (SPEC, "Bad input": a storage or
//! Secrets Manager outage is 503 `temporarily_unavailable` with `Retry-After`,
//! issues no token, and consumes no code or refresh token the client could not
//! retry).
//!
//! Each test puts a [`FaultProxy`] between an in-process `AppState` and the
//! local services and calls Tollgate's handlers directly with a Lambda request;
//! codes, login pages and the checks afterwards go over HTTP to the real
//! functions behind `cargo lambda watch`. Every call under a fault is bounded
//! by [`BOUND`]: an answer that never comes is a failure, not a hang.

use crate::fault_proxy::{Fault, FaultProxy, Ops, Service};
use crate::helpers::*;
use base64::Engine;
use oauth2::http;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use tollgate::AppState;
use tollgate::web::handlers::token::Endpoint;

/// Longest a handler may take under any fault. With the SDK timeouts Tollgate
/// sets in `AppState` (a few seconds per attempt, about 5-6 s per operation,
/// retries included) an outage answers well within it.
const BOUND: Duration = Duration::from_secs(20);

/// How long [`Fault::Delay`] holds an answer: past the SDK's attempt and
/// operation timeouts, and past [`BOUND`], so a client without timeouts shows
/// up as a hang rather than as a late success.
const HOLD: Duration = Duration::from_secs(30);

/// `lambda_http::Body`, named through the library's response type (the test
/// crate reaches the `http` crate only through `oauth2::http`).
trait BodyOf {
    type Body;
}
impl<B> BodyOf for http::Response<B> {
    type Body = B;
}
type Body = <tollgate::web::response::Response as BodyOf>::Body;
/// `lambda_http::Request`.
type Request = http::Request<Body>;

/// A form POST as the function URL hands it to the handler.
fn form_post(path: &str, form: &[(&str, &str)], basic: Option<&TestClient>) -> Request {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut b = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = basic {
        let raw = format!("{}:{}", c.id, c.secret());
        b = b.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ),
        );
    }
    b.body(Body::from(body)).unwrap()
}

/// A handler's response, with how long it took.
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: http::HeaderMap,
    pub(crate) body: String,
    elapsed: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self}"))
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = self.body.chars().take(600).collect();
        write!(
            f,
            "status {} after {:?}, retry-after {:?}, location {:?}: {body}",
            self.status,
            self.elapsed,
            self.header("retry-after"),
            self.header("location")
        )
    }
}

/// Runs a handler under [`BOUND`]; no answer in time fails the test.
async fn bounded(
    what: &str,
    call: impl std::future::Future<Output = tollgate::web::response::Response>,
) -> Answer {
    let start = Instant::now();
    // Boxed: a handler's future is large in a debug build, and a test nests it.
    let resp = tokio::time::timeout(BOUND, Box::pin(call))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {BOUND:?} (a hang, not a 503)"));
    let elapsed = start.elapsed();
    let bytes: &[u8] = resp.body();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: String::from_utf8_lossy(bytes).into_owned(),
        elapsed,
    }
}

pub(crate) async fn token(
    state: &AppState,
    t: &TestTenant,
    c: &TestClient,
    form: &[(&str, &str)],
) -> Answer {
    let req = form_post(&format!("/oauth2/{}/token", t.alias), form, Some(c));
    bounded(
        "token",
        tollgate::web::handlers::token::handle(state, req, Endpoint::Token),
    )
    .await
}

/// The outage answer of the token endpoint: 503, `temporarily_unavailable`,
/// `Retry-After`, and no token of any kind.
fn assert_unavailable(a: &Answer, what: &str) {
    assert_eq!(a.status, 503, "{what}: {a}");
    let v = a.json();
    assert_eq!(v["error"], "temporarily_unavailable", "{what}: {a}");
    assert_retry_after(a, what);
    for k in ["access_token", "refresh_token", "id_token"] {
        assert!(v.get(k).is_none(), "{what}: no {k} during an outage: {a}");
    }
}

fn assert_retry_after(a: &Answer, what: &str) {
    let ra = a.header("retry-after").unwrap_or("");
    assert!(
        !ra.trim().is_empty(),
        "{what}: a 503 tells the client when to retry (Retry-After): {a}"
    );
}

fn assert_fault_hit(proxy: &FaultProxy, svc: Service) {
    assert!(
        proxy.faulted(svc) > 0,
        "the {svc:?} fault was never hit ({} requests seen): the test proved nothing",
        proxy.requests(svc)
    );
}

fn assert_tokens(a: &Answer, what: &str) -> Value {
    assert_eq!(a.status, 200, "{what}: {a}");
    let v = a.json();
    assert!(v["access_token"].is_string(), "{what}: {a}");
    v
}

// ---------------------------------------------------------------- client_credentials

async fn cc_tenant() -> (TestTenant, TestClient) {
    let t = TestTenant::new().await;
    let c = t
        .client(&["--grant", "client_credentials", "--scope", "api"])
        .await;
    (t, c)
}

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

#[tokio::test]
async fn dynamodb_refused_at_client_credentials_is_503_with_retry_after() {
    let (t, c) = cc_tenant().await;
    let proxy = FaultProxy::start().await;
    proxy.set(Service::DynamoDb, Fault::Refuse);
    let state = proxy.app_state().await;
    let a = token(&state, &t, &c, CC).await;
    assert_unavailable(&a, "client_credentials with DynamoDB refusing connections");
    assert_fault_hit(&proxy, Service::DynamoDb);

    // The same warm state recovers once DynamoDB is back (no failure was cached).
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    let a = token(&state, &t, &c, CC).await;
    assert_tokens(&a, "client_credentials after DynamoDB came back");
}

#[tokio::test]
async fn secrets_manager_refused_at_client_credentials_is_503_with_retry_after() {
    let (t, c) = cc_tenant().await;
    let proxy = FaultProxy::start().await;
    proxy.set(Service::SecretsManager, Fault::Refuse);
    // Fresh state: no secret hash or signing key is cached yet.
    let state = proxy.app_state().await;
    let a = token(&state, &t, &c, CC).await;
    assert_unavailable(
        &a,
        "client_credentials with Secrets Manager refusing connections",
    );
    assert_fault_hit(&proxy, Service::SecretsManager);

    proxy.set(Service::SecretsManager, Fault::PassThrough);
    let a = token(&state, &t, &c, CC).await;
    assert_tokens(&a, "client_credentials after Secrets Manager came back");
}

#[tokio::test]
async fn dynamodb_delay_at_client_credentials_is_503_within_bound_not_a_hang() {
    let (t, c) = cc_tenant().await;
    let proxy = FaultProxy::start().await;
    proxy.set(Service::DynamoDb, Fault::Delay(HOLD));
    let state = proxy.app_state().await;
    let a = token(&state, &t, &c, CC).await;
    assert_unavailable(&a, "client_credentials with DynamoDB not answering");
    assert!(a.elapsed < BOUND, "{a}");
    assert_fault_hit(&proxy, Service::DynamoDb);
}

// ---------------------------------------------------------------- authorization_code

/// A tenant, a user, a code client and a fresh code (from the real authorize
/// page and callback over HTTP).
async fn code_setup() -> (TestTenant, TestClient, String) {
    let t = TestTenant::new().await;
    t.user("dora", &[]).await;
    let c = t.code_client().await;
    let code = t.code(&c, &[("scope", "api")], "dora").await;
    (t, c, code)
}

fn exchange_form(code: &str) -> [(&str, &str); 3] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ]
}

/// An exchange of a code that does not exist: fills the state's caches
/// (tenant, client, secret hash, signing key), so that what the next exchange
/// sends to DynamoDB is the work on the code itself.
async fn warm_exchange(state: &AppState, t: &TestTenant, c: &TestClient) {
    let bogus = tollgate::crypto::random_token(32);
    let a = token(state, t, c, &exchange_form(&bogus)).await;
    assert_eq!(a.status, 400, "warm-up with an unknown code: {a}");
    assert_eq!(a.json()["error"], "invalid_grant", "{a}");
}

/// Redeems `code` over HTTP through the real token function (its own process,
/// its own caches): it must work once storage is back.
async fn assert_code_still_redeems(t: &TestTenant, c: &TestClient, code: &str, what: &str) {
    let (s, v) = t.token(Some(c), &exchange_form(code)).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "{what}: the code the failed exchange was given must still be redeemable: {v}"
    );
    assert!(v["access_token"].is_string(), "{v}");
    assert!(v["refresh_token"].is_string(), "{v}");
}

#[tokio::test]
async fn dynamodb_refused_during_code_exchange_is_503_and_consumes_nothing() {
    let (t, c, code) = code_setup().await;
    let proxy = FaultProxy::start().await;
    let state = proxy.app_state().await;
    warm_exchange(&state, &t, &c).await;
    proxy.set(Service::DynamoDb, Fault::Refuse);
    let a = token(&state, &t, &c, &exchange_form(&code)).await;
    assert_unavailable(&a, "code exchange with DynamoDB refusing connections");
    assert_fault_hit(&proxy, Service::DynamoDb);
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    assert_code_still_redeems(&t, &c, &code, "after a refused exchange").await;
}

/// The write reached DynamoDB but its answer was lost: the exchange either
/// finds its own commit and answers with the tokens, or answers 503 and the
/// code still redeems. Never a spent code and no tokens.
async fn assert_recovered_or_retryable(
    a: &Answer,
    t: &TestTenant,
    c: &TestClient,
    code: &str,
    what: &str,
) {
    if a.status == 200 {
        let v = a.json();
        assert!(v["access_token"].is_string(), "{what}: {a}");
        assert!(v["refresh_token"].is_string(), "{what}: {a}");
    } else {
        assert_unavailable(a, what);
        assert_code_still_redeems(t, c, code, what).await;
    }
}

#[tokio::test]
async fn dynamodb_reset_mid_response_during_code_exchange_never_strands_the_client() {
    let (t, c, code) = code_setup().await;
    let proxy = FaultProxy::start().await;
    let state = proxy.app_state().await;
    warm_exchange(&state, &t, &c).await;
    // Reads pass; every write (the consume / issue step) reaches DynamoDB, but
    // its answer is cut off halfway and the connection reset.
    proxy.plan(Service::DynamoDb, Ops::Writes, 0, Fault::ResetMidResponse);
    let a = token(&state, &t, &c, &exchange_form(&code)).await;
    assert_fault_hit(&proxy, Service::DynamoDb);
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    assert_recovered_or_retryable(&a, &t, &c, &code, "reset mid-response on the consume").await;
}

#[tokio::test]
async fn dynamodb_delay_during_code_exchange_is_bounded_and_never_strands_the_client() {
    let (t, c, code) = code_setup().await;
    let proxy = FaultProxy::start().await;
    let state = proxy.app_state().await;
    warm_exchange(&state, &t, &c).await;
    // Every write reaches DynamoDB; its answer is held past every SDK timeout.
    proxy.plan(Service::DynamoDb, Ops::Writes, 0, Fault::Delay(HOLD));
    let a = token(&state, &t, &c, &exchange_form(&code)).await;
    assert!(a.elapsed < BOUND, "{a}");
    assert_fault_hit(&proxy, Service::DynamoDb);
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    assert_recovered_or_retryable(&a, &t, &c, &code, "a timed-out consume").await;
}

// ---------------------------------------------------------------- refresh_token

/// A password client and a user's first refresh token (over HTTP).
async fn refresh_setup() -> (TestTenant, TestClient, String) {
    let t = TestTenant::new().await;
    t.user("remy", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = t.password_grant(&c, "remy", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (t, c, v["refresh_token"].as_str().unwrap().to_owned())
}

fn refresh_form(rt: &str) -> [(&str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", rt)]
}

/// A refresh with a token that does not exist: fills the state's caches.
async fn warm_refresh(state: &AppState, t: &TestTenant, c: &TestClient) {
    let bogus = tollgate::crypto::random_token(32);
    let a = token(state, t, c, &refresh_form(&bogus)).await;
    assert_eq!(a.status, 400, "warm-up with an unknown refresh token: {a}");
    assert_eq!(a.json()["error"], "invalid_grant", "{a}");
}

/// After the outage the same refresh token rotates (over HTTP, through the
/// real function), and its successor rotates too: nothing was revoked.
async fn assert_still_rotates(t: &TestTenant, c: &TestClient, rt: &str, what: &str) {
    let (s, v) = t.refresh(c, rt).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "{what}: the refresh token must still rotate: {v}"
    );
    let next = v["refresh_token"].as_str().expect("a successor").to_owned();
    assert_ne!(next, rt, "rotated");
    let (s, v) = t.refresh(c, &next).await;
    assert_eq!(s, StatusCode::OK, "{what}: the family is not revoked: {v}");
}

#[tokio::test]
async fn dynamodb_refused_during_refresh_is_503_and_token_still_rotates() {
    let (t, c, rt) = refresh_setup().await;
    let proxy = FaultProxy::start().await;
    let state = proxy.app_state().await;
    warm_refresh(&state, &t, &c).await;
    proxy.set(Service::DynamoDb, Fault::Refuse);
    let a = token(&state, &t, &c, &refresh_form(&rt)).await;
    assert_unavailable(&a, "refresh with DynamoDB refusing connections");
    assert_fault_hit(&proxy, Service::DynamoDb);
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    assert_still_rotates(&t, &c, &rt, "after a refused refresh").await;
}

#[tokio::test]
async fn dynamodb_reset_during_refresh_rotation_never_strands_the_client() {
    let (t, c, rt) = refresh_setup().await;
    let proxy = FaultProxy::start().await;
    let state = proxy.app_state().await;
    warm_refresh(&state, &t, &c).await;
    // Reads pass; the rotation write reaches DynamoDB, its answer is cut off.
    proxy.plan(Service::DynamoDb, Ops::Writes, 0, Fault::ResetMidResponse);
    let a = token(&state, &t, &c, &refresh_form(&rt)).await;
    assert_fault_hit(&proxy, Service::DynamoDb);
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    if a.status == 200 {
        // The rotation committed and the server found it: the successor works.
        let next = a.json()["refresh_token"].as_str().unwrap().to_owned();
        let (s, v) = t.refresh(&c, &next).await;
        assert_eq!(s, StatusCode::OK, "the recovered successor rotates: {v}");
    } else {
        assert_unavailable(&a, "refresh with DynamoDB resetting mid-response");
        assert_still_rotates(&t, &c, &rt, "after a reset rotation").await;
    }
}

// ---------------------------------------------------------------- callback

#[tokio::test]
async fn dynamodb_refused_at_login_callback_is_503_page_without_code() {
    let t = TestTenant::new().await;
    t.user("cleo", &[]).await;
    let c = t.code_client().await;
    let page = t
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("redirect_uri", REDIRECT),
            ("state", "s-1"),
            ("scope", "api"),
        ])
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let tx = form_tx(&page.text().await.unwrap());
    let form = [
        ("tx", tx.as_str()),
        ("username", "cleo"),
        ("password", PASSWORD),
        ("decision", "allow"),
    ];
    let path = format!("/oauth2/{}/callback", t.alias);

    let proxy = FaultProxy::start().await;
    proxy.set(Service::DynamoDb, Fault::Refuse);
    let state = proxy.app_state().await;
    let a = bounded(
        "callback",
        tollgate::web::handlers::callback::handle(&state, form_post(&path, &form, None)),
    )
    .await;
    assert_eq!(
        a.status, 503,
        "login with DynamoDB refusing connections: {a}"
    );
    assert_retry_after(&a, "callback");
    assert!(
        a.header("content-type")
            .is_some_and(|ct| ct.starts_with("text/html")),
        "the browser gets an error page: {a}"
    );
    assert!(
        a.header("location").is_none(),
        "no redirect (with or without a code) during an outage: {a}"
    );
    assert!(!a.body.contains("code="), "{a}");
    assert_fault_hit(&proxy, Service::DynamoDb);

    // Nothing reached storage, so the same form goes through once it is back.
    proxy.set(Service::DynamoDb, Fault::PassThrough);
    let a = bounded(
        "callback",
        tollgate::web::handlers::callback::handle(&state, form_post(&path, &form, None)),
    )
    .await;
    assert_eq!(
        a.status, 303,
        "the same login after DynamoDB came back: {a}"
    );
    let loc = a.header("location").unwrap_or_default();
    assert!(loc.starts_with(&format!("{REDIRECT}?code=")), "{a}");
}

// ---------------------------------------------------------------- change password

#[tokio::test]
async fn dynamodb_refused_at_change_password_is_503_and_password_unchanged() {
    let t = TestTenant::new().await;
    let uid = t.user("pia", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    const NEW: &str = "an entirely new password";
    let form = [
        ("client_id", c.id.as_str()),
        ("client_secret", c.secret()),
        ("userid", uid.as_str()),
        ("password", PASSWORD),
        ("newpassword", NEW),
    ];
    let path = format!("/oauth2/{}/token/changepassword", t.alias);

    let proxy = FaultProxy::start().await;
    proxy.set(Service::DynamoDb, Fault::Refuse);
    let state = proxy.app_state().await;
    let a = bounded(
        "change password",
        tollgate::web::handlers::change_password::handle(&state, form_post(&path, &form, None)),
    )
    .await;
    assert_eq!(
        a.status, 503,
        "change password with DynamoDB refusing connections: {a}"
    );
    assert_retry_after(&a, "change password");
    assert_ne!(a.json()["success"], true, "{a}");
    assert_fault_hit(&proxy, Service::DynamoDb);
    drop(proxy);

    // Over HTTP, through the real token function: the old password still works,
    // the new one does not.
    let (s, v) = t.password_grant(&c, "pia", None).await;
    assert_eq!(s, StatusCode::OK, "the password is unchanged: {v}");
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "pia"),
                ("password", NEW),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "the new password was never set: {v}"
    );
}

// ---------------------------------------------------------------- equal cost

/// DynamoDB requests one call makes, counted at the proxy (pass-through).
async fn storage_calls(
    proxy: &FaultProxy,
    call: impl std::future::Future<Output = Answer>,
) -> (u64, Answer) {
    let before = proxy.requests(Service::DynamoDb);
    let a = Box::pin(call).await;
    (proxy.requests(Service::DynamoDb) - before, a)
}

#[tokio::test]
async fn known_and_unknown_usernames_cost_the_same_storage_calls_throttled_or_not() {
    let t = TestTenant::new().await;
    t.user("known", &[]).await;
    // A second user whose budget the first part leaves untouched.
    let second_id = t.user("second", &[]).await;
    let c = t.client(&["--grant", "password", "--scope", "api"]).await;
    let proxy = FaultProxy::start().await;
    let state = proxy.app_state().await;
    let grant = |name: &'static str| {
        [
            ("grant_type", "password"),
            ("username", name),
            ("password", "wrong password"),
        ]
    };
    // Warm the caches (tenant, client, secrets) with a name nobody uses.
    token(&state, &t, &c, &grant("warm-up")).await;
    // Every attempt, checked or throttled, for a known and an unknown name.
    for round in 0..7 {
        let (known, a) = storage_calls(&proxy, token(&state, &t, &c, &grant("known"))).await;
        let (unknown, b) = storage_calls(&proxy, token(&state, &t, &c, &grant("nobody"))).await;
        assert_eq!(a.status, b.status, "round {round}: {a} / {b}");
        assert_eq!(
            known, unknown,
            "round {round} ({}): a known username made {known} storage calls, an unknown one {unknown}",
            a.status
        );
    }
    // Change password: by a known id, an unknown id, and a username.
    let cp = |userid: String| {
        let req = form_post(
            &format!("/oauth2/{}/token/changepassword", t.alias),
            &[
                ("userid", userid.as_str()),
                ("password", "wrong password"),
                ("newpassword", "a fresh passphrase"),
            ],
            Some(&c),
        );
        bounded(
            "change password",
            tollgate::web::handlers::change_password::handle(&state, req),
        )
    };
    let (by_id, a) = storage_calls(&proxy, cp(second_id.clone())).await;
    let (by_unknown_id, b) = storage_calls(&proxy, cp("AAAAAAAAAAAAAAAAAAAAAA".into())).await;
    let (by_unknown_name, d) = storage_calls(&proxy, cp("no such user".into())).await;
    assert_eq!(a.status, b.status, "{a} / {b}");
    assert_eq!(b.status, d.status, "{b} / {d}");
    assert_eq!(
        by_id, by_unknown_id,
        "change password by known vs unknown id"
    );
    assert_eq!(
        by_id, by_unknown_name,
        "change password by id vs unknown name"
    );
}

// ---------------------------------------------------------------- tenant delete

/// `tenant delete` cut short at each of its steps (the first DynamoDB write,
/// the second, the first Secrets Manager write): requests to the tenant in
/// between — from a function that already holds its record and from one
/// that reads it afresh — are answered, never 500; and the delete, run
/// again, finishes.
#[tokio::test]
async fn a_tenant_delete_cut_short_at_any_step_never_answers_500() {
    for (svc, spare) in [
        (Service::DynamoDb, 0),
        (Service::DynamoDb, 1),
        (Service::SecretsManager, 0),
    ] {
        let what = format!("tenant delete cut short at {svc:?} write {spare}");
        let t = TestTenant::new().await;
        t.user("dora", &[]).await;
        // A public client: its authentication needs no secret, so the request
        // reaches the signing key.
        let c = t.client(&["--grant", "password", "--public"]).await;
        let form = [
            ("grant_type", "password"),
            ("username", "dora"),
            ("password", PASSWORD),
            ("client_id", c.id.as_str()),
        ];
        let warm = AppState::new(tollgate::Config::from_env(), &sdk().await);
        assert!(warm.tenant(&t.tenant_id()).await.unwrap().is_some());

        let proxy = FaultProxy::start().await;
        proxy.plan(svc, Ops::Writes, spare, Fault::Refuse);
        let cut =
            crate::helpers::admin_over(tollgate::Config::from_env(), &proxy.sdk_config().await);
        assert!(cut.delete_tenant(&t.alias).await.is_err(), "{what}");
        assert_fault_hit(&proxy, svc);

        let fresh = AppState::new(tollgate::Config::from_env(), &sdk().await);
        for (name, state) in [("warm", &warm), ("fresh", &fresh)] {
            let req = form_post(&format!("/oauth2/{}/token", t.alias), &form, None);
            let a = bounded(
                "token",
                tollgate::web::handlers::token::handle(state, req, Endpoint::Token),
            )
            .await;
            assert_ne!(a.status, 500, "{what}, {name} function: {a}");
            if a.status >= 500 {
                assert_unavailable(&a, &format!("{what}, {name} function"));
            }
        }

        admin(&["tenant", "delete", &t.alias], None).unwrap();
        let gone = AppState::new(tollgate::Config::from_env(), &sdk().await);
        let req = form_post(&format!("/oauth2/{}/token", t.alias), &form, None);
        let a = bounded(
            "token",
            tollgate::web::handlers::token::handle(&gone, req, Endpoint::Token),
        )
        .await;
        assert!(
            (400..500).contains(&a.status),
            "{what}, after the delete: {a}"
        );
    }
}
