//! The sign-in page people meet: its language (`ui_locales`, then
//! `Accept-Language`, kept through the callback), the tenant's branding, and
//! error pages in the browser's language.

use super::*;
use crate::domain::branding::{Branding, Logo, Rgb};

async fn authorize_with(w: &World, query: &[(&str, &str)], accept: Option<&str>) -> Resp {
    let uri = format!(
        "/oauth2/acme/authorize?{}",
        crate::web::response::encode_pairs(query)
    );
    let mut b = lambda_http::http::Request::builder().method("GET").uri(uri);
    if let Some(a) = accept {
        b = b.header("accept-language", a);
    }
    let req = b.body(Body::Empty).unwrap();
    Resp::from(handlers::authorize::handle(&w.state, req).await)
}

fn code_query(app: &App) -> Vec<(&str, &str)> {
    let mut q = code_request(app);
    q.push(("scope", "openid offline_access api"));
    q
}

#[tokio::test]
async fn ui_locales_wins_over_accept_language_and_the_callback_keeps_the_language() {
    let w = World::new();
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["api".into(), "openid".into(), "offline_access".into()];
    });
    w.alice();
    let mut q = code_query(&app);
    q.push(("ui_locales", "nl-BE fr"));
    let page = authorize_with(&w, &q, Some("de-DE,de;q=0.9")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<html lang=\"nl\">"));
    assert!(page.body.contains("Aanmelden bij Acme Inc"));
    assert!(page.body.contains("Aangemeld blijven"));
    // A wrong password: the form again, still in Dutch, whatever the
    // browser now says.
    let tx = page.form_tx();
    let req = form_request(
        "/oauth2/acme/callback",
        &[
            ("tx", &tx),
            ("username", "alice"),
            ("password", "wrong"),
            ("decision", "allow"),
        ],
        &[("origin", ORIGIN), ("accept-language", "en")],
    );
    let again = Resp::from(handlers::callback::handle(&w.state, req).await);
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.body.contains("<html lang=\"nl\">"));
    assert!(
        again
            .body
            .contains("Onjuiste gebruikersnaam of onjuist wachtwoord.")
    );
    assert!(again.body.contains("role=\"alert\""));
}

#[tokio::test]
async fn accept_language_chooses_when_ui_locales_names_nothing_known() {
    let w = World::new();
    let app = w.code_client();
    let mut q = code_query(&app);
    q.retain(|(k, _)| *k != "scope");
    q.push(("ui_locales", "ja"));
    let page = authorize_with(&w, &q, Some("es;q=1, de;q=0.8, fr;q=0.5")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<html lang=\"de\">"));
    assert!(page.body.contains("Bei Acme Inc anmelden"));
    let english = authorize_with(&w, &code_query(&w.code_client()), None).await;
    assert!(english.body.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn error_pages_speak_the_browsers_language() {
    let w = World::new();
    let r = authorize_with(
        &w,
        &[("response_type", "code"), ("client_id", "nope")],
        Some("fr-CA,fr;q=0.9,en;q=0.5"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("<html lang=\"fr\">"));
    assert!(r.body.contains("L’application (client_id) est inconnue."));
    // An expired or forged transaction: the callback cannot trust its
    // language, so the browser's.
    let req = form_request(
        "/oauth2/acme/callback",
        &[("tx", "forged.tx"), ("decision", "allow")],
        &[("origin", ORIGIN), ("accept-language", "de")],
    );
    let r = Resp::from(handlers::callback::handle(&w.state, req).await);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Anmeldung abgelaufen"), "{}", r.body);
}

#[tokio::test]
async fn a_branded_tenant_shows_its_name_logo_colour_and_scope_words() {
    let mut png = vec![
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13,
    ];
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let w = World::new_with(|t| {
        t.branding = Branding {
            display_name: Some("Acme & Sons".into()),
            logo: Some(Logo::from_png(png).unwrap()),
            primary_color: Some(Rgb(0x00, 0x66, 0x33)),
            scope_descriptions: [("api".to_owned(), "Read and change your orders".to_owned())]
                .into(),
        }
    });
    let app = w.client(&[Grant::AuthorizationCode], |c| {
        c.scopes = vec!["api".into(), "openid".into(), "offline_access".into()];
    });
    let page = authorize_with(&w, &code_query(&app), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h1>Sign in to Acme &amp; Sons</h1>"));
    assert!(
        page.body
            .contains("src=\"data:image/png;base64,iVBORw0KGgo")
    );
    assert!(page.body.contains("--p:#006633;--pt:#ffffff"));
    assert!(
        page.body
            .contains("<li data-scope=\"api\">Read and change your orders</li>")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("img-src data:"),
        "{csp}"
    );
}
