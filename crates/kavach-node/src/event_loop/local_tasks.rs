//! Evaluations polled on the JS thread by the event-loop runtime itself, outside tokio's
//! scheduler.
//!
//! Why: a tokio tick costs even when one task is ready: the runtime is entered, its park hook
//! runs, and tokio polls the I/O driver (an `epoll_wait`) before the tick can end, and an
//! evaluation run as a tokio task needs two (one to start it and write the script, one to
//! read the reply and finish it). Here `evaluateAsync`'s JS call polls the evaluation until
//! it waits on Redis, and the libuv callback that reads the reply (`socket_watch.rs`) polls
//! what the reply woke: no tick, no driver poll.
//!
//! The tasks run inside the runtime's context (`Runtime::enter`), so tokio's timers (command
//! timeouts) and anything spawned still work; the runtime's own ticks (the 1 ms in-flight
//! timer, its descriptor turning readable) poll what woke up during them when they end
//! (`EventLoopRuntime::run_local`). A wake from another thread queues the task for this
//! thread and spawns a no-op tokio task, which makes the runtime's descriptor readable:
//! libuv ticks, and the tick's end polls the task.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

use parking_lot::Mutex;
use tokio::runtime::{Handle, Runtime};

use super::InFlight;

type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A task's slot and the generation that filled it (a waker of a finished task must not poll
/// the slot's next tenant).
type TaskId = (usize, u64);

thread_local! {
    /// Tasks woken on this thread, in wake order.
    static READY: RefCell<VecDeque<TaskId>> = const { RefCell::new(VecDeque::new()) };
}

struct Slot {
    generation: u64,
    /// None while it is being polled.
    task: Option<Task>,
    wake: Arc<TaskWake>,
    waker: Waker,
    _in_flight: InFlight,
}

struct TaskWake {
    id: TaskId,
    /// Already in a ready queue (cleared just before each poll).
    queued: AtomicBool,
    home: ThreadId,
    remote: Arc<Remote>,
}

/// Wakes that came from other threads.
struct Remote {
    ids: Mutex<Vec<TaskId>>,
    pending: AtomicBool,
    handle: Handle,
}

impl Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if std::thread::current().id() == self.home
            && READY
                .try_with(|r| r.borrow_mut().push_back(self.id))
                .is_ok()
        {
            return;
        }
        self.remote.ids.lock().push(self.id);
        self.remote.pending.store(true, Ordering::Release);
        drop(self.remote.handle.spawn(async {}));
    }
}

pub struct LocalTasks {
    slots: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
    generations: Cell<u64>,
    polling: Cell<bool>,
    remote: Arc<Remote>,
    in_flight: Arc<AtomicUsize>,
}

impl LocalTasks {
    /// Tasks of the runtime behind `handle`, counted in `in_flight` while alive.
    pub fn new(handle: Handle, in_flight: Arc<AtomicUsize>) -> Self {
        Self {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            generations: Cell::new(0),
            polling: Cell::new(false),
            remote: Arc::new(Remote {
                ids: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                handle,
            }),
            in_flight,
        }
    }

    /// True while `run_ready` polls (a task spawned now is polled before it returns).
    pub fn polling(&self) -> bool {
        self.polling.get()
    }

    /// Adds a task, ready to be polled by the next `run_ready`. Call on the runtime's thread.
    pub fn spawn(&self, task: Task) {
        let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut slots = self.slots.borrow_mut();
            slots.push(None);
            slots.len() - 1
        });
        let generation = self.generations.get().wrapping_add(1);
        self.generations.set(generation);
        let wake = Arc::new(TaskWake {
            id: (index, generation),
            queued: AtomicBool::new(true),
            home: std::thread::current().id(),
            remote: self.remote.clone(),
        });
        let waker = Waker::from(wake.clone());
        self.slots.borrow_mut()[index] = Some(Slot {
            generation,
            task: Some(task),
            wake,
            waker,
            _in_flight: InFlight::new(&self.in_flight),
        });
        READY.with(|r| r.borrow_mut().push_back((index, generation)));
    }

    /// Polls every woken task, and the tasks they wake, until none is ready. Inside the
    /// runtime's context. Does nothing when called from inside a poll (the outer call goes on).
    pub fn run_ready(&self, rt: &Runtime) {
        if self.polling.replace(true) {
            return;
        }
        let _polling = ClearOnDrop(&self.polling);
        let _context = rt.enter();
        while let Some((index, generation)) = self.next_ready() {
            let taken = {
                let mut slots = self.slots.borrow_mut();
                match slots.get_mut(index).and_then(Option::as_mut) {
                    Some(slot) if slot.generation == generation => slot.task.take().map(|t| {
                        slot.wake.queued.store(false, Ordering::Release);
                        (t, slot.waker.clone())
                    }),
                    _ => None,
                }
            };
            let Some((mut task, waker)) = taken else {
                continue;
            };
            let mut cx = Context::from_waker(&waker);
            // A task that panics ends alone, as a tokio task would (the panic hook reports it).
            let pending = matches!(
                std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx))),
                Ok(Poll::Pending)
            );
            if pending {
                if let Some(Some(slot)) = self.slots.borrow_mut().get_mut(index) {
                    slot.task = Some(task);
                }
                continue;
            }
            let slot = self.slots.borrow_mut()[index].take();
            self.free.borrow_mut().push(index);
            // Dropped outside the borrows: a future's drop may wake or spawn tasks.
            drop(task);
            drop(slot);
        }
    }

    fn next_ready(&self) -> Option<TaskId> {
        if self.remote.pending.swap(false, Ordering::AcqRel) {
            let woken = std::mem::take(&mut *self.remote.ids.lock());
            READY.with(|r| r.borrow_mut().extend(woken));
        }
        READY.with(|r| r.borrow_mut().pop_front())
    }
}

/// Clears the `polling` flag however `run_ready` ends.
struct ClearOnDrop<'a>(&'a Cell<bool>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::sync::atomic::AtomicU32;

    use std::rc::Rc;

    use super::*;

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A runtime, its local tasks and their in-flight count.
    fn setup() -> (Runtime, LocalTasks, Arc<AtomicUsize>) {
        let rt = runtime();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let tasks = LocalTasks::new(rt.handle().clone(), in_flight.clone());
        (rt, tasks, in_flight)
    }

    /// Pending until woken `n` times by itself, counting its polls.
    fn yields(n: u32, polls: Arc<AtomicU32>) -> Task {
        let mut left = n;
        Box::pin(std::future::poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            if left == 0 {
                return Poll::Ready(());
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }))
    }

    #[test]
    fn a_task_that_wakes_itself_runs_to_the_end_in_one_run() {
        let (rt, t, in_flight) = setup();
        let polls = Arc::new(AtomicU32::new(0));
        t.spawn(yields(3, polls.clone()));
        assert_eq!(in_flight.load(Ordering::Relaxed), 1);
        t.run_ready(&rt);
        assert_eq!(polls.load(Ordering::Relaxed), 4);
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_wake_from_another_thread_is_polled_by_the_next_run_on_this_one() {
        let (rt, t, in_flight) = setup();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let got = Arc::new(AtomicU32::new(0));
        let seen = got.clone();
        t.spawn(Box::pin(async move {
            seen.store(rx.await.unwrap(), Ordering::Relaxed);
        }));
        t.run_ready(&rt);
        assert_eq!(in_flight.load(Ordering::Relaxed), 1, "waits for the value");
        std::thread::spawn(move || tx.send(7).unwrap())
            .join()
            .unwrap();
        assert!(t.remote.pending.load(Ordering::Acquire));
        t.run_ready(&rt);
        assert_eq!(got.load(Ordering::Relaxed), 7);
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_panicking_task_ends_alone() {
        let (rt, t, in_flight) = setup();
        let polls = Arc::new(AtomicU32::new(0));
        t.spawn(Box::pin(async { panic!("task failed") }));
        t.spawn(yields(1, polls.clone()));
        t.run_ready(&rt);
        assert_eq!(polls.load(Ordering::Relaxed), 2);
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
        assert!(!t.polling(), "the next run polls again");
    }

    #[test]
    fn a_finished_tasks_waker_does_not_poll_the_next_tenant_of_its_slot() {
        let (rt, t, _) = setup();
        let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
        let keep = kept.clone();
        t.spawn(Box::pin(std::future::poll_fn(move |cx| {
            *keep.lock() = Some(cx.waker().clone());
            Poll::Ready(())
        })));
        t.run_ready(&rt);
        let polls = Arc::new(AtomicU32::new(0));
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        let counted = polls.clone();
        t.spawn(Box::pin(async move {
            counted.fetch_add(1, Ordering::Relaxed);
            let _ = rx.await;
        }));
        t.run_ready(&rt);
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        kept.lock().take().unwrap().wake();
        t.run_ready(&rt);
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "same slot, new generation"
        );
    }

    thread_local! {
        /// The tasks a test task spawns into (as the drain hook reaches the runtime's).
        static SPAWN_INTO: RefCell<Option<Rc<LocalTasks>>> = const { RefCell::new(None) };
    }

    #[test]
    fn tasks_spawned_while_polling_run_in_the_same_run_with_tokio_in_context() {
        let (rt, t, in_flight) = setup();
        let t = Rc::new(t);
        SPAWN_INTO.with(|s| *s.borrow_mut() = Some(t.clone()));
        let done = Arc::new(AtomicU32::new(0));
        let d = done.clone();
        t.spawn(Box::pin(async move {
            let inner: Task = Box::pin(async move {
                // Tokio's timer needs the runtime's context.
                tokio::time::timeout(std::time::Duration::from_secs(5), async {})
                    .await
                    .unwrap();
                d.fetch_add(1, Ordering::Relaxed);
            });
            SPAWN_INTO.with(|s| s.borrow().as_ref().unwrap().spawn(inner));
        }));
        t.run_ready(&rt);
        assert_eq!(done.load(Ordering::Relaxed), 1);
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
        SPAWN_INTO.with(|s| s.borrow_mut().take());
    }
}
