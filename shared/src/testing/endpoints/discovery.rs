//! Discovery: RFC 8414 / OIDC metadata at both paths, and the JWKS.

use super::*;

#[tokio::test]
async fn metadata_names_every_endpoint_by_its_real_url_with_the_required_fields() {
    let w = World::new();
    for path in [
        "/oauth2/acme/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/oauth2/acme",
        "/OAuth2/acme/.well-known/openid-configuration",
    ] {
        let r = w.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r.header("cache-control").unwrap().starts_with("public"));
        let m = r.json();
        assert_eq!(m["issuer"], ISSUER, "{path}");
        assert_eq!(
            m["authorization_endpoint"],
            "https://fn.example/authorize/oauth2/acme/authorize"
        );
        assert_eq!(
            m["token_endpoint"],
            "https://fn.example/token/oauth2/acme/token"
        );
        assert_eq!(
            m["jwks_uri"],
            "https://fn.example/discovery/oauth2/acme/jwks.json"
        );
        assert_eq!(
            m["refresh_endpoint"],
            "https://fn.example/refresh/oauth2/acme/refresh"
        );
        assert_eq!(
            m["change_password_endpoint"],
            "https://fn.example/change-password/oauth2/acme/token/changepassword"
        );
        assert_eq!(
            m["userinfo_endpoint"],
            "https://fn.example/userinfo/oauth2/acme/userinfo"
        );
        // The user's upstream connections: on the userinfo function too.
        assert_eq!(
            m["connections_endpoint"],
            "https://fn.example/userinfo/oauth2/acme/connections"
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
        assert_eq!(m["subject_types_supported"], serde_json::json!(["public"]));
        let listed = |field: &str, v: &str| {
            m[field]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == v))
        };
        assert!(listed("response_types_supported", "code"));
        for g in [
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ] {
            assert!(listed("grant_types_supported", g), "{g}");
        }
        for a in ["client_secret_basic", "client_secret_post", "none"] {
            assert!(listed("token_endpoint_auth_methods_supported", a), "{a}");
        }
    }
}

#[tokio::test]
async fn jwks_publishes_the_key_that_verifies_issued_tokens() {
    let w = World::new();
    let app = w.client(&[Grant::ClientCredentials], |_| {});
    let r = w.get("/oauth2/acme/jwks.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&r.body).unwrap();
    assert!(!r.body.contains("\"d\""), "no private key material");
    let t = w.token(&app, &[("grant_type", "client_credentials")]).await;
    let jwt = t.json()["access_token"].as_str().unwrap().to_owned();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_aud = false;
    v.validate_exp = false;
    v.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(&jwt, &key, &v).unwrap();
}

#[tokio::test]
async fn unknown_tenant_has_no_metadata_and_no_jwks() {
    let w = World::new();
    for path in [
        "/oauth2/nobody/.well-known/openid-configuration",
        "/oauth2/nobody/jwks.json",
        "/oauth2/acme/nothing-here",
    ] {
        assert_eq!(w.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}
