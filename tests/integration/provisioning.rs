//! The provisioning flags of the new features (SPEC: Provisioning CLI):
//! `tenant create --sliding-max`, `client create --web-origin` and
//! `--introspect`. Bad input: one line on stderr, a non-zero exit, nothing
//! written; good input: one JSON object on stdout.

use crate::helpers::*;
use reqwest::StatusCode;

/// A failed command: exactly one line on stderr (the harness checks that
/// stdout is empty).
fn assert_refused(r: Result<serde_json::Value, String>, what: &str) {
    let err = r.expect_err(what);
    assert_eq!(err.trim().lines().count(), 1, "{what}: one line: {err:?}");
}

async fn item_count(t: &TestTenant) -> usize {
    db().await.tenant_items(&t.tenant_id()).await.unwrap().len()
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn sliding_max_is_between_the_access_token_lifetime_and_30_days() {
    for (what, extra) in [
        (
            "below the default lifetime (600 s)",
            vec!["--sliding-max", "599"],
        ),
        (
            "below the tenant's lifetime",
            vec!["--access-token-ttl", "120", "--sliding-max", "119"],
        ),
        ("zero", vec!["--sliding-max", "0"]),
        ("over 30 days", vec!["--sliding-max", "2592001"]),
        ("not a number", vec!["--sliding-max", "1h"]),
        ("negative", vec!["--sliding-max", "-5"]),
    ] {
        let alias = random_alias();
        let mut a = args(&["tenant", "create", &alias]);
        a.extend(args(&extra));
        assert_refused(admin_async(a, None).await, what);
        // Nothing was written: the alias is still free.
        admin_async(args(&["tenant", "create", &alias]), None)
            .await
            .unwrap_or_else(|e| panic!("{what}: the alias was taken: {e}"));
    }
    for extra in [
        vec!["--sliding-max", "600"],
        vec!["--sliding-max", "86400"],
        vec!["--access-token-ttl", "60", "--sliding-max", "60"],
        vec!["--sliding-max", "2592000"],
    ] {
        let alias = random_alias();
        let mut a = args(&["tenant", "create", &alias]);
        a.extend(args(&extra));
        let v = admin_async(a, None).await.unwrap();
        assert_eq!(v["tenant"], alias, "{extra:?}");
    }
}

#[tokio::test]
async fn web_origin_must_be_an_origin() {
    let t = TestTenant::new().await;
    let before = item_count(&t).await;
    for bad in [
        "https://app.example/path",
        "https://app.example/?q=1",
        "https://app.example/#x",
        "https://user@app.example",
        "http://app.example",
        "ftp://app.example",
        "app.example",
        "null",
        "*",
        "HTTPS://APP.EXAMPLE",
        "https://app.example\nhttps://evil.example",
        "",
    ] {
        let r = admin_async(
            args(&[
                "client",
                "create",
                "--tenant",
                &t.alias,
                "--name",
                "Web",
                "--grant",
                "password",
                "--public",
                "--web-origin",
                bad,
            ]),
            None,
        )
        .await;
        assert_refused(r, &format!("--web-origin {bad:?}"));
    }
    assert_eq!(item_count(&t).await, before, "nothing was written");
    for good in [
        "https://app.example",
        "https://app.example:8443",
        "http://127.0.0.1:3000",
        "http://localhost:8080",
        "http://[::1]:5173",
    ] {
        t.client(&["--grant", "password", "--public", "--web-origin", good])
            .await;
    }
}

#[tokio::test]
async fn web_origin_with_a_trailing_slash_is_stored_as_the_origin_browsers_send() {
    let t = TestTenant::new().await;
    let c = t
        .client(&[
            "--grant",
            "client_credentials",
            "--scope",
            "api",
            "--web-origin",
            "https://slash.example/",
            "--web-origin",
            "https://second.example",
        ])
        .await;
    for origin in ["https://slash.example", "https://second.example"] {
        let a = t
            .client_post(
                &t.token_url(),
                Auth::Basic(&c),
                &[("grant_type", "client_credentials")],
                &[("origin", origin)],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert_eq!(
            a.header("access-control-allow-origin"),
            Some(origin),
            "{a:?}"
        );
    }
}

#[tokio::test]
async fn introspect_flag_is_for_confidential_clients_only() {
    let t = TestTenant::new().await;
    let before = item_count(&t).await;
    let r = admin_async(
        args(&[
            "client",
            "create",
            "--tenant",
            &t.alias,
            "--name",
            "RS",
            "--grant",
            "password",
            "--public",
            "--introspect",
        ]),
        None,
    )
    .await;
    assert_refused(r, "--public --introspect");
    assert_eq!(item_count(&t).await, before, "nothing was written");
    let v = admin_async(
        args(&[
            "client",
            "create",
            "--tenant",
            &t.alias,
            "--name",
            "RS",
            "--grant",
            "client_credentials",
            "--introspect",
        ]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(v["client_id"].as_str().unwrap().len(), 20, "{v}");
    assert_eq!(v["client_secret"].as_str().unwrap().len(), 64, "{v}");
}
