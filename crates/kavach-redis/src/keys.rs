//! Key names. Every key starts with `kavach:`, then the optional user prefix, then the kind,
//! then the caller's id inside a hash tag: `kavach:<prefix>:rl:{<key>}`,
//! `kavach:<prefix>:sess:{<session id>}`. Each script touches exactly one key, so in a Redis
//! Cluster every script runs on one slot; the tag keeps it so if a script ever needs a
//! companion key for the same id.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{RedisStoreError, Result};

/// Checks a user prefix: non-empty printable ASCII without braces (a brace would move the
/// hash tag) or whitespace.
pub(crate) fn validate_prefix(prefix: Option<&str>) -> Result<String> {
    match prefix {
        None => Ok(String::new()),
        Some(p) => {
            let ok = !p.is_empty()
                && p.len() <= 128
                && p.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
            if ok {
                Ok(format!("{p}:"))
            } else {
                Err(RedisStoreError::InvalidArgument(format!(
                    "invalid key prefix '{p}': use 1-128 printable ASCII characters without braces or spaces"
                )))
            }
        }
    }
}

/// `kavach:<prefix:>kind:{id}`; `prefix` is what [`validate_prefix`] returned.
pub(crate) fn key(prefix: &str, kind: &str, id: &str) -> String {
    let mut k = String::with_capacity(10 + prefix.len() + kind.len() + id.len());
    k.push_str("kavach:");
    k.push_str(prefix);
    k.push_str(kind);
    k.push_str(":{");
    k.push_str(id);
    k.push('}');
    k
}

/// 64 random bits from the std hasher's per-process random keys (no extra dependency): used
/// to make rate-limit members and replica ids unique across processes.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_tagged() {
        assert_eq!(key("", "rl", "p:a"), "kavach:rl:{p:a}");
        assert_eq!(key("app:", "sess", "s1"), "kavach:app:sess:{s1}");
    }

    #[test]
    fn prefixes_with_braces_or_spaces_are_rejected() {
        assert_eq!(validate_prefix(None).ok(), Some(String::new()));
        assert_eq!(validate_prefix(Some("t1")).ok(), Some("t1:".into()));
        for bad in ["", "a{b", "a}b", "a b"] {
            let err = validate_prefix(Some(bad)).err();
            assert!(
                matches!(err, Some(RedisStoreError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}
