//! Getting an upstream token (RFC 8693, `audience={provider}`) and the
//! refresh protocol behind it, over the fakes: the provider is
//! [`FakeUpstream`](crate::testing::fakes::FakeUpstream), a single-use
//! rotating refresh-token model with reuse detection, so any double use of a
//! refresh token kills its grant and the test sees it.

use super::*;
use crate::domain::connections::{ConnectionKey, Owner, Status};
use crate::domain::providers::engine::{HttpAnswer, read_token_answer};
use crate::domain::providers::{Endpoints, Preset, Provider, UpstreamGrant};
use crate::ids::ProviderName;
use crate::ports::{ConnectionStore, ProviderStore};
use crate::testing::fakes::Fault;
use crate::tokens::vault::VaultKeys;

const PROVIDER: &str = "crm";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

struct Vaulted {
    w: World,
    app: App,
    key: ConnectionKey,
}

fn provider(grant: UpstreamGrant) -> Provider {
    Provider {
        tenant: TenantId::parse(TENANT).unwrap(),
        name: PROVIDER.into(),
        preset: Preset::Maximizer,
        vars: Default::default(),
        endpoints: Endpoints {
            authorize: Some("https://up.example/authorize".into()),
            token: "https://up.example/token".into(),
            ..Endpoints::default()
        },
        client_id: "tollgate-at-crm".into(),
        has_client_secret: false,
        scopes: vec![],
        grant,
        display_name: "CRM".into(),
        sign_in: false,
        create_users: false,
        created_at: T0,
    }
}

/// A tenant with a vault, provider `crm` (Maximizer's quirks: 600 s tokens,
/// single-use refresh tokens), a client registered for `upstream:crm`, and
/// a connection of `owner` made from a first grant at the fake provider
/// (its access token already stale when `stale`).
async fn vaulted(service: bool, stale: bool) -> Vaulted {
    let w = World::new();
    w.fakes.secrets.put(
        w.state.config.vault_key_secret(&w.tenant),
        VaultKeys::generate()
            .to_json()
            .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned())
            .unwrap(),
    );
    w.fakes
        .store
        .create_provider(&provider(UpstreamGrant::AuthorizationCode))
        .await
        .unwrap();
    let app = w.client(&[Grant::ClientCredentials, Grant::AuthorizationCode], |c| {
        c.scopes = vec!["openid".into(), "upstream:crm".into()];
    });
    let owner = if service {
        Owner::Service
    } else {
        Owner::User(w.alice())
    };
    let key = ConnectionKey {
        tenant: w.tenant.clone(),
        owner,
        provider: ProviderName::parse(PROVIDER).unwrap(),
    };
    // The first grant, as the callback stores it.
    let rt = w.fakes.upstream.grant();
    let body = serde_json::json!({"access_token": "at-0", "refresh_token": rt, "expires_in": 600});
    let answer = read_token_answer(
        Preset::Maximizer.quirks(),
        &HttpAnswer {
            status: 200,
            body: body.to_string().into_bytes(),
            retry_after: None,
        },
    )
    .unwrap();
    let vault = w.state.vault(&w.tenant).await.unwrap();
    let new = crate::tokens::upstream::new_connection(
        &vault,
        key.clone(),
        Preset::Maximizer.quirks(),
        &answer,
        None,
        crate::clock::Now(w.now()),
    )
    .unwrap();
    w.fakes
        .store
        .connect(&new, crate::clock::Now(w.now()))
        .await
        .unwrap();
    if stale {
        // 600 s tokens are served while more than 120 s are left.
        w.advance(481);
    }
    Vaulted { w, app, key }
}

impl Vaulted {
    /// The subject: the client's own token (service) or alice's.
    async fn subject(&self, scope: &str) -> String {
        match &self.key.owner {
            Owner::Service => {
                let r = self
                    .w
                    .token(
                        &self.app,
                        &[("grant_type", "client_credentials"), ("scope", scope)],
                    )
                    .await;
                r.json()["access_token"].as_str().unwrap().to_owned()
            }
            Owner::User(u) => self.w.code_tokens(&self.app, u, scope).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }

    async fn exchange(&self, subject: &str) -> Resp {
        self.w
            .token(
                &self.app,
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", subject),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                    ("audience", PROVIDER),
                ],
            )
            .await
    }

    async fn stored(&self) -> crate::domain::connections::Connection {
        self.w.fakes.store.connection_raw(&self.key).unwrap()
    }
}

#[tokio::test]
async fn a_fresh_stored_token_is_served_without_calling_the_provider() {
    let v = vaulted(false, false).await;
    let subject = v.subject("openid upstream:crm").await;
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = r.json();
    assert_eq!(b["access_token"], "at-0");
    assert_eq!(
        b["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(b["token_type"], "Bearer");
    let e = b["expires_in"].as_u64().unwrap();
    assert!(e > 500 && e < 600, "{e}");
    assert!(b.get("refresh_token").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.body.contains("rt-"), "never the upstream refresh token");
    assert!(v.w.fakes.upstream.calls().is_empty());
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_and_the_rotated_token_stored() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    let before = v.stored().await.generation;
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(r.json()["access_token"], "at-0");
    assert_eq!(v.w.fakes.upstream.refreshes(), 1);
    let c = v.stored().await;
    assert_eq!(c.generation, before + 1);
    assert_eq!(c.status, Status::Active);
    assert!(c.lease.is_none());
    // The rotated refresh token is what is stored: a second refresh works.
    v.w.advance(481);
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(v.w.fakes.upstream.refreshes(), 2);
    assert!(
        !v.w.fakes.upstream.is_dead(),
        "no refresh token was used twice"
    );
}

#[tokio::test]
async fn twenty_concurrent_exchanges_refresh_exactly_once() {
    let v = vaulted(true, true).await;
    let subject = v.subject("upstream:crm").await;
    v.w.fakes
        .upstream
        .set_delay(Some(std::time::Duration::from_millis(300)));
    let answers = futures_join_all((0..20).map(|_| v.exchange(&subject))).await;
    let mut tokens = std::collections::BTreeSet::new();
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        tokens.insert(r.json()["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(v.w.fakes.upstream.refreshes(), 1);
    assert_eq!(
        tokens.len(),
        1,
        "everyone got the one new token: {tokens:?}"
    );
    assert!(!v.w.fakes.upstream.is_dead());
}

/// `join_all` without a dependency: the futures run concurrently on this
/// task.
async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_lost_answer_is_retried_once_with_the_same_token() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    // The provider rotates, the answer is lost; the retry presents the
    // consumed token: reuse detection kills the grant.
    v.w.fakes
        .upstream
        .push_fault(Fault::LoseAnswerAfterRotating);
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.error(), "reconnect_required");
    let calls = v.w.fakes.upstream.calls();
    assert_eq!(calls.len(), 2, "one call and one retry: {calls:?}");
    assert_eq!(calls[0].1, calls[1].1, "the retry sent the same token");
    let c = v.stored().await;
    assert_eq!(c.status, Status::ReconnectRequired);
    assert_eq!(c.reason.as_deref(), Some("refresh_outcome_unknown"));
    // Never used again.
    let r = v.exchange(&subject).await;
    assert_eq!(r.error(), "reconnect_required");
    assert_eq!(v.w.fakes.upstream.calls().len(), 2);
}

#[tokio::test]
async fn a_lost_answer_whose_retry_succeeds_stores_the_new_tokens() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    // Lost before the provider did anything: it still holds the token.
    v.w.fakes.upstream.push_fault(Fault::LoseAnswer);
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let calls = v.w.fakes.upstream.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1, calls[1].1, "the retry sent the same token");
    assert_eq!(v.stored().await.status, Status::Active);
    assert!(!v.w.fakes.upstream.is_dead());
}

#[tokio::test]
async fn an_unsent_refresh_is_transient() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    v.w.fakes.upstream.push_fault(Fault::NotSent);
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let c = v.stored().await;
    assert_eq!(
        (c.status, c.reason.as_deref()),
        (Status::Degraded, Some("unreachable"))
    );
}

#[tokio::test]
async fn transient_failures_are_503_with_retry_after_and_a_cooldown() {
    let v = vaulted(true, true).await;
    let subject = v.subject("upstream:crm").await;
    v.w.fakes
        .upstream
        .push_fault(Fault::Answer(500, "<html>down</html>".into(), None));
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error(), "temporarily_unavailable");
    assert_eq!(r.header("retry-after"), Some("30"));
    assert!(!r.body.contains("html"), "no upstream text in the answer");
    let c = v.stored().await;
    assert_eq!((c.status, c.failures), (Status::Degraded, 1));
    // During the cooldown nobody calls the provider.
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v.w.fakes.upstream.calls().len(), 1);
    // A 429's Retry-After is honoured.
    v.w.advance(31);
    v.w.fakes.upstream.push_fault(Fault::Answer(
        429,
        r#"{"error":"slow_down"}"#.into(),
        Some(120),
    ));
    let r = v.exchange(&subject).await;
    assert_eq!(r.header("retry-after"), Some("120"));
    // After it, the refresh works and the connection is active again.
    v.w.advance(121);
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = v.stored().await;
    assert_eq!((c.status, c.failures), (Status::Active, 0));
    assert!(!v.w.fakes.upstream.is_dead());
}

#[tokio::test]
async fn a_dead_grant_is_reconnect_required() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    v.w.fakes.upstream.push_fault(Fault::Answer(
        400,
        r#"{"error":"invalid_grant"}"#.into(),
        None,
    ));
    let r = v.exchange(&subject).await;
    assert_eq!(r.error(), "reconnect_required");
    assert_eq!(v.stored().await.reason.as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn an_answer_without_a_refresh_token_keeps_the_old_one() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    v.w.fakes.upstream.keep_refresh_token(true);
    assert_eq!(v.exchange(&subject).await.status, StatusCode::OK);
    v.w.advance(481);
    assert_eq!(v.exchange(&subject).await.status, StatusCode::OK);
    let calls = v.w.fakes.upstream.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1, calls[1].1, "the kept token was sent again");
}

#[tokio::test]
async fn a_tampered_ciphertext_fails_closed() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    // Another connection's ciphertext copied in: the authenticated data
    // (tenant, owner, provider, field, kid) no longer matches.
    let c = v.stored().await;
    let other = ConnectionKey {
        owner: Owner::Service,
        ..v.key.clone()
    };
    let vault = v.w.state.vault(&v.w.tenant).await.unwrap();
    let sealed = vault
        .seal(
            &other,
            crate::domain::connections::Field::RefreshToken,
            &secrecy::SecretString::from("rt-stolen".to_owned()),
        )
        .unwrap();
    v.w.fakes
        .store
        .tamper_connection(&c.key, |c| c.refresh_token = Some(sealed));
    let r = v.exchange(&subject).await;
    assert_eq!(r.error(), "reconnect_required");
    assert_eq!(v.stored().await.reason.as_deref(), Some("undecryptable"));
    assert!(v.w.fakes.upstream.calls().is_empty(), "nothing sent");
}

#[tokio::test]
async fn storage_failing_after_the_provider_answered_is_retried() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    // The first commit fails (an outage), the second goes through.
    v.w.fakes.store.fail("connections.commit");
    v.w.fakes.store.before("connections.commit", |s| {
        s.before("connections.commit", |s| s.heal())
    });
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(v.w.fakes.upstream.refreshes(), 1);
    assert_eq!(v.stored().await.status, Status::Active);
    // The stored token is the rotated one: the next refresh works.
    v.w.advance(481);
    assert_eq!(v.exchange(&subject).await.status, StatusCode::OK);
    assert!(!v.w.fakes.upstream.is_dead());
}

#[tokio::test]
async fn who_may_ask_for_what() {
    let v = vaulted(false, false).await;
    // No connection for the service.
    let own = v.subject("openid upstream:crm").await;
    let service = {
        let r =
            v.w.token(
                &v.app,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "upstream:crm"),
                ],
            )
            .await;
        r.json()["access_token"].as_str().unwrap().to_owned()
    };
    assert_eq!(v.exchange(&service).await.error(), "not_linked");
    // A subject without upstream:crm.
    let narrow = v.subject("openid").await;
    assert_eq!(v.exchange(&narrow).await.error(), "invalid_scope");
    // Unknown provider, and a client not registered for the provider.
    let r =
        v.w.token(
            &v.app,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &own),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", "nope"),
            ],
        )
        .await;
    assert_eq!(r.error(), "invalid_target");
    let other = v.w.client(&[Grant::ClientCredentials], |c| {
        c.scopes = vec!["read".into()];
    });
    let r =
        v.w.token(
            &other,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &own),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", PROVIDER),
            ],
        )
        .await;
    assert_eq!(r.error(), "invalid_target");
    // Another client's token, even one registered for the provider.
    let third = v.w.client(&[Grant::ClientCredentials], |c| {
        c.scopes = vec!["upstream:crm".into()];
    });
    let r =
        v.w.token(
            &third,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &own),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", PROVIDER),
            ],
        )
        .await;
    assert_eq!(r.error(), "invalid_request");
    assert!(v.w.fakes.upstream.calls().is_empty());
}

/// `upstream:{provider}` is the user's consent for one app: an exchange by
/// another client (even one registered for the provider and for token
/// exchange) never carries it on, so that client cannot reach the user's
/// connection through an exchanged token.
#[tokio::test]
async fn an_exchanged_token_never_carries_upstream_consent() {
    let v = vaulted(false, false).await;
    let alice_at_a = v.subject("openid upstream:crm").await;
    let b =
        v.w.client(&[Grant::TokenExchange, Grant::ClientCredentials], |c| {
            c.scopes = vec!["openid".into(), "upstream:crm".into()];
        });
    let exchange = |scope: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", alice_at_a.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        form
    };
    let r = v.w.token(&b, &exchange(None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["scope"], "openid");
    let b_token = r.json()["access_token"].as_str().unwrap().to_owned();
    let r =
        v.w.token(
            &b,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &b_token),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("audience", PROVIDER),
            ],
        )
        .await;
    assert_eq!(r.error(), "invalid_scope", "{}", r.body);
    // Asking for it by name is refused outright.
    let r = v.w.token(&b, &exchange(Some("upstream:crm"))).await;
    assert_eq!(r.error(), "invalid_scope", "{}", r.body);
    assert!(v.w.fakes.upstream.calls().is_empty());
}

/// A token that lives less than the freshness margin is never "fresh": the
/// waiters of a refresh serve what it committed instead of refreshing again.
#[tokio::test]
async fn short_lived_upstream_tokens_are_refreshed_once_for_all_waiters() {
    let v = vaulted(true, true).await;
    let subject = v.subject("upstream:crm").await;
    v.w.fakes
        .upstream
        .set_expires_in(Some(serde_json::json!(20)));
    v.w.fakes
        .upstream
        .set_delay(Some(std::time::Duration::from_millis(200)));
    let answers = futures_join_all((0..5).map(|_| v.exchange(&subject))).await;
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(v.w.fakes.upstream.refreshes(), 1);
}

/// A holder that died mid-call (its lease ran out, no commit): the next
/// holder's call is the one retry of that token. If the provider had used
/// it, the grant is dead, and no further call is made.
#[tokio::test]
async fn the_token_of_a_holder_that_died_mid_call_is_retried_once() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    let c = v.stored().await;
    let now = crate::clock::Now(v.w.now());
    assert!(
        v.w.fakes
            .store
            .lease(&v.key, c.generation, "died", now.plus(30), now)
            .await
            .unwrap()
            .is_some()
    );
    // Its call reached the provider, which rotated; then it was killed.
    let rt = v.w.fakes.upstream.current_refresh_token().unwrap();
    let consumed = crate::domain::providers::engine::Call {
        url: "https://up.example/token".into(),
        form: {
            let mut f = crate::domain::providers::engine::Form::default();
            f.push("grant_type", "refresh_token");
            f.push("refresh_token", rt);
            f
        },
        basic: None,
    };
    let _ = crate::ports::UpstreamHttp::post(v.w.fakes.upstream.as_ref(), &consumed).await;
    v.w.advance(31);
    let r = v.exchange(&subject).await;
    assert_eq!(r.error(), "reconnect_required", "{}", r.body);
    assert_eq!(
        v.stored().await.reason.as_deref(),
        Some("refresh_outcome_unknown")
    );
    assert_eq!(
        v.w.fakes.upstream.refreshes(),
        2,
        "the dead holder's call and one retry"
    );
}

/// A refresh that certainly used nothing (not sent) leaves no attempt
/// behind: a later lost answer still gets its immediate retry.
#[tokio::test]
async fn after_an_unsent_refresh_a_lost_answer_is_still_retried_at_once() {
    let v = vaulted(false, true).await;
    let subject = v.subject("openid upstream:crm").await;
    v.w.fakes.upstream.push_fault(Fault::NotSent);
    assert_eq!(
        v.exchange(&subject).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    v.w.advance(31);
    v.w.fakes.upstream.push_fault(Fault::LoseAnswer);
    let r = v.exchange(&subject).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(v.w.fakes.upstream.calls().len(), 3);
    assert_eq!(v.stored().await.status, Status::Active);
}
