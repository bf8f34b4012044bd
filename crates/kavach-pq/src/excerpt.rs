//! Offending values in error messages, cut short (the shared rule of kavach-text). Many values
//! this crate reports come from the other side of a wire (a context id, a key id in an
//! envelope, a nonce, a token id).

pub use kavach_text::{excerpt, EXCERPT_CHARS};

/// Error messages of other libraries (serde_json) that may quote input are cut at this many
/// characters: long enough for the message itself, short enough to bound what it quotes.
pub const MESSAGE_CHARS: usize = 400;

/// Another library's error message, cut to [`MESSAGE_CHARS`] characters.
pub fn message(e: impl std::fmt::Display) -> String {
    kavach_text::clip(&e.to_string(), MESSAGE_CHARS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn another_librarys_message_is_cut_to_its_bound() {
        let long = "A".repeat(1_000_000);
        let m = message(&long);
        assert!(m.chars().count() < MESSAGE_CHARS + 30, "{m}");
        assert!(m.ends_with("… (1000000 characters)"), "{m}");
    }
}
