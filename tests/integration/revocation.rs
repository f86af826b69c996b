//! RFC 7009 token revocation (SPEC: Revocation), and revocation plus
//! introspection driven by a real client library (the `oauth2` crate).

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate::crypto::random_token;

fn inactive() -> Value {
    json!({"active": false})
}

/// RFC 7009 §2.2: success is 200 with an empty body.
fn assert_done(a: &Answer, what: &str) {
    assert_eq!(a.status, StatusCode::OK, "{what}: {a:?}");
    assert_eq!(a.body, "", "{what}: the body is empty");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let w = World::new(&[]).await;
    let (at1, rt1) = w.session(&w.app, FULL_SCOPE).await;
    let (s, v) = w.t.refresh(&w.app, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at2 = v["access_token"].as_str().unwrap().to_owned();
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    let (other_at, other_rt) = w.session(&w.app, FULL_SCOPE).await;
    assert_eq!(w.t.userinfo(&at2).await.status, StatusCode::OK, "control");

    assert_done(&w.t.revoke(&w.app, &rt2).await, "revoke the refresh token");
    for (what, token) in [
        ("the refresh token", &rt2),
        ("the family's first access token", &at1),
        ("the family's second access token", &at2),
    ] {
        assert_eq!(w.rs_sees(token).await, inactive(), "{what}");
    }
    for token in [&at1, &at2] {
        let a = w.t.userinfo(token).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{a:?}");
        assert!(
            a.header("www-authenticate")
                .is_some_and(|h| h.contains("error=\"invalid_token\"")),
            "{a:?}"
        );
    }
    let (s, v) = w.t.refresh(&w.app, &rt2).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // Another session of the same user and client is untouched.
    assert_eq!(w.rs_sees(&other_at).await["active"], true);
    assert_eq!(w.rs_sees(&other_rt).await["active"], true);
}

#[tokio::test]
async fn revoking_an_access_token_makes_it_inactive() {
    let w = World::new(&[]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let (other_at, _) = w.session(&w.app, FULL_SCOPE).await;
    assert_done(&w.t.revoke(&w.app, &at).await, "revoke the access token");
    assert_eq!(w.rs_sees(&at).await, inactive());
    assert_eq!(w.t.introspect(&w.app, &at).await, inactive());
    let a = w.t.userinfo(&at).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{a:?}");
    assert_eq!(err_code(&a.json()), "invalid_token");
    assert_eq!(
        w.rs_sees(&other_at).await["active"],
        true,
        "another token lives on"
    );
    // Revoking it again changes nothing and is still 200.
    assert_done(&w.t.revoke(&w.app, &at).await, "revoke it again");
}

#[tokio::test]
async fn revoking_a_client_credentials_token_makes_it_inactive() {
    let w = World::new(&[]).await;
    let (s, v) =
        w.t.token(Some(&w.rs), &[("grant_type", "client_credentials")])
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let at = v["access_token"].as_str().unwrap();
    assert_done(&w.t.revoke(&w.rs, at).await, "revoke");
    assert_eq!(w.rs_sees(at).await, inactive());
}

#[tokio::test]
async fn revoking_unknown_or_malformed_tokens_is_200_and_changes_nothing() {
    let w = World::new(&[]).await;
    let (at, rt) = w.session(&w.app, FULL_SCOPE).await;
    let other = World::new(&[]).await;
    let (foreign_at, foreign_rt) = other.session(&other.app, FULL_SCOPE).await;
    let mut flipped = at.clone().into_bytes();
    let i = flipped.len() - 10;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let cases: Vec<(&str, String)> = vec![
        ("unknown, refresh-token shaped", random_token(32)),
        ("one character", "x".into()),
        ("a.b.c", "a.b.c".into()),
        ("257 characters", "r".repeat(257)),
        (
            "the access token with a wrong signature",
            String::from_utf8(flipped).unwrap(),
        ),
        ("another tenant's access token", foreign_at.clone()),
        ("another tenant's refresh token", foreign_rt.clone()),
    ];
    for (what, token) in &cases {
        assert_done(&w.t.revoke(&w.app, token).await, what);
    }
    assert_eq!(
        w.rs_sees(&at).await["active"],
        true,
        "the real access token"
    );
    assert_eq!(
        w.rs_sees(&rt).await["active"],
        true,
        "the real refresh token"
    );
    assert_eq!(
        other.rs_sees(&foreign_at).await["active"],
        true,
        "the other tenant's"
    );
    assert_eq!(
        other.rs_sees(&foreign_rt).await["active"],
        true,
        "the other tenant's"
    );
}

#[tokio::test]
async fn revoking_another_clients_tokens_is_200_and_changes_nothing() {
    let w = World::new(&[]).await;
    let (at, rt) = w.session(&w.app, FULL_SCOPE).await;
    let intruder =
        w.t.client(&[
            "--name", "Intruder", "--grant", "password", "--scope", "api",
        ])
        .await;
    let public =
        w.t.client(&[
            "--name", "Mobile", "--grant", "password", "--public", "--scope", "api",
        ])
        .await;
    for caller in [&intruder, &public, &w.rs] {
        assert_done(
            &w.t.revoke(caller, &rt).await,
            "another client's refresh token",
        );
        assert_done(
            &w.t.revoke(caller, &at).await,
            "another client's access token",
        );
    }
    assert_eq!(w.t.introspect(&w.app, &at).await["active"], true);
    assert_eq!(w.t.introspect(&w.app, &rt).await["active"], true);
    let (s, v) = w.t.refresh(&w.app, &rt).await;
    assert_eq!(s, StatusCode::OK, "the refresh token still works: {v}");
}

#[tokio::test]
async fn public_client_revokes_by_client_id() {
    let w = World::new(&[]).await;
    let public =
        w.t.client(&[
            "--name", "Mobile", "--grant", "password", "--public", "--scope", "api",
        ])
        .await;
    let (at, rt) = w.session(&public, FULL_SCOPE).await;
    let a =
        w.t.client_post(
            &w.t.revoke_url(),
            Auth::Post(&public),
            &[("token", &rt), ("token_type_hint", "refresh_token")],
            &[],
        )
        .await;
    assert_done(&a, "client_id alone");
    assert_eq!(w.rs_sees(&rt).await, inactive());
    assert_eq!(
        w.rs_sees(&at).await,
        inactive(),
        "the family's access token"
    );
    let (at, _) = w.session(&public, FULL_SCOPE).await;
    // `id:` in Basic, as some libraries send a public client.
    let a =
        w.t.client_post(
            &w.t.revoke_url(),
            Auth::Basic(&public),
            &[("token", &at)],
            &[],
        )
        .await;
    assert_done(&a, "Basic with an empty secret");
    assert_eq!(w.rs_sees(&at).await, inactive());
}

#[tokio::test]
async fn token_type_hint_is_only_a_hint() {
    let w = World::new(&[]).await;
    let (at, rt) = w.session(&w.app, FULL_SCOPE).await;
    let url = w.t.revoke_url();
    let a =
        w.t.client_post(
            &url,
            Auth::Basic(&w.app),
            &[("token", &rt), ("token_type_hint", "access_token")],
            &[],
        )
        .await;
    assert_done(&a, "refresh token hinted as access_token");
    assert_eq!(w.rs_sees(&rt).await, inactive());
    assert_eq!(
        w.rs_sees(&at).await,
        inactive(),
        "its family's access token"
    );
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let a =
        w.t.client_post(
            &url,
            Auth::Basic(&w.app),
            &[("token", &at), ("token_type_hint", "something_else")],
            &[],
        )
        .await;
    assert_done(&a, "access token with an unknown hint");
    assert_eq!(w.rs_sees(&at).await, inactive());
}

#[tokio::test]
async fn revocation_without_token_is_invalid_request() {
    let w = World::new(&[]).await;
    for form in [
        vec![("token_type_hint", "refresh_token")],
        vec![("token", "")],
    ] {
        let a =
            w.t.client_post(&w.t.revoke_url(), Auth::Basic(&w.app), &form, &[])
                .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{form:?}: {a:?}");
        assert_eq!(err_code(&a.json()), "invalid_request", "{form:?}");
    }
}

#[tokio::test]
async fn revocation_client_authentication_failures_are_invalid_client_and_revoke_nothing() {
    let w = World::new(&[]).await;
    let public =
        w.t.client(&[
            "--name", "Mobile", "--grant", "password", "--public", "--scope", "api",
        ])
        .await;
    let (at, rt) = w.session(&w.app, FULL_SCOPE).await;
    assert_client_auth_errors(&w.t, &w.t.revoke_url(), &w.app, &public, &[("token", &rt)]).await;
    assert_client_auth_errors(&w.t, &w.t.revoke_url(), &w.app, &public, &[("token", &at)]).await;
    assert_eq!(w.rs_sees(&rt).await["active"], true, "nothing was revoked");
    assert_eq!(w.rs_sees(&at).await["active"], true, "nothing was revoked");
}

// ---------------------------------------------------------------------------
// A real client library
// ---------------------------------------------------------------------------

mod library {
    use super::*;
    use oauth2::basic::{BasicClient, BasicTokenType};
    use oauth2::{
        AccessToken, AsyncHttpClient, ClientId, ClientSecret, HttpRequest, IntrospectionUrl,
        RefreshToken, RevocationUrl, StandardRevocableToken, TokenIntrospectionResponse, TokenUrl,
    };

    /// Function URLs are HTTPS; the local stack serves them as plain HTTP on
    /// loopback. The `oauth2` crate insists on an `https` revocation URL
    /// (RFC 7009 §2), so the client is configured with `https://` URLs and
    /// this transport stands in for the TLS front: it sends the very request
    /// the library built to the same host and path over HTTP.
    struct LoopbackFront(oauth2::reqwest::Client);

    impl<'c> AsyncHttpClient<'c> for LoopbackFront {
        type Error = <oauth2::reqwest::Client as AsyncHttpClient<'c>>::Error;
        type Future = <oauth2::reqwest::Client as AsyncHttpClient<'c>>::Future;

        fn call(&'c self, mut request: HttpRequest) -> Self::Future {
            let plain = request.uri().to_string().replacen("https://", "http://", 1);
            *request.uri_mut() = plain.parse().unwrap();
            self.0.call(request)
        }
    }

    fn https(url: String) -> String {
        url.replacen("http://", "https://", 1)
    }

    fn front() -> LoopbackFront {
        LoopbackFront(
            oauth2::reqwest::ClientBuilder::new()
                .redirect(oauth2::reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn oauth2_crate_introspects_and_revokes() {
        let w = World::new(&["--audience", "https://api.example"]).await;
        let (at, rt) = w.session(&w.app, FULL_SCOPE).await;
        let http = front();
        let resource_server = BasicClient::new(ClientId::new(w.rs.id.clone()))
            .set_client_secret(ClientSecret::new(w.rs.secret().to_owned()))
            .set_introspection_url(IntrospectionUrl::new(https(w.t.introspect_url())).unwrap());
        let app = BasicClient::new(ClientId::new(w.app.id.clone()))
            .set_client_secret(ClientSecret::new(w.app.secret().to_owned()))
            .set_token_uri(TokenUrl::new(https(w.t.token_url())).unwrap())
            .set_revocation_url(RevocationUrl::new(https(w.t.revoke_url())).unwrap());

        let access = AccessToken::new(at.clone());
        let seen = resource_server
            .introspect(&access)
            .request_async(&http)
            .await
            .unwrap();
        let claims = jwt_claims(&at);
        assert!(seen.active());
        assert_eq!(
            seen.client_id().map(|c| c.as_str()),
            Some(w.app.id.as_str())
        );
        assert_eq!(seen.username(), Some(USER));
        assert_eq!(seen.sub(), Some(w.user_id.as_str()));
        assert_eq!(seen.iss(), Some(w.t.issuer().as_str()));
        assert_eq!(seen.token_type(), Some(&BasicTokenType::Bearer));
        assert_eq!(seen.jti(), claims["jti"].as_str());
        assert_eq!(seen.aud(), Some(&vec!["https://api.example".to_owned()]));
        let scopes: Vec<String> = seen
            .scopes()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(scopes.join(" "), FULL_SCOPE);
        assert_eq!(
            seen.exp().map(|t| t.timestamp() as u64),
            claims["exp"].as_u64()
        );
        assert_eq!(
            seen.iat().map(|t| t.timestamp() as u64),
            claims["iat"].as_u64()
        );

        let seen = resource_server
            .introspect(&AccessToken::new(rt.clone()))
            .set_token_type_hint("refresh_token")
            .request_async(&http)
            .await
            .unwrap();
        assert!(seen.active());
        assert_eq!(
            seen.token_type(),
            Some(&BasicTokenType::Extension("refresh_token".to_owned()))
        );

        // Revoke the refresh token: the family dies, its access token too.
        app.revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
            rt.clone(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
        for token in [&at, &rt] {
            let seen = resource_server
                .introspect(&AccessToken::new(token.clone()))
                .request_async(&http)
                .await
                .unwrap();
            assert!(!seen.active());
            assert_eq!(seen.client_id(), None, "nothing but active: false");
        }

        // Revoke an access token of another session.
        let (at, _) = w.session(&w.app, FULL_SCOPE).await;
        app.revoke_token(StandardRevocableToken::AccessToken(AccessToken::new(
            at.clone(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
        assert_eq!(w.rs_sees(&at).await, inactive());

        // A wrong secret is an RFC 6749 error the library understands.
        let wrong = BasicClient::new(ClientId::new(w.rs.id.clone()))
            .set_client_secret(ClientSecret::new("x".repeat(64)))
            .set_introspection_url(IntrospectionUrl::new(https(w.t.introspect_url())).unwrap());
        match wrong
            .introspect(&AccessToken::new(at))
            .request_async(&http)
            .await
        {
            Err(oauth2::RequestTokenError::ServerResponse(e)) => {
                assert_eq!(
                    e.error(),
                    &oauth2::basic::BasicErrorResponseType::InvalidClient
                );
            }
            other => panic!("expected invalid_client, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn oauth2_crate_public_client_revokes_its_refresh_token() {
        let w = World::new(&[]).await;
        let public =
            w.t.client(&[
                "--name", "Mobile", "--grant", "password", "--public", "--scope", "api",
            ])
            .await;
        let (at, rt) = w.session(&public, FULL_SCOPE).await;
        let http = front();
        let client = BasicClient::new(ClientId::new(public.id.clone()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_revocation_url(RevocationUrl::new(https(w.t.revoke_url())).unwrap());
        client
            .revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
                rt.clone(),
            )))
            .unwrap()
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(w.rs_sees(&rt).await, inactive());
        assert_eq!(w.rs_sees(&at).await, inactive());
    }
}
