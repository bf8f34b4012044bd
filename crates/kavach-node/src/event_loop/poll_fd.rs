//! Finding the descriptor that tells libuv when the event-loop runtime has work: the epoll
//! instance of its tokio I/O driver. Every socket the runtime owns and its cross-thread
//! waker are registered there, so that one descriptor turns readable whenever a task may make
//! progress. Tokio does not expose it; it is the one `[eventpoll]` descriptor that appears
//! while the runtime is built (a process-wide lock keeps our own builds apart, and the caller
//! checks the result before trusting it). Linux only; elsewhere the runtime stays off.

#[cfg(target_os = "linux")]
use std::collections::HashSet;

/// A file descriptor (`std::os::fd::RawFd` where that exists).
pub type RawFd = std::ffi::c_int;

#[cfg(target_os = "linux")]
fn eventpoll_fds() -> Option<HashSet<RawFd>> {
    let mut out = HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        let entry = entry.ok()?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            if target.as_os_str() == "anon_inode:[eventpoll]" {
                out.insert(fd);
            }
        }
    }
    Some(out)
}

/// What an epoll descriptor watches (the `tfd:` lines of its fdinfo): equal for descriptors
/// of one epoll instance (mio duplicates its descriptor, so a runtime shows up as two).
#[cfg(target_os = "linux")]
fn watched(fd: RawFd) -> Option<Vec<String>> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    Some(
        info.lines()
            .filter(|l| l.starts_with("tfd:"))
            .map(str::to_owned)
            .collect(),
    )
}

/// Builds the runtime with `build` and returns it with its epoll descriptor, or None when the
/// new epoll descriptors are not all one instance.
#[cfg(target_os = "linux")]
pub fn build_with_poll_fd<R>(build: impl FnOnce() -> Option<R>) -> Option<(R, RawFd)> {
    static BUILDING: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _one_at_a_time = BUILDING.lock();
    let before = eventpoll_fds()?;
    let rt = build()?;
    let after = eventpoll_fds()?;
    let mut new: Vec<RawFd> = after.difference(&before).copied().collect();
    new.sort_unstable();
    let first = *new.first()?;
    let instance = watched(first)?;
    if instance.is_empty()
        || new
            .iter()
            .any(|&fd| watched(fd).as_ref() != Some(&instance))
    {
        return None;
    }
    Some((rt, first))
}

#[cfg(not(target_os = "linux"))]
pub fn build_with_poll_fd<R>(_build: impl FnOnce() -> Option<R>) -> Option<(R, RawFd)> {
    None
}

/// Whether `fd` has events waiting (a zero-timeout `poll`).
#[cfg(unix)]
pub fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) > 0 && (p.revents & libc::POLLIN) != 0 }
}

#[cfg(not(unix))]
pub fn readable(_fd: RawFd) -> bool {
    false
}
