//! A small order-preserving parallel map for the audit chain's CPU-bound work (ML-DSA signing
//! of a batch, signature checks of a window of lines). Threads pull small runs of items from a
//! shared counter instead of taking fixed halves, so a core that is busy with something else
//! does not leave the other idle at the end of a batch.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Items taken per pull: large enough that the counter is not contended, small enough to
/// balance a few hundred items over a few threads.
const RUN: usize = 4;

/// Upper bound on threads; 4 unless lowered by [`set_max_threads`].
static MAX_THREADS: AtomicUsize = AtomicUsize::new(4);

/// Lower (or restore) the thread cap for this process. Benchmarks set 1 to measure what the
/// parallel path gains over one thread in the same run; applications have no need for it.
pub fn set_max_threads(n: usize) {
    MAX_THREADS.store(n.clamp(1, 4), Ordering::Relaxed);
}

/// Threads to use: the cores available to this process, at most 4 (more brings little for a
/// library call and takes cores from the application).
pub fn threads() -> usize {
    // Read once: `available_parallelism` reads cgroup files on every call.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    cores.clamp(1, MAX_THREADS.load(Ordering::Relaxed))
}

/// `items.iter().map(f)` on up to `threads()` scoped threads, results in input order. `None`
/// when a worker thread panicked (the caller turns that into its own error).
pub fn map<T, R, F>(items: &[T], min_per_thread: usize, f: F) -> Option<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let n = threads().min(items.len() / min_per_thread.max(1));
    if n <= 1 {
        return Some(items.iter().map(f).collect());
    }
    let next = AtomicUsize::new(0);
    let parts: Vec<Option<Vec<(usize, R)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let start = next.fetch_add(RUN, Ordering::Relaxed);
                        if start >= items.len() {
                            break;
                        }
                        let end = (start + RUN).min(items.len());
                        for (i, item) in items[start..end].iter().enumerate() {
                            out.push((start + i, f(item)));
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for part in parts {
        for (i, r) in part? {
            slots[i] = Some(r);
        }
    }
    slots.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_for_any_size() {
        for len in [0usize, 1, 3, 7, 64, 1001] {
            let items: Vec<usize> = (0..len).collect();
            let out = map(&items, 2, |x| x * 3).unwrap();
            assert_eq!(out, items.iter().map(|x| x * 3).collect::<Vec<_>>());
        }
    }
}
