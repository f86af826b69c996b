//! A tenant deleted (and its alias re-created) while warm functions still
//! hold its record and its keys: no 500, and never a token signed with the
//! deleted tenant's keys once the new tenant's record is read.

use super::*;

fn cc_client(w: &World) -> App {
    w.client(&[Grant::ClientCredentials], |c| c.redirect_uris.clear())
}

fn stored_tenant(w: &World) -> Tenant {
    w.fakes.store.tenant_raw(&w.tenant).unwrap()
}

#[tokio::test]
async fn a_tenant_whose_signing_keys_are_being_deleted_answers_503_not_500() {
    let w = World::new();
    let app = cc_client(&w);
    // A warm function holds the tenant's record (not its key set) ...
    assert!(w.state.tenant(&w.tenant).await.unwrap().is_some());
    // ... while `tenant delete` marks the tenant and removes its secrets.
    let mut t = stored_tenant(&w);
    t.deleting = true;
    w.fakes.store.put_tenant_raw(&t);
    w.fakes
        .secrets
        .remove(&w.state.config.signing_key_secret(&w.tenant));
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error(), "temporarily_unavailable");
    assert!(r.header("retry-after").is_some(), "{}", r.body);
    // Once the record is read again, the tenant is gone: no tenant, no token.
    w.state.expire_records();
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
    let r = w.get("/oauth2/acme/jwks.json").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn a_recreated_tenant_is_never_signed_with_the_deleted_tenants_keys() {
    let w = World::new();
    let app = cc_client(&w);
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The function now holds the tenant's key set (for minutes). The alias
    // is deleted and created again: new keys, a new record.
    let fresh = KeySet::new(keys::generate(SigningAlg::ES256).unwrap(), T0);
    w.fakes.secrets.put(
        w.state.config.signing_key_secret(&w.tenant),
        serde_json::to_string(&fresh).unwrap(),
    );
    let mut t = stored_tenant(&w);
    t.public_jwks = fresh.public_jwks();
    t.current_kid = fresh.current.kid.clone();
    w.fakes.store.put_tenant_raw(&t);
    // 30 s later the function reads the new record; its key set is younger
    // than 5 minutes.
    w.state.expire_records();
    let r = w.token(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let jwt = r.json()["access_token"].as_str().unwrap().to_owned();
    let kid = jsonwebtoken::decode_header(&jwt).unwrap().kid.unwrap();
    assert_eq!(
        kid, fresh.current.kid,
        "signed with the new tenant's key, not the deleted one's"
    );
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(fresh.current.public_jwk.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.validate_aud = false;
    v.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap();
}
