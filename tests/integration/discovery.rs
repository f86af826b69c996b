//! Discovery: per-tenant metadata at both paths, JWKS, 404 for unknown tenants.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn get(url: &str) -> (StatusCode, Value) {
    let r = stack().http.get(url).send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

fn oidc_url(t: &TestTenant) -> String {
    t.url("discovery", ".well-known/openid-configuration")
}

#[tokio::test]
async fn metadata_lists_real_endpoints_and_required_fields() {
    let t = TestTenant::new().await;
    let (s, m) = get(&oidc_url(&t)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["issuer"], t.issuer());
    assert_eq!(m["authorization_endpoint"], t.url("authorize", "authorize"));
    assert_eq!(m["token_endpoint"], t.token_url());
    assert_eq!(m["refresh_endpoint"], t.url("refresh", "refresh"));
    assert_eq!(
        m["change_password_endpoint"],
        t.url("change-password", "token/changepassword")
    );
    assert_eq!(m["jwks_uri"], t.url("discovery", "jwks.json"));
    // The user's upstream connections, on the userinfo function: reachable,
    // and asking for a Bearer token.
    assert_eq!(m["connections_endpoint"], t.url("userinfo", "connections"));
    let r = stack()
        .http
        .get(m["connections_endpoint"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        m["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    for f in [
        "response_types_supported",
        "subject_types_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
    ] {
        assert!(m[f].as_array().is_some_and(|a| !a.is_empty()), "{f}");
    }
    // Every advertised endpoint is reachable (answers something other than 404 on its route).
    for f in ["jwks_uri"] {
        let r = stack()
            .http
            .get(m[f].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{f}");
    }
}

#[tokio::test]
async fn rfc8414_path_serves_the_same_document() {
    let t = TestTenant::new().await;
    let (_, a) = get(&oidc_url(&t)).await;
    let rfc = format!(
        "{}/.well-known/oauth-authorization-server/oauth2/{}",
        stack().function_base("discovery"),
        t.alias
    );
    let (s, b) = get(&rfc).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a, b);
    // Fixed segments match without regard to case.
    let shouty = format!(
        "{}/OAuth2/{}/.Well-Known/OpenID-Configuration",
        stack().function_base("discovery"),
        t.alias
    );
    assert_eq!(get(&shouty).await.0, StatusCode::OK);
}

#[tokio::test]
async fn two_tenants_have_distinct_issuers_and_no_shared_kid() {
    let a = TestTenant::new().await;
    let b = TestTenant::new().await;
    let (_, ma) = get(&oidc_url(&a)).await;
    let (_, mb) = get(&oidc_url(&b)).await;
    assert_ne!(ma["issuer"], mb["issuer"]);
    let kids = |j: Value| -> Vec<String> {
        j["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let ka = kids(a.jwks().await);
    let kb = kids(b.jwks().await);
    assert!(!ka.is_empty() && !kb.is_empty());
    assert!(ka.iter().all(|k| !kb.contains(k)), "tenants share no key");
}

#[tokio::test]
async fn unknown_tenant_is_a_404_json_error() {
    for path in [
        format!(
            "/oauth2/{}/.well-known/openid-configuration",
            random_alias()
        ),
        format!("/oauth2/{}/jwks.json", random_alias()),
        "/oauth2/NOT_AN_ALIAS/jwks.json".to_owned(),
        "/nothing/here".to_owned(),
    ] {
        let (s, v) = get(&format!("{}{}", stack().function_base("discovery"), path)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(v["error"].is_string());
    }
}

#[tokio::test]
async fn jwks_has_only_public_key_material() {
    let t = TestTenant::new().await;
    let jwks = t.jwks().await;
    for k in jwks["keys"].as_array().unwrap() {
        assert!(k.get("d").is_none(), "no private exponent");
        assert_eq!(k["use"], "sig");
    }
}
