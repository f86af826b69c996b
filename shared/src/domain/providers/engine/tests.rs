use super::*;
use crate::domain::outbound::OutboundPolicy;
use crate::domain::providers::{Endpoints, Overrides, Preset, resolve_endpoints};
use crate::ids::TenantId;
use serde_json::json;
use std::collections::BTreeMap;

fn provider(preset: Preset, vars: &[(&str, &str)], scopes: &[&str]) -> Provider {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let grant = preset.quirks().grants[0];
    let overrides = Overrides {
        authorize: Some("https://up.example.com/authorize".into()),
        token: Some("https://up.example.com/token".into()),
        ..Overrides::default()
    };
    let endpoints = match preset {
        Preset::OAuth2 | Preset::Oidc => resolve_endpoints(
            preset,
            grant,
            &vars,
            &overrides,
            None,
            OutboundPolicy::PUBLIC,
        )
        .unwrap_or(Endpoints {
            authorize: Some("https://up.example.com/authorize".into()),
            token: "https://up.example.com/token".into(),
            ..Endpoints::default()
        }),
        _ => resolve_endpoints(
            preset,
            grant,
            &vars,
            &Overrides::default(),
            None,
            OutboundPolicy::PUBLIC,
        )
        .unwrap(),
    };
    Provider {
        tenant: TenantId::parse("acme").unwrap(),
        name: "up".into(),
        preset,
        vars,
        endpoints,
        client_id: "cid".into(),
        has_client_secret: true,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        grant,
        display_name: "Up".into(),
        sign_in: false,
        create_users: false,
        created_at: 0,
    }
}

fn maximizer() -> Provider {
    provider(
        Preset::Maximizer,
        &[("region", "caw"), ("company_alias", "whitecaps")],
        &[],
    )
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn answer(status: u16, body: serde_json::Value) -> HttpAnswer {
    HttpAnswer {
        status,
        body: body.to_string().into_bytes(),
        retry_after: None,
    }
}

fn query(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn maximizer_authorize_has_an_alphanumeric_state_and_no_pkce() {
    let p = maximizer();
    let state = new_state(p.quirks());
    assert!(state.len() >= 22 && state.bytes().all(|c| c.is_ascii_alphanumeric()));
    let url = authorize_url(&p, "https://tg/cb", &state, Some("challenge")).unwrap();
    assert!(url.starts_with("https://caw.maximizercrmlive.com/OAuth2/whitecaps/Authorize?"));
    let q = query(&url);
    assert_eq!(q["client_id"], "cid");
    assert_eq!(q["redirect_uri"], "https://tg/cb");
    assert_eq!(q["state"], state);
    assert!(!q.contains_key("code_challenge"), "Maximizer has no PKCE");
}

#[test]
fn oauth2_authorize_sends_pkce_s256_and_the_scopes() {
    let p = provider(Preset::OAuth2, &[], &["read", "write"]);
    let (verifier, challenge) = new_pkce();
    assert!((43..=128).contains(&verifier.len()));
    let url = authorize_url(&p, "https://tg/cb", "st", Some(&challenge)).unwrap();
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge"], pkce_challenge(&verifier));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "read write");
}

#[test]
fn a_code_is_redeemed_with_the_presets_auth_and_redirect_rules() {
    let s = secret("sec ret");
    let client = UpstreamClient {
        id: "cid",
        secret: Some(&s),
    };
    let p = maximizer();
    let c = code_call(&p, &client, "co!de", "https://tg/cb", Some("v"));
    assert_eq!(
        c.url,
        "https://caw.maximizercrmlive.com/OAuth2/whitecaps/Token"
    );
    assert_eq!(c.form.get("grant_type"), Some("authorization_code"));
    assert_eq!(c.form.get("code"), Some("co!de"));
    assert_eq!(c.form.get("redirect_uri"), Some("https://tg/cb"));
    assert_eq!(c.form.get("client_secret"), Some("sec ret"));
    assert_eq!(c.form.get("code_verifier"), None, "no PKCE at Maximizer");
    assert!(c.basic.is_none());
    assert!(c.form.encode().contains("code=co%21de"));

    let profix = provider(Preset::Profix, &[], &[]);
    let c = code_call(&profix, &client, "x", "https://tg/cb", None);
    assert_eq!(
        c.form.get("redirect_uri"),
        None,
        "Profix's code exchange has none"
    );
}

#[test]
fn keap_refreshes_with_basic_and_maximizer_resends_the_redirect_uri() {
    let s = secret("s:e/c");
    let client = UpstreamClient {
        id: "c id",
        secret: Some(&s),
    };
    let keap = provider(Preset::Keap, &[], &[]);
    let c = refresh_call(&keap, &client, &secret("rt"), "https://tg/cb");
    let (user, pass) = c.basic.as_ref().unwrap();
    assert_eq!(user, "c+id");
    assert_eq!(pass.expose_secret(), "s%3Ae%2Fc");
    assert_eq!(c.form.get("client_secret"), None);
    assert_eq!(c.form.get("refresh_token"), Some("rt"));
    let c = code_call(&keap, &client, "code", "https://tg/cb", None);
    assert!(
        c.basic.is_none(),
        "Keap's code exchange authenticates in the body"
    );

    let m = maximizer();
    let c = refresh_call(&m, &client, &secret("rt"), "https://tg/cb");
    assert_eq!(c.form.get("redirect_uri"), Some("https://tg/cb"));
}

#[test]
fn b2c_ropc_is_public_and_adds_offline_access() {
    let p = provider(
        Preset::B2cRopc,
        &[("tenant", "contoso"), ("policy", "B2C_1_ROPC")],
        &["https://contoso.onmicrosoft.com/api/read"],
    );
    let client = UpstreamClient {
        id: "cid",
        secret: None,
    };
    let c = password_call(&p, &client, "u@example.com", &secret("pw"));
    assert_eq!(c.form.get("client_id"), Some("cid"));
    assert_eq!(c.form.get("client_secret"), None);
    assert!(c.form.get("scope").unwrap().contains("offline_access"));
    assert_eq!(c.form.get("password"), Some("pw"));
}

#[test]
fn debug_shows_no_value() {
    let s = secret("TOPSECRET");
    let client = UpstreamClient {
        id: "cid",
        secret: Some(&s),
    };
    let c = password_call(&maximizer(), &client, "user", &secret("PASSWORD"));
    let d = format!("{c:?}");
    assert!(!d.contains("TOPSECRET") && !d.contains("PASSWORD"), "{d}");
    let a = read_token_answer(
        maximizer().quirks(),
        &answer(
            200,
            json!({"access_token": "ATOKEN", "refresh_token": "RTOKEN"}),
        ),
    )
    .unwrap();
    let d = format!("{a:?}");
    assert!(!d.contains("ATOKEN") && !d.contains("RTOKEN"), "{d}");
}

#[test]
fn answers_are_read_leniently() {
    let q = Preset::B2cRopc.quirks();
    let a = read_token_answer(
        q,
        &answer(
            200,
            json!({"access_token": "a", "expires_in": "3600", "token_type": "Bearer"}),
        ),
    )
    .unwrap();
    assert_eq!(a.expires_in, 3600);
    assert!(a.refresh_token.is_none());
    let m = maximizer();
    let a = read_token_answer(m.quirks(), &answer(200, json!({"access_token": "a"}))).unwrap();
    assert_eq!(a.expires_in, 600, "Maximizer's default");
    let profix = Preset::Profix.quirks();
    let a = read_token_answer(
        profix,
        &answer(
            200,
            json!({"access_token": "AAE!x", "refresh_token": "__1P!IAAA", "expires_in": 600, "token_type": "bearer"}),
        ),
    )
    .unwrap();
    assert_eq!(a.refresh_token.unwrap().expose_secret(), "__1P!IAAA");
}

#[test]
fn dead_grants_follow_the_preset() {
    let keap = Preset::Keap.quirks();
    let dead = answer(
        400,
        json!({"error": "invalid_request", "error_description": "Invalid Refresh Token"}),
    );
    assert_eq!(
        read_token_answer(keap, &dead).unwrap_err(),
        Refusal::Dead {
            reason: "invalid_request".into()
        }
    );
    let other = answer(
        400,
        json!({"error": "invalid_request", "error_description": "missing x"}),
    );
    assert!(matches!(
        read_token_answer(keap, &other).unwrap_err(),
        Refusal::Transient { .. }
    ));
    let m = maximizer();
    assert_eq!(
        read_token_answer(m.quirks(), &answer(400, json!({"error": "invalid_grant"}))).unwrap_err(),
        Refusal::Dead {
            reason: "invalid_grant".into()
        }
    );
}

#[test]
fn anything_odd_is_transient() {
    let q = maximizer();
    let q = q.quirks();
    let html = HttpAnswer {
        status: 500,
        body: b"<html>oops</html>".to_vec(),
        retry_after: Some(7),
    };
    assert_eq!(
        read_token_answer(q, &html).unwrap_err(),
        Refusal::Transient {
            class: "server_error",
            retry_after: Some(7)
        }
    );
    let ok_html = HttpAnswer {
        status: 200,
        body: b"<html>login</html>".to_vec(),
        retry_after: None,
    };
    assert!(matches!(
        read_token_answer(q, &ok_html).unwrap_err(),
        Refusal::Transient {
            class: "malformed_answer",
            ..
        }
    ));
    let redirect = answer(302, json!({}));
    assert!(matches!(
        read_token_answer(q, &redirect).unwrap_err(),
        Refusal::Transient {
            class: "redirected",
            ..
        }
    ));
    let limited = HttpAnswer {
        retry_after: Some(30),
        ..answer(429, json!({"error": "slow_down"}))
    };
    assert_eq!(
        read_token_answer(q, &limited).unwrap_err(),
        Refusal::Transient {
            class: "rate_limited",
            retry_after: Some(30)
        }
    );
    for bad in [
        json!({"access_token": 5}),
        json!({"access_token": "has space"}),
        json!({"access_token": "a", "refresh_token": ["x"]}),
        json!({"access_token": "a", "token_type": "mac"}),
        json!({"refresh_token": "r"}),
    ] {
        assert!(
            matches!(
                read_token_answer(q, &answer(200, bad.clone())),
                Err(Refusal::Transient { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn profix_asks_for_a_password_change() {
    let q = Preset::Profix.quirks();
    assert_eq!(
        read_token_answer(
            q,
            &answer(200, json!({"userid": "123", "RequireChangePassword": true}))
        )
        .unwrap_err(),
        Refusal::PasswordChangeRequired {
            user_id: Some("123".into())
        }
    );
    // Tollgate standing in for Profix answers it with 400 invalid_grant: the
    // marker wins over the error code (not a dead grant).
    let tollgate = json!({"error": "invalid_grant", "error_description": "password change required",
        "userid": "u_42", "RequireChangePassword": true});
    assert_eq!(
        read_token_answer(q, &answer(400, tollgate.clone())).unwrap_err(),
        Refusal::PasswordChangeRequired {
            user_id: Some("u_42".into())
        }
    );
    // Only where the preset has the marker, and never on a 5xx.
    assert!(matches!(
        read_token_answer(Preset::OAuth2.quirks(), &answer(400, tollgate.clone())),
        Err(Refusal::Dead { .. })
    ));
    assert!(matches!(
        read_token_answer(q, &answer(500, tollgate)),
        Err(Refusal::Transient { .. })
    ));
    // A userid that is no printable word is not passed on.
    assert_eq!(
        read_token_answer(
            q,
            &answer(
                400,
                json!({"userid": "a b\n", "RequireChangePassword": "true"})
            )
        )
        .unwrap_err(),
        Refusal::PasswordChangeRequired { user_id: None }
    );
}

#[test]
fn change_password_answers_are_judged_and_messages_bounded() {
    let raw = |status: u16, body: &str| HttpAnswer {
        status,
        body: body.as_bytes().to_vec(),
        retry_after: Some(7),
    };
    assert_eq!(
        read_password_change_answer(&answer(
            200,
            json!({"success": true, "message": "You can now login"})
        )),
        PasswordChange::Changed
    );
    assert_eq!(
        read_password_change_answer(&answer(
            400,
            json!({"success": false, "message": "Too\n short\u{202e}!\t"})
        )),
        PasswordChange::Refused {
            message: "Too short!".into()
        }
    );
    let long = "é".repeat(5000);
    match read_password_change_answer(&answer(200, json!({"success": false, "message": long}))) {
        PasswordChange::Refused { message } => {
            assert_eq!(message.chars().count(), MAX_MESSAGE + 1);
            assert!(message.ends_with('…'));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        read_password_change_answer(&answer(400, json!({"success": false}))),
        PasswordChange::Refused {
            message: "no reason given".into()
        }
    );
    // A 200 that does not say success, a success on an error status, HTML,
    // a redirect, 429 and 5xx are no success and carry no upstream text.
    for (a, class) in [
        (answer(200, json!({"message": "ok"})), "malformed_answer"),
        (answer(500, json!({"success": true})), "server_error"),
        (raw(200, "<html>ok</html>"), "malformed_answer"),
        (raw(302, ""), "redirected"),
        (raw(502, "<html>bad gateway</html>"), "server_error"),
        (raw(404, "not found"), "client_error"),
    ] {
        match read_password_change_answer(&a) {
            PasswordChange::Transient { class: c, .. } => assert_eq!(c, class, "{a:?}"),
            other => panic!("{a:?}: {other:?}"),
        }
    }
    assert_eq!(
        read_password_change_answer(&raw(429, r#"{"success": false, "message": "slow down"}"#)),
        PasswordChange::Transient {
            class: "rate_limited",
            retry_after: Some(7)
        }
    );
}

#[test]
fn account_labels_are_bounded_and_printable() {
    let q = maximizer();
    let q = q.quirks();
    assert_eq!(
        account_label(q, |n| (n == "login_hint").then_some("jane@acme")),
        Some("jane@acme".into())
    );
    assert_eq!(account_label(q, |_| Some("a\nb")), None);
    let long = "x".repeat(MAX_LABEL + 1);
    assert_eq!(account_label(q, |_| Some(long.as_str())), None);
}

#[test]
fn an_openid_provider_asked_for_offline_access_gets_prompt_consent() {
    let mut p = provider(Preset::Oidc, &[], &["openid", "offline_access"]);
    let q = query(&authorize_url(&p, "https://tg/cb", "st", Some("c")).unwrap());
    assert_eq!(q["prompt"], "consent");
    p.scopes = vec!["openid".into()];
    let q = query(&authorize_url(&p, "https://tg/cb", "st", Some("c")).unwrap());
    assert!(!q.contains_key("prompt"));
    // Not an OpenID provider: no prompt.
    let m = maximizer();
    let q = query(&authorize_url(&m, "https://tg/cb", "st", None).unwrap());
    assert!(!q.contains_key("prompt"));
}
