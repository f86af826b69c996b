//! Server-rendered pages: the login + consent form and the error page.
//! No external assets, readable without CSS, every echoed value escaped.

use crate::domain::branding::Branding;
use crate::web::i18n::{self, Key, Lang};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

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

/// The pages' style sheet. Colours meet WCAG AA on white (text ≥ 4.5:1,
/// borders and the focus ring ≥ 3:1); `--p` is the tenant's primary colour
/// and `--pt` the text colour readable on it (see `domain::branding`).
const STYLE: &str = ":root{--p:#1d4ed8;--pt:#fff}\
body{font-family:system-ui,sans-serif;max-width:26rem;margin:1.5rem auto;padding:0 1rem;line-height:1.45;color:#1f1f1f;background:#fff}\
main{border-top:6px solid var(--p);padding-top:.8rem}\
.logo{display:block;max-height:3.5rem;max-width:100%;width:auto;margin:.4rem 0}\
h1{font-size:1.35rem;margin:.6rem 0}\
label{display:block;margin:.9rem 0 .25rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.65rem;font-size:1rem;border:1px solid #6b6b6b;border-radius:4px}\
.actions{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1rem}\
button{flex:1 1 8rem;padding:.75rem;font-size:1rem;border-radius:4px;cursor:pointer;border:2px solid #6b6b6b;background:#fff;color:#1f1f1f}\
.allow{background:var(--p);color:var(--pt);border-color:var(--pt)}\
:focus-visible{outline:3px solid #1f1f1f;outline-offset:2px}\
.hint{font-size:.9rem;color:#4a4a4a;margin:.9rem 0 0}\
.err{background:#fde8e8;border:1px solid #b42318;padding:.6rem;border-radius:4px}\
.warn{background:#fff4d6;border:1px solid #8a6d00;padding:.6rem;border-radius:4px}\
ul{padding-left:1.2rem}\
.fed ul{list-style:none;padding:0}.fed a{display:block;padding:.7rem;margin:.5rem 0;border:2px solid #6b6b6b;border-radius:4px;color:#1f1f1f;text-align:center;text-decoration:none}";

/// `referrer` is the page's referrer policy: `no-referrer` everywhere but on
/// the login form, which must let the browser send its origin to the callback
/// (the callback refuses form posts from any other origin: login CSRF).
/// `style` is added to the style sheet (the tenant's colours).
pub(crate) fn page(lang: Lang, title: &str, body: &str, referrer: &str, style: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"{referrer}\">\
<title>{}</title><style>{STYLE}{style}</style></head><body>{body}</body></html>\n",
        escape(title),
        lang = lang.code(),
    )
}

/// A text of `lang`, escaped, with its `{name}` placeholders replaced by
/// `values` (already HTML).
pub(crate) fn say(lang: Lang, key: Key, values: &[(&str, &str)]) -> String {
    let mut out = escape(i18n::text(lang, key));
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

pub struct LoginPage<'a> {
    pub lang: Lang,
    pub action: &'a str,
    pub client_name: &'a str,
    pub tenant_name: &'a str,
    pub branding: &'a Branding,
    pub scopes: &'a [String],
    pub tx: &'a str,
    pub username: &'a str,
    /// An error about the credentials or the decision: announced
    /// (`role="alert"`), focused, and tied to the fields it is about.
    pub error: Option<Key>,
    /// The request carried no `state`: warn that the application did not
    /// protect this sign-in against cross-site request forgery.
    pub no_state: bool,
    /// Connecting an upstream account: its scope (`upstream:{name}`) and the
    /// provider's display name; that scope's item says the application will
    /// use the user's account there.
    pub upstream: Option<(&'a str, &'a str)>,
    /// "Sign in with …" links (`web::signin`), after the password form.
    pub sign_in: &'a [crate::web::signin::SignInLink],
}

impl LoginPage<'_> {
    /// The name the page shows: the tenant's display name, else its name.
    fn organisation(&self) -> &str {
        self.branding
            .display_name
            .as_deref()
            .unwrap_or(self.tenant_name)
    }

    /// One item per scope: the built-in words for the standard scopes, the
    /// tenant's words for its own, the raw name when there are none.
    fn scope_items(&self) -> String {
        if self.scopes.is_empty() {
            return format!("<li>{}</li>", say(self.lang, Key::BasicAccess, &[]));
        }
        self.scopes
            .iter()
            .map(|s| {
                if let Some((scope, provider)) = self.upstream
                    && s == scope
                {
                    let client = format!("<strong>{}</strong>", escape(self.client_name));
                    let provider = format!("<strong>{}</strong>", escape(provider));
                    let words = say(
                        self.lang,
                        Key::UsesUpstream,
                        &[("client", &client), ("provider", &provider)],
                    );
                    return format!("<li data-scope=\"{}\">{words}</li>", escape(s));
                }
                let words = match i18n::scope_key(s) {
                    Some(k) => Some(say(self.lang, k, &[])),
                    None => self.branding.scope_descriptions.get(s).map(|d| escape(d)),
                };
                match words {
                    Some(w) => format!("<li data-scope=\"{}\">{w}</li>", escape(s)),
                    None => format!("<li>{}</li>", escape(s)),
                }
            })
            .collect()
    }

    pub fn render(&self) -> String {
        let lang = self.lang;
        let org = escape(self.organisation());
        let client = format!("<strong>{}</strong>", escape(self.client_name));
        let logo = self
            .branding
            .logo
            .as_ref()
            .map(|l| {
                format!(
                    "<img class=\"logo\" src=\"data:image/png;base64,{}\" alt=\"\">",
                    STANDARD.encode(l.bytes())
                )
            })
            .unwrap_or_default();
        let warning = if self.no_state {
            format!(
                "<p class=\"warn\" id=\"no-state-warning\">{}</p>",
                say(
                    lang,
                    Key::NoStateWarning,
                    &[("state", "<code>state</code>")]
                )
            )
        } else {
            String::new()
        };
        // The error is focused on load (no script needed) and describes the
        // fields it is about.
        let (error, described, invalid) = match self.error {
            Some(key) => (
                format!(
                    "<p class=\"err\" id=\"login-error\" role=\"alert\" tabindex=\"-1\" autofocus>{}</p>",
                    say(lang, key, &[])
                ),
                " aria-describedby=\"login-error\"",
                if key == Key::ErrBadCredentials {
                    " aria-invalid=\"true\""
                } else {
                    ""
                },
            ),
            None => (String::new(), "", ""),
        };
        let body = format!(
            "<main>{logo}<h1>{title}</h1>\
<p>{asks}</p><ul>{scopes}</ul>{warning}{error}\
<form id=\"login\" method=\"post\" action=\"{action}\" autocomplete=\"on\">\
<input type=\"hidden\" name=\"tx\" value=\"{tx}\">\
<label for=\"username\">{user_label}</label>\
<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" value=\"{username}\" required{described}{invalid}>\
<label for=\"password\">{password_label}</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\"{described}{invalid}>\
<p class=\"hint\" id=\"decision-hint\">{hint}</p>\
<div class=\"actions\"><button type=\"submit\" class=\"allow\" name=\"decision\" value=\"allow\" aria-describedby=\"decision-hint\">{allow}</button>\
<button type=\"submit\" class=\"deny\" name=\"decision\" value=\"deny\" formnovalidate aria-describedby=\"decision-hint\">{deny}</button></div>\
</form>{sign_in}</main>",
            title = say(lang, Key::SignInTitle, &[("tenant", &org)]),
            asks = say(lang, Key::AsksAccess, &[("client", &client)]),
            scopes = self.scope_items(),
            action = escape(self.action),
            tx = escape(self.tx),
            username = escape(self.username),
            user_label = say(lang, Key::Username, &[]),
            password_label = say(lang, Key::Password, &[]),
            hint = say(lang, Key::DecisionHint, &[("client", &client)]),
            allow = say(lang, Key::Allow, &[]),
            deny = say(lang, Key::Deny, &[]),
            sign_in = crate::web::signin::links_html(lang, self.sign_in),
        );
        let style = match self.branding.primary_color {
            Some(c) => format!(":root{{--p:{};--pt:{}}}", c.css(), c.readable_text().css()),
            None => String::new(),
        };
        let title = i18n::text(lang, Key::SignInTitle).replace("{tenant}", self.organisation());
        page(
            lang,
            &title,
            &body,
            crate::web::response::LOGIN_REFERRER_POLICY,
            &style,
        )
    }
}

/// An error the user sees instead of a redirect (the redirect target is not
/// trusted): a title, a message (`{field}` filled with `field`), and what to do.
pub fn error_page(lang: Lang, title: Key, message: Key, field: Option<&str>) -> String {
    let field = escape(field.unwrap_or(""));
    page(
        lang,
        i18n::text(lang, title),
        &format!(
            "<main><h1>{}</h1><p class=\"err\" role=\"alert\">{}</p><p>{}</p></main>",
            say(lang, title, &[]),
            say(lang, message, &[("field", &field)]),
            say(lang, Key::ReturnAndRetry, &[]),
        ),
        "no-referrer",
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::branding::{Logo, Rgb};

    fn png() -> Logo {
        let mut b = vec![
            0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13,
        ];
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0, 0, 0, 0]);
        Logo::from_png(b).unwrap()
    }

    fn page<'a>(branding: &'a Branding, scopes: &'a [String], lang: Lang) -> LoginPage<'a> {
        LoginPage {
            lang,
            action: "https://cb.example/oauth2/acme/callback",
            client_name: "Test App",
            tenant_name: "acme",
            branding,
            scopes,
            tx: "tx",
            username: "",
            error: None,
            no_state: false,
            upstream: None,
            sign_in: &[],
        }
    }

    #[test]
    fn everything_echoed_is_escaped() {
        let branding = Branding {
            display_name: Some("<i>Acme</i>".into()),
            scope_descriptions: [("api".to_owned(), "<u>orders</u>".to_owned())].into(),
            ..Branding::default()
        };
        let p = LoginPage {
            lang: Lang::En,
            action: "https://x/cb?a=1&b=\"2\"",
            client_name: "<script>alert(1)</script>",
            tenant_name: "a'b",
            branding: &branding,
            scopes: &["<s>".into(), "api".into()],
            tx: "t\"x",
            username: "\"><img src=x>",
            error: Some(Key::ErrBadCredentials),
            no_state: true,
            upstream: Some(("upstream:m", "<b>Max</b>")),
            sign_in: &[],
        }
        .render();
        for raw in ["<script>", "<img", "<s>", "<i>", "<u>", "<b>"] {
            assert!(!p.contains(raw), "{raw} is escaped");
        }
        assert!(p.contains("&lt;i&gt;Acme&lt;/i&gt;"));
        assert!(p.contains("&lt;u&gt;orders&lt;/u&gt;"));
        assert!(p.contains("id=\"login\""));
        assert!(p.contains("name=\"decision\" value=\"allow\""));
        assert!(p.contains("name=\"decision\" value=\"deny\""));
        assert!(p.contains("no-state-warning"));
        assert!(p.contains("content=\"strict-origin\""));
    }

    #[test]
    fn every_language_sets_lang_and_translates_the_page() {
        let b = Branding::default();
        let scopes = ["openid".to_owned(), "offline_access".to_owned()];
        for (lang, title, allow) in [
            (Lang::En, "Sign in to acme", "Allow"),
            (Lang::Fr, "Connexion à acme", "Autoriser"),
            (Lang::Nl, "Aanmelden bij acme", "Toestaan"),
            (Lang::De, "Bei acme anmelden", "Zulassen"),
        ] {
            let mut p = page(&b, &scopes, lang);
            p.no_state = true;
            p.error = Some(Key::ErrBadCredentials);
            let html = p.render();
            assert!(
                html.contains(&format!("<html lang=\"{}\">", lang.code())),
                "{lang:?}"
            );
            assert!(html.contains(&format!("<title>{title}</title>")), "{html}");
            assert!(html.contains(&format!(
                "value=\"allow\" aria-describedby=\"decision-hint\">{allow}</button>"
            )));
            for key in [
                Key::ScopeOpenid,
                Key::ScopeOfflineAccess,
                Key::Username,
                Key::Password,
                Key::Deny,
                Key::ErrBadCredentials,
            ] {
                assert!(
                    html.contains(&escape(i18n::text(lang, key))),
                    "{lang:?} {key:?}"
                );
            }
            assert!(html.contains(&say(
                lang,
                Key::NoStateWarning,
                &[("state", "<code>state</code>")]
            )));
            let err = error_page(lang, Key::SignInExpiredTitle, Key::SignInExpiredMsg, None);
            assert!(err.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(err.contains(&escape(i18n::text(lang, Key::SignInExpiredMsg))));
        }
    }

    #[test]
    fn scopes_read_as_plain_words_with_the_raw_name_as_fallback() {
        let b = Branding {
            scope_descriptions: [("api".to_owned(), "Read your orders".to_owned())].into(),
            ..Branding::default()
        };
        let scopes: Vec<String> = [
            "openid",
            "profile",
            "email",
            "offline_access",
            "api",
            "other",
        ]
        .map(str::to_owned)
        .to_vec();
        let html = page(&b, &scopes, Lang::En).render();
        assert!(html.contains("<li data-scope=\"openid\">Confirm who you are"));
        assert!(html.contains("<li data-scope=\"profile\">See your name"));
        assert!(html.contains("<li data-scope=\"email\">See your email address</li>"));
        assert!(html.contains("<li data-scope=\"offline_access\">Stay signed in"));
        assert!(html.contains("<li data-scope=\"api\">Read your orders</li>"));
        assert!(html.contains("<li>other</li>"));
        let none = page(&b, &[], Lang::Nl).render();
        assert!(none.contains("<li>Basistoegang tot uw account</li>"));
    }

    #[test]
    fn branding_shows_the_display_name_logo_and_a_readable_colour() {
        let plain = page(&Branding::default(), &[], Lang::En).render();
        assert!(plain.contains("<h1>Sign in to acme</h1>"));
        assert!(!plain.contains("<img"));
        let b = Branding {
            display_name: Some("Acme Corporation".into()),
            logo: Some(png()),
            primary_color: Some(Rgb(0xff, 0xcc, 0x00)),
            ..Branding::default()
        };
        let html = page(&b, &[], Lang::En).render();
        assert!(html.contains("<h1>Sign in to Acme Corporation</h1>"));
        assert!(html.contains("<img class=\"logo\" src=\"data:image/png;base64,iVBORw0KGgo"));
        assert!(
            html.contains(":root{--p:#ffcc00;--pt:#000000}"),
            "black on yellow"
        );
        let dark = Branding {
            primary_color: Some(Rgb(0x00, 0x33, 0x66)),
            ..Branding::default()
        };
        assert!(
            page(&dark, &[], Lang::En)
                .render()
                .contains(":root{--p:#003366;--pt:#ffffff}")
        );
    }

    /// The default colours of the style sheet meet WCAG AA on white.
    #[test]
    fn default_colours_contrast_enough() {
        use crate::domain::branding::{WHITE, contrast};
        let css = |c: &str| Rgb::parse(c).unwrap();
        assert!(contrast(css("#1f1f1f"), WHITE) >= 4.5, "text");
        assert!(contrast(css("#4a4a4a"), WHITE) >= 4.5, "hint");
        assert!(contrast(css("#1f1f1f"), css("#fde8e8")) >= 4.5, "error");
        assert!(contrast(css("#1f1f1f"), css("#fff4d6")) >= 4.5, "warning");
        assert!(
            contrast(css("#1d4ed8"), WHITE) >= 4.5,
            "Allow: white on the default blue"
        );
        assert!(contrast(css("#6b6b6b"), WHITE) >= 3.0, "field borders");
        assert!(STYLE.contains("--p:#1d4ed8;--pt:#fff"));
    }

    #[test]
    fn an_error_is_announced_focused_and_tied_to_the_fields() {
        let b = Branding::default();
        let mut p = page(&b, &[], Lang::En);
        p.error = Some(Key::ErrBadCredentials);
        let html = p.render();
        assert!(html.contains("<p class=\"err\" id=\"login-error\" role=\"alert\" tabindex=\"-1\" autofocus>Incorrect username or password.</p>"));
        assert_eq!(
            html.matches("aria-describedby=\"login-error\" aria-invalid=\"true\"")
                .count(),
            2
        );
        assert!(
            html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">")
        );
        assert!(
            html.contains("autocomplete=\"username\"")
                && html.contains("autocomplete=\"current-password\"")
        );
        let calm = page(&b, &[], Lang::En).render();
        assert!(!calm.contains("role=\"alert\"") && !calm.contains("autofocus"));
    }

    #[test]
    fn the_page_is_small_and_asks_for_nothing_external() {
        // The largest page short of the logo: longest names, many described
        // scopes, the warning and an error.
        let scopes: Vec<String> = (0..20).map(|i| format!("api{i}")).collect();
        let b = Branding {
            display_name: Some("D".repeat(crate::domain::branding::MAX_DISPLAY_NAME)),
            primary_color: Some(Rgb(1, 2, 3)),
            scope_descriptions: scopes
                .iter()
                .map(|s| {
                    (
                        s.clone(),
                        "w".repeat(crate::domain::branding::MAX_SCOPE_DESCRIPTION),
                    )
                })
                .collect(),
            ..Branding::default()
        };
        let tx = "t".repeat(1500);
        let client = "C".repeat(200);
        for lang in Lang::ALL {
            let mut p = page(&b, &scopes, lang);
            p.client_name = &client;
            p.tx = &tx;
            p.no_state = true;
            p.error = Some(Key::ErrThrottled);
            let html = p.render();
            assert!(html.len() < 20 * 1024, "{lang:?}: {} bytes", html.len());
            for external in ["<script", "<link", "src=\"http", "href=", "url(", "@import"] {
                assert!(!html.contains(external), "{external}");
            }
        }
        let typical = page(
            &Branding::default(),
            &["openid".into(), "api".into()],
            Lang::En,
        )
        .render();
        assert!(typical.len() < 5 * 1024, "{} bytes", typical.len());
    }
}
