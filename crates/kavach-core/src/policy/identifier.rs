//! The text rules for the names a policy matches on: action names, principal ids, roles and
//! resources in a context, and the same names and patterns in a policy. Both sides are held in
//! Unicode NFC, so `é` typed as one code point or as `e` + combining accent compare equal.
//!
//! A name is refused (not cleaned) when it holds text that would make two names look the same
//! while comparing different: control characters (including `\0`), zero-width characters
//! (U+200B..U+200D, U+2060, U+FEFF), bidirectional controls (U+200E, U+200F, U+061C,
//! U+202A..U+202E, U+2066..U+2069), leading or trailing whitespace, or letters of more than one
//! of the Latin, Greek and Cyrillic scripts (`dеlete_user` with a Cyrillic `е`). Each name is
//! at most [`MAX_NAME_BYTES`] bytes of UTF-8.

use std::borrow::Cow;

use unicode_normalization::{is_nfc, is_nfc_quick, IsNormalized, UnicodeNormalization};

/// The longest action name, principal id, role, resource or policy name, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 256;

// The excerpt rule for error messages is shared by every crate (kavach-text).
use kavach_text::is_invisible;
pub use kavach_text::{excerpt, EXCERPT_CHARS};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

/// The confusable script of a letter, for the three scripts whose letters look alike.
fn script(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' => {
            Some(Script::Latin)
        }
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(Script::Greek),
        '\u{0400}'..='\u{052F}'
        | '\u{1C80}'..='\u{1C8F}'
        | '\u{2DE0}'..='\u{2DFF}'
        | '\u{A640}'..='\u{A69F}' => Some(Script::Cyrillic),
        _ => None,
    }
}

/// The common case of a valid name, in one pass: non-empty, within the length limit, printable
/// ASCII (inner spaces allowed) without a space at either end. Such a name has one script and
/// is in NFC.
pub fn is_plain_ascii_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            b.len() <= MAX_NAME_BYTES
                && first != b' '
                && last != b' '
                && b.iter().all(|c| (0x20..0x7f).contains(c))
        }
        _ => false,
    }
}

/// Why `s` cannot be a name the gate matches on, or `None`. Checks the length, the characters
/// and the scripts of its NFC form, the form the gate holds and compares names in: policies and
/// contexts then accept exactly the same names (`U+037E` is `;` in NFC, `U+2126` is a Greek
/// omega). Whether `s` itself is in NFC is not checked (see [`nfc`]).
pub fn name_problem(s: &str) -> Option<String> {
    if is_plain_ascii_name(s) {
        return None;
    }
    let s = &*nfc(s);
    if s.is_empty() {
        return Some("must be a non-empty string".into());
    }
    if s.len() > MAX_NAME_BYTES {
        return Some(format!(
            "is {} bytes long, over the limit of {MAX_NAME_BYTES} bytes",
            s.len()
        ));
    }
    let bytes = s.as_bytes();
    if bytes[0] == b' ' || bytes[bytes.len() - 1] == b' ' {
        return Some(format!(
            "'{}' has leading or trailing whitespace",
            excerpt(s)
        ));
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Some(format!(
            "'{}' has leading or trailing whitespace",
            excerpt(s)
        ));
    }
    let mut first_script = None;
    for (i, c) in s.chars().enumerate() {
        if c.is_control() {
            return Some(format!(
                "'{}' contains the control character {} at character {i}",
                excerpt(s),
                c.escape_unicode()
            ));
        }
        if c == '\u{FFFD}' {
            return Some(format!(
                "'{}' contains U+FFFD at character {i} (text that was not valid Unicode, e.g. a lone surrogate)",
                excerpt(s)
            ));
        }
        if is_invisible(c) {
            return Some(format!(
                "'{}' contains the invisible character {} at character {i}",
                excerpt(s),
                c.escape_unicode()
            ));
        }
        if let Some(sc) = script(c) {
            match first_script {
                None => first_script = Some(sc),
                Some(f) if f != sc => {
                    return Some(format!(
                        "'{}' mixes letters of the Latin, Greek and Cyrillic scripts (look-alike characters) at character {i}",
                        excerpt(s)
                    ))
                }
                Some(_) => {}
            }
        }
    }
    None
}

/// Whether `s` is in NFC (ASCII always is).
pub fn is_nfc_name(s: &str) -> bool {
    s.is_ascii() || is_nfc(s)
}

/// `s` in NFC, borrowed when it already is.
pub fn nfc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// Replaces `s` by its NFC form when it is not already in it.
pub fn nfc_in_place(s: &mut String) {
    if let Cow::Owned(n) = nfc(s) {
        *s = n;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "delete_user",
            "refund.issue",
            "tool 1",
            "zahlung_löschen",
            "удалить",
            "ρόλος",
            "注文",
        ] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn refuses_look_alikes() {
        for bad in [
            "",
            " delete",
            "delete ",
            "delete\u{a0}",
            "delete\0",
            "delete\u{200b}",
            "de\u{202e}lete",
            "d\u{0435}lete_user",
            "\u{feff}delete",
            "delete\u{fffd}",
        ] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(name_problem(&"a".repeat(257)).unwrap().contains("256"));
    }

    #[test]
    fn normalises_to_nfc() {
        assert_eq!(nfc("lo\u{0308}schen"), "löschen");
        assert!(matches!(nfc("löschen"), Cow::Borrowed(_)));
        assert!(!is_nfc_name("lo\u{0308}schen"));
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1_000_000);
        let e = excerpt(&long);
        assert!(e.len() < 130 && e.ends_with("(1000000 characters)"), "{e}");
        assert_eq!(excerpt("a\0b"), "a\\u{0}b");
    }
}
