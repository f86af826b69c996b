//! A tenant's branding of its sign-in page: display name, logo, primary colour
//! and plain-language descriptions of its own (API) scopes. Every value is
//! parsed here, once, with its bounds; the page renders only parsed values.
//!
//! Contrast follows WCAG 2.x: relative luminance of sRGB colours and the
//! contrast ratio `(L1 + 0.05) / (L2 + 0.05)`. Text on the tenant's colour is
//! black or white, whichever contrasts more; one of them always reaches 4.5:1.

use std::collections::BTreeMap;

/// The largest logo accepted (bytes of PNG). Stored inside the tenant item
/// (DynamoDB's limit is 400 KB an item) and sent inline, base64, in every
/// sign-in page.
pub const MAX_LOGO_BYTES: usize = 32 * 1024;
/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;
/// The longest scope description, in characters.
pub const MAX_SCOPE_DESCRIPTION: usize = 200;
/// How many scopes a tenant may describe.
pub const MAX_SCOPE_DESCRIPTIONS: usize = 50;
/// The longest scope name that may be described (bytes).
pub const MAX_SCOPE_NAME: usize = 128;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branding {
    /// Shown instead of the tenant's name on the page.
    pub display_name: Option<String>,
    pub logo: Option<Logo>,
    pub primary_color: Option<Rgb>,
    /// Scope name → what it lets the application do, in the tenant's words.
    pub scope_descriptions: BTreeMap<String, String>,
}

/// A PNG image: the signature and an `IHDR` first chunk were checked, and it
/// is at most [`MAX_LOGO_BYTES`].
#[derive(Clone, PartialEq, Eq)]
pub struct Logo(Vec<u8>);

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logo({} bytes)", self.0.len())
    }
}

impl Logo {
    pub fn from_png(bytes: Vec<u8>) -> Result<Logo, String> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(format!(
                "the logo is {} bytes; at most {MAX_LOGO_BYTES} are accepted",
                bytes.len()
            ));
        }
        // Signature, then the first chunk: length 13, type IHDR, width and
        // height non-zero.
        let ok = bytes.len() >= 8 + 8 + 13
            && bytes[..8] == PNG_SIGNATURE
            && bytes[8..12] == [0, 0, 0, 13]
            && &bytes[12..16] == b"IHDR"
            && bytes[16..20] != [0, 0, 0, 0]
            && bytes[20..24] != [0, 0, 0, 0];
        if !ok {
            return Err("the logo must be a PNG image".to_owned());
        }
        Ok(Logo(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An sRGB colour given as `#RRGGBB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const BLACK: Rgb = Rgb(0, 0, 0);
pub const WHITE: Rgb = Rgb(255, 255, 255);

impl Rgb {
    /// `#RRGGBB` (hex digits in either case); nothing else.
    pub fn parse(s: &str) -> Result<Rgb, String> {
        let bad = || format!("a colour must be written #RRGGBB, not {s:?}");
        let hex = s.strip_prefix('#').ok_or_else(bad)?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Rgb(byte(0)?, byte(2)?, byte(4)?))
    }

    /// `#rrggbb`: safe in CSS and HTML as it is.
    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2.x relative luminance (0 for black, 1 for white).
    pub fn luminance(self) -> f64 {
        fn channel(c: u8) -> f64 {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }

    /// Black or white: whichever contrasts more with this colour as background.
    pub fn readable_text(self) -> Rgb {
        if contrast(self, BLACK) >= contrast(self, WHITE) {
            BLACK
        } else {
            WHITE
        }
    }
}

/// WCAG contrast ratio, from 1 (none) to 21 (black on white).
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    let (hi, lo) = if la >= lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

fn one_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A display name: 1 to [`MAX_DISPLAY_NAME`] characters on one line.
pub fn parse_display_name(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > MAX_DISPLAY_NAME || !one_line(t) {
        return Err(format!(
            "a display name must be 1 to {MAX_DISPLAY_NAME} printable characters on one line"
        ));
    }
    Ok(t.to_owned())
}

/// `SCOPE=TEXT`: a scope token (RFC 6749 §3.3 characters) and 1 to
/// [`MAX_SCOPE_DESCRIPTION`] characters of text on one line.
pub fn parse_scope_description(s: &str) -> Result<(String, String), String> {
    let (scope, text) = s
        .split_once('=')
        .ok_or_else(|| format!("a scope description is SCOPE=TEXT, not {s:?}"))?;
    let scope_ok = !scope.is_empty()
        && scope.len() <= MAX_SCOPE_NAME
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if !scope_ok {
        return Err(format!("not a scope name: {scope:?}"));
    }
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_SCOPE_DESCRIPTION || !one_line(text) {
        return Err(format!(
            "the description of {scope} must be 1 to {MAX_SCOPE_DESCRIPTION} printable characters on one line"
        ));
    }
    Ok((scope.to_owned(), text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    pub const TINY_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn only_small_pngs_are_logos() {
        assert!(Logo::from_png(TINY_PNG.to_vec()).is_ok());
        assert!(Logo::from_png(b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()).is_err());
        assert!(Logo::from_png(b"GIF89a".to_vec()).is_err());
        assert!(Logo::from_png(PNG_SIGNATURE.to_vec()).is_err(), "no IHDR");
        let mut big = TINY_PNG.to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert!(Logo::from_png(big).is_err());
        let mut max = TINY_PNG.to_vec();
        max.resize(MAX_LOGO_BYTES, 0);
        assert!(Logo::from_png(max).is_ok());
    }

    #[test]
    fn colours_are_hash_and_six_hex_digits() {
        assert_eq!(Rgb::parse("#1A2b3C"), Ok(Rgb(0x1a, 0x2b, 0x3c)));
        assert_eq!(Rgb::parse("#1A2b3C").unwrap().css(), "#1a2b3c");
        for bad in [
            "1a2b3c",
            "#1a2b3",
            "#1a2b3c4",
            "#1a2b3g",
            "red",
            "#fff",
            "#1a2b3c;x",
            "",
            "#ééé",
        ] {
            assert!(Rgb::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn luminance_and_contrast_match_wcag() {
        assert!((WHITE.luminance() - 1.0).abs() < 1e-9);
        assert!(BLACK.luminance().abs() < 1e-9);
        assert!((contrast(BLACK, WHITE) - 21.0).abs() < 1e-9);
        // WCAG's worked values: #777777 on white is 4.48:1, #767676 4.54:1.
        assert!((contrast(Rgb(0x77, 0x77, 0x77), WHITE) - 4.48).abs() < 0.01);
        assert!((contrast(Rgb(0x76, 0x76, 0x76), WHITE) - 4.54).abs() < 0.01);
    }

    #[test]
    fn the_readable_text_colour_reaches_4_5_to_1_on_any_colour() {
        // Every 8th step of each channel, and the extremes.
        let steps: Vec<u8> = (0..=255u16)
            .step_by(8)
            .map(|v| v as u8)
            .chain([255])
            .collect();
        for &r in &steps {
            for &g in &steps {
                for &b in &steps {
                    let bg = Rgb(r, g, b);
                    let c = contrast(bg, bg.readable_text());
                    assert!(c >= 4.5, "{} gives {c:.2}", bg.css());
                }
            }
        }
        assert_eq!(Rgb::parse("#ffcc00").unwrap().readable_text(), BLACK);
        assert_eq!(Rgb::parse("#003366").unwrap().readable_text(), WHITE);
    }

    #[test]
    fn display_names_and_scope_descriptions_are_bounded_and_one_line() {
        assert_eq!(parse_display_name("  Acme  ").unwrap(), "Acme");
        assert!(parse_display_name("").is_err());
        assert!(parse_display_name("a\nb").is_err());
        assert!(parse_display_name(&"x".repeat(MAX_DISPLAY_NAME + 1)).is_err());
        assert_eq!(
            parse_scope_description("api=Read your orders").unwrap(),
            ("api".to_owned(), "Read your orders".to_owned())
        );
        assert_eq!(
            parse_scope_description("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
        for bad in ["api", "=text", "api=", "a b=text", "api=x\ny", "a\"=t"] {
            assert!(parse_scope_description(bad).is_err(), "{bad:?}");
        }
        let long = format!("api={}", "x".repeat(MAX_SCOPE_DESCRIPTION + 1));
        assert!(parse_scope_description(&long).is_err());
    }
}
