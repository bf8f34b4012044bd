//! Random v4 UUIDs for evaluation and token ids. Every evaluation draws one or two, so they come
//! from uuid's `fast-rng` (rand's thread-local ChaCha12, seeded and periodically reseeded from
//! the OS generator) rather than a system call per id: the kernel's generator cost about 6 % of
//! a `gate.evaluate` on this project's bench machine even when read 4 KiB at a time. The ids
//! are as unpredictable as the OS generator's seed; processes do not share generator state
//! (Node starts workers with `spawn`/`exec`, never a bare `fork`).

use uuid::Uuid;

/// A fresh random (version 4) UUID.
pub fn new_v4() -> Uuid {
    Uuid::new_v4()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    #[test]
    fn distinct_v4_ids() {
        let ids: std::collections::HashSet<_> = (0..100_000).map(|_| super::new_v4()).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(ids.iter().all(|u| u.get_version_num() == 4));
    }

    #[test]
    fn threads_draw_different_ids() {
        let draw = || (0..1_000).map(|_| super::new_v4()).collect::<Vec<_>>();
        let a = std::thread::spawn(draw).join().unwrap();
        let b = std::thread::spawn(draw).join().unwrap();
        let all: std::collections::HashSet<_> = a.iter().chain(&b).collect();
        assert_eq!(all.len(), 2_000);
    }
}
