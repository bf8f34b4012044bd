//! Finding the descriptor that tells libuv when the event-loop runtime has work: the epoll
//! instance of its tokio I/O driver. Every socket the runtime owns and its cross-thread waker
//! are registered there, so that one descriptor turns readable whenever a task may make
//! progress. Tokio does not expose it, so it is identified by what it watches: a probe socket
//! is registered with the new runtime, and the runtime's epoll instance is the one descriptor
//! where adding the probe again fails with `EEXIST`. The instance is created while the runtime
//! is built, so the search starts at the lowest descriptor number free before the build and
//! stops at the first match. Linux only; elsewhere the runtime stays off.

/// A file descriptor (`std::os::fd::RawFd` where that exists).
pub type RawFd = std::ffi::c_int;

/// How far above the first free descriptor the search goes (the build creates two or three).
#[cfg(target_os = "linux")]
const SEARCH_SPAN: RawFd = 1024;

/// The lowest descriptor number free now (the kernel hands out the lowest free number).
#[cfg(target_os = "linux")]
fn lowest_free() -> Option<RawFd> {
    let probe = std::fs::File::open("/dev/null").ok()?;
    Some(std::os::fd::AsRawFd::as_raw_fd(&probe))
}

/// Whether `candidate` is an epoll instance that already watches `probe`. On any other epoll
/// instance the probe is added with no events (nothing can be reported for it) and removed
/// at once; on a descriptor that is not an epoll instance the call fails with `EINVAL`.
#[cfg(target_os = "linux")]
fn watches(candidate: RawFd, probe: RawFd) -> bool {
    let mut event = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: epoll_ctl only reads `event`; a failure changes nothing, a success on a foreign
    // instance is undone by the DEL below. Test: redis-event-loop.test.ts `runs on this (main)
    // thread` (the runtime starts only once this search and `verify_poll_fd` find its fd).
    unsafe {
        if libc::epoll_ctl(candidate, libc::EPOLL_CTL_ADD, probe, &mut event) == 0 {
            libc::epoll_ctl(candidate, libc::EPOLL_CTL_DEL, probe, &mut event);
            return false;
        }
        std::io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST)
    }
}

/// Builds the runtime with `build` and returns it with its epoll descriptor, or None when
/// it cannot be found.
#[cfg(target_os = "linux")]
pub fn build_with_poll_fd(
    build: impl FnOnce() -> Option<tokio::runtime::Runtime>,
) -> Option<(tokio::runtime::Runtime, RawFd)> {
    let from = lowest_free()?;
    let rt = build()?;
    let found = {
        let _context = rt.enter();
        let std_probe = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        std_probe.set_nonblocking(true).ok()?;
        // Registered with this runtime's I/O driver (its epoll instance) while it lives.
        let probe = tokio::net::UdpSocket::from_std(std_probe).ok()?;
        let probe_fd = std::os::fd::AsRawFd::as_raw_fd(&probe);
        (from..from.saturating_add(SEARCH_SPAN)).find(|&fd| fd != probe_fd && watches(fd, probe_fd))
    };
    Some((rt, found?))
}

#[cfg(not(target_os = "linux"))]
pub fn build_with_poll_fd(
    _build: impl FnOnce() -> Option<tokio::runtime::Runtime>,
) -> Option<(tokio::runtime::Runtime, RawFd)> {
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
    // SAFETY: one valid pollfd, zero timeout. Exercised by every evaluateAsync test of
    // __test__/redis-event-loop.test.ts (each tick's park checks the descriptor).
    unsafe { libc::poll(&mut p, 1, 0) > 0 && (p.revents & libc::POLLIN) != 0 }
}

#[cfg(not(unix))]
pub fn readable(_fd: RawFd) -> bool {
    false
}
