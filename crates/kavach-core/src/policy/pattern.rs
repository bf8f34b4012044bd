//! Name patterns for `action` and `resource`: an exact name, a prefix ending in `*` or `.*`
//! (`refund.*` and `refund*` both mean "starts with refund"), or `*` alone for everything.
//! A `*` anywhere else is rejected: it would look like a glob this language does not have.
//! Pattern text follows the name rules of [`super::identifier`] and is held in NFC, the form
//! the gate compares context names in.

use super::identifier;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Prefix(String),
    Any,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(problem) = identifier::name_problem(text) {
            return Err(problem);
        }
        let text = &*identifier::nfc(text);
        let stem = if let Some(s) = text.strip_suffix(".*") {
            Some(s)
        } else {
            text.strip_suffix('*')
        };
        let pattern = match stem {
            None => Pattern::Exact(text.to_owned()),
            Some("") => Pattern::Any,
            Some(s) => Pattern::Prefix(s.to_owned()),
        };
        let body = match &pattern {
            Pattern::Exact(s) | Pattern::Prefix(s) => s.as_str(),
            Pattern::Any => "",
        };
        if body.contains('*') {
            return Err(format!(
                "invalid pattern '{}': '*' is only allowed at the end ('name*' or 'name.*') or alone",
                identifier::excerpt(text)
            ));
        }
        Ok(pattern)
    }

    #[inline]
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == name,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
            Pattern::Any => true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::Pattern;

    #[test]
    fn corners() {
        let p = Pattern::parse("refund.*").unwrap();
        assert_eq!(p, Pattern::Prefix("refund".into()));
        assert!(p.matches("refund"));
        assert!(p.matches("refund.issue"));
        assert!(p.matches("refunds"));
        assert!(!p.matches("refun"));
        assert!(!p.matches("Refund.issue"));
        let p = Pattern::parse("refund*").unwrap();
        assert!(p.matches("refund_small") && p.matches("refund") && !p.matches("xrefund"));
        assert_eq!(Pattern::parse("*").unwrap(), Pattern::Any);
        assert_eq!(Pattern::parse(".*").unwrap(), Pattern::Any);
        assert!(Pattern::parse("*").unwrap().matches(""));
        let p = Pattern::parse("issue_refund").unwrap();
        assert!(p.matches("issue_refund"));
        assert!(!p.matches("issue_refund2"));
        assert!(!p.matches("issue_refun"));
        // Unicode prefixes work on whole characters.
        assert!(Pattern::parse("zahlung.*").unwrap().matches("zahlungü"));
        // Held in NFC: a decomposed pattern matches the composed name.
        assert!(Pattern::parse("lo\u{0308}schen_*")
            .unwrap()
            .matches("löschen_alles"));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "re*fund",
            "**",
            "refund**",
            "*.refund",
            "a*.*",
            " ",
            "\0",
            "a\u{200b}*",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }
}
