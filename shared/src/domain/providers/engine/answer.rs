//! Reading a provider's answers: leniently (a number or a string for
//! `expires_in`, any case of `Bearer`, unknown fields ignored) but never
//! trusting them (bounded sizes, token characters checked, a redirect never
//! followed, upstream text never kept).

use super::{HttpAnswer, MAX_LABEL, Refusal, TokenAnswer};
use crate::domain::providers::Quirks;
use crate::domain::upstream_refresh;
use secrecy::SecretString;
use serde_json::Value;

/// The longest `scope` string kept from an answer.
const MAX_SCOPE: usize = 2048;

/// Judges a token endpoint's answer. A 2xx JSON object with an acceptable
/// `access_token` is a [`TokenAnswer`]; the preset's dead-grant errors are
/// [`Refusal::Dead`]; a Profix `RequireChangePassword` is
/// [`Refusal::PasswordChangeRequired`]; everything else — a redirect (never
/// followed), 429, 5xx, HTML, a body that is not JSON, a token with
/// characters no token has — is [`Refusal::Transient`].
pub fn read_token_answer(q: &Quirks, answer: &HttpAnswer) -> Result<TokenAnswer, Refusal> {
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&answer.body).ok();
    // Profix's seed shows the marker without a status (003:77–80); Tollgate
    // itself, standing in for Profix, answers it with 400 `invalid_grant`
    // (SPEC: Token, password): read it on any 2xx or 4xx answer, before the
    // error code could call the grant dead.
    if let (200..=299 | 400..=499, Some(obj), Some(marker)) =
        (answer.status, &json, q.password_change_marker)
        && truthy(obj.get(marker))
    {
        let user_id = obj
            .get("userid")
            .and_then(scalar)
            .filter(|u| u.len() <= 128 && u.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        return Err(Refusal::PasswordChangeRequired { user_id });
    }
    match answer.status {
        200..=299 => {
            let Some(obj) = json else {
                return Err(Refusal::transient("malformed_answer"));
            };
            let token = |name: &str| -> Result<Option<SecretString>, Refusal> {
                match obj.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if q.accepts_token(s) => {
                        Ok(Some(SecretString::from(s.clone())))
                    }
                    Some(_) => Err(Refusal::transient("malformed_answer")),
                }
            };
            let access_token =
                token("access_token")?.ok_or(Refusal::transient("malformed_answer"))?;
            let refresh_token = token("refresh_token")?;
            if let Some(t) = obj.get("token_type").and_then(Value::as_str)
                && !t.eq_ignore_ascii_case("bearer")
            {
                return Err(Refusal::transient("unsupported_token_type"));
            }
            let id_token = match obj.get("id_token") {
                Some(Value::String(s)) if s.len() <= 16 * 1024 => {
                    Some(SecretString::from(s.clone()))
                }
                _ => None,
            };
            let scope = obj
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|s| {
                    !s.is_empty()
                        && s.len() <= MAX_SCOPE
                        && s.bytes().all(|c| {
                            c == b' ' || (0x21..=0x7e).contains(&c) && c != b'"' && c != b'\\'
                        })
                });
            Ok(TokenAnswer {
                access_token,
                refresh_token,
                expires_in: upstream_refresh::expires_in(
                    obj.get("expires_in"),
                    q.default_expires_in,
                ),
                scope,
                id_token,
            })
        }
        429 => Err(Refusal::Transient {
            class: "rate_limited",
            retry_after: answer.retry_after,
        }),
        300..=399 => Err(Refusal::transient("redirected")),
        400..=499 => {
            let error = json
                .as_ref()
                .and_then(|o| o.get("error"))
                .and_then(Value::as_str);
            let description = json
                .as_ref()
                .and_then(|o| o.get("error_description"))
                .and_then(Value::as_str);
            match error {
                Some(e) if q.is_dead_grant(e, description) => Err(Refusal::Dead {
                    reason: error_word(e),
                }),
                Some(_) => Err(Refusal::transient("refused")),
                None => Err(Refusal::transient("client_error")),
            }
        }
        500..=599 => Err(Refusal::Transient {
            class: "server_error",
            retry_after: answer.retry_after,
        }),
        _ => Err(Refusal::transient("malformed_answer")),
    }
}

/// An upstream error code as Tollgate keeps it (a reason field, an audit
/// line): RFC 6749 error codes are `%x20-21 / %x23-5B / %x5D-7E`; anything
/// else, or anything long, becomes `invalid_grant`.
fn error_word(e: &str) -> String {
    if !e.is_empty() && e.len() <= 40 && e.bytes().all(|c| c.is_ascii_lowercase() || c == b'_') {
        e.to_owned()
    } else {
        "invalid_grant".to_owned()
    }
}

/// How a provider's ChangePassword step went (Profix: `{"success": bool,
/// "message": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Changed,
    /// `success: false`: the provider's message for the operator, made one
    /// bounded printable line (upstream text, so never logged as is).
    Refused {
        message: String,
    },
    /// Down, rate-limiting, redirecting or answering garbage.
    Transient {
        class: &'static str,
        retry_after: Option<u64>,
    },
}

/// The longest ChangePassword message kept.
pub const MAX_MESSAGE: usize = 200;

/// Judges a ChangePassword answer. `success: true` on a 2xx is the only
/// success; `success: false` (any 2xx or 4xx) is a refusal with the
/// provider's message, bounded to [`MAX_MESSAGE`] characters, controls and
/// bidirectional overrides dropped, whitespace collapsed to single spaces.
pub fn read_password_change_answer(answer: &HttpAnswer) -> PasswordChange {
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&answer.body).ok();
    let success = json.as_ref().map(|o| o.get("success"));
    match (answer.status, success) {
        (200..=299, Some(s)) if truthy(s) => PasswordChange::Changed,
        (429, _) => PasswordChange::Transient {
            class: "rate_limited",
            retry_after: answer.retry_after,
        },
        (200..=299 | 400..=499, Some(Some(s))) if !truthy(Some(s)) => PasswordChange::Refused {
            message: json
                .as_ref()
                .and_then(|o| o.get("message"))
                .and_then(Value::as_str)
                .map(printable_line)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "no reason given".to_owned()),
        },
        (300..=399, _) => PasswordChange::Transient {
            class: "redirected",
            retry_after: None,
        },
        (500..=599, _) => PasswordChange::Transient {
            class: "server_error",
            retry_after: answer.retry_after,
        },
        (400..=499, _) => PasswordChange::Transient {
            class: "client_error",
            retry_after: None,
        },
        _ => PasswordChange::Transient {
            class: "malformed_answer",
            retry_after: None,
        },
    }
}

/// Upstream text made one bounded, printable line.
fn printable_line(s: &str) -> String {
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let kept: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !bidi(*c))
        .take(MAX_MESSAGE * 2)
        .collect();
    let mut out: String = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > MAX_MESSAGE {
        out = out.chars().take(MAX_MESSAGE).collect();
        out.push('…');
    }
    out
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a provider's redirect parameter value may be kept as an account
/// label (printable, bounded; the label is shown to the user and operator).
pub fn label_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_LABEL && !v.chars().any(char::is_control)
}

/// The account label from the provider's redirect parameters (the preset's
/// `account_label_params`, first present wins).
pub fn account_label<'a>(
    q: &Quirks,
    mut param: impl FnMut(&str) -> Option<&'a str>,
) -> Option<String> {
    q.account_label_params
        .iter()
        .find_map(|name| param(name).filter(|v| label_ok(v)).map(str::to_owned))
}

/// Checks a code the provider's redirect carried (the preset's characters:
/// Profix's contain `!`).
pub fn code_ok(q: &Quirks, code: &str) -> bool {
    q.accepts_token(code)
}
