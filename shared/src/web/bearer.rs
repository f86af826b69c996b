//! The Bearer access token of a request (RFC 6750): the `Authorization:
//! Bearer` header or, in a form POST body, `access_token` — exactly one,
//! never the query string (RFC 6750 §2.3). Read at the edge for userinfo
//! and the user's connections.

use crate::oauth::bearer::Presented;
use crate::web::request::{InputError, Params, body_bytes, header_str, is_form, query_params};
use lambda_http::Request;
use lambda_http::http::Method;

/// The token the request presents; `form_body`: whether a form POST body may
/// carry it (userinfo; the connections endpoints read the header only).
pub fn presented(req: &Request, form_body: bool) -> Presented {
    if query_params(req).is_ok_and(|q| q.has("access_token")) {
        return Presented::Malformed(
            "the access token must not be sent in the query string".into(),
        );
    }
    let header = match header_str(req, "authorization") {
        None => None,
        Some(h) => match h.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(token.trim().to_owned())
            }
            _ => {
                return Presented::Malformed(
                    "the Authorization header must use the Bearer scheme".into(),
                );
            }
        },
    };
    let body = if form_body && req.method() == Method::POST && is_form(req) {
        let parsed = body_bytes(req).and_then(Params::parse);
        let p = match parsed {
            Ok(p) => p,
            Err(InputError::TooLarge) => return Presented::TooLarge,
            Err(e) => return Presented::Malformed(e.description()),
        };
        if p.is_duplicated("access_token") {
            return Presented::Malformed("access_token is repeated".into());
        }
        p.get("access_token").map(str::to_owned)
    } else {
        None
    };
    match (header, body) {
        (Some(_), Some(_)) => Presented::Malformed(
            "send the access token once, not in both the header and the body".into(),
        ),
        (h, b) => match h.or(b).filter(|t| !t.is_empty()) {
            Some(t) => Presented::Token(t),
            None => Presented::Missing,
        },
    }
}
