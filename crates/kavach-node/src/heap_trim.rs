//! Gives the memory a large policy load freed back to the system. Parsing a policy text takes
//! many times its size for a moment (TOML about 40 times, docs/SECURITY.md "Loading a policy
//! set"), and glibc's allocator keeps most of what is freed mapped: without a trim a service
//! that loaded a 10 MB TOML set kept about 400 MB more RSS for good, though the compiled set
//! holds about 25 MB.

/// Texts shorter than this are not followed by a trim (their transient memory is small, and a
/// trim walks the whole heap).
const TRIM_AFTER_TEXT_BYTES: usize = 1 << 20;

/// Called after loading (or failing to load) a policy text of `text_bytes`.
pub fn after_policy_text(text_bytes: usize) {
    if text_bytes < TRIM_AFTER_TEXT_BYTES {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` has no preconditions: it takes glibc's arena locks itself and
    // releases only memory that is already free, so no pointer Rust or Node holds is affected.
    // Exercised by __test__/policy-load-memory.test.ts (a large TOML load).
    unsafe {
        libc::malloc_trim(0);
    }
}
