//! A direct connection whose socket the host event loop reads (`loop_hooks`), not tokio.
//!
//! Why: on the JS thread, a reply read by a tokio task cost a tokio tick (the runtime entered,
//! its I/O driver polled, the reader task and then the evaluation run) plus the socket's
//! registration in tokio's epoll, which Node's epoll watches in turn: each reply woke two
//! epoll instances, and each tick ended with a driver poll. Here libuv reports the socket
//! readable, `read_ready` reads the reply with one `recv` and answers the waiting callers, and
//! the binding polls the evaluations they wake right away.
//!
//! Writes go straight to the socket (non-blocking) under the lock that orders the callers'
//! queue, so bytes and waiting callers stay in the same order. Should the kernel's send
//! buffer be full, the rest is kept in order in `Waiting::out` and a tokio task flushes it
//! when the socket turns writable; later commands queue behind it. (At most two script calls
//! per lane are in flight, so this takes a server that stopped reading.)

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use super::{answer_replies, Shared, Waiting};
use crate::loop_hooks::{hooks, SocketWatch};

/// Bytes read per `recv`; a fuller socket is read again at once.
const READ_CHUNK: usize = 16 * 1024;

pub struct LoopIo {
    stream: Arc<TcpStream>,
    _watch: SocketWatch,
}

impl LoopIo {
    /// Hands `stream`'s reads to this thread's host loop, if it has one; otherwise gives the
    /// stream back with `buf` (bytes read past the handshake), and tokio keeps it.
    pub fn start(
        stream: tokio::net::TcpStream,
        buf: Vec<u8>,
        shared: &Arc<Shared>,
    ) -> std::io::Result<Result<Self, (tokio::net::TcpStream, Vec<u8>)>> {
        let Some(hooks) = hooks() else {
            return Ok(Err((stream, buf)));
        };
        // Out of tokio's reactor; the socket stays non-blocking.
        let stream = Arc::new(stream.into_std()?);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&*stream);
        let buf = Arc::new(parking_lot::Mutex::new(buf));
        let reader = {
            let (stream, shared, buf) = (stream.clone(), shared.clone(), buf.clone());
            Arc::new(move || read_ready(&stream, &mut buf.lock(), &shared))
        };
        match (hooks.watch_socket)(fd, reader) {
            Some(watch) => Ok(Ok(Self {
                stream,
                _watch: watch,
            })),
            None => {
                let stream = Arc::try_unwrap(stream)
                    .map_err(|_| std::io::Error::other("socket still shared"))?;
                let buf = std::mem::take(&mut *buf.lock());
                Ok(Err((tokio::net::TcpStream::from_std(stream)?, buf)))
            }
        }
    }

    /// Writes `packed` (or queues it behind bytes not yet sent). Called with the callers' queue
    /// locked, after the caller joined it.
    pub fn send(&self, packed: &[u8], w: &mut Waiting, shared: &Arc<Shared>) -> Result<(), String> {
        if !w.out.is_empty() {
            w.out.extend_from_slice(packed);
            return Ok(());
        }
        let mut done = 0;
        while done < packed.len() {
            match (&*self.stream).write(&packed[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let stream = self
                        .stream
                        .try_clone()
                        .map_err(|e| format!("write stalled: {e}"))?;
                    w.out.extend_from_slice(&packed[done..]);
                    tokio::spawn(flush(stream, shared.clone()));
                    return Ok(());
                }
                Err(e) => return Err(format!("write failed: {e}")),
            }
        }
        Ok(())
    }
}

/// The host loop's callback: the socket is readable. False once the connection is over.
fn read_ready(stream: &TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> bool {
    if shared.broken().is_some() {
        return false;
    }
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let why = match (&*stream).read(&mut chunk) {
            Ok(0) => "connection closed by the server".to_owned(),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                match answer_replies(buf, shared) {
                    Ok(()) if n == READ_CHUNK => continue,
                    Ok(()) => return true,
                    Err(why) => why,
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => format!("read failed: {e}"),
        };
        shared.break_with(why);
        // Whatever the server sends now is nobody's: the connection is done.
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return false;
    }
}

/// Sends what `send` could not, as the socket drains (through a duplicate descriptor that
/// tokio watches while this runs); ends when nothing is left or the connection broke.
async fn flush(stream: TcpStream, shared: Arc<Shared>) {
    let stream = match tokio::net::TcpStream::from_std(stream) {
        Ok(s) => s,
        Err(e) => return shared.break_with(format!("write stalled: {e}")),
    };
    loop {
        if let Err(e) = stream.writable().await {
            return shared.break_with(format!("write failed: {e}"));
        }
        let mut w = shared.waiting.lock();
        if w.broken.is_some() {
            w.out.clear();
            return;
        }
        match stream.try_write(&w.out) {
            Ok(n) => {
                w.out.drain(..n);
                if w.out.is_empty() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => {
                drop(w);
                return shared.break_with(format!("write failed: {e}"));
            }
        }
    }
}
