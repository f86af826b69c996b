//! The new routes (SPEC: Routes): introspect, revoke and userinfo are
//! reachable where discovery says, fixed segments match without regard to
//! case, unknown tenants and wrong methods get JSON errors, and the metadata
//! advertises each endpoint with its authentication methods.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn metadata_lists_the_new_endpoints_by_their_reachable_urls() {
    let w = World::new(&[]).await;
    let t = &w.t;
    let meta = send(
        stack()
            .http
            .get(t.url("discovery", ".well-known/openid-configuration")),
    )
    .await
    .json();
    assert_eq!(meta["introspection_endpoint"], t.introspect_url());
    assert_eq!(meta["revocation_endpoint"], t.revoke_url());
    assert_eq!(meta["userinfo_endpoint"], t.userinfo_url());
    let introspection = strings(&meta["introspection_endpoint_auth_methods_supported"]);
    for m in ["client_secret_basic", "client_secret_post"] {
        assert!(introspection.contains(&m), "{introspection:?}");
    }
    assert!(
        !introspection.contains(&"none"),
        "public clients cannot introspect: {introspection:?}"
    );
    let revocation = strings(&meta["revocation_endpoint_auth_methods_supported"]);
    for m in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(revocation.contains(&m), "{revocation:?}");
    }
    // The same document at the RFC 8414 path.
    let rfc8414 = send(stack().http.get(format!(
        "{}/.well-known/oauth-authorization-server/oauth2/{}",
        stack().function_base("discovery"),
        t.alias
    )))
    .await
    .json();
    assert_eq!(
        rfc8414["introspection_endpoint"],
        meta["introspection_endpoint"]
    );
    // Every advertised URL answers as that endpoint (not a 404).
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let url = |k: &str| meta[k].as_str().unwrap().to_owned();
    let a = t
        .client_post(
            &url("introspection_endpoint"),
            Auth::Basic(&w.rs),
            &[("token", &at)],
            &[],
        )
        .await;
    assert_eq!(
        (a.status, a.json()["active"].clone()),
        (StatusCode::OK, Value::Bool(true))
    );
    let a = send(stack().http.get(url("userinfo_endpoint")).bearer_auth(&at)).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    let a = t
        .client_post(
            &url("revocation_endpoint"),
            Auth::Basic(&w.app),
            &[("token", &at)],
            &[],
        )
        .await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, ""));
}

#[tokio::test]
async fn fixed_segments_match_without_regard_to_case() {
    let w = World::new(&[]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    let base = |f: &str| stack().function_base(f);
    let alias = &w.t.alias;
    let a =
        w.t.client_post(
            &format!("{}/OAuth2/{alias}/Introspect", base("introspect")),
            Auth::Basic(&w.rs),
            &[("token", &at)],
            &[],
        )
        .await;
    assert_eq!(
        (a.status, a.json()["active"].clone()),
        (StatusCode::OK, Value::Bool(true)),
        "{a:?}"
    );
    let a = send(
        stack()
            .http
            .get(format!("{}/OAUTH2/{alias}/UserInfo", base("userinfo")))
            .bearer_auth(&at),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    let a =
        w.t.client_post(
            &format!("{}/oauth2/{alias}/REVOKE", base("revoke")),
            Auth::Basic(&w.app),
            &[("token", &at)],
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(
        w.rs_sees(&at).await["active"],
        false,
        "revoked through /REVOKE"
    );
}

#[tokio::test]
async fn unknown_tenants_and_routes_are_404_json() {
    let w = World::new(&[]).await;
    let (at, _) = w.session(&w.app, FULL_SCOPE).await;
    for (f, tail) in [
        ("introspect", "introspect"),
        ("revoke", "revoke"),
        ("userinfo", "userinfo"),
    ] {
        for url in [
            format!(
                "{}/oauth2/t-no-such-tenant/{tail}",
                stack().function_base(f)
            ),
            format!(
                "{}/oauth2/{}/{tail}/extra",
                stack().function_base(f),
                w.t.alias
            ),
            format!("{}/oauth2/{}/token", stack().function_base(f), w.t.alias),
        ] {
            let req = stack().http.post(&url).form(&[("token", &at)]);
            let req = if f == "userinfo" {
                req.bearer_auth(&at)
            } else {
                req.basic_auth(&w.rs.id, w.rs.secret.as_deref())
            };
            let a = send(req).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{url}: {a:?}");
            assert_eq!(err_code(&a.json()), "invalid_request", "{url}");
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let w = World::new(&[]).await;
    let t = &w.t;
    for (url, method, allow) in [
        (t.introspect_url(), reqwest::Method::GET, "POST"),
        (t.revoke_url(), reqwest::Method::GET, "POST"),
        (t.revoke_url(), reqwest::Method::PUT, "POST"),
        (t.userinfo_url(), reqwest::Method::PUT, "GET, POST"),
        (t.userinfo_url(), reqwest::Method::DELETE, "GET, POST"),
    ] {
        let a = send(stack().http.request(method.clone(), &url)).await;
        assert_eq!(
            a.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {url}: {a:?}"
        );
        assert_eq!(a.header("allow"), Some(allow), "{method} {url}");
        assert_eq!(err_code(&a.json()), "invalid_request");
    }
}
