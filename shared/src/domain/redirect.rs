//! Redirect URIs: what may be registered, and how a presented URI is matched.
//! Exact string comparison, except that a loopback URI's port may differ
//! (RFC 8252 §7.3). Never normalised, never prefix-matched.

const LOOPBACKS: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// The longest redirect URI registered or accepted, in bytes.
pub const MAX_LEN: usize = 2000;

/// A port as written in a URI: 1 to 65535, in canonical form (no leading zero).
fn valid_port(digits: &str) -> bool {
    !digits.starts_with('0') && digits.parse::<u16>().is_ok_and(|p| p >= 1)
}

/// Splits a loopback URI into (host prefix, rest after the optional port).
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    for lb in LOOPBACKS {
        if let Some(rest) = uri.strip_prefix(lb) {
            let rest = match rest.strip_prefix(':') {
                Some(p) => {
                    let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 || digits > 5 || !valid_port(&p[..digits]) {
                        return None;
                    }
                    &p[digits..]
                }
                None => rest,
            };
            if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
                return Some((lb, rest));
            }
            return None;
        }
    }
    None
}

/// Whether `uri` may be registered: absolute https (or loopback http), no
/// fragment, no userinfo, no whitespace.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    if uri.is_empty() || uri.len() > MAX_LEN {
        return Err(format!("redirect URI must be 1 to {MAX_LEN} characters"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("redirect URI contains whitespace: {uri}"));
    }
    if uri.contains('#') {
        return Err(format!("redirect URI must not contain a fragment: {uri}"));
    }
    let parsed = url::Url::parse(uri).map_err(|e| format!("redirect URI {uri}: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("redirect URI must not contain userinfo: {uri}"));
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" if loopback_parts(uri).is_some() => Ok(()),
        _ => Err(format!(
            "redirect URI must be https, or http on 127.0.0.1 or [::1]: {uri}"
        )),
    }
}

/// Whether a presented redirect_uri matches a registered one.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(presented)) {
        (Some((h1, r1)), Some((h2, r2))) => h1 == h2 && r1 == r2,
        _ => false,
    }
}

/// The registered URI a request designates: the matching one, or the only one
/// when the request names none.
pub fn resolve<'a>(registered: &'a [String], presented: Option<&'a str>) -> Option<&'a str> {
    match presented {
        Some(p) => registered.iter().any(|r| matches(r, p)).then_some(p),
        None if registered.len() == 1 => registered.first().map(String::as_str),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_only() {
        let r = "https://app.example/cb";
        assert!(matches(r, "https://app.example/cb"));
        assert!(!matches(r, "https://app.example/cb/"));
        assert!(!matches(r, "https://app.example/cb?x=1"));
        assert!(!matches(r, "https://APP.example/cb"));
        assert!(!matches(r, "https://app.example/CB"));
        assert!(!matches(r, "https://app.example:443/cb"));
        assert!(!matches(r, "http://app.example/cb"));
    }

    #[test]
    fn loopback_port_may_differ_but_nothing_else() {
        let r = "http://127.0.0.1/cb";
        assert!(matches(r, "http://127.0.0.1:51234/cb"));
        assert!(matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:9/cb"));
        assert!(!matches(r, "http://127.0.0.1:5/cb2"));
        assert!(!matches(r, "http://[::1]:5/cb"));
        assert!(!matches(r, "http://127.0.0.1.evil.example/cb"));
        assert!(!matches(r, "http://127.0.0.1:80@evil.example/cb"));
        assert!(matches("http://[::1]/cb", "http://[::1]:7/cb"));
        assert!(matches(r, "http://127.0.0.1:65535/cb"));
        assert!(matches(r, "http://127.0.0.1:1/cb"));
        for bad in ["0", "00000", "99999", "65536", "080", "1a"] {
            assert!(
                !matches(r, &format!("http://127.0.0.1:{bad}/cb")),
                "port {bad}"
            );
        }
    }

    #[test]
    fn registration_rules() {
        assert!(validate_registration("https://app.example/cb").is_ok());
        assert!(validate_registration("http://127.0.0.1:3000/cb").is_ok());
        assert!(validate_registration("http://[::1]/cb").is_ok());
        assert!(validate_registration("http://app.example/cb").is_err());
        assert!(validate_registration("http://localhost/cb").is_err());
        assert!(validate_registration("https://app.example/cb#x").is_err());
        assert!(validate_registration("com.app:/cb").is_err());
        assert!(validate_registration("https://u:p@app.example/cb").is_err());
        assert!(validate_registration("not a uri").is_err());
    }
}
