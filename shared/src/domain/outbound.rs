//! Where Tollgate's own HTTP calls may go (SPEC: Outbound HTTP): the
//! address classifier and the URL policy every outbound call shares (trusted
//! issuers' discovery documents and JWKS today, upstream providers later).
//! Pure: the client that applies it (a resolver that checks every address a
//! name resolves to, no proxy, no redirects, timeouts, a body cap) is
//! `store::outbound`.
//!
//! Only public addresses ([`AddressKind::Public`]) are reached, over HTTPS.
//! On a local stack (`make dev`, tests: [`Config::runs_locally`]) loopback is
//! reachable too, and plain HTTP to a loopback host is allowed.

use crate::config::Config;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Connection set-up (name resolution and TLS included).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The whole call, body included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest response body read.
pub const MAX_BODY: usize = 256 * 1024;

/// Why an outbound call was not made (or not finished): for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What an IP address is, as far as whether Tollgate may connect to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// Globally routable unicast: the only kind a deployed stack reaches.
    Public,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// "This network" 0.0.0.0/8, and `::`.
    Unspecified,
    /// RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// Carrier-grade NAT, 100.64.0.0/10.
    SharedNat,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Cloud instance metadata and credentials endpoints (169.254.169.254,
    /// ECS's 169.254.170.2, fd00:ec2::254, Alibaba's 100.100.100.200).
    Metadata,
    /// fc00::/7.
    UniqueLocal,
    /// fec0::/10 (deprecated, still routed inside some networks).
    SiteLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// `::ffff:a.b.c.d`: an IPv4 address the kernel reaches over IPv4.
    Ipv4Mapped,
    /// `::a.b.c.d` (deprecated IPv4-compatible).
    Ipv4Compatible,
    /// 64:ff9b::/96, 64:ff9b:1::/48: a NAT64 gateway reaches the IPv4 inside.
    Nat64,
    /// Teredo (2001::/32), and 6to4 (2002::/16) around an IPv4 address that
    /// is not public.
    Tunnel,
    /// Everything else not globally routable: 240.0.0.0/4, 192.0.0.0/24,
    /// 192.88.99.0/24, the rest of 2001::/23, IPv6 outside 2000::/3.
    Reserved,
}

/// IPv4 ranges, first match wins; anything else is public.
const V4: &[(Ipv4Addr, u8, AddressKind)] = {
    use AddressKind::*;
    &[
        (Ipv4Addr::new(169, 254, 169, 254), 32, Metadata),
        (Ipv4Addr::new(169, 254, 170, 2), 32, Metadata),
        (Ipv4Addr::new(100, 100, 100, 200), 32, Metadata),
        (Ipv4Addr::new(255, 255, 255, 255), 32, Broadcast),
        (Ipv4Addr::new(0, 0, 0, 0), 8, Unspecified),
        (Ipv4Addr::new(10, 0, 0, 0), 8, Private),
        (Ipv4Addr::new(100, 64, 0, 0), 10, SharedNat),
        (Ipv4Addr::new(127, 0, 0, 0), 8, Loopback),
        (Ipv4Addr::new(169, 254, 0, 0), 16, LinkLocal),
        (Ipv4Addr::new(172, 16, 0, 0), 12, Private),
        (Ipv4Addr::new(192, 0, 0, 0), 24, Reserved),
        (Ipv4Addr::new(192, 0, 2, 0), 24, Documentation),
        (Ipv4Addr::new(192, 88, 99, 0), 24, Reserved),
        (Ipv4Addr::new(192, 168, 0, 0), 16, Private),
        (Ipv4Addr::new(198, 18, 0, 0), 15, Benchmarking),
        (Ipv4Addr::new(198, 51, 100, 0), 24, Documentation),
        (Ipv4Addr::new(203, 0, 113, 0), 24, Documentation),
        (Ipv4Addr::new(224, 0, 0, 0), 4, Multicast),
        (Ipv4Addr::new(240, 0, 0, 0), 4, Reserved),
    ]
};

/// IPv6 ranges, first match wins (6to4 is judged by the IPv4 inside it);
/// anything else in 2000::/3 is public, anything outside it reserved.
const V6: &[(Ipv6Addr, u8, AddressKind)] = {
    use AddressKind::*;
    &[
        (Ipv6Addr::UNSPECIFIED, 128, Unspecified),
        (Ipv6Addr::LOCALHOST, 128, Loopback),
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, Ipv4Mapped),
        (Ipv6Addr::UNSPECIFIED, 96, Ipv4Compatible),
        (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, Nat64),
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, Nat64),
        (
            Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
            128,
            Metadata,
        ),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Tunnel),
        (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, Benchmarking),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, Reserved),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Documentation,
        ),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            Documentation,
        ),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, UniqueLocal),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LinkLocal),
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, SiteLocal),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Multicast),
    ]
};

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

impl AddressKind {
    pub fn of(ip: IpAddr) -> AddressKind {
        match ip {
            IpAddr::V4(v4) => V4
                .iter()
                .find(|(net, len, _)| in_v4(v4, *net, *len))
                .map_or(AddressKind::Public, |(_, _, kind)| *kind),
            IpAddr::V6(v6) => {
                if let Some((_, _, kind)) = V6.iter().find(|(net, len, _)| in_v6(v6, *net, *len)) {
                    return *kind;
                }
                let s = v6.segments();
                if s[0] == 0x2002 {
                    // 6to4: the IPv4 address of the relay's far end.
                    let inner = Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2]));
                    return match AddressKind::of(IpAddr::V4(inner)) {
                        AddressKind::Public => AddressKind::Public,
                        _ => AddressKind::Tunnel,
                    };
                }
                if s[0] & 0xe000 == 0x2000 {
                    AddressKind::Public
                } else {
                    AddressKind::Reserved
                }
            }
        }
    }

    /// For messages: "… is a {describe} address".
    pub fn describe(self) -> &'static str {
        match self {
            AddressKind::Public => "public",
            AddressKind::Loopback => "loopback",
            AddressKind::Unspecified => "unspecified",
            AddressKind::Private => "private",
            AddressKind::SharedNat => "shared (carrier-grade NAT)",
            AddressKind::LinkLocal => "link-local",
            AddressKind::Metadata => "cloud metadata",
            AddressKind::UniqueLocal => "unique-local",
            AddressKind::SiteLocal => "site-local",
            AddressKind::Multicast => "multicast",
            AddressKind::Broadcast => "broadcast",
            AddressKind::Documentation => "documentation",
            AddressKind::Benchmarking => "benchmarking",
            AddressKind::Ipv4Mapped => "IPv4-mapped IPv6",
            AddressKind::Ipv4Compatible => "IPv4-compatible IPv6",
            AddressKind::Nat64 => "NAT64",
            AddressKind::Tunnel => "tunnelled (6to4, Teredo)",
            AddressKind::Reserved => "reserved",
        }
    }
}

/// Where outbound calls may go: public addresses over HTTPS, plus loopback
/// (plain HTTP included) on a local stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundPolicy {
    local: bool,
}

impl OutboundPolicy {
    /// A deployed stack: HTTPS to public addresses only.
    pub const PUBLIC: OutboundPolicy = OutboundPolicy { local: false };
    /// A local stack (`make dev`, tests): loopback too, plain HTTP included.
    pub const LOCAL: OutboundPolicy = OutboundPolicy { local: true };

    /// The policy of the stack this configuration describes.
    pub fn for_stack(config: &Config) -> OutboundPolicy {
        if config.runs_locally() {
            OutboundPolicy::LOCAL
        } else {
            OutboundPolicy::PUBLIC
        }
    }

    /// Whether loopback (and plain HTTP to it) is reachable: a local stack.
    pub fn is_local(self) -> bool {
        self.local
    }

    /// Whether a connection may go to `ip`; if not, what it is.
    pub fn check_address(self, ip: IpAddr) -> Result<(), AddressKind> {
        match AddressKind::of(ip) {
            AddressKind::Public => Ok(()),
            AddressKind::Loopback if self.local => Ok(()),
            kind => Err(kind),
        }
    }

    /// The URL, parsed, if a call may be made to it: `https` (plain `http`
    /// only to a loopback host on a local stack), no credentials, and a host
    /// that is a name (checked when resolved) or an address this policy
    /// allows. `localhost` is loopback whatever it resolves to.
    pub fn check_url(self, raw: &str) -> Result<url::Url, Refused> {
        let url = url::Url::parse(raw).map_err(|_| Refused("not a URL".into()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("credentials in the URL".into()));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) | None => None,
        };
        let loopback_name = url.host_str().is_some_and(is_localhost);
        let loopback = loopback_name || literal.is_some_and(|ip| ip.is_loopback());
        let scheme_ok = match url.scheme() {
            "https" => url.host().is_some(),
            "http" => self.local && loopback,
            _ => false,
        };
        if !scheme_ok {
            return Err(Refused(if self.local {
                "only https (or http to a loopback host) may be fetched".into()
            } else {
                "only https may be fetched".into()
            }));
        }
        if let Some(ip) = literal {
            self.check_address(ip)
                .map_err(|kind| Refused(format!("the host is a {} address", kind.describe())))?;
        } else if loopback_name && !self.local {
            return Err(Refused("the host is a loopback address".into()));
        }
        Ok(url)
    }
}

/// `localhost` and its subdomains (RFC 6761 §6.3), with or without the
/// final dot.
pub fn is_localhost(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// Whether a URL an issuer's discovery document names (its `jwks_uri`) may
/// be fetched: an issuer the operator configured on a public host cannot
/// point Tollgate at loopback (the Lambda Runtime API), link-local (instance
/// metadata) or other internal addresses, nor downgrade to http — whatever
/// the stack's policy. A loopback issuer (local stacks, tests) may name
/// loopback URLs (the fetcher's policy decides).
pub fn allowed_discovered(raw: &str, issuer: &str) -> Result<url::Url, Refused> {
    let url = url::Url::parse(raw).map_err(|_| Refused("not a URL".into()))?;
    let issuer_is_public = OutboundPolicy::PUBLIC.check_url(issuer).is_ok();
    if issuer_is_public && OutboundPolicy::PUBLIC.check_url(raw).is_err() {
        return Err(Refused(
            "the discovery document names a jwks_uri on an internal address".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_internal_address_is_recognised() {
        use AddressKind::*;
        let table: &[(&str, AddressKind)] = &[
            ("93.184.215.14", Public),
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("192.0.3.1", Public),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001:80b::200e", Public),
            ("2002:5db8:d70e::1", Public), // 6to4 around 93.184.215.14
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("::1", Loopback),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("10.0.0.5", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedNat),
            ("100.127.255.255", SharedNat),
            ("169.254.0.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            ("100.100.100.200", Metadata),
            ("fd00:ec2::254", Metadata),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fec0::1", SiteLocal),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("ff02::1", Multicast),
            ("255.255.255.255", Broadcast),
            ("192.0.2.1", Documentation),
            ("198.51.100.1", Documentation),
            ("203.0.113.1", Documentation),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("2001:2::1", Benchmarking),
            ("::ffff:10.0.0.5", Ipv4Mapped),
            ("::ffff:127.0.0.1", Ipv4Mapped),
            ("::ffff:93.184.215.14", Ipv4Mapped),
            ("::10.0.0.5", Ipv4Compatible),
            ("::127.0.0.1", Ipv4Compatible),
            ("64:ff9b::a00:5", Nat64),
            ("64:ff9b::7f00:1", Nat64),
            ("64:ff9b:1::a00:5", Nat64),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Tunnel), // Teredo
            ("2002:a00:5::1", Tunnel),                        // 6to4 around 10.0.0.5
            ("2002:7f00:1::1", Tunnel),                       // 6to4 around 127.0.0.1
            ("2002:a9fe:a9fe::1", Tunnel),                    // 6to4 around the metadata address
            ("240.0.0.1", Reserved),
            ("192.0.0.8", Reserved),
            ("192.0.0.192", Reserved),
            ("192.88.99.1", Reserved),
            ("2001:10::1", Reserved),
            ("100::1", Reserved),
            ("5f00::1", Reserved),
            ("::ffff:0:a00:5", Reserved),
        ];
        for (ip, kind) in table {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(AddressKind::of(ip), *kind, "{ip}");
            let public = *kind == Public;
            assert_eq!(
                OutboundPolicy::PUBLIC.check_address(ip).is_ok(),
                public,
                "{ip}"
            );
            let local_ok = public || *kind == Loopback;
            assert_eq!(
                OutboundPolicy::LOCAL.check_address(ip).is_ok(),
                local_ok,
                "{ip}"
            );
        }
    }

    #[test]
    fn ip_literals_are_checked_in_the_url() {
        for policy in [OutboundPolicy::PUBLIC, OutboundPolicy::LOCAL] {
            for ok in [
                "https://idp.example/.well-known/openid-configuration",
                "https://93.184.215.14/jwks",
                "https://[2606:4700:4700::1111]/jwks",
            ] {
                assert!(policy.check_url(ok).is_ok(), "{policy:?} {ok}");
            }
            for bad in [
                "https://[::ffff:10.0.0.5]/jwks",
                "https://[::ffff:127.0.0.1]/jwks",
                "http://[::ffff:127.0.0.1]/jwks",
                "https://[64:ff9b::a00:5]/jwks",
                "https://[64:ff9b:1::a00:5]/jwks",
                "https://[::10.0.0.5]/jwks",
                "https://[2002:a00:5::1]/jwks",
                "https://[fd00:ec2::254]/latest/meta-data",
                "https://[fe80::1]/jwks",
                "https://[fc00::1]/jwks",
                "https://[fec0::1]/jwks",
                "https://10.0.0.5/jwks",
                "https://0x0a000005/jwks",
                "https://100.64.0.1/jwks",
                "https://0.0.0.0/jwks",
                "https://169.254.169.254/latest/meta-data",
                "https://224.0.0.1/jwks",
                "https://255.255.255.255/jwks",
                "https://192.0.2.1/jwks",
                "https://198.18.0.1/jwks",
                "http://idp.example/jwks",
                "http://10.0.0.5/jwks",
                "http://169.254.169.254/latest/meta-data",
                "file:///etc/passwd",
                "https://user:pw@idp.example/jwks",
                "not a url",
            ] {
                assert!(policy.check_url(bad).is_err(), "{policy:?} {bad}");
            }
        }
        // Loopback, plain HTTP included, only on a local stack.
        for lo in [
            "http://127.0.0.1:4000/jwks",
            "http://127.1.2.3:4000/jwks",
            "http://[::1]:4000/jwks",
            "http://localhost:4000/jwks",
            "http://idp.localhost:4000/jwks",
            "https://127.0.0.1/jwks",
            "https://localhost./jwks",
        ] {
            assert!(OutboundPolicy::LOCAL.check_url(lo).is_ok(), "{lo}");
            assert!(OutboundPolicy::PUBLIC.check_url(lo).is_err(), "{lo}");
        }
        let e = OutboundPolicy::PUBLIC
            .check_url("http://idp.example/jwks")
            .unwrap_err();
        assert!(e.0.contains("https"), "{e}");
        let e = OutboundPolicy::PUBLIC
            .check_url("https://[::ffff:10.0.0.5]/")
            .unwrap_err();
        assert!(e.0.contains("IPv4-mapped"), "{e}");
    }
}
