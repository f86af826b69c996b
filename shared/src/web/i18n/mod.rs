//! The words of the sign-in, consent and error pages in English, French,
//! Dutch and German, and the choice among them: OIDC `ui_locales` first, then
//! the browser's `Accept-Language`, then English.
//!
//! Texts are plain text (the page escapes them); `{name}` marks a value the
//! page fills in. A test checks that every key has a text in every language,
//! with the same placeholders.

mod catalog;

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
    Nl,
    De,
}

/// How many language ranges of a header or `ui_locales` are looked at.
const MAX_RANGES: usize = 32;

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Fr, Lang::Nl, Lang::De];

    /// The BCP 47 primary tag, for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Nl => "nl",
            Lang::De => "de",
        }
    }

    /// A language tag (`fr`, `fr-CA`, `nl_BE`, any case) by its primary subtag.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// `ui_locales` (space-separated, in order of preference) wins when it
    /// names a language the pages have; then `Accept-Language` (by q-value,
    /// ties in order); then English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = ui_locales.and_then(|u| {
            u.split_ascii_whitespace()
                .take(MAX_RANGES)
                .find_map(Lang::from_tag)
        }) {
            return l;
        }
        accept_language.and_then(best_accepted).unwrap_or_default()
    }
}

/// The supported language with the highest q-value in an `Accept-Language`
/// header (RFC 9110 §12.5.4); `q=0` means "not this one".
fn best_accepted(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u32)> = None;
    for range in header.split(',').take(MAX_RANGES) {
        let mut parts = range.split(';');
        let Some(lang) = parts.next().and_then(Lang::from_tag) else {
            continue;
        };
        let q = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| qvalue(v.trim()))
            })
            .unwrap_or(Some(1000));
        let Some(q) = q.filter(|q| *q > 0) else {
            continue;
        };
        if best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(l, _)| l)
}

/// A q-value in thousandths; `None` when malformed.
fn qvalue(v: &str) -> Option<u32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: u32 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac),
        "1" if frac == 0 => Some(1000),
        _ => None,
    }
}

macro_rules! keys {
    ($($k:ident),* $(,)?) => {
        /// A text of the pages.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Key { $($k),* }
        impl Key {
            pub const ALL: &'static [Key] = &[$(Key::$k),*];
        }
    };
}

keys! {
    SignInTitle, AsksAccess, BasicAccess,
    ScopeOpenid, ScopeProfile, ScopeEmail, ScopeOfflineAccess,
    NoStateWarning, Username, Password, Allow, Deny, DecisionHint,
    ErrBadCredentials, ErrChooseDecision, ErrThrottled, ErrMustChangePassword,
    ReturnAndRetry, NotFoundTitle, NotFoundMsg, UnknownTenantTitle, UnknownTenantMsg,
    InvalidRequestTitle, MsgRepeatsClientOrRedirect, MsgNoClientId, MsgUnknownClient,
    MsgRedirectNotRegistered, MsgNoRedirectSeveral, MsgNotAForm, MsgFormRepeatsField,
    MsgTooLarge, MsgNotUtf8, MsgTooLong,
    SignInRefusedTitle, SignInRefusedMsg, SignInExpiredTitle, SignInExpiredMsg,
    UnavailableTitle, UnavailableMsg, InternalTitle, InternalMsg,
    MethodNotAllowedTitle, MethodNotAllowedMsg,
    UsesUpstream, ConnectFailedTitle, ConnectFailedMsg,
    SignInOr, SignInWith, SignInNotLinkedTitle, SignInNotLinkedMsg,
    SignInFailedTitle, SignInFailedMsg, SignInUnavailableMsg, SignInWithPassword,
}

/// The text of `key` in `lang` (English if a translation were ever missing).
pub fn text(lang: Lang, key: Key) -> &'static str {
    let find = |l: Lang| table(l).iter().find(|(k, _)| *k == key).map(|(_, t)| *t);
    find(lang).or_else(|| find(Lang::En)).unwrap_or("")
}

/// The scope's built-in plain-language description, if it has one.
pub fn scope_key(scope: &str) -> Option<Key> {
    match scope {
        "openid" => Some(Key::ScopeOpenid),
        "profile" => Some(Key::ScopeProfile),
        "email" => Some(Key::ScopeEmail),
        "offline_access" => Some(Key::ScopeOfflineAccess),
        _ => None,
    }
}

fn table(lang: Lang) -> &'static [(Key, &'static str)] {
    match lang {
        Lang::En => catalog::EN,
        Lang::Fr => catalog::FR,
        Lang::Nl => catalog::NL,
        Lang::De => catalog::DE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn placeholders(s: &str) -> BTreeSet<&str> {
        s.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_key_exists_in_every_language_once_with_the_same_placeholders() {
        for lang in Lang::ALL {
            let t = table(lang);
            assert_eq!(t.len(), Key::ALL.len(), "{lang:?}: one entry per key");
            for key in Key::ALL {
                let found: Vec<&str> = t
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, s)| *s)
                    .collect();
                assert_eq!(found.len(), 1, "{lang:?} {key:?}");
                assert!(!found[0].trim().is_empty(), "{lang:?} {key:?} is empty");
                assert_eq!(
                    placeholders(found[0]),
                    placeholders(text(Lang::En, *key)),
                    "{lang:?} {key:?} has the English placeholders"
                );
                assert!(
                    !found[0].contains(['<', '>', '&', '"']),
                    "{lang:?} {key:?} is plain text"
                );
            }
        }
    }

    #[test]
    fn translations_are_translated() {
        // Apart from words that are the same in both languages, no text is
        // a copy of the English one.
        for lang in [Lang::Fr, Lang::Nl, Lang::De] {
            let same: Vec<Key> = Key::ALL
                .iter()
                .copied()
                .filter(|k| text(lang, *k) == text(Lang::En, *k))
                .collect();
            assert!(same.is_empty(), "{lang:?} copies English for {same:?}");
        }
    }

    #[test]
    fn ui_locales_wins_then_accept_language_then_english() {
        use Lang::*;
        assert_eq!(Lang::negotiate(None, None), En);
        assert_eq!(Lang::negotiate(Some("fr-CA en"), Some("de")), Fr);
        assert_eq!(Lang::negotiate(Some("ja nl-BE"), Some("de")), Nl);
        assert_eq!(Lang::negotiate(Some("ja"), Some("de-DE,de;q=0.9")), De);
        assert_eq!(Lang::negotiate(Some(""), Some("fr")), Fr);
        assert_eq!(
            Lang::negotiate(None, Some("ja,en;q=0.5,nl;q=0.8,de;q=0.7")),
            Nl
        );
        assert_eq!(Lang::negotiate(None, Some("fr;q=0, de;q=0.1")), De);
        assert_eq!(Lang::negotiate(None, Some("fr;q=0")), En);
        assert_eq!(Lang::negotiate(None, Some("NL_be")), Nl);
        assert_eq!(Lang::negotiate(None, Some("*")), En);
        assert_eq!(Lang::negotiate(None, Some("de;q=2, fr;q=0.5")), Fr);
        assert_eq!(Lang::negotiate(None, Some("de;q=abc")), En);
        assert_eq!(Lang::negotiate(None, Some("fr, de")), Fr, "ties: first");
        assert_eq!(Lang::negotiate(None, Some(";;;,,,=,q=")), En);
        let long = "xx,".repeat(10_000) + "fr";
        assert_eq!(Lang::negotiate(None, Some(&long)), En, "bounded");
    }

    #[test]
    fn scopes_with_built_in_words() {
        assert_eq!(scope_key("openid"), Some(Key::ScopeOpenid));
        assert_eq!(scope_key("offline_access"), Some(Key::ScopeOfflineAccess));
        assert_eq!(scope_key("api"), None);
        assert!(text(Lang::En, Key::ScopeOfflineAccess).starts_with("Stay signed in"));
    }
}
