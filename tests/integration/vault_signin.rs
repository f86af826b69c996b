//! Federated sign-in ("Sign in with …", SPEC: Federated sign-in) with the
//! real node-oidc-provider of `tests/idp` as the OpenID provider (its
//! `tollgate-connector` client, PKCE S256 required, ES256 ID tokens), added
//! with `provider add --preset oidc --issuer … --sign-in`. Headless Chromium
//! meets the login page with the "Sign in with Partner ID" link (axe-clean in
//! every language at 360 and 1280 px), follows it, signs in at the provider's
//! dev login and consent pages and comes back to the app with Tollgate's code,
//! which redeems for the linked user; an unlinked subject ends on the page
//! that offers the password form (axe-clean too).

use crate::browser::{Driver, Session, Site};
use crate::helpers::*;
use crate::signin_page::AXE;
use crate::token_exchange::Idp;
use serde_json::{Value, json};
use std::time::Duration;

const PROVIDER: &str = "partner";
const CONNECTOR: &str = "tollgate-connector";
const IDP_SECRET: &str = "idp-secret-idp-secret-idp-secret-idp-secret-0000";
const FLOW: Duration = Duration::from_secs(240);

/// Through the provider's dev login (any name, any password) and consent.
async fn at_the_provider(b: &Session, idp: &Idp, login: &str) {
    b.wait_url(&format!("{}/interaction/", idp.issuer)).await;
    b.wait_for("input[name=prompt][value=login]").await;
    let name = b.wait_for("input[name=login]").await;
    b.type_into(&name, login).await;
    let password = b.wait_for("input[name=password]").await;
    b.type_into(&password, "any password").await;
    let go = b.wait_for("button.login-submit").await;
    b.click(&go).await;
    b.wait_for("input[name=prompt][value=consent]").await;
    let go = b.wait_for("button.login-submit").await;
    b.click(&go).await;
}

#[tokio::test]
async fn sign_in_with_node_oidc_provider_in_the_browser() {
    let site = Site::start().await;
    site.set_page("<!DOCTYPE html><title>App</title><p>Back in the app.</p>".into());
    let redirect_uri = format!("{}/", site.origin());
    let t = TestTenant::with(&["--name", "Acme"]).await;
    let callback_uri = format!(
        "{}/oauth2/{}/upstream/{PROVIDER}/callback",
        stack().function_base("callback"),
        t.alias
    );
    let idp = Idp::start_with(&[("IDP_REDIRECT_URIS", callback_uri.as_str())]);
    let added = admin_async(
        [
            "provider",
            "add",
            "--tenant",
            &t.alias,
            "--name",
            PROVIDER,
            "--preset",
            "oidc",
            "--issuer",
            &idp.issuer,
            "--client-id",
            CONNECTOR,
            "--client-secret-stdin",
            "--display-name",
            "Partner ID",
            "--sign-in",
        ]
        .map(str::to_owned)
        .to_vec(),
        Some(format!("{IDP_SECRET}\n")),
    )
    .await
    .unwrap();
    assert_eq!(added["sign_in"], true, "{added}");
    assert_eq!(added["callback_uri"], callback_uri);
    let app = t
        .client(&[
            "--name",
            "Bookings",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            &redirect_uri,
            "--scope",
            "openid",
        ])
        .await;
    let alice = t.user("alice", &["--name", "Alice"]).await;
    // `user link --issuer` takes the sign-in provider's issuer.
    admin(
        &[
            "user",
            "link",
            "--tenant",
            &t.alias,
            "--user-id",
            &alice,
            "--issuer",
            &idp.issuer,
            "--subject",
            "pat.partner",
        ],
        None,
    )
    .unwrap();
    let authorize = |lang: &str| {
        let mut u = url::Url::parse(&t.url("authorize", "authorize")).unwrap();
        u.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", "st-fed"),
            ("ui_locales", lang),
        ]);
        u.to_string()
    };
    let axe_src = std::fs::read_to_string(AXE).expect("node_modules/axe-core is missing");

    let driver = Driver::start();
    let browser = Session::new(&driver).await;
    let flow = async {
        let b = &browser;
        // The login page with the link: axe-clean in every language and width.
        for (lang, words) in [
            ("en", "Sign in with Partner ID"),
            ("fr", "Se connecter avec Partner ID"),
            ("nl", "Aanmelden met Partner ID"),
            ("de", "Mit Partner ID anmelden"),
        ] {
            b.go(&authorize(lang)).await;
            b.wait_for("nav.fed a").await;
            let text = b
                .script(
                    "return document.querySelector('nav.fed a').textContent;",
                    json!([]),
                )
                .await;
            assert_eq!(text, words);
            for width in [360, 1280] {
                b.viewport(width).await;
                let scroll = b
                    .script("return document.documentElement.scrollWidth;", json!([]))
                    .await;
                assert!(
                    scroll.as_u64().unwrap() <= u64::from(width),
                    "{lang} {width}"
                );
                let violations = b.axe(&axe_src).await;
                assert!(
                    violations.is_empty(),
                    "axe, {lang} at {width}px: {violations:#?}"
                );
            }
        }
        // Follow it: the provider, then back to the app with Tollgate's code.
        b.go(&authorize("en")).await;
        let link = b.wait_for("nav.fed a").await;
        b.click(&link).await;
        at_the_provider(b, &idp, "pat.partner").await;
        let back = b.wait_url(&redirect_uri).await;
        // An unlinked subject: the page offering the password form. (The
        // provider's session is ended first, so its login page shows again.)
        b.go(&format!("{}/.well-known/openid-configuration", idp.issuer))
            .await;
        b.cmd(reqwest::Method::DELETE, "/cookie", None)
            .await
            .unwrap();
        b.go(&authorize("en")).await;
        let link = b.wait_for("nav.fed a").await;
        b.click(&link).await;
        at_the_provider(b, &idp, "someone.else").await;
        b.wait_for("main p.err").await;
        let page: Value = b
            .script(
                "return [document.title, document.querySelector('main a').href];",
                json!([]),
            )
            .await;
        let violations = b.axe(&axe_src).await;
        assert!(violations.is_empty(), "axe, not linked: {violations:#?}");
        (back, page)
    };
    let outcome = tokio::time::timeout(FLOW, flow).await;
    browser.close().await;
    let (back, page) = outcome.unwrap_or_else(|_| {
        panic!(
            "the sign-in took over {FLOW:?}; chromedriver:\n{}",
            driver.log_tail()
        )
    });
    let q = query_of(&back);
    assert_eq!(param(&q, "error"), None, "{back}");
    assert_eq!(param(&q, "state").as_deref(), Some("st-fed"));
    assert_eq!(param(&q, "iss"), Some(t.issuer()));
    let code = param(&q, "code").unwrap();
    let (status, tokens) = t
        .token(
            Some(&app),
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(page[0], "No account linked", "{page}");
    let retry = page[1].as_str().unwrap();
    assert!(
        retry.starts_with(&t.url("authorize", "authorize")),
        "{retry}"
    );
    assert!(retry.contains("state=st-fed"), "{retry}");
}
