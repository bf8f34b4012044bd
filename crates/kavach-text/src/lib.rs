//! Offending values in error messages, cut short: the one rule every kavach crate applies.
//!
//! Values reported in errors may come from an attacker or from the other side of a wire (a
//! policy name, a context id, a key id in an envelope, a token id): echoed whole, a megabyte
//! of input becomes a megabyte of error message, in logs and in every `catch`; echoed raw, a
//! control or bidirectional character can disguise what the message says.

/// At most this many characters of an offending value go into an error message.
pub const EXCERPT_CHARS: usize = 100;

/// `s` for an error message: at most [`EXCERPT_CHARS`] characters, control and invisible
/// characters escaped, and when cut, an ellipsis and the full length.
pub fn excerpt(s: &str) -> String {
    clip(s, EXCERPT_CHARS)
}

/// [`excerpt`] with another bound: at most `max` characters.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (shown, c) in s.chars().enumerate() {
        if shown == max {
            let total = s.chars().count();
            out.push_str(&format!("… ({total} characters)"));
            return out;
        }
        if c.is_control() || is_invisible(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that render as nothing, yet are part of the value: Unicode's default-ignorable
/// code points (zero-width and bidirectional controls, the soft hyphen, the combining grapheme
/// joiner, variation selectors, Hangul fillers, Mongolian free variation selectors, tags...).
/// Two names that differ only by them look the same while comparing different.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn default_ignorable_characters_are_invisible_and_visible_ones_are_not() {
        for c in [
            '\u{AD}',
            '\u{34F}',
            '\u{115F}',
            '\u{17B4}',
            '\u{180E}',
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2061}',
            '\u{2064}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{E0041}',
            '\u{E0100}',
        ] {
            assert!(is_invisible(c), "{}", c.escape_unicode());
        }
        for c in [
            'a',
            '-',
            ' ',
            '\u{E9}',
            '\u{301}',
            '\u{3042}',
            '\u{FF54}',
            '\u{1F600}',
        ] {
            assert!(!is_invisible(c), "{}", c.escape_unicode());
        }
    }

    #[test]
    fn short_values_pass_and_long_ones_are_cut_with_their_length() {
        assert_eq!(excerpt("ctx-1"), "ctx-1");
        let long = "A".repeat(1_000_000);
        let e = excerpt(&long);
        assert!(e.starts_with(&"A".repeat(EXCERPT_CHARS)), "{e}");
        assert!(e.ends_with("… (1000000 characters)"), "{e}");
        assert!(e.chars().count() < 130, "{e}");
        assert_eq!(clip(&long, 5), "AAAAA… (1000000 characters)");
    }

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        assert_eq!(excerpt("a\0b\u{202E}"), "a\\u{0}b\\u{202e}");
        assert_eq!(excerpt("x\u{200B}y"), "x\\u{200b}y");
        assert!(is_invisible('\u{FEFF}'));
        assert!(!is_invisible('a'));
    }
}
