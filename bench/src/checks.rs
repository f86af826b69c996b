//! What the bench expects of an answer (status, token, introspection,
//! userinfo, login page, redirect) and what it reads from one.

use crate::R;
use crate::event::{HttpResponse, parse_query};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn s(v: &Value, k: &str) -> R<String> {
    v[k].as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {k} in {v}"))
}

pub fn expect(r: &HttpResponse, status: u16, what: &str) -> R<()> {
    if r.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected HTTP {status}, got {}: {}",
            r.status,
            r.text().chars().take(400).collect::<String>()
        ))
    }
}

pub fn expect_token(r: &HttpResponse, what: &str, want_refresh: bool) -> R<Value> {
    expect(r, 200, what)?;
    let v = r.json();
    if v["access_token"].as_str().is_none() {
        return Err(format!("{what}: no access_token in {}", r.text()));
    }
    if want_refresh && v["refresh_token"].as_str().is_none() {
        return Err(format!("{what}: no refresh_token in {}", r.text()));
    }
    Ok(v)
}

/// An introspection answer for an active token; its `exp` (the sliding deadline).
pub fn expect_active(r: &HttpResponse, what: &str) -> R<u64> {
    expect(r, 200, what)?;
    let v = r.json();
    if v["active"] != Value::Bool(true) {
        return Err(format!("{what}: token not active: {}", r.text()));
    }
    v["exp"]
        .as_u64()
        .ok_or_else(|| format!("{what}: no exp in {}", r.text()))
}

pub fn expect_userinfo(r: &HttpResponse) -> R<()> {
    expect(r, 200, "userinfo")?;
    if r.json()["sub"].as_str().is_none() {
        return Err(format!("userinfo: no sub in {}", r.text()));
    }
    Ok(())
}

/// A claim of a JWT (unverified: the bench only reads its own tokens).
pub fn jwt_claim(token: &str, claim: &str) -> Option<u64> {
    let c = token.split('.').nth(1)?;
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    v[claim].as_u64()
}

pub fn form_tx(r: &HttpResponse) -> R<String> {
    let html = r.text();
    let marker = "name=\"tx\" value=\"";
    let start = html.find(marker).ok_or("no tx field in the login page")? + marker.len();
    let end = html[start..].find('"').ok_or("unterminated tx")? + start;
    Ok(html[start..end].to_owned())
}

pub fn code_from(r: &HttpResponse) -> R<String> {
    expect(r, 303, "callback")?;
    let loc = r.header("location").ok_or("callback: no Location")?;
    let q = loc.split_once('?').map(|x| x.1).unwrap_or("");
    parse_query(q)
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .ok_or_else(|| format!("callback: no code in {loc}"))
}

pub fn expect_changed(r: &HttpResponse) -> R<()> {
    expect(r, 200, "change-password")?;
    if r.json()["success"] != Value::Bool(true) {
        return Err(format!("change-password failed: {}", r.text()));
    }
    Ok(())
}

/// Header and the interesting claims of a JWT, for the sanity check.
pub fn jwt_summary(token: &str) -> Value {
    let mut parts = token.split('.');
    let dec = |p: Option<&str>| -> Value {
        p.and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let h = dec(parts.next());
    let c = dec(parts.next());
    let lifetime = match (c["exp"].as_u64(), c["iat"].as_u64()) {
        (Some(e), Some(i)) => Value::from(e.saturating_sub(i)),
        _ => Value::Null,
    };
    json!({
        "alg": h["alg"], "typ": h["typ"], "aud": c["aud"], "scope": c["scope"],
        "lifetime_s": lifetime, "bytes": token.len(),
    })
}
