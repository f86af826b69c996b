use super::*;
use serde_json::json;

pub(super) fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn resolve(p: Preset, v: &[(&str, &str)]) -> Result<Endpoints, Invalid> {
    resolve_endpoints(
        p,
        p.quirks().grants[0],
        &vars(v),
        &Overrides::default(),
        None,
        OutboundPolicy::PUBLIC,
    )
}

#[test]
fn maximizer_urls_are_the_seeds() {
    let e = resolve(
        Preset::Maximizer,
        &[("region", "caw"), ("company_alias", "whitecaps")],
    )
    .unwrap();
    assert_eq!(
        e.authorize.as_deref(),
        Some("https://caw.maximizercrmlive.com/OAuth2/whitecaps/Authorize")
    );
    assert_eq!(
        e.token,
        "https://caw.maximizercrmlive.com/OAuth2/whitecaps/Token"
    );
    assert_eq!(e.refresh_url(), e.token);
    assert_eq!(e.revocation, None);
    let q = Preset::Maximizer.quirks();
    assert!(!q.pkce);
    assert_eq!(q.state, StateCharset::Alphanumeric);
    assert!(q.refresh_sends_redirect_uri);
    assert_eq!(q.account_label_params, &["login_hint"]);
    assert_eq!(q.default_expires_in, 600);
    assert_eq!(
        (q.token_auth, q.refresh_auth),
        (ClientAuth::Body, ClientAuth::Body)
    );
    assert!(q.single_use_refresh);
    assert_eq!(q.refresh_token_idle, Some(180 * 86400));
    assert!(q.background_refresh_after.unwrap() < 180 * 86400 / 2 + 1);
    assert_eq!(q.secret, SecretRule::Required);
}

#[test]
fn maximizer_on_premise_urls_are_the_seeds() {
    let e = resolve(Preset::MaximizerOnPremise, &[("server", "crm.example.com")]).unwrap();
    assert_eq!(
        e.authorize.as_deref(),
        Some("https://crm.example.com/MaximizerWebAuthentication/OAuth2/Authorize")
    );
    assert_eq!(
        e.token,
        "https://crm.example.com/MaximizerWebAuthentication/OAuth2/Token"
    );
    let q = Preset::MaximizerOnPremise.quirks();
    assert_eq!(q.state, StateCharset::Alphanumeric);
    assert!(q.refresh_sends_redirect_uri && !q.pkce);
}

#[test]
fn profix_urls_and_quirks_are_the_seeds() {
    let e = resolve(Preset::Profix, &[]).unwrap();
    assert_eq!(
        e.authorize.as_deref(),
        Some("https://api.profix-it.nl/Authorization")
    );
    assert_eq!(e.token, "https://api.profix-it.nl/token");
    assert_eq!(
        e.password_change.as_deref(),
        Some("https://api.profix-it.nl/token/ChangePassword")
    );
    let q = Preset::Profix.quirks();
    assert!(q.accepts_token("XTzM!IAAAACbPTzQJXwFhM"));
    assert!(q.accepts_token("__1P!IAAAAB"));
    assert!(!q.accepts_token("a b"));
    assert!(!Preset::Keap.quirks().accepts_token("XTzM!IAAAACb"));
    assert!(!q.code_sends_redirect_uri);
    assert_eq!(q.password_change_marker, Some("RequireChangePassword"));
    assert_eq!(
        choose_grant(Preset::Profix, None),
        Ok(UpstreamGrant::AuthorizationCode)
    );
    assert_eq!(
        choose_grant(Preset::Profix, Some("password")),
        Ok(UpstreamGrant::Password)
    );
    assert_eq!(
        choose_grant(Preset::Profix, Some("client_credentials")),
        Ok(UpstreamGrant::ClientCredentials)
    );
    assert!(choose_grant(Preset::Profix, Some("implicit")).is_err());
    assert_eq!(q.default_expires_in, 600);
}

#[test]
fn profix_change_password_url_follows_a_given_token_url_or_its_own_override() {
    let none = BTreeMap::new();
    let pol = OutboundPolicy::LOCAL;
    let g = UpstreamGrant::Password;
    let token = |t: &str| Overrides {
        token: Some(t.into()),
        ..Overrides::default()
    };
    let e = resolve_endpoints(
        Preset::Profix,
        g,
        &none,
        &token("http://127.0.0.1:9/t/token/"),
        None,
        pol,
    )
    .unwrap();
    assert_eq!(
        e.password_change.as_deref(),
        Some("http://127.0.0.1:9/t/token/ChangePassword")
    );
    let o = Overrides {
        password_change: Some("http://127.0.0.1:9/cp".into()),
        ..token("http://127.0.0.1:9/t/token")
    };
    let e = resolve_endpoints(Preset::Profix, g, &none, &o, None, pol).unwrap();
    assert_eq!(e.password_change.as_deref(), Some("http://127.0.0.1:9/cp"));
    // Checked like every endpoint, and only for presets with the step.
    let o = Overrides {
        password_change: Some("https://169.254.169.254/cp".into()),
        ..Overrides::default()
    };
    assert!(resolve_endpoints(Preset::Profix, g, &none, &o, None, pol).is_err());
    let o = Overrides {
        password_change: Some("https://as.example.com/cp".into()),
        ..token("https://as.example.com/token")
    };
    assert!(resolve_endpoints(Preset::OAuth2, g, &none, &o, None, pol).is_err());
}

#[test]
fn keap_refreshes_with_basic_and_knows_its_dead_grant() {
    let e = resolve(Preset::Keap, &[]).unwrap();
    assert_eq!(
        e.authorize.as_deref(),
        Some("https://accounts.infusionsoft.com/app/oauth/authorize")
    );
    assert_eq!(e.token, "https://api.infusionsoft.com/token");
    let q = Preset::Keap.quirks();
    assert_eq!(
        (q.token_auth, q.refresh_auth),
        (ClientAuth::Body, ClientAuth::Basic)
    );
    assert_eq!(q.scopes(&[]), vec!["full".to_owned()]);
    assert_eq!(q.account_label_params, &["scope"]);
    assert!(q.is_dead_grant("invalid_request", Some("Invalid Refresh Token")));
    assert!(q.is_dead_grant("invalid_request", Some("invalid refresh token")));
    assert!(q.is_dead_grant("invalid_grant", None));
    assert!(!q.is_dead_grant("invalid_request", Some("Missing parameter")));
    assert!(!q.is_dead_grant("invalid_request", None));
    assert!(!q.is_dead_grant("temporarily_unavailable", None));
    assert_eq!(q.background_refresh_after, Some(30 * 86400));
    assert_eq!(q.refresh_token_idle, Some(45 * 86400));
    // Plain OAuth 2.0 knows only invalid_grant.
    assert!(
        !Preset::OAuth2
            .quirks()
            .is_dead_grant("invalid_request", Some("Invalid Refresh Token"))
    );
    assert!(choose_grant(Preset::Keap, Some("password")).is_err());
}

#[test]
fn b2c_ropc_is_a_public_password_client_with_offline_access() {
    let e = resolve(
        Preset::B2cRopc,
        &[("tenant", "maxcustomerportal"), ("policy", "B2C_1_ROPC")],
    )
    .unwrap();
    assert_eq!(
        e.token,
        "https://maxcustomerportal.b2clogin.com/maxcustomerportal.onmicrosoft.com/B2C_1_ROPC/oauth2/v2.0/token"
    );
    assert_eq!(e.authorize, None);
    let q = Preset::B2cRopc.quirks();
    assert_eq!(q.grants, &[UpstreamGrant::Password]);
    assert_eq!(
        (q.token_auth, q.refresh_auth),
        (ClientAuth::None, ClientAuth::None)
    );
    let api = "https://maxcustomerportal.onmicrosoft.com/ea/api".to_owned();
    assert_eq!(
        q.scopes(std::slice::from_ref(&api)),
        vec![api, "offline_access".to_owned()]
    );
    assert!(
        scopes_for(Preset::B2cRopc, &[]).is_err(),
        "the API scope is required"
    );
    assert_eq!(scopes_for(Preset::Keap, &[]), Ok(vec!["full".to_owned()]));
    assert_eq!(scopes_for(Preset::Oidc, &[]), Ok(vec!["openid".to_owned()]));
    assert!(check_secret(Preset::B2cRopc, true).is_err());
    assert!(check_secret(Preset::B2cRopc, false).is_ok());
    assert!(check_secret(Preset::Maximizer, false).is_err());
    assert!(check_secret(Preset::OAuth2, false).is_ok());
    assert_eq!(q.background_refresh_after, Some(7 * 86400));
    assert!(q.background_refresh_after < q.refresh_token_idle);
}

#[test]
fn expires_in_is_read_leniently_with_a_default_per_preset() {
    // One reader for every answer (`upstream_refresh::expires_in`): refusing
    // an answer that carried a rotated refresh token would burn it, so
    // anything unreadable is the preset's default.
    use crate::domain::upstream_refresh::{MAX_EXPIRES_IN, expires_in};
    let d = Preset::B2cRopc.quirks().default_expires_in;
    assert_eq!(expires_in(Some(&json!("3600")), d), 3600);
    assert_eq!(expires_in(Some(&json!(3600)), d), 3600);
    assert_eq!(expires_in(None, 600), 600);
    assert_eq!(expires_in(Some(&json!(null)), 600), 600);
    for bad in [json!(-1), json!("1e3"), json!(""), json!([1]), json!(true)] {
        assert_eq!(expires_in(Some(&bad), 600), 600, "{bad}");
    }
    assert_eq!(expires_in(Some(&json!(u64::MAX)), 600), MAX_EXPIRES_IN);
}

#[test]
fn oidc_takes_the_discovered_endpoints_and_oauth2_the_given_ones() {
    let d = Discovered {
        issuer: "https://idp.example.com".into(),
        authorize: Some("https://idp.example.com/auth".into()),
        token: Some("https://idp.example.com/token".into()),
        revocation: Some("https://idp.example.com/revoke".into()),
        jwks_uri: Some("https://idp.example.com/jwks".into()),
    };
    let none = BTreeMap::new();
    let pol = OutboundPolicy::PUBLIC;
    let e = resolve_endpoints(
        Preset::Oidc,
        Preset::Oidc.quirks().grants[0],
        &none,
        &Overrides::default(),
        Some(&d),
        pol,
    )
    .unwrap();
    assert_eq!(e.token, "https://idp.example.com/token");
    assert_eq!(e.issuer.as_deref(), Some("https://idp.example.com"));
    assert_eq!(
        e.revocation.as_deref(),
        Some("https://idp.example.com/revoke")
    );
    assert!(
        resolve_endpoints(
            Preset::Oidc,
            Preset::Oidc.quirks().grants[0],
            &none,
            &Overrides::default(),
            None,
            pol
        )
        .is_err()
    );
    assert!(
        resolve_endpoints(
            Preset::Keap,
            Preset::Keap.quirks().grants[0],
            &none,
            &Overrides::default(),
            Some(&d),
            pol
        )
        .is_err()
    );
    assert!(
        resolve(Preset::OAuth2, &[]).is_err(),
        "oauth2 needs its endpoints"
    );
    let o = Overrides {
        authorize: Some("https://as.example.com/authorize".into()),
        token: Some("https://as.example.com/token".into()),
        refresh: Some("https://as.example.com/refresh".into()),
        revocation: None,
        password_change: None,
    };
    let e = resolve_endpoints(
        Preset::OAuth2,
        Preset::OAuth2.quirks().grants[0],
        &none,
        &o,
        None,
        pol,
    )
    .unwrap();
    // A client credentials provider needs no authorize URL.
    let cc = Overrides {
        token: Some("https://as.example.com/token".into()),
        ..Overrides::default()
    };
    let g = UpstreamGrant::ClientCredentials;
    let e2 = resolve_endpoints(Preset::OAuth2, g, &none, &cc, None, pol).unwrap();
    assert_eq!(e2.authorize, None);
    let g = UpstreamGrant::AuthorizationCode;
    assert!(resolve_endpoints(Preset::OAuth2, g, &none, &cc, None, pol).is_err());
    assert_eq!(e.refresh_url(), "https://as.example.com/refresh");
    // An override keeps the preset's other quirks (a proxy, a test server).
    let e = resolve_endpoints(
        Preset::Keap,
        Preset::Keap.quirks().grants[0],
        &none,
        &o,
        None,
        pol,
    )
    .unwrap();
    assert_eq!(e.token, "https://as.example.com/token");
    assert!(check_sign_in(Preset::Oidc, UpstreamGrant::AuthorizationCode, true).is_ok());
    assert!(check_sign_in(Preset::Keap, UpstreamGrant::AuthorizationCode, true).is_err());
    assert!(check_sign_in(Preset::B2cRopc, UpstreamGrant::Password, true).is_err());
}

#[test]
fn names_are_slugs_without_a_scheme() {
    for ok in ["maximizer", "acme-keap", "b2c2", "a"] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "Max",
        "1max",
        "https://x",
        "a:b",
        "a/b",
        "a--b",
        "a-",
        "-a",
        "a b",
        "a.b",
        &"a".repeat(MAX_NAME + 1),
    ] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    assert_eq!(upstream_scope("keap"), "upstream:keap");
    assert!(crate::domain::scope::parse(&upstream_scope("acme-keap")).is_ok());
}

#[test]
fn vars_are_exactly_the_presets_and_required() {
    assert!(resolve(Preset::Maximizer, &[("region", "caw")]).is_err());
    assert!(
        resolve(
            Preset::Maximizer,
            &[("region", "caw"), ("company_alias", "x"), ("extra", "y")]
        )
        .is_err()
    );
    assert!(resolve(Preset::Keap, &[("region", "caw")]).is_err());
    assert!(fill_template("https://{a}.example.com/{b", &vars(&[("a", "x")])).is_err());
}
