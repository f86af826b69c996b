//! The pages of federated sign-in (SPEC: Federated sign-in): the login
//! page's "Sign in with {provider}" links (plain links: no script, reachable
//! by keyboard, after the password form), and the page a sign-in that signed
//! nobody in ends on, which offers the password form of the same request.

use crate::AppState;
use crate::config::{Config, Function};
use crate::domain::upstream_tx::ClientRequest;
use crate::ids::TenantId;
use crate::web::html::{escape, page, say};
use crate::web::i18n::{self, Key, Lang};

/// One "Sign in with …" link of the login page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLink {
    /// `…/upstream/{name}/signin?tx={the login transaction}`.
    pub href: String,
    pub display_name: String,
}

/// The links for a login page of `tenant` whose sealed login transaction is
/// `sealed`: none for an implicit request (`code_request` false), and when
/// the request connects a provider (`upstream`), only that one. A storage
/// failure leaves them out (the password form still works).
pub async fn links(
    state: &AppState,
    urls: &Config,
    tenant: &TenantId,
    sealed: &str,
    code_request: bool,
    upstream: Option<&str>,
) -> Vec<SignInLink> {
    if !code_request {
        return Vec::new();
    }
    let list = match state.sign_in_providers(tenant).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "sign-in providers unavailable; the page offers the password form only");
            return Vec::new();
        }
    };
    list.iter()
        .filter(|(name, _)| upstream.is_none_or(|u| u == name))
        .map(|(name, display)| SignInLink {
            href: format!(
                "{}?{}",
                urls.upstream_signin(tenant, name),
                crate::web::response::encode_pairs(&[("tx", sealed)])
            ),
            display_name: display.clone(),
        })
        .collect()
}

/// The links' HTML (empty without links).
pub fn links_html(lang: Lang, links: &[SignInLink]) -> String {
    if links.is_empty() {
        return String::new();
    }
    let items: String = links
        .iter()
        .map(|l| {
            let name = escape(&l.display_name);
            format!(
                "<li><a href=\"{}\">{}</a></li>",
                escape(&l.href),
                say(lang, Key::SignInWith, &[("provider", &name)])
            )
        })
        .collect();
    format!(
        "<nav class=\"fed\" aria-labelledby=\"fed-h\"><h2 id=\"fed-h\" class=\"hint\">{}</h2><ul>{items}</ul></nav>",
        say(lang, Key::SignInOr, &[])
    )
}

/// The authorization request the sign-in came from, as an authorize URL:
/// the login page again, for the password form.
pub fn retry_url(
    urls: &Config,
    tenant: &TenantId,
    c: &ClientRequest,
    connect: Option<&str>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
    ];
    if c.redirect_uri_in_request {
        pairs.push(("redirect_uri", &c.redirect_uri));
    }
    if !c.scope.is_empty() {
        pairs.push(("scope", &c.scope));
    }
    if let Some(s) = &c.state {
        pairs.push(("state", s));
    }
    if let Some(cc) = &c.code_challenge {
        pairs.push(("code_challenge", cc));
        pairs.push(("code_challenge_method", "S256"));
    }
    if let Some(n) = &c.nonce {
        pairs.push(("nonce", n));
    }
    if let Some(l) = &c.lang {
        pairs.push(("ui_locales", l));
    }
    if let Some(u) = connect {
        pairs.push(("upstream", u));
    }
    format!(
        "{}?{}",
        urls.endpoint(Function::Authorize, tenant),
        crate::web::response::encode_pairs(&pairs)
    )
}

/// The page of a sign-in that signed nobody in: what happened, and a link to
/// the password form of the same request.
pub fn failed_page(lang: Lang, title: Key, message: Key, provider: &str, retry: &str) -> String {
    let provider = escape(provider);
    page(
        lang,
        i18n::text(lang, title),
        &format!(
            "<main><h1>{}</h1><p class=\"err\" role=\"alert\">{}</p><p><a href=\"{}\">{}</a></p></main>",
            say(lang, title, &[]),
            say(lang, message, &[("provider", &provider)]),
            escape(retry),
            say(lang, Key::SignInWithPassword, &[]),
        ),
        "no-referrer",
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_escaped_and_translated() {
        let links = [SignInLink {
            href: "https://cb.example/x?tx=a&b=\"c\"".into(),
            display_name: "<b>Corp</b> ID".into(),
        }];
        let en = links_html(Lang::En, &links);
        assert!(
            en.contains("Sign in with &lt;b&gt;Corp&lt;/b&gt; ID"),
            "{en}"
        );
        assert!(en.contains("href=\"https://cb.example/x?tx=a&amp;b=&quot;c&quot;\""));
        assert!(!en.contains("<b>"));
        assert!(links_html(Lang::Fr, &links).contains("Se connecter avec"));
        assert!(links_html(Lang::De, &links).contains("anmelden"));
        assert_eq!(links_html(Lang::En, &[]), "");
    }
}
