//! Random v4 UUIDs for evaluation and token ids, cheap enough for the hot path: each thread
//! draws 4096 bytes from the OS generator at a time (one syscall per 256 ids instead of one per id).
//! The bytes are as unpredictable as the OS generator's; a used byte is never reused.

use std::cell::RefCell;

use uuid::{Builder, Uuid};

const BUF: usize = 4096;

struct Pool {
    bytes: [u8; BUF],
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; BUF], used: BUF }) };
}

/// A fresh random (version 4) UUID.
pub fn new_v4() -> Uuid {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + 16 > BUF {
            if getrandom::fill(&mut pool.bytes).is_err() {
                // The OS generator failed: let uuid ask it again directly (its own behaviour).
                return Uuid::new_v4();
            }
            pool.used = 0;
        }
        let mut id = [0u8; 16];
        let start = pool.used;
        id.copy_from_slice(&pool.bytes[start..start + 16]);
        // Wipe what was handed out, so the buffer never holds a live id's bytes twice.
        pool.bytes[start..start + 16].fill(0);
        pool.used += 16;
        Builder::from_random_bytes(id).into_uuid()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    #[test]
    fn distinct_v4_ids_across_refills() {
        let ids: std::collections::HashSet<_> = (0..2000).map(|_| super::new_v4()).collect();
        assert_eq!(ids.len(), 2000);
        assert!(ids.iter().all(|u| u.get_version_num() == 4));
    }
}
