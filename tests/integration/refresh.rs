//! Refresh-token rotation, the retry window, reuse detection, and the refresh
//! endpoint (same code path as grant_type=refresh_token at the token endpoint).

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;
use tollgate::ports::UserStore;

/// Moves a token's rotation time into the past (tests cannot wait 10 s).
async fn age_rotation(t: &TestTenant, token: &str, secs: u64) {
    let now = tollgate::Now::system().secs();
    db().await
        .set_rotated_at(&t.tenant_id(), token.split_once('.').unwrap().0, now - secs)
        .await
        .unwrap();
}

async fn session(t: &TestTenant, username: &str) -> (TestClient, String) {
    t.user(username, &[]).await;
    let c = t
        .client(&["--grant", "password", "--scope", "api", "--scope", "read"])
        .await;
    let (s, v) = t.password_grant(&c, username, Some("api read")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (c, v["refresh_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn refresh_rotates_and_the_new_token_works() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r1").await;
    let (s, v) = t.refresh(&c, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rt2 = v["refresh_token"].as_str().unwrap();
    assert_ne!(rt2, rt1);
    assert_eq!(v["scope"], "api read");
    let (s, v) = t.refresh(&c, rt2).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn refresh_endpoint_shares_the_token_endpoint_behaviour() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r2").await;
    let refresh_url = t.url("refresh", "refresh");
    let (s, v) = t
        .post_form(
            &refresh_url,
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = t
        .post_form(
            &refresh_url,
            Some(&c),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type")
    );
    let (s, v) = t
        .post_form(
            &refresh_url,
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn exact_retry_within_the_window_gets_the_same_successor() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r3").await;
    let (_, a) = t.refresh(&c, &rt1).await;
    let (s, b) = t.refresh(&c, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        a["refresh_token"], b["refresh_token"],
        "a lost response must not log the user out"
    );
    let (s, _) = t.refresh(&c, b["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "the successor still works");
}

#[tokio::test]
async fn reuse_after_the_window_revokes_the_family_including_the_newest_token() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r4").await;
    let (_, v) = t.refresh(&c, &rt1).await;
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    let (_, v) = t.refresh(&c, &rt2).await;
    let rt3 = v["refresh_token"].as_str().unwrap().to_owned();
    age_rotation(&t, &rt1, 30).await;
    let (s, v) = t.refresh(&c, &rt1).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (s, v) = t.refresh(&c, &rt3).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "the newest token of the family is dead too"
    );
}

#[tokio::test]
async fn retry_after_the_successor_was_used_is_reuse() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r5").await;
    let (_, v) = t.refresh(&c, &rt1).await;
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    let (_, v) = t.refresh(&c, &rt2).await;
    let rt3 = v["refresh_token"].as_str().unwrap().to_owned();
    let (s, _) = t.refresh(&c, &rt1).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "rt1's successor is no longer current"
    );
    let (s, _) = t.refresh(&c, &rt3).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "family revoked");
}

#[tokio::test]
async fn ten_concurrent_refreshes_share_one_successor() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r6").await;
    let results = join_all((0..10).map(|_| {
        let (t, c, rt1) = (&t, &c, &rt1);
        async move { t.refresh(c, rt1).await }
    }))
    .await;
    let successes: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    assert!(!successes.is_empty(), "{results:?}");
    let first = successes[0].1["refresh_token"].clone();
    assert!(
        successes.iter().all(|(_, v)| v["refresh_token"] == first),
        "one successor: {results:?}"
    );
    assert!(
        results.iter().all(|(s, v)| *s == StatusCode::OK
            || (*s == StatusCode::SERVICE_UNAVAILABLE && err_code(v) == "temporarily_unavailable")),
        "{results:?}"
    );
    // The family is consistent: the successor rotates once more.
    let (s, v) = t.refresh(&c, first.as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn scope_can_only_shrink() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r7").await;
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "api read openid"),
            ],
        )
        .await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    let (s, v) = t
        .token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt1),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["scope"], "read");
    let (_, claims) = t.verify(v["access_token"].as_str().unwrap(), None).await;
    assert_eq!(claims["scope"], "read");
    // The refresh token keeps the original grant (RFC 6749 §6).
    let (s, v) = t.refresh(&c, v["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["scope"], "api read");
}

#[tokio::test]
async fn refresh_token_is_bound_to_its_client() {
    let t = TestTenant::new().await;
    let (_, rt1) = session(&t, "r8").await;
    let other = t.client(&["--grant", "password", "--scope", "api"]).await;
    let (s, v) = t.refresh(&other, &rt1).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn client_without_refresh_grant_is_unauthorized_client() {
    let t = TestTenant::new().await;
    let (_, rt1) = session(&t, "r9").await;
    let cc = t
        .client(&["--grant", "client_credentials", "--scope", "api"])
        .await;
    let (s, v) = t.refresh(&cc, &rt1).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn expired_refresh_token_is_invalid_grant() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r10").await;
    db().await
        .set_refresh_expiry(
            &t.tenant_id(),
            rt1.split_once('.').unwrap().0,
            tollgate::Now::system().secs() - 1,
        )
        .await
        .unwrap();
    let (s, v) = t.refresh(&c, &rt1).await;
    assert_eq!(
        (s, err_code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn refresh_carries_the_users_current_claims() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r11").await;
    let mut user = db()
        .await
        .user_by_username(&t.tenant_id(), "r11")
        .await
        .unwrap()
        .unwrap();
    user.name = Some("Renamed".into());
    db().await.put_user_raw(&user).await.unwrap();
    let (s, v) = t.refresh(&c, &rt1).await;
    assert_eq!(s, StatusCode::OK);
    let (_, claims) = t.verify(v["access_token"].as_str().unwrap(), None).await;
    assert_eq!(claims["name"], "Renamed");
}

#[tokio::test]
async fn change_password_racing_a_refresh_leaves_no_usable_old_family_token() {
    let t = TestTenant::new().await;
    let (c, rt1) = session(&t, "r12").await;
    let user = db()
        .await
        .user_by_username(&t.tenant_id(), "r12")
        .await
        .unwrap()
        .unwrap();
    let uid = user.user_id.to_string();
    let cp_url = t.url("change-password", "token/changepassword");
    let refresh = t.refresh(&c, &rt1);
    let form = [
        ("client_id", c.id.as_str()),
        ("client_secret", c.secret()),
        ("userid", &uid),
        ("password", PASSWORD),
        ("newpassword", "the new password"),
    ];
    let change = t.post_form(&cp_url, None, &form);
    let ((rs, rv), (cs, cv)) = tokio::join!(refresh, change);
    assert_eq!(cs, StatusCode::OK, "{cv}");
    // Whatever the refresh got, nothing of the old family works now.
    let mut candidates = vec![rt1.clone()];
    if rs == StatusCode::OK {
        candidates.push(rv["refresh_token"].as_str().unwrap().to_owned());
    }
    for rt in candidates {
        let (s, v) = t.refresh(&c, &rt).await;
        assert_eq!(
            (s, err_code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_grant")
        );
    }
}
