//! SSRF through provider vars, overrides and discovery documents.

use super::tests::resolve;
use super::*;

/// SSRF through provider vars: no value can move the host, the port, the
/// userinfo or the path, whatever it holds.
#[test]
fn ssrf_through_provider_vars_is_refused() {
    let attacks = [
        "evil.com#",
        "evil.com/",
        "caw.evil.com?",
        "x@evil.com",
        "x:443",
        "..",
        "a/../b",
        "%2e%2e",
        "a%2fb",
        "a b",
        "a\tb",
        "a\\b",
        "a\nb",
        "CAW",
        "",
        "a?b=1",
        "[::1]",
        "169.254.169.254",
    ];
    for a in attacks {
        assert!(
            resolve(Preset::Maximizer, &[("region", a), ("company_alias", "ok")]).is_err(),
            "region {a:?}"
        );
        if a != "CAW" {
            assert!(
                resolve(
                    Preset::Maximizer,
                    &[("region", "caw"), ("company_alias", a)]
                )
                .is_err(),
                "company_alias {a:?}"
            );
        }
        assert!(
            resolve(Preset::B2cRopc, &[("tenant", a), ("policy", "B2C_1_ROPC")]).is_err(),
            "tenant {a:?}"
        );
    }
    for a in [
        "evil.com:8080",
        "user@evil.com",
        "evil.com/path",
        "evil.com#x",
        "evil.com?x",
        "localhost",
        "127.0.0.1",
        "10.0.0.5",
        "169.254.169.254",
        "crm..example.com",
        "[::1]",
        "crm.example.com.",
        "crm",
        "crm.example.com%00",
        "crm.example.com\\@evil.com",
    ] {
        assert!(
            resolve(Preset::MaximizerOnPremise, &[("server", a)]).is_err(),
            "server {a:?}"
        );
    }
    // A long alias stays in its path segment (and is bounded).
    assert!(
        resolve(
            Preset::Maximizer,
            &[("region", "caw"), ("company_alias", &"a".repeat(65))]
        )
        .is_err()
    );
}

/// Overrides and discovered endpoints pass the outbound policy too.
#[test]
fn ssrf_through_overrides_and_discovery_is_refused() {
    let none = BTreeMap::new();
    let with_token = |t: &str| Overrides {
        authorize: Some("https://as.example.com/authorize".into()),
        token: Some(t.into()),
        ..Overrides::default()
    };
    for bad in [
        "https://10.0.0.1/token",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/token",
        "https://[fd00:ec2::254]/token",
        "https://[::ffff:10.0.0.1]/token",
        "http://as.example.com/token",
        "http://127.0.0.1:9000/token",
        "https://user:pw@as.example.com/token",
        "https://localhost/token",
        "file:///etc/passwd",
        "https://as.example.com/token#frag",
        "not a url",
    ] {
        assert!(
            resolve_endpoints(
                Preset::OAuth2,
                Preset::OAuth2.quirks().grants[0],
                &none,
                &with_token(bad),
                None,
                OutboundPolicy::PUBLIC
            )
            .is_err(),
            "{bad}"
        );
    }
    for field in 0..3 {
        let mut o = with_token("https://as.example.com/token");
        let bad = Some("https://192.168.1.1/x".to_owned());
        match field {
            0 => o.authorize = bad,
            1 => o.refresh = bad,
            _ => o.revocation = bad,
        }
        assert!(
            resolve_endpoints(
                Preset::Keap,
                Preset::Keap.quirks().grants[0],
                &none,
                &o,
                None,
                OutboundPolicy::PUBLIC
            )
            .is_err(),
            "override {field}"
        );
    }
    // Plain http to loopback only on a local stack.
    let local = with_token("http://127.0.0.1:9000/token");
    assert!(
        resolve_endpoints(
            Preset::OAuth2,
            Preset::OAuth2.quirks().grants[0],
            &none,
            &local,
            None,
            OutboundPolicy::LOCAL
        )
        .is_ok()
    );
    // A public issuer cannot name internal endpoints, even on a local stack.
    let d = Discovered {
        issuer: "https://idp.example.com".into(),
        authorize: Some("https://idp.example.com/auth".into()),
        token: Some("http://127.0.0.1:8080/token".into()),
        revocation: None,
        jwks_uri: None,
    };
    assert!(
        resolve_endpoints(
            Preset::Oidc,
            Preset::Oidc.quirks().grants[0],
            &none,
            &Overrides::default(),
            Some(&d),
            OutboundPolicy::LOCAL
        )
        .is_err()
    );
}
