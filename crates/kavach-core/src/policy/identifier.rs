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
use unicode_script::UnicodeScript;

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

/// The confusable script of a character, for the three scripts whose letters look alike, by
/// its Unicode Script property: every Latin, Greek or Cyrillic character counts wherever it is
/// encoded (fullwidth forms, phonetic small capitals, IPA, the Extended blocks). Characters
/// shared by scripts (Common: digits, `_`, `.`; Inherited: combining marks) belong to none.
/// Coptic counts as Greek: its letters (`ϭ`, `ⲁ`, `ⲟ`) copy Greek and Latin shapes, and Unicode
/// encodes some of them in the Greek block.
fn script(c: char) -> Option<Script> {
    match c.script() {
        unicode_script::Script::Latin => Some(Script::Latin),
        unicode_script::Script::Greek | unicode_script::Script::Coptic => Some(Script::Greek),
        unicode_script::Script::Cyrillic => Some(Script::Cyrillic),
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

    fn mixes_scripts(name: &str) -> bool {
        name_problem(name)
            .is_some_and(|p| p.contains("mixes letters of the Latin, Greek and Cyrillic"))
    }

    #[test]
    fn refuses_script_mixes_from_every_block_of_the_scripts() {
        let bad = [
            // ASCII + Cyrillic е
            "d\u{0435}lete_user",
            // Fullwidth Latin + Cyrillic е
            "\u{ff44}\u{0435}\u{ff4c}\u{0435}\u{ff54}\u{0435}",
            // Cyrillic ԁ ӏ е + Latin small capital T (U+1D1B)
            "\u{0501}\u{0435}\u{04cf}\u{0435}\u{1d1b}\u{0435}",
            // IPA ɡ (U+0261) + Cyrillic
            "\u{0261}\u{0435}\u{0442}",
            // Latin Extended-C Ɑ (U+2C6D) + Greek
            "\u{2c6d}\u{03bb}\u{03c6}\u{03b1}",
            // Latin Extended-D ꞵ (U+A7B5) + Cyrillic
            "\u{a7b5}\u{0435}\u{0442}",
            // Latin Extended-E ꭓ (U+AB53) + Greek
            "\u{ab53}\u{03b1}",
            // Greek small capital Γ (U+1D26) + ASCII
            "\u{1d26}amma",
            // Cyrillic small capital Л (U+1D2B) and modifier Н (U+1D78) + ASCII
            "\u{1d2b}ogin",
            "admi\u{1d78}",
            // Greek Extended ἀ (U+1F00) + Cyrillic
            "\u{1f00}\u{0431}",
            // Cyrillic Extended-B (U+A641) + Latin Extended Additional (U+1E01)
            "\u{a641}\u{1e01}",
            // Coptic letters, in the Greek block (ϭ U+03ED, ϩ U+03E9) and their own (ⲁ U+2C81), + ASCII
            "d\u{03ed}lete",
            "\u{03e9}oot",
            "\u{2c81}dmin",
        ];
        let let_through: Vec<&str> = bad.into_iter().filter(|b| !mixes_scripts(b)).collect();
        assert!(let_through.is_empty(), "not refused: {let_through:?}");
    }

    #[test]
    fn accepts_one_script_with_shared_characters() {
        for ok in [
            "delete_user",
            "caf\u{e9}",
            // NFD é: a combining mark belongs to no script.
            "cafe\u{0301}",
            "\u{3b1}\u{3b2}\u{3b3}",
            "\u{443}\u{434}\u{430}\u{43b}\u{438}\u{442}\u{44c}",
            "\u{434}\u{0301}",
            "user_2.v10",
            "\u{3b1}\u{3b2}\u{3b3}_3.14",
            "\u{443}\u{434}\u{430}\u{43b}\u{438}\u{442}\u{44c}_2.0",
            // Fullwidth and IPA letters alone are Latin like ASCII.
            "\u{ff44}\u{ff45}\u{ff4c}\u{ff45}\u{ff54}\u{ff45}",
            "\u{0261}et_user",
            // × and ÷ are signs shared by every script, not Latin letters.
            "\u{3b1}\u{d7}\u{3b2}",
            "\u{436}\u{f7}\u{437}",
            // Scripts other than the three are not look-alikes of them.
            "\u{6ce8}\u{6587}_order",
        ] {
            assert_eq!(name_problem(ok), None, "{ok:?}");
        }
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
