//! Token exchange (RFC 8693; SPEC: Token → token exchange, Trusted issuers):
//! which subject tokens are accepted, how an external JWT is judged (RFC 8725),
//! what the new token may carry (scope, audience, lifetime) and the `act`
//! claim that records who acts for the subject.
//!
//! A subject token is either an access token of this tenant (judged as at
//! introspection) or a JWT from an issuer the tenant trusts. An external JWT
//! is accepted only with an asymmetric algorithm the issuer's published key
//! is for (RS256, PS256, ES256 — never `none` or HS*, so a public key can never
//! be used as an HMAC secret), no `crit` header, a `typ` that fits the token
//! type, the exact `iss`, an `aud` containing one of the configured audiences,
//! and `exp`/`nbf`/`iat` holding with 60 s leeway.

use serde_json::{Map, Value, json};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// Clock skew allowed on an external token's `exp`, `nbf` and `iat`.
pub const LEEWAY: u64 = 60;
/// Longest external token considered (bytes).
pub const MAX_EXTERNAL_TOKEN: usize = 16 * 1024;
/// Longest external `sub` accepted.
pub const MAX_SUBJECT: usize = 255;

/// What a `subject_token_type` (or `actor_token_type`) says the token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token of this tenant.
    Local,
    /// A JWT from a trusted issuer (`…:token-type:jwt`).
    ExternalJwt,
    /// An OpenID Connect id_token from a trusted issuer.
    ExternalIdToken,
}

impl TokenKind {
    pub fn parse(token_type: &str) -> Option<TokenKind> {
        match token_type {
            ACCESS_TOKEN_TYPE => Some(TokenKind::Local),
            JWT_TYPE => Some(TokenKind::ExternalJwt),
            ID_TOKEN_TYPE => Some(TokenKind::ExternalIdToken),
            _ => None,
        }
    }
}

/// The algorithms an external issuer may sign with (RFC 8725 §3.1–3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalAlg {
    RS256,
    PS256,
    ES256,
}

impl ExternalAlg {
    /// `None` for `none`, every HS* and anything else.
    pub fn parse(alg: &str) -> Option<ExternalAlg> {
        match alg {
            "RS256" => Some(ExternalAlg::RS256),
            "PS256" => Some(ExternalAlg::PS256),
            "ES256" => Some(ExternalAlg::ES256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExternalAlg::RS256 => "RS256",
            ExternalAlg::PS256 => "PS256",
            ExternalAlg::ES256 => "ES256",
        }
    }

    /// The JWK key type this algorithm verifies with.
    pub fn kty(self) -> &'static str {
        match self {
            ExternalAlg::RS256 | ExternalAlg::PS256 => "RSA",
            ExternalAlg::ES256 => "EC",
        }
    }
}

/// Whether a published JWK may verify a token signed with `alg`: the key type
/// fits the algorithm, and the key's own `use`, `alg` and `key_ops`, when
/// present, allow it (an RSA encryption key never verifies a signature).
pub fn key_fits(jwk: &Value, alg: ExternalAlg) -> bool {
    let text = |k: &str| jwk.get(k).and_then(Value::as_str);
    if text("kty") != Some(alg.kty()) {
        return false;
    }
    if alg == ExternalAlg::ES256 && text("crv") != Some("P-256") {
        return false;
    }
    if text("use").is_some_and(|u| u != "sig") || text("alg").is_some_and(|a| a != alg.as_str()) {
        return false;
    }
    match jwk.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) => ops.iter().any(|o| o.as_str() == Some("verify")),
        Some(_) => false,
    }
}

/// The key to verify with: the one named by `kid`, or, without a `kid`, the
/// only key that fits. `None` when no key (or more than one) qualifies.
pub fn select_key<'a>(keys: &'a [Value], kid: Option<&str>, alg: ExternalAlg) -> Option<&'a Value> {
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .filter(|k| key_fits(k, alg)),
        None => {
            let mut fitting = keys.iter().filter(|k| key_fits(k, alg));
            let one = fitting.next()?;
            fitting.next().is_none().then_some(one)
        }
    }
}

/// RFC 8725 §3.11 explicit typing, where the token type implies one: an
/// id_token is `JWT` or untyped; a JWT subject may be untyped, `JWT` or an
/// RFC 9068 access token — never a logout token, a security event or any
/// other typed JWT, which could otherwise be replayed as a subject.
pub fn typ_fits(kind: TokenKind, typ: Option<&str>) -> bool {
    let Some(typ) = typ else {
        return true;
    };
    let t = typ.to_ascii_lowercase();
    let t = t.strip_prefix("application/").unwrap_or(&t);
    match kind {
        TokenKind::ExternalIdToken => t == "jwt",
        TokenKind::ExternalJwt => t == "jwt" || t == "at+jwt",
        TokenKind::Local => t == "at+jwt",
    }
}

/// Why an external token's claims do not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFailure {
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
    IssuedInFuture,
    NoIssuedAt,
    NoSubject,
    NotAUserToken,
}

impl ClaimFailure {
    pub fn describe(self) -> &'static str {
        match self {
            ClaimFailure::WrongIssuer => "subject_token iss does not match its issuer",
            ClaimFailure::WrongAudience => "subject_token aud is not one this tenant accepts",
            ClaimFailure::Expired => "subject_token is expired",
            ClaimFailure::NotYetValid => "subject_token is not yet valid (nbf)",
            ClaimFailure::IssuedInFuture => "subject_token iat is in the future",
            ClaimFailure::NoIssuedAt => "subject_token has no iat",
            ClaimFailure::NoSubject => "subject_token has no usable sub",
            ClaimFailure::NotAUserToken => {
                "subject_token is a security event or logout token, not a user's token"
            }
        }
    }
}

/// The claims of a verified external token: the exact issuer, an audience
/// the issuer's configuration names, times with [`LEEWAY`], and a subject.
/// `exp` and `iat` are required, `nbf` checked when present; a token with
/// `events` (logout, security event) is no subject.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audiences: &[String],
    now: u64,
) -> Result<(), ClaimFailure> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(ClaimFailure::WrongIssuer);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.iter().any(|x| x == a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(ClaimFailure::WrongAudience);
    }
    let time = |k: &str| claims.get(k).map(|v| v.as_u64().ok_or(()));
    match time("exp") {
        Some(Ok(exp)) if now < exp.saturating_add(LEEWAY) => {}
        _ => return Err(ClaimFailure::Expired),
    }
    match time("nbf") {
        None => {}
        Some(Ok(nbf)) if nbf <= now.saturating_add(LEEWAY) => {}
        Some(_) => return Err(ClaimFailure::NotYetValid),
    }
    // Both an id_token (OIDC Core §2) and an RFC 9068 access token carry iat.
    match time("iat") {
        None => return Err(ClaimFailure::NoIssuedAt),
        Some(Ok(iat)) if iat <= now.saturating_add(LEEWAY) => {}
        Some(_) => return Err(ClaimFailure::IssuedInFuture),
    }
    // A logout token or a security event token (RFC 8417) is never a subject.
    if claims.contains_key("events") {
        return Err(ClaimFailure::NotAUserToken);
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= MAX_SUBJECT && !s.chars().any(char::is_control) => {
            Ok(())
        }
        _ => Err(ClaimFailure::NoSubject),
    }
}

/// The new token's scope: the requested one when it stays within `ceiling`
/// (the subject token's scope, or the client's scopes for an external
/// subject), else the whole ceiling. `Err` names the scope that would grow.
pub fn exchanged_scope(
    requested: Option<&[String]>,
    ceiling: &[String],
) -> Result<Vec<String>, String> {
    // `upstream:{provider}` is a user's consent for one app to use their
    // account at the provider (the token vault): it never passes to the
    // client of an exchange, whatever the subject carried.
    let ceiling: Vec<String> = ceiling
        .iter()
        .filter(|s| !is_upstream_scope(s))
        .cloned()
        .collect();
    let ceiling = ceiling.as_slice();
    match requested {
        None => Ok(ceiling.to_vec()),
        Some(req) => match req.iter().find(|s| !ceiling.contains(s)) {
            Some(bad) => Err(bad.clone()),
            None => Ok(req.to_vec()),
        },
    }
}

/// Whether a scope is the token vault's `upstream:{provider}`.
pub fn is_upstream_scope(s: &str) -> bool {
    s.starts_with("upstream:")
}

/// The new token's `aud`: the one audience asked for (already checked to be
/// one of the tenant's); without one, the subject token's own `aud` — an
/// exchange never widens a token, so a token narrowed to one audience and
/// exchanged again stays narrowed. `None` (the tenant's audiences, as for any
/// new token) only for an external subject, whose `aud` names the issuer's
/// audiences, not this tenant's.
pub fn exchanged_audience(requested: Option<&str>, subject_aud: Option<&Value>) -> Option<Value> {
    match requested {
        Some(a) => Some(json!(a)),
        None => subject_aud.cloned(),
    }
}

/// Whether an `aud` claim is well formed (RFC 7519 §4.1.3): a string, or a
/// non-empty array of strings.
pub fn is_audience(aud: &Value) -> bool {
    match aud {
        Value::String(s) => !s.is_empty(),
        Value::Array(list) => {
            !list.is_empty()
                && list
                    .iter()
                    .all(|a| a.as_str().is_some_and(|s| !s.is_empty()))
        }
        _ => false,
    }
}

/// The new token's lifetime: the tenant's access-token lifetime, never past
/// the subject's own expiry (`subject_exp`, for a subject of this tenant).
pub fn lifetime(ttl: u64, subject_exp: Option<u64>, now: u64) -> u64 {
    match subject_exp {
        Some(exp) => ttl.min(exp.saturating_sub(now)),
        None => ttl,
    }
}

/// The private claim that bounds an exchanged token's sliding expiry by its
/// subject's: without it, exchanging a token near its cap would start a new
/// `iat + --sliding-max` window, and chained exchanges would outlive the
/// session's limit.
pub const SLIDING_CAP_CLAIM: &str = "slide_cap";

/// The cap under sliding expiry of a token with this `iat` and (optional)
/// [`SLIDING_CAP_CLAIM`]: `iat + max`, never past the claim.
pub fn sliding_cap(iat: u64, max: u64, claimed: Option<u64>) -> u64 {
    let own = iat.saturating_add(max);
    claimed.map_or(own, |c| own.min(c))
}

/// RFC 8693 §4.1: the actor (`sub`, `client_id`) acting for the subject; when
/// the subject token already recorded an actor, that chain is nested inside.
pub fn act_claim(actor_sub: &str, actor_client_id: &str, prior: Option<&Value>) -> Value {
    let mut act = json!({"sub": actor_sub, "client_id": actor_client_id});
    if let Some(p) = prior.filter(|p| p.is_object()) {
        act["act"] = p.clone();
    }
    act
}

/// How deep a delegation chain may grow (each exchange with an actor adds one).
pub const MAX_ACT_DEPTH: usize = 8;

/// The depth of an `act` chain (0 for none).
pub fn act_depth(act: Option<&Value>) -> usize {
    let mut depth = 0;
    let mut cur = act;
    while let Some(a) = cur.filter(|a| a.is_object()) {
        depth += 1;
        cur = a.get("act");
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const ISS: &str = "https://idp.example";
    const NOW: u64 = 1_700_000_000;

    fn good() -> Value {
        json!({"iss": ISS, "aud": "app", "sub": "alice", "exp": NOW + 300, "iat": NOW - 5})
    }

    #[test]
    fn token_types_map_to_kinds() {
        assert_eq!(TokenKind::parse(ACCESS_TOKEN_TYPE), Some(TokenKind::Local));
        assert_eq!(TokenKind::parse(JWT_TYPE), Some(TokenKind::ExternalJwt));
        assert_eq!(
            TokenKind::parse(ID_TOKEN_TYPE),
            Some(TokenKind::ExternalIdToken)
        );
        assert_eq!(
            TokenKind::parse("urn:ietf:params:oauth:token-type:refresh_token"),
            None
        );
        assert_eq!(TokenKind::parse("access_token"), None);
    }

    #[test]
    fn only_asymmetric_algorithms_are_accepted() {
        for ok in ["RS256", "PS256", "ES256"] {
            assert!(ExternalAlg::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "none", "None", "HS256", "HS384", "HS512", "RS384", "ES512", "EdDSA", "",
        ] {
            assert!(ExternalAlg::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_key_verifies_only_what_it_is_published_for() {
        let rsa = json!({"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"});
        let ec = json!({"kty": "EC", "kid": "e", "crv": "P-256", "x": "x", "y": "y"});
        assert!(key_fits(&rsa, ExternalAlg::RS256));
        assert!(key_fits(&rsa, ExternalAlg::PS256));
        assert!(!key_fits(&rsa, ExternalAlg::ES256));
        assert!(key_fits(&ec, ExternalAlg::ES256));
        assert!(!key_fits(&ec, ExternalAlg::RS256));
        let enc = json!({"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"});
        assert!(!key_fits(&enc, ExternalAlg::RS256));
        let pinned = json!({"kty": "RSA", "alg": "RS256", "n": "x", "e": "AQAB"});
        assert!(key_fits(&pinned, ExternalAlg::RS256));
        assert!(
            !key_fits(&pinned, ExternalAlg::PS256),
            "the key's alg pins it"
        );
        let p384 = json!({"kty": "EC", "crv": "P-384", "x": "x", "y": "y"});
        assert!(!key_fits(&p384, ExternalAlg::ES256));
        let ops = json!({"kty": "EC", "crv": "P-256", "key_ops": ["encrypt"]});
        assert!(!key_fits(&ops, ExternalAlg::ES256));
        // An HMAC secret published as a JWK never verifies anything.
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        for a in [ExternalAlg::RS256, ExternalAlg::PS256, ExternalAlg::ES256] {
            assert!(!key_fits(&oct, a));
        }
    }

    #[test]
    fn key_selection_by_kid_or_the_only_fitting_key() {
        let keys = vec![
            json!({"kty": "EC", "kid": "a", "crv": "P-256"}),
            json!({"kty": "RSA", "kid": "b"}),
        ];
        assert_eq!(
            select_key(&keys, Some("a"), ExternalAlg::ES256).unwrap()["kid"],
            "a"
        );
        assert!(select_key(&keys, Some("a"), ExternalAlg::RS256).is_none());
        assert!(select_key(&keys, Some("zzz"), ExternalAlg::ES256).is_none());
        assert_eq!(
            select_key(&keys, None, ExternalAlg::RS256).unwrap()["kid"],
            "b"
        );
        let two_ec = vec![
            keys[0].clone(),
            json!({"kty": "EC", "kid": "c", "crv": "P-256"}),
        ];
        assert!(
            select_key(&two_ec, None, ExternalAlg::ES256).is_none(),
            "ambiguous"
        );
    }

    #[test]
    fn typ_must_fit_the_token_type() {
        assert!(typ_fits(TokenKind::ExternalIdToken, None));
        assert!(typ_fits(TokenKind::ExternalIdToken, Some("JWT")));
        assert!(!typ_fits(TokenKind::ExternalIdToken, Some("at+jwt")));
        assert!(!typ_fits(TokenKind::ExternalIdToken, Some("logout+jwt")));
        assert!(typ_fits(TokenKind::ExternalJwt, Some("at+jwt")));
        assert!(typ_fits(TokenKind::ExternalJwt, Some("application/at+jwt")));
        assert!(!typ_fits(TokenKind::ExternalJwt, Some("secevent+jwt")));
        assert!(!typ_fits(TokenKind::ExternalJwt, Some("dpop+jwt")));
    }

    #[test]
    fn good_claims_hold() {
        assert_eq!(
            check_claims(&claims(good()), ISS, &["app".into()], NOW),
            Ok(())
        );
        let mut list = good();
        list["aud"] = json!(["other", "app"]);
        assert_eq!(
            check_claims(&claims(list), ISS, &["app".into()], NOW),
            Ok(())
        );
    }

    #[test]
    fn wrong_issuer_is_refused_even_by_a_trailing_slash() {
        let mut c = good();
        c["iss"] = json!(format!("{ISS}/"));
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::WrongIssuer)
        );
    }

    #[test]
    fn wrong_or_missing_audience_is_refused() {
        let mut c = good();
        c["aud"] = json!("someone-else");
        assert_eq!(
            check_claims(&claims(c.clone()), ISS, &["app".into()], NOW),
            Err(ClaimFailure::WrongAudience)
        );
        c.as_object_mut().unwrap().remove("aud");
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::WrongAudience)
        );
    }

    #[test]
    fn expiry_holds_with_sixty_seconds_of_leeway_and_is_required() {
        let mut c = good();
        c["exp"] = json!(NOW - 59);
        assert_eq!(
            check_claims(&claims(c.clone()), ISS, &["app".into()], NOW),
            Ok(())
        );
        c["exp"] = json!(NOW - 60);
        assert_eq!(
            check_claims(&claims(c.clone()), ISS, &["app".into()], NOW),
            Err(ClaimFailure::Expired)
        );
        c["exp"] = json!("tomorrow");
        assert_eq!(
            check_claims(&claims(c.clone()), ISS, &["app".into()], NOW),
            Err(ClaimFailure::Expired)
        );
        c.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::Expired)
        );
    }

    #[test]
    fn a_future_nbf_or_iat_is_refused_beyond_the_leeway() {
        let mut c = good();
        c["nbf"] = json!(NOW + 60);
        assert_eq!(
            check_claims(&claims(c.clone()), ISS, &["app".into()], NOW),
            Ok(())
        );
        c["nbf"] = json!(NOW + 61);
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::NotYetValid)
        );
        let mut c = good();
        c["iat"] = json!(NOW + 3600);
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::IssuedInFuture)
        );
    }

    #[test]
    fn iat_is_required_and_event_tokens_are_no_subjects() {
        let mut c = good();
        c.as_object_mut().unwrap().remove("iat");
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::NoIssuedAt)
        );
        let mut c = good();
        c["events"] = json!({"http://schemas.openid.net/event/backchannel-logout": {}});
        assert_eq!(
            check_claims(&claims(c), ISS, &["app".into()], NOW),
            Err(ClaimFailure::NotAUserToken)
        );
    }

    #[test]
    fn a_subject_is_required() {
        for sub in [json!(""), json!(42), json!("a\nb"), json!("x".repeat(256))] {
            let mut c = good();
            c["sub"] = sub;
            assert_eq!(
                check_claims(&claims(c), ISS, &["app".into()], NOW),
                Err(ClaimFailure::NoSubject)
            );
        }
    }

    #[test]
    fn scope_never_grows() {
        let ceiling = vec!["openid".to_owned(), "api".to_owned()];
        assert_eq!(exchanged_scope(None, &ceiling).unwrap(), ceiling);
        assert_eq!(
            exchanged_scope(Some(&["api".to_owned()]), &ceiling).unwrap(),
            vec!["api"]
        );
        assert_eq!(
            exchanged_scope(Some(&["admin".to_owned()]), &ceiling).unwrap_err(),
            "admin"
        );
    }

    #[test]
    fn audience_is_the_requested_one_or_the_subjects_own() {
        let narrowed = json!("https://a.example");
        let all = json!(["https://a.example", "https://b.example"]);
        assert_eq!(
            exchanged_audience(Some("https://b.example"), Some(&all)),
            Some(json!("https://b.example"))
        );
        assert_eq!(exchanged_audience(None, Some(&narrowed)), Some(narrowed));
        assert_eq!(exchanged_audience(None, Some(&all)), Some(all.clone()));
        assert_eq!(exchanged_audience(None, None), None);
        assert!(is_audience(&all));
        for bad in [json!(""), json!([]), json!([1]), json!(null), json!({})] {
            assert!(!is_audience(&bad), "{bad}");
        }
    }

    #[test]
    fn lifetime_never_passes_the_subjects_expiry() {
        assert_eq!(lifetime(600, None, NOW), 600);
        assert_eq!(lifetime(600, Some(NOW + 120), NOW), 120);
        assert_eq!(lifetime(600, Some(NOW + 6000), NOW), 600);
        assert_eq!(lifetime(600, Some(NOW - 1), NOW), 0);
    }

    #[test]
    fn an_exchanged_token_never_slides_past_its_subjects_cap() {
        assert_eq!(sliding_cap(1_000, 86_400, None), 87_400);
        assert_eq!(sliding_cap(50_000, 86_400, Some(87_400)), 87_400);
        assert_eq!(sliding_cap(1_000, 86_400, Some(999_999)), 87_400);
    }

    #[test]
    fn act_nests_the_subjects_prior_actor() {
        let first = act_claim("svc-a", "clientA", None);
        assert_eq!(first, json!({"sub": "svc-a", "client_id": "clientA"}));
        let second = act_claim("svc-b", "clientB", Some(&first));
        assert_eq!(second["act"], first);
        assert_eq!(act_depth(Some(&second)), 2);
        assert_eq!(act_depth(None), 0);
    }
}
