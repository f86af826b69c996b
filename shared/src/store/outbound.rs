//! The outbound HTTP client (reqwest, rustls) that keeps to the
//! [`OutboundPolicy`] of `domain::outbound` (SPEC: Outbound HTTP).
//!
//! - A URL is checked once, when it is parsed ([`OutboundPolicy::check_url`]):
//!   the scheme, no credentials, and the host when it is an IP literal —
//!   reqwest connects to a literal without resolving it.
//! - A host name is resolved by [`PublicResolver`], which checks every address
//!   the name resolves to and hands reqwest only addresses it has checked: the
//!   connection goes to an address that was checked, so a name that resolves
//!   to a public address for the check and to an internal one for the connect
//!   (DNS rebinding) gets nowhere.
//! - The client ([`OutboundPolicy::client`]) uses that resolver, no proxy (a
//!   proxy would resolve and connect for us), no redirects, and connect and
//!   total timeouts well inside a function's 10 s; [`read_body`] stops reading
//!   at [`MAX_BODY`].
//!
//! Only public addresses ([`AddressKind::Public`]) are reached, over HTTPS.
//! On a local stack (`make dev`, tests: [`Config::runs_locally`]) loopback is
//! reachable too, and plain HTTP to a loopback host is allowed.

pub use crate::domain::outbound::{
    AddressKind, CONNECT_TIMEOUT, MAX_BODY, OutboundPolicy, Refused, TOTAL_TIMEOUT, is_localhost,
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;

/// Addresses of one name looked at (a name has a handful).
const MAX_ADDRESSES: usize = 32;

/// A client that keeps to `policy` (names resolved by the system).
pub fn client(policy: OutboundPolicy) -> reqwest::Result<reqwest::Client> {
    client_resolving_with(policy, Arc::new(SystemResolver))
}

/// A client that keeps to `policy`, its names resolved by `lookup` (whose
/// answers [`PublicResolver`] checks): for tests.
pub fn client_resolving_with(
    policy: OutboundPolicy,
    lookup: Arc<dyn Resolve>,
) -> reqwest::Result<reqwest::Client> {
    client_timed(policy, lookup, TOTAL_TIMEOUT)
}

/// The same with a total timeout of its own (an upstream provider's token
/// endpoint gets `upstream_refresh::UPSTREAM_CALL`).
pub fn client_timed(
    policy: OutboundPolicy,
    lookup: Arc<dyn Resolve>,
    total: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicResolver { policy, lookup }))
        .no_proxy()
        .https_only(!policy.is_local())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(total)
        .user_agent("tollgate")
        .build()
}

/// Resolves a name with `lookup`, then refuses it unless every address it
/// resolves to is one the policy allows; reqwest connects only to the
/// addresses returned, which are the ones checked.
pub struct PublicResolver {
    policy: OutboundPolicy,
    lookup: Arc<dyn Resolve>,
}

impl PublicResolver {
    pub fn new(policy: OutboundPolicy, lookup: Arc<dyn Resolve>) -> PublicResolver {
        PublicResolver { policy, lookup }
    }
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let loopback_name = is_localhost(name.as_str());
        let lookup = self.lookup.resolve(name);
        Box::pin(async move {
            if loopback_name && !policy.is_local() {
                return Err(Refused("the host is a loopback address".into()).into());
            }
            let addrs: Vec<SocketAddr> = lookup.await?.take(MAX_ADDRESSES).collect();
            if addrs.is_empty() {
                return Err(Refused("the host has no address".into()).into());
            }
            // One internal address refuses the name: a public host has no
            // business resolving inside.
            for a in &addrs {
                policy.check_address(a.ip()).map_err(|kind| {
                    Refused(format!(
                        "the host resolves to a {} address",
                        kind.describe()
                    ))
                })?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The system's resolver (`getaddrinfo`, on tokio's blocking pool).
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .take(MAX_ADDRESSES)
                .collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// What went wrong with a call, for the log: the policy's refusal when it
/// was one (reqwest wraps it), else the kind of failure — never the URL.
pub fn describe_error(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return format!("refused: {r}");
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "transport error"
    };
    kind.to_owned()
}

/// The response's body, reading no more than [`MAX_BODY`]: a larger
/// announced length is refused before reading, a longer body as soon as a
/// chunk would go past the limit.
pub async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, Refused> {
    let too_large = || {
        Refused(format!(
            "the response is larger than {} KiB",
            MAX_BODY / 1024
        ))
    };
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Refused(format!("reading failed: {}", describe_error(&e))))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::IpAddr;

    /// A resolver answering from a table (no network): names the test chose.
    pub(crate) struct StubResolver(pub HashMap<&'static str, Vec<IpAddr>>);

    impl StubResolver {
        pub(crate) fn one(name: &'static str, ip: &str) -> Arc<StubResolver> {
            Arc::new(StubResolver(HashMap::from([(
                name,
                vec![ip.parse().unwrap()],
            )])))
        }
    }

    impl Resolve for StubResolver {
        fn resolve(&self, name: Name) -> Resolving {
            let addrs: Vec<SocketAddr> = self
                .0
                .get(name.as_str())
                .into_iter()
                .flatten()
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
        }
    }

    async fn resolve(
        policy: OutboundPolicy,
        stub: Arc<StubResolver>,
        name: &str,
    ) -> Result<Vec<SocketAddr>, String> {
        let r = PublicResolver::new(policy, stub);
        match r.resolve(name.parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn the_resolver_hands_over_only_checked_addresses() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let stub = Arc::new(StubResolver(HashMap::from([
            (
                "public.example",
                vec![ip("93.184.215.14"), ip("2606:4700:4700::1111")],
            ),
            ("private.example", vec![ip("10.0.0.5")]),
            (
                "mixed.example",
                vec![ip("93.184.215.14"), ip("169.254.169.254")],
            ),
            ("mapped.example", vec![ip("::ffff:10.0.0.5")]),
            ("nat64.example", vec![ip("64:ff9b::a9fe:a9fe")]),
            ("loopback.example", vec![ip("127.0.0.1")]),
            ("localhost", vec![ip("127.0.0.1"), ip("::1")]),
            ("evil.localhost", vec![ip("93.184.215.14")]),
        ])));
        for policy in [OutboundPolicy::PUBLIC, OutboundPolicy::LOCAL] {
            let got = resolve(policy, stub.clone(), "public.example")
                .await
                .unwrap();
            assert_eq!(got.len(), 2);
            for (name, why) in [
                ("private.example", "private"),
                ("mixed.example", "cloud metadata"),
                ("mapped.example", "IPv4-mapped"),
                ("nat64.example", "NAT64"),
                ("unknown.example", "no address"),
            ] {
                let e = resolve(policy, stub.clone(), name).await.unwrap_err();
                assert!(e.contains(why), "{policy:?} {name}: {e}");
            }
        }
        for name in ["loopback.example", "localhost", "evil.localhost"] {
            let e = resolve(OutboundPolicy::PUBLIC, stub.clone(), name)
                .await
                .unwrap_err();
            assert!(e.contains("loopback"), "{name}: {e}");
        }
        assert_eq!(
            resolve(OutboundPolicy::LOCAL, stub.clone(), "localhost")
                .await
                .unwrap()
                .len(),
            2
        );
        assert!(
            resolve(OutboundPolicy::LOCAL, stub, "loopback.example")
                .await
                .is_ok()
        );
    }
}
