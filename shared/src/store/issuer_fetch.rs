//! Fetching an issuer's discovery document and JWKS with reqwest (rustls),
//! under the stack's [`OutboundPolicy`] (SPEC: Outbound HTTP): HTTPS to
//! public addresses only — the addresses a name resolves to are checked, and
//! the connection goes to those — plain HTTP only to loopback on a local
//! stack, no redirects, no credentials in the URL, short timeouts and a size
//! limit, so a slow, huge or hostile issuer costs a bounded amount of time and
//! memory and cannot point Tollgate inside its own network.

use crate::domain::outbound::OutboundPolicy;
use crate::ports::FetchError;
use crate::ports::{BoxFuture, JsonFetcher};
use crate::store::outbound;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

impl From<outbound::Refused> for FetchError {
    fn from(r: outbound::Refused) -> Self {
        FetchError(r.0)
    }
}

/// The reqwest client, built on first use (only the token function ever
/// fetches; `prepare` builds it in init there).
pub struct ReqwestFetcher {
    policy: OutboundPolicy,
    /// Resolves names before the policy checks them (the system's resolver
    /// but in tests).
    lookup: Arc<dyn reqwest::dns::Resolve>,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl ReqwestFetcher {
    /// A fetcher keeping to `policy` (`OutboundPolicy::for_stack`).
    pub fn new(policy: OutboundPolicy) -> ReqwestFetcher {
        ReqwestFetcher::resolving_with(policy, Arc::new(outbound::SystemResolver))
    }

    /// The same, names resolved by `lookup` (tests).
    pub fn resolving_with(
        policy: OutboundPolicy,
        lookup: Arc<dyn reqwest::dns::Resolve>,
    ) -> ReqwestFetcher {
        ReqwestFetcher {
            policy,
            lookup,
            client: OnceLock::new(),
        }
    }

    /// Builds the client now (TLS configuration and trust store): for a
    /// function's init phase, which runs with a full CPU.
    pub fn prepare(&self) {
        let _ = self.client();
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        self.client
            .get_or_init(|| {
                outbound::client_resolving_with(self.policy, self.lookup.clone())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| FetchError(format!("HTTP client unavailable: {e}")))
    }

    async fn fetch(&self, raw: &str) -> Result<Value, FetchError> {
        let url = self.policy.check_url(raw)?;
        let client = self.client()?;
        let resp = client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError(format!("request failed: {}", outbound::describe_error(&e))))?;
        if !resp.status().is_success() {
            return Err(FetchError(format!(
                "answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        let body = outbound::read_body(resp).await?;
        serde_json::from_slice(&body).map_err(|_| FetchError("not a JSON document".into()))
    }
}

impl JsonFetcher for ReqwestFetcher {
    fn prepare(&self) {
        ReqwestFetcher::prepare(self);
    }

    fn get_json<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Value, FetchError>> {
        Box::pin(self.fetch(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outbound::allowed_discovered;
    use crate::store::outbound::tests::StubResolver;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-connection HTTP server on 127.0.0.1: reads the request, writes
    /// `answer`, then keeps the connection open until the client closes it
    /// (so a client that waited for more would wait for its timeout). Its
    /// thread is not joined: the client closes in a task of the test's
    /// runtime, which a blocking join would stall.
    fn serve(answer: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(&answer);
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        });
        port
    }

    fn json_answer(doc: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
            doc.len()
        )
        .into_bytes()
    }

    /// A listener nobody should connect to; `connected` says whether one did
    /// (a completed TCP handshake waits in the backlog).
    struct Trap(TcpListener);

    impl Trap {
        fn new() -> Trap {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            Trap(l)
        }
        fn port(&self) -> u16 {
            self.0.local_addr().unwrap().port()
        }
        fn connected(&self) -> bool {
            self.0.accept().is_ok()
        }
    }

    #[tokio::test]
    async fn a_name_resolving_inside_is_refused_before_connecting() {
        let trap = Trap::new();
        // The stub resolves the issuer's name to where the trap listens.
        let f = ReqwestFetcher::resolving_with(
            OutboundPolicy::PUBLIC,
            StubResolver::one("issuer.example", "127.0.0.1"),
        );
        let e = f
            .fetch(&format!("https://issuer.example:{}/jwks", trap.port()))
            .await
            .unwrap_err();
        assert!(e.0.contains("resolves to a loopback address"), "{e}");
        assert!(!trap.connected(), "a connection was made: {e}");
        // A private address is refused on a local stack too.
        let f = ReqwestFetcher::resolving_with(
            OutboundPolicy::LOCAL,
            StubResolver::one("issuer.example", "10.0.0.5"),
        );
        let e = f.fetch("https://issuer.example/jwks").await.unwrap_err();
        assert!(e.0.contains("resolves to a private address"), "{e}");
    }

    #[tokio::test]
    async fn mapped_and_nat64_literals_are_refused_before_connecting() {
        let trap = Trap::new();
        let p = trap.port();
        // Even on a local stack, where loopback itself may be fetched.
        let f = ReqwestFetcher::new(OutboundPolicy::LOCAL);
        for (url, why) in [
            (
                format!("https://[::ffff:127.0.0.1]:{p}/jwks"),
                "IPv4-mapped",
            ),
            (format!("http://[::ffff:127.0.0.1]:{p}/jwks"), "only https"),
            (format!("https://[::ffff:10.0.0.5]:{p}/jwks"), "IPv4-mapped"),
            (format!("https://[64:ff9b::7f00:1]:{p}/jwks"), "NAT64"),
            (format!("https://[64:ff9b:1::a00:5]:{p}/jwks"), "NAT64"),
            (format!("https://[::127.0.0.1]:{p}/jwks"), "IPv4-compatible"),
        ] {
            let e = f.fetch(&url).await.unwrap_err();
            assert!(e.0.contains(why), "{url}: {e}");
        }
        assert!(!trap.connected());
    }

    #[tokio::test]
    async fn a_loopback_issuer_is_fetched_only_on_a_local_stack() {
        let port = serve(json_answer(r#"{"keys":[]}"#));
        let f = ReqwestFetcher::new(OutboundPolicy::LOCAL);
        let doc = f
            .fetch(&format!("http://127.0.0.1:{port}/jwks"))
            .await
            .unwrap();
        assert_eq!(doc, serde_json::json!({"keys": []}));
        // `localhost` (through the resolver) too.
        let port = serve(json_answer(r#"{"keys":[]}"#));
        let f = ReqwestFetcher::resolving_with(
            OutboundPolicy::LOCAL,
            StubResolver::one("localhost", "127.0.0.1"),
        );
        assert!(
            f.fetch(&format!("http://localhost:{port}/jwks"))
                .await
                .is_ok()
        );

        // A deployed stack refuses the same URLs without connecting.
        let trap = Trap::new();
        let p = trap.port();
        let f = ReqwestFetcher::resolving_with(
            OutboundPolicy::PUBLIC,
            StubResolver::one("localhost", "127.0.0.1"),
        );
        for url in [
            format!("http://127.0.0.1:{p}/jwks"),
            format!("https://127.0.0.1:{p}/jwks"),
            format!("http://localhost:{p}/jwks"),
            format!("https://localhost:{p}/jwks"),
        ] {
            assert!(f.fetch(&url).await.is_err(), "{url}");
        }
        assert!(!trap.connected());
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let trap = Trap::new();
        let port = serve(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/jwks\r\ncontent-length: 0\r\n\r\n",
                trap.port()
            )
            .into_bytes(),
        );
        let f = ReqwestFetcher::new(OutboundPolicy::LOCAL);
        let e = f
            .fetch(&format!("http://127.0.0.1:{port}/jwks"))
            .await
            .unwrap_err();
        assert_eq!(e.0, "answered HTTP 302");
        assert!(!trap.connected());
    }

    /// The limit holds while reading: the servers below never end their
    /// body, so a client that read to the end first would fail with a
    /// timeout instead.
    #[tokio::test]
    async fn a_body_over_256_kib_is_refused_while_it_streams() {
        let f = ReqwestFetcher::new(OutboundPolicy::LOCAL);
        // No length announced: refused once a chunk would pass the limit.
        let mut answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b' ', outbound::MAX_BODY + 1));
        let port = serve(answer);
        let e = f
            .fetch(&format!("http://127.0.0.1:{port}/jwks"))
            .await
            .unwrap_err();
        assert!(e.0.contains("larger than 256 KiB"), "{e}");
        // A larger length announced: refused before reading.
        let port2 = serve(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{{",
                outbound::MAX_BODY + 1
            )
            .into_bytes(),
        );
        let e = f
            .fetch(&format!("http://127.0.0.1:{port2}/jwks"))
            .await
            .unwrap_err();
        assert!(e.0.contains("larger than 256 KiB"), "{e}");
        // Exactly the limit is read.
        let doc = format!("{{\"keys\":[]}}{}", " ".repeat(outbound::MAX_BODY - 11));
        let port = serve(json_answer(&doc));
        let f = ReqwestFetcher::new(OutboundPolicy::LOCAL);
        assert!(
            f.fetch(&format!("http://127.0.0.1:{port}/jwks"))
                .await
                .is_ok()
        );
    }

    #[test]
    fn a_public_issuers_discovery_cannot_point_inside() {
        let iss = "https://idp.example";
        assert!(allowed_discovered("https://idp.example/keys", iss).is_ok());
        assert!(allowed_discovered("https://keys.other.example/jwks", iss).is_ok());
        for bad in [
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            "https://127.0.0.1/jwks",
            "https://10.0.0.5/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/jwks",
            "https://localhost/jwks",
            "http://idp.example/jwks",
            "https://[::ffff:10.0.0.5]/jwks",
            "https://[64:ff9b::a00:5]/jwks",
            "https://[64:ff9b:1::a00:5]/jwks",
            "https://100.64.0.1/jwks",
        ] {
            assert!(allowed_discovered(bad, iss).is_err(), "{bad}");
        }
        // A loopback issuer (a local stack) may use loopback URLs.
        assert!(allowed_discovered("http://127.0.0.1:4000/jwks", "http://127.0.0.1:4000").is_ok());
    }
}
