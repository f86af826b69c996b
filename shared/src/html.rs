//! Server-rendered pages: the login + consent form and the error page.
//! No external assets, readable without CSS, every echoed value escaped.

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem;line-height:1.4;color:#222}\
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}\
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}\
.actions{display:flex;gap:.6rem;margin-top:1.2rem}\
button{flex:1;padding:.7rem;font-size:1rem;cursor:pointer}\
.err{background:#fde8e8;border:1px solid #e0a0a0;padding:.6rem;border-radius:4px}\
.warn{background:#fff4d6;border:1px solid #d9b44a;padding:.6rem;border-radius:4px}\
ul{padding-left:1.2rem}";

/// `referrer` is the page's referrer policy: `no-referrer` everywhere but on
/// the login form, which must let the browser send its origin to the callback
/// (the callback refuses form posts from any other origin: login CSRF).
fn page(title: &str, body: &str, referrer: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"{referrer}\">\
<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

pub struct LoginPage<'a> {
    pub action: &'a str,
    pub client_name: &'a str,
    pub tenant_name: &'a str,
    pub scopes: &'a [String],
    pub tx: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// The request carried no `state`: warn that the application did not
    /// protect this sign-in against cross-site request forgery.
    pub no_state: bool,
}

impl LoginPage<'_> {
    pub fn render(&self) -> String {
        let scopes: String = if self.scopes.is_empty() {
            "<li>basic access</li>".to_owned()
        } else {
            self.scopes
                .iter()
                .map(|s| format!("<li>{}</li>", escape(s)))
                .collect()
        };
        let error = self
            .error
            .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", escape(e)))
            .unwrap_or_default();
        let warning = if self.no_state {
            "<p class=\"warn\" id=\"no-state-warning\">Warning: this application did not protect \
this sign-in against cross-site request forgery (the request has no <code>state</code>). \
Continue only if you started this sign-in yourself.</p>"
        } else {
            ""
        };
        let body = format!(
            "<main><h1>Sign in to {tenant}</h1>\
<p><strong>{client}</strong> asks for access to your account:</p><ul>{scopes}</ul>{warning}{error}\
<form id=\"login\" method=\"post\" action=\"{action}\" autocomplete=\"on\">\
<input type=\"hidden\" name=\"tx\" value=\"{tx}\">\
<label for=\"username\">Username</label>\
<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" value=\"{username}\" required>\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></div>\
</form></main>",
            tenant = escape(self.tenant_name),
            client = escape(self.client_name),
            action = escape(self.action),
            tx = escape(self.tx),
            username = escape(self.username),
        );
        page(
            &format!("Sign in to {}", self.tenant_name),
            &body,
            crate::http::LOGIN_REFERRER_POLICY,
        )
    }
}

/// An error the user sees instead of a redirect (the redirect target is not trusted).
pub fn error_page(title: &str, message: &str) -> String {
    page(
        title,
        &format!(
            "<main><h1>{}</h1><p class=\"err\" role=\"alert\">{}</p>\
<p>Return to the application and try again.</p></main>",
            escape(title),
            escape(message)
        ),
        "no-referrer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_echoed_is_escaped() {
        let p = LoginPage {
            action: "https://x/cb?a=1&b=\"2\"",
            client_name: "<script>alert(1)</script>",
            tenant_name: "a'b",
            scopes: &["<s>".into()],
            tx: "t\"x",
            username: "\"><img src=x>",
            error: Some("<b>"),
            no_state: true,
        }
        .render();
        assert!(!p.contains("<script>"));
        assert!(!p.contains("<img"));
        assert!(!p.contains("<s>"));
        assert!(!p.contains("<b>"));
        assert!(p.contains("id=\"login\""));
        assert!(p.contains("name=\"decision\" value=\"allow\""));
        assert!(p.contains("name=\"decision\" value=\"deny\""));
        assert!(p.contains("no-state-warning"));
        assert!(p.contains("content=\"strict-origin\""));
    }
}
