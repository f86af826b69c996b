//! Runtime configuration, read from the environment once per cold start.

use crate::ids::TenantId;

/// The functions whose public URLs the server prints or signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Authorize,
    Callback,
    Token,
    Refresh,
    ChangePassword,
    Discovery,
    Introspect,
    Revoke,
    Userinfo,
}

impl Function {
    pub const ALL: [Function; 9] = [
        Function::Authorize,
        Function::Callback,
        Function::Token,
        Function::Refresh,
        Function::ChangePassword,
        Function::Discovery,
        Function::Introspect,
        Function::Revoke,
        Function::Userinfo,
    ];

    /// The binary / function name (`cargo lambda watch` routes by it).
    pub fn name(self) -> &'static str {
        match self {
            Function::Authorize => "authorize",
            Function::Callback => "callback",
            Function::Token => "token",
            Function::Refresh => "refresh",
            Function::ChangePassword => "change-password",
            Function::Discovery => "discovery",
            Function::Introspect => "introspect",
            Function::Revoke => "revoke",
            Function::Userinfo => "userinfo",
        }
    }

    fn env_suffix(self) -> &'static str {
        match self {
            Function::Authorize => "AUTHORIZE",
            Function::Callback => "CALLBACK",
            Function::Token => "TOKEN",
            Function::Refresh => "REFRESH",
            Function::ChangePassword => "CHANGE_PASSWORD",
            Function::Discovery => "DISCOVERY",
            Function::Introspect => "INTROSPECT",
            Function::Revoke => "REVOKE",
            Function::Userinfo => "USERINFO",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table name (`TOLLGATE_TABLE`).
    pub table: String,
    /// Secrets Manager name prefix (`TOLLGATE_SECRET_PREFIX`), no trailing slash.
    pub secret_prefix: String,
    /// `{function}`-templated base URL (`TOLLGATE_FUNCTION_URL_TEMPLATE`).
    url_template: Option<String>,
    /// Per-function base URLs (`TOLLGATE_URL_<FUNCTION>`), winning over the template.
    url_overrides: Vec<(Function, String)>,
    /// Base of every issuer (`TOLLGATE_ISSUER_BASE`); defaults to the discovery URL.
    issuer_base: Option<String>,
    /// Name of a Secrets Manager secret holding the public URLs as a JSON object
    /// of the variables above (`TOLLGATE_URLS_SECRET`; written by the SAM stack
    /// once the function URLs exist). Real environment variables win over it.
    pub urls_secret: Option<String>,
}

impl Config {
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let trim = |s: String| s.trim().trim_end_matches('/').to_owned();
        let url_overrides = Function::ALL
            .iter()
            .filter_map(|f| get(&format!("TOLLGATE_URL_{}", f.env_suffix())).map(|u| (*f, trim(u))))
            .collect();
        Config {
            table: get("TOLLGATE_TABLE").unwrap_or_else(|| "tollgate".into()),
            secret_prefix: get("TOLLGATE_SECRET_PREFIX")
                .map(trim)
                .unwrap_or_else(|| "tollgate".into()),
            url_template: get("TOLLGATE_FUNCTION_URL_TEMPLATE").map(trim),
            url_overrides,
            issuer_base: get("TOLLGATE_ISSUER_BASE").map(trim),
            urls_secret: get("TOLLGATE_URLS_SECRET"),
        }
    }

    /// This configuration completed by a URL document (`TOLLGATE_URLS_SECRET`):
    /// the environment first, then the document.
    pub fn with_url_document(&self, doc: &serde_json::Map<String, serde_json::Value>) -> Config {
        let mut merged = Config::from_lookup(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| doc.get(k).and_then(|v| v.as_str()).map(str::to_owned))
        });
        merged.table = self.table.clone();
        merged.secret_prefix = self.secret_prefix.clone();
        merged.urls_secret = None;
        merged
    }

    /// The public base URL of a function, without a trailing slash.
    pub fn function_base(&self, f: Function) -> String {
        if let Some((_, u)) = self.url_overrides.iter().find(|(g, _)| *g == f) {
            return u.clone();
        }
        match &self.url_template {
            Some(t) => t.replace("{function}", f.name()),
            None => format!("http://127.0.0.1:9000/lambda-url/{}", f.name()),
        }
    }

    /// `{base}/oauth2/{tenant}` — byte-identical wherever it appears.
    pub fn issuer(&self, tenant: &TenantId) -> String {
        let base = self
            .issuer_base
            .clone()
            .unwrap_or_else(|| self.function_base(Function::Discovery));
        format!("{base}/oauth2/{tenant}")
    }

    /// The public URL of an endpoint of a tenant.
    pub fn endpoint(&self, f: Function, tenant: &TenantId) -> String {
        let base = self.function_base(f);
        let tail = match f {
            Function::Authorize => "authorize",
            Function::Callback => "callback",
            Function::Token => "token",
            Function::Refresh => "refresh",
            Function::ChangePassword => "token/changepassword",
            Function::Discovery => "jwks.json",
            Function::Introspect => "introspect",
            Function::Revoke => "revoke",
            Function::Userinfo => "userinfo",
        };
        format!("{base}/oauth2/{tenant}/{tail}")
    }

    /// The user's upstream connections (`GET …/connections`): on the
    /// userinfo function, so under its public URL as `userinfo_endpoint` is.
    pub fn connections_endpoint(&self, tenant: &TenantId) -> String {
        format!(
            "{}/oauth2/{tenant}/connections",
            self.function_base(Function::Userinfo)
        )
    }

    /// Whether this stack is served from this machine (`make dev`, the
    /// tests): it has no URL document, and its issuer and token endpoint are
    /// plain HTTP on a loopback host (the local stack's
    /// `TOLLGATE_FUNCTION_URL_TEMPLATE`, or the default). A deployed stack's
    /// URLs are HTTPS: its function URLs (through the URL document) or its
    /// custom domain. Outbound calls may reach loopback only then.
    pub fn runs_locally(&self) -> bool {
        let loopback_http = |raw: &str| {
            url::Url::parse(raw).is_ok_and(|u| {
                u.scheme() == "http"
                    && match u.host() {
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                        None => false,
                    }
            })
        };
        let issuer_base = self
            .issuer_base
            .clone()
            .unwrap_or_else(|| self.function_base(Function::Discovery));
        self.urls_secret.is_none()
            && loopback_http(&issuer_base)
            && loopback_http(&self.function_base(Function::Token))
    }

    pub fn signing_key_secret(&self, tenant: &TenantId) -> String {
        format!("{}/{}/signing-keys", self.secret_prefix, tenant)
    }

    /// The tenant's vault key set (upstream tokens at rest; `tokens::vault`).
    pub fn vault_key_secret(&self, tenant: &TenantId) -> String {
        format!("{}/{}/vault-keys", self.secret_prefix, tenant)
    }

    pub fn client_secret_name(&self, tenant: &TenantId, client: &crate::ClientId) -> String {
        format!("{}/{}/clients/{}", self.secret_prefix, tenant, client)
    }

    /// An upstream provider's client secret (`provider add --client-secret-stdin`).
    pub fn upstream_secret_name(&self, tenant: &TenantId, provider: &str) -> String {
        format!("{}/{}/upstream/{}", self.secret_prefix, tenant, provider)
    }

    /// The redirect URI to register at an upstream provider: the callback
    /// function's public URL (or the stack's custom domain).
    pub fn upstream_callback(&self, tenant: &TenantId, provider: &str) -> String {
        format!(
            "{}/oauth2/{tenant}/upstream/{provider}/callback",
            self.function_base(Function::Callback)
        )
    }

    /// "Sign in with {provider}" (the login page's link; `?tx=…` added).
    pub fn upstream_signin(&self, tenant: &TenantId, provider: &str) -> String {
        format!(
            "{}/oauth2/{tenant}/upstream/{provider}/signin",
            self.function_base(Function::Callback)
        )
    }

    pub fn login_key_secret(&self) -> String {
        format!("{}/stack/login-tx-key", self.secret_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_without_placeholder_is_one_host_for_every_function() {
        // A custom domain fronts every function on one host.
        let c = Config::from_lookup(|k| match k {
            "TOLLGATE_FUNCTION_URL_TEMPLATE" => Some("https://auth.example.com".into()),
            "TOLLGATE_ISSUER_BASE" => Some("https://auth.example.com".into()),
            _ => None,
        });
        let t = TenantId::parse("acme").unwrap();
        assert_eq!(c.issuer(&t), "https://auth.example.com/oauth2/acme");
        assert_eq!(
            c.endpoint(Function::Token, &t),
            "https://auth.example.com/oauth2/acme/token"
        );
        assert_eq!(
            c.endpoint(Function::Authorize, &t),
            "https://auth.example.com/oauth2/acme/authorize"
        );
    }

    #[test]
    fn only_a_stack_served_on_loopback_http_runs_locally() {
        let with = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Config::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        let template = "TOLLGATE_FUNCTION_URL_TEMPLATE";
        // `make dev`, the tests, and no configuration at all.
        assert!(with(&[(template, "http://127.0.0.1:9000/lambda-url/{function}")]).runs_locally());
        assert!(with(&[(template, "http://localhost:9102/lambda-url/{function}")]).runs_locally());
        assert!(with(&[]).runs_locally());
        // Deployed: the URL document, a custom domain, the admin's URLs.
        assert!(!with(&[("TOLLGATE_URLS_SECRET", "s/stack/urls")]).runs_locally());
        assert!(!with(&[(template, "https://auth.example.com")]).runs_locally());
        assert!(
            !with(&[
                ("TOLLGATE_ISSUER_BASE", "https://d.lambda-url.example"),
                ("TOLLGATE_URL_TOKEN", "https://t.lambda-url.example"),
            ])
            .runs_locally()
        );
        assert!(!with(&[(template, "http://10.0.0.5:9000/{function}")]).runs_locally());
        assert!(
            !with(&[
                (template, "http://127.0.0.1:9000/lambda-url/{function}"),
                ("TOLLGATE_ISSUER_BASE", "https://auth.example.com"),
            ])
            .runs_locally()
        );
    }

    #[test]
    fn url_document_fills_in_what_the_environment_lacks() {
        let base = Config::from_lookup(|_| None);
        let doc = serde_json::json!({
            "TOLLGATE_ISSUER_BASE": "https://d.example",
            "TOLLGATE_URL_CALLBACK": "https://cb.example/",
        });
        let c = base.with_url_document(doc.as_object().unwrap());
        let t = TenantId::parse("acme").unwrap();
        assert_eq!(c.issuer(&t), "https://d.example/oauth2/acme");
        assert_eq!(
            c.endpoint(Function::Callback, &t),
            "https://cb.example/oauth2/acme/callback"
        );
    }

    #[test]
    fn urls_from_template_and_overrides() {
        let c = Config::from_lookup(|k| match k {
            "TOLLGATE_FUNCTION_URL_TEMPLATE" => Some("http://h:9/lambda-url/{function}/".into()),
            "TOLLGATE_URL_TOKEN" => Some("https://tok.example/".into()),
            _ => None,
        });
        let t = TenantId::parse("acme").unwrap();
        assert_eq!(c.issuer(&t), "http://h:9/lambda-url/discovery/oauth2/acme");
        assert_eq!(
            c.endpoint(Function::Token, &t),
            "https://tok.example/oauth2/acme/token"
        );
        assert_eq!(
            c.endpoint(Function::ChangePassword, &t),
            "http://h:9/lambda-url/change-password/oauth2/acme/token/changepassword"
        );
    }
}
