//! The one place where outcomes become HTTP responses: status codes,
//! `WWW-Authenticate`, `Retry-After`, `Cache-Control`, the Profix shapes and
//! the pages' security headers. Unit-tested below.

use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::outcome::{
    BearerRefusal, ChangePasswordOutcome, ConnectionsOutcome, DiscoveryOutcome, IntrospectOutcome,
    RevokeOutcome, TokenOutcome, Tokens, UserinfoOutcome,
};
use crate::web::html::error_page;
use crate::web::i18n::{Key, Lang};
use crate::web::page::{PageError, PageOutcome};
use crate::web::response::{
    Response, html_response, json_response, login_page_response, public_json, redirect,
};
use lambda_http::http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

const BASIC_CHALLENGE: &str = "Basic realm=\"tollgate\", charset=\"UTF-8\"";

/// RFC 6749 §5.2 status of an error: 401 for `invalid_client`, 429 when
/// throttled, 503 for outages, 413 for an oversized body, else 400.
pub fn status_of(e: &OAuthError) -> StatusCode {
    match e.code {
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ if e.retry_after.is_some() => StatusCode::TOO_MANY_REQUESTS,
        _ if e.too_large => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn retry_after(resp: &mut Response, secs: Option<u64>) {
    if let Some(s) = secs {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(s.max(1)));
    }
}

fn basic_challenge(resp: &mut Response) {
    resp.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static(BASIC_CHALLENGE),
    );
}

/// The token endpoint's error: JSON, `no-store`, `WWW-Authenticate` for a 401
/// after Basic authentication, `Retry-After` when throttled or unavailable.
pub fn oauth_error(e: OAuthError) -> Response {
    crate::audit::error_answered(e.code.as_str(), status_of(&e).as_u16());
    let mut resp = json_response(
        status_of(&e),
        &json!({"error": e.code.as_str(), "error_description": e.description}),
    );
    if e.code == ErrorCode::InvalidClient && e.basic_auth {
        basic_challenge(&mut resp);
    }
    retry_after(&mut resp, e.retry_after);
    resp
}

fn tokens_body(t: Tokens) -> Value {
    let mut body = json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "scope": t.scope,
    });
    if let Some(r) = t.refresh_token {
        body["refresh_token"] = Value::String(r);
    }
    if let Some(i) = t.id_token {
        body["id_token"] = Value::String(i);
    }
    body
}

/// The token and refresh endpoints.
pub fn token(o: TokenOutcome) -> Response {
    match o {
        TokenOutcome::Issued(t) => json_response(StatusCode::OK, &tokens_body(t)),
        TokenOutcome::Exchanged(t) => {
            let mut body = json!({
                "access_token": t.access_token,
                "issued_token_type": crate::domain::token_exchange::ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
            });
            // An empty scope is no scope (RFC 6749 §3.3): an upstream token
            // whose provider named none.
            if !t.scope.is_empty() {
                body["scope"] = t.scope.into();
            }
            json_response(StatusCode::OK, &body)
        }
        TokenOutcome::PasswordChangeRequired { userid } => json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "error": "invalid_grant",
                "error_description": "password change required",
                "userid": userid,
                "RequireChangePassword": true,
            }),
        ),
        TokenOutcome::Refused(e) => oauth_error(e),
        TokenOutcome::NoSuchTenant => crate::web::response::not_found_json(),
    }
}

/// Profix's change password: always `{"success": …, "message": "…"}` (outages
/// and internal failures use the token endpoint's error shape).
pub fn change_password(o: ChangePasswordOutcome) -> Response {
    let answer = |status, success: bool, message: &str| {
        json_response(status, &json!({"success": success, "message": message}))
    };
    match o {
        ChangePasswordOutcome::Changed => answer(StatusCode::OK, true, "You can now login"),
        ChangePasswordOutcome::Refused { message } => {
            answer(StatusCode::BAD_REQUEST, false, &message)
        }
        ChangePasswordOutcome::TooLarge { message } => {
            answer(StatusCode::PAYLOAD_TOO_LARGE, false, &message)
        }
        ChangePasswordOutcome::ClientAuthFailed { basic } => {
            let mut r = answer(
                StatusCode::UNAUTHORIZED,
                false,
                "Client authentication failed.",
            );
            if basic {
                basic_challenge(&mut r);
            }
            r
        }
        ChangePasswordOutcome::Throttled { retry_after: wait } => {
            let mut r = answer(
                StatusCode::TOO_MANY_REQUESTS,
                false,
                "Too many failed attempts. Try again later.",
            );
            retry_after(&mut r, Some(wait));
            r
        }
        ChangePasswordOutcome::Conflict => answer(
            StatusCode::CONFLICT,
            false,
            "The password was changed by another request. Sign in again.",
        ),
        ChangePasswordOutcome::NoSuchTenant => crate::web::response::not_found_json(),
        ChangePasswordOutcome::Failed(e) => oauth_error(e),
    }
}

/// Authorize and callback: pages (with CSP, anti-framing, no-store) and
/// redirects; error pages in `lang`.
pub fn page(o: PageOutcome, lang: Lang) -> Response {
    match o {
        PageOutcome::LoginForm {
            html,
            invalid,
            throttled,
        } => {
            let status = match (throttled, invalid) {
                (Some(_), _) => StatusCode::TOO_MANY_REQUESTS,
                (None, true) => StatusCode::BAD_REQUEST,
                (None, false) => StatusCode::OK,
            };
            let mut r = login_page_response(status, html);
            retry_after(&mut r, throttled);
            r
        }
        PageOutcome::ErrorPage {
            kind,
            title,
            message,
            field,
        } => {
            let status = match kind {
                PageError::BadRequest => StatusCode::BAD_REQUEST,
                PageError::NotFound => StatusCode::NOT_FOUND,
                PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            };
            html_response(status, error_page(lang, title, message, field.as_deref()))
        }
        PageOutcome::Redirect {
            location,
            after_post,
        } => {
            let status = if after_post {
                StatusCode::SEE_OTHER
            } else {
                StatusCode::FOUND
            };
            redirect(status, &location)
        }
        PageOutcome::Unavailable { retry_after: wait } => {
            let mut r = html_response(
                StatusCode::SERVICE_UNAVAILABLE,
                error_page(lang, Key::UnavailableTitle, Key::UnavailableMsg, None),
            );
            retry_after(&mut r, Some(wait));
            r
        }
        PageOutcome::Rendered { unavailable, html } => {
            let mut r = html_response(StatusCode::BAD_REQUEST, html);
            if unavailable {
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                retry_after(&mut r, Some(crate::oauth::error::RETRY_AFTER_OUTAGE));
            }
            r
        }
        PageOutcome::Internal => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_page(lang, Key::InternalTitle, Key::InternalMsg, None),
        ),
        PageOutcome::WithCookie {
            outcome,
            set_cookie,
        } => {
            let mut r = page(*outcome, lang);
            if let Ok(v) = HeaderValue::from_str(&set_cookie) {
                r.headers_mut()
                    .append(lambda_http::http::header::SET_COOKIE, v);
            }
            r
        }
    }
}

/// Discovery: public JSON (cacheable, `Access-Control-Allow-Origin: *`).
pub fn discovery(o: DiscoveryOutcome) -> Response {
    match o {
        DiscoveryOutcome::Document { body, max_age } => public_json(&body, max_age),
        DiscoveryOutcome::NotFound => crate::web::response::not_found_json(),
        DiscoveryOutcome::Failed(e) => oauth_error(e),
    }
}

/// RFC 7662: the introspection answer (always `no-store`).
pub fn introspect(o: IntrospectOutcome) -> Response {
    match o {
        IntrospectOutcome::Active(body) => json_response(StatusCode::OK, &body),
        IntrospectOutcome::Inactive => json_response(StatusCode::OK, &json!({"active": false})),
        IntrospectOutcome::Refused(e) => oauth_error(e),
        IntrospectOutcome::NoSuchTenant => crate::web::response::not_found_json(),
    }
}

/// RFC 7009: 200 with an empty body.
pub fn revoke(o: RevokeOutcome) -> Response {
    match o {
        RevokeOutcome::Done => {
            let mut r = json_response(StatusCode::OK, &Value::Null);
            *r.body_mut() = lambda_http::Body::Empty;
            r.headers_mut()
                .remove(lambda_http::http::header::CONTENT_TYPE);
            r
        }
        RevokeOutcome::Refused(e) => oauth_error(e),
        RevokeOutcome::NoSuchTenant => crate::web::response::not_found_json(),
    }
}

/// OIDC UserInfo with RFC 6750 §3 errors in `WWW-Authenticate`.
pub fn userinfo(o: UserinfoOutcome) -> Response {
    match o {
        UserinfoOutcome::Claims(c) => json_response(StatusCode::OK, &c),
        UserinfoOutcome::Refused(r) => bearer_refusal(r),
    }
}

/// The user's connections: the list, 204 after a disconnect, 404 for a
/// connection the user does not have, or the Bearer refusal.
pub fn connections(o: ConnectionsOutcome) -> Response {
    match o {
        ConnectionsOutcome::Listed(v) => json_response(StatusCode::OK, &v),
        ConnectionsOutcome::Disconnected => {
            let mut r = json_response(StatusCode::NO_CONTENT, &Value::Null);
            *r.body_mut() = lambda_http::Body::Empty;
            r.headers_mut()
                .remove(lambda_http::http::header::CONTENT_TYPE);
            r
        }
        ConnectionsOutcome::NotConnected => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_linked", "error_description": "no connection to this provider"}),
        ),
        ConnectionsOutcome::Refused(r) => bearer_refusal(r),
    }
}

/// RFC 6750 §3: a Bearer-authenticated endpoint's refusal, with its
/// `WWW-Authenticate` challenge.
pub fn bearer_refusal(r: BearerRefusal) -> Response {
    let bearer = |status: StatusCode, challenge: &'static str, body: Value| {
        let mut r = json_response(status, &body);
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static(challenge));
        r
    };
    match r {
        BearerRefusal::MissingToken => bearer(
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"tollgate\"",
            json!({"error": "invalid_token", "error_description": "a Bearer access token is required"}),
        ),
        BearerRefusal::InvalidToken => bearer(
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"tollgate\", error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\"",
            json!({"error": "invalid_token", "error_description": "the access token is invalid, expired or revoked"}),
        ),
        BearerRefusal::InsufficientScope => bearer(
            StatusCode::FORBIDDEN,
            "Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"openid\"",
            json!({"error": "insufficient_scope", "error_description": "the access token lacks the openid scope"}),
        ),
        BearerRefusal::InvalidRequest(d) => bearer(
            StatusCode::BAD_REQUEST,
            "Bearer realm=\"tollgate\", error=\"invalid_request\"",
            json!({"error": "invalid_request", "error_description": crate::oauth::error::sanitize_description(&d)}),
        ),
        BearerRefusal::TooLarge => bearer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Bearer realm=\"tollgate\", error=\"invalid_request\"",
            json!({"error": "invalid_request", "error_description": "the request body is too large"}),
        ),
        BearerRefusal::NoSuchTenant => crate::web::response::not_found_json(),
        BearerRefusal::Failed(e) => oauth_error(e),
    }
}

/// CORS on an actual response: `Access-Control-Allow-Origin` for an origin
/// registered for the client, `Vary: Origin` always. Never
/// `Access-Control-Allow-Credentials`.
pub fn with_cors(mut resp: Response, allowed_origin: Option<&str>) -> Response {
    let h = resp.headers_mut();
    h.insert(
        lambda_http::http::header::VARY,
        HeaderValue::from_static("Origin"),
    );
    if let Some(o) = allowed_origin
        && let Ok(v) = HeaderValue::from_str(o)
    {
        h.insert("access-control-allow-origin", v);
    }
    resp
}

/// A CORS preflight (`OPTIONS`): 204, allowing `methods` with the
/// `Authorization` and `Content-Type` headers for `allowed_origin` (`*` for
/// public documents), cached 10 minutes; no CORS headers for any other origin.
pub fn preflight(allowed_origin: Option<&str>, methods: &'static str) -> Response {
    let mut r = lambda_http::Response::new(lambda_http::Body::Empty);
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        lambda_http::http::header::VARY,
        HeaderValue::from_static("Origin"),
    );
    if let Some(o) = allowed_origin
        && let Ok(v) = HeaderValue::from_str(o)
    {
        h.insert("access-control-allow-origin", v);
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static(methods),
        );
        h.insert(
            "access-control-allow-headers",
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("600"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a Response, k: &str) -> Option<&'a str> {
        r.headers().get(k).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn oauth_errors_map_to_their_statuses_and_headers() {
        let r = oauth_error(OAuthError::invalid_client().with_basic(true));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&r, "www-authenticate"), Some(BASIC_CHALLENGE));
        assert_eq!(header(&r, "cache-control"), Some("no-store"));
        let r = oauth_error(OAuthError::invalid_client());
        assert!(header(&r, "www-authenticate").is_none());
        let r = oauth_error(OAuthError::throttled(30));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&r, "retry-after"), Some("30"));
        let r = oauth_error(OAuthError::unavailable("boom"));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(header(&r, "retry-after").is_some());
        let r = oauth_error(OAuthError::internal("boom"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = oauth_error(OAuthError::from(crate::web::request::InputError::TooLarge));
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let r = oauth_error(OAuthError::invalid_grant("x"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn token_outcomes_have_the_rfc_and_profix_shapes() {
        let r = token(TokenOutcome::Issued(Tokens {
            access_token: "a".into(),
            expires_in: 600,
            refresh_token: None,
            scope: "s".into(),
            id_token: None,
        }));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), Some("no-store"));
        let body: Value = match r.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
            _ => panic!("text body"),
        };
        assert_eq!(body["token_type"], "Bearer");
        assert!(body.get("refresh_token").is_none());
        let r = token(TokenOutcome::PasswordChangeRequired {
            userid: "u1".into(),
        });
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = match r.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
            _ => panic!("text body"),
        };
        assert_eq!(body["RequireChangePassword"], true);
        assert_eq!(body["userid"], "u1");
    }

    #[test]
    fn change_password_outcomes_are_profix_shaped() {
        assert_eq!(
            change_password(ChangePasswordOutcome::Changed).status(),
            200
        );
        let r = change_password(ChangePasswordOutcome::ClientAuthFailed { basic: true });
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(header(&r, "www-authenticate").is_some());
        let r = change_password(ChangePasswordOutcome::Throttled { retry_after: 9 });
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&r, "retry-after"), Some("9"));
        assert_eq!(
            change_password(ChangePasswordOutcome::Conflict).status(),
            409
        );
    }

    #[test]
    fn pages_carry_their_statuses_and_security_headers() {
        let r = page(
            PageOutcome::LoginForm {
                html: String::new(),
                invalid: false,
                throttled: Some(12),
            },
            Lang::En,
        );
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&r, "retry-after"), Some("12"));
        assert_eq!(header(&r, "referrer-policy"), Some("strict-origin"));
        assert_eq!(header(&r, "x-frame-options"), Some("DENY"));
        let r = page(
            PageOutcome::bad_request(Key::SignInExpiredTitle, Key::SignInExpiredMsg),
            Lang::De,
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(header(&r, "referrer-policy"), Some("no-referrer"));
        match r.body() {
            lambda_http::Body::Text(t) => {
                assert!(t.contains("<html lang=\"de\">"), "{t}");
                assert!(t.contains("Anmeldung abgelaufen"), "{t}");
            }
            _ => panic!("text body"),
        }
        let r = page(
            PageOutcome::Redirect {
                location: "https://c.example/cb?code=x".into(),
                after_post: true,
            },
            Lang::En,
        );
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(&r, "location"), Some("https://c.example/cb?code=x"));
        let r = page(PageOutcome::unavailable("boom"), Lang::Fr);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(header(&r, "retry-after").is_some());
    }
}
