//! Hits that arrive while an earlier call on their lane is in flight wait and go out together
//! in the next call: one round trip and one script run for the whole group, instead of one
//! each. On a single server every key shares one lane, so concurrent hits for many keys share
//! a call too; in a Redis Cluster each key has its own lane (a script may touch one slot
//! only). The script records the hits in arrival order and answers each exactly as if they
//! had been sent one by one (see `script.rs`), so counts and limits are unchanged; what
//! changes is the Redis work per hit under load, which is when a rate limit matters most.
//!
//! A lane exists exactly while drain tasks (at most `CALLS_IN_FLIGHT`) serve it. A task takes
//! what is queued, runs one call, answers, and repeats until the queue is empty, then leaves
//! (under the same lock a newcomer checks, so nobody is left waiting on a finished task). If a call fails,
//! everything queued behind it is answered with the same error (a refusal): those hits arrived
//! during the outage, and making them wait out a second timeout would double the worst-case
//! latency. If the task dies (panic, runtime shutdown), its guard drops the queue and every
//! waiter gets an error, so a waiter never hangs and never gets a permit by default.

use std::collections::HashMap;
use std::sync::Arc;

use kavach_core::store::RateHit;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::{RedisStoreError, Result};

/// Hits that one script group covers: the Redis key, the window and the limit (hits for the
/// same key with another window or limit, say after a policy reload, form another group).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Group {
    pub redis_key: String,
    pub window_ms: u64,
    pub max: Option<u64>,
}

struct Waiter {
    group: Group,
    answer: oneshot::Sender<Result<RateHit>>,
}

/// Calls in flight per lane at most (each call is one atomic script, so any number stays
/// exact). Two let the JS thread work on the next group of evaluations while Redis runs the
/// previous call: with the TS layer starting small groups early (src/gate.ts), concurrency 16
/// gives about 140k evaluations/s against 90k with 1 in flight; 3 and 4 are no better.
const CALLS_IN_FLIGHT: usize = 2;

#[derive(Default)]
struct Lane {
    waiting: Vec<Waiter>,
    /// Drain tasks running for this lane (1..=CALLS_IN_FLIGHT while the lane exists).
    draining: usize,
}

/// Queues of waiting hits by lane.
#[derive(Default)]
pub struct Queues {
    by_lane: Mutex<HashMap<String, Lane>>,
}

impl Queues {
    /// Enqueues a hit on `lane`. Returns the receiver and whether the caller must start a
    /// drain task (fewer than `CALLS_IN_FLIGHT` run for this lane).
    pub fn join(&self, lane: &str, group: Group) -> (oneshot::Receiver<Result<RateHit>>, bool) {
        let (answer, rx) = oneshot::channel();
        let mut q = self.by_lane.lock();
        let l = match q.get_mut(lane) {
            Some(l) => l,
            None => q.entry(lane.to_owned()).or_default(),
        };
        l.waiting.push(Waiter { group, answer });
        let lead = l.draining < CALLS_IN_FLIGHT;
        if lead {
            l.draining += 1;
        }
        (rx, lead)
    }

    /// Up to `limit` waiting hits, oldest first; `None` when there are none, which ends this
    /// drain task (and removes the lane with the last one).
    fn take(&self, lane: &str, limit: usize) -> Option<Vec<Waiter>> {
        let mut q = self.by_lane.lock();
        let l = q.get_mut(lane)?;
        if l.waiting.is_empty() {
            release_slot(&mut q, lane);
            return None;
        }
        let n = l.waiting.len().min(limit);
        Some(l.waiting.drain(..n).collect())
    }

    /// Everything still waiting (used after a failure).
    fn take_waiting(&self, lane: &str) -> Vec<Waiter> {
        self.by_lane
            .lock()
            .get_mut(lane)
            .map(|l| std::mem::take(&mut l.waiting))
            .unwrap_or_default()
    }

    /// A drain task that stopped early: everything waiting fails, and the lane goes with its
    /// last task (so the next hit starts a fresh one).
    fn abandon(&self, lane: &str) {
        let mut q = self.by_lane.lock();
        if let Some(l) = q.get_mut(lane) {
            drop(std::mem::take(&mut l.waiting));
            release_slot(&mut q, lane);
        }
    }

    /// A lead's drain on a current-thread runtime: the first call runs in the caller's own
    /// future, and a task takes over only if hits are left for the lane after it.
    ///
    /// Why: at concurrency 1 a spawned drain task cost a task (allocate, schedule, complete)
    /// and a second hop when the reply came in: the task woke, answered through a channel,
    /// and that woke the evaluation. Here the reply wakes the evaluation itself. The caller
    /// first yields once, so the evaluations submitted with it (polled in the same group)
    /// join its call, as they joined a spawned task's before. If the caller's future is
    /// dropped mid-call, `DropGuard` fails everything queued, as for a task that dies.
    pub async fn drain_inline<F, Fut>(self: Arc<Self>, lane: String, limit: usize, call: F)
    where
        F: Fn(Vec<(Group, usize)>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<RateHit>>> + Send + 'static,
    {
        YieldOnce(false).await;
        let guard = DropGuard {
            queues: &self,
            lane: &lane,
        };
        let Some(batch) = self.take(&lane, limit) else {
            std::mem::forget(guard);
            return;
        };
        self.call_once(&lane, batch, &call).await;
        std::mem::forget(guard);
        if self.more_waiting(&lane) {
            crate::loop_hooks::spawn(self.drain(lane, limit, call));
        }
    }

    /// After a lead's own call: true if hits wait (the lane keeps this drain slot for the task
    /// the caller starts); otherwise the slot is released, under the same lock a newcomer
    /// checks.
    fn more_waiting(&self, lane: &str) -> bool {
        let mut q = self.by_lane.lock();
        let Some(l) = q.get_mut(lane) else {
            return false;
        };
        if !l.waiting.is_empty() {
            return true;
        }
        release_slot(&mut q, lane);
        false
    }

    /// Runs calls for `lane` until its queue is empty. `call(groups)` records, for each
    /// `(group, n)` in order, `n` hits, and returns one `RateHit` per hit in the same order.
    pub async fn drain<F, Fut>(self: Arc<Self>, lane: String, limit: usize, call: F)
    where
        F: Fn(Vec<(Group, usize)>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<RateHit>>>,
    {
        let guard = DropGuard {
            queues: &self,
            lane: &lane,
        };
        // Let the other hits submitted with this one (already queued on this worker) join
        // before the first call goes out. A multi-thread worker runs a task's newest spawn
        // next (its LIFO slot), so the drain would otherwise overtake them; a current-thread
        // runtime runs spawns in order, so they are already queued when the drain starts.
        if !matches!(
            tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread)
        ) {
            tokio::task::yield_now().await;
        }
        while let Some(batch) = self.take(&lane, limit) {
            self.call_once(&lane, batch, &call).await;
        }
        std::mem::forget(guard);
    }

    /// One call for `batch`; answers its hits (and, if the call failed, everything waiting).
    async fn call_once<F, Fut>(&self, lane: &str, batch: Vec<Waiter>, call: &F)
    where
        F: Fn(Vec<(Group, usize)>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<RateHit>>>,
    {
        let (groups, answers) = by_group(batch);
        let sizes: Vec<(Group, usize)> = groups
            .into_iter()
            .zip(&answers)
            .map(|(g, a)| (g, a.len()))
            .collect();
        let expected: usize = answers.iter().map(Vec::len).sum();
        let answers = answers.into_iter().flatten();
        match call(sizes).await {
            Ok(hits) if hits.len() == expected => {
                for (tx, hit) in answers.zip(hits) {
                    let _ = tx.send(Ok(hit));
                }
            }
            Ok(hits) => fail(
                answers,
                &RedisStoreError::Protocol(format!(
                    "rate-limit script answered {} hits for {expected}",
                    hits.len()
                )),
            ),
            Err(e) => {
                fail(answers, &e);
                fail(self.take_waiting(lane).into_iter().map(|w| w.answer), &e);
            }
        }
    }
}

/// Pending once (waking itself), then ready: lets the futures polled after this one in the
/// same pass run first. Unlike `tokio::task::yield_now`, the wake is not deferred until the
/// runtime has polled its I/O driver (a syscall).
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A drain ends: one slot fewer on `lane`, and the lane goes with its last one.
fn release_slot(q: &mut HashMap<String, Lane>, lane: &str) {
    if let Some(l) = q.get_mut(lane) {
        l.draining -= 1;
        if l.draining == 0 {
            q.remove(lane);
        }
    }
}

type Answer = oneshot::Sender<Result<RateHit>>;

/// Groups in order of first arrival, each with its waiters in arrival order.
fn by_group(mut batch: Vec<Waiter>) -> (Vec<Group>, Vec<Vec<Answer>>) {
    // One waiter, the usual case at low concurrency: no index to build.
    if batch.len() == 1 {
        if let Some(w) = batch.pop() {
            return (vec![w.group], vec![vec![w.answer]]);
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut answers: Vec<Vec<Answer>> = Vec::new();
    let mut index: HashMap<Group, usize> = HashMap::new();
    for w in batch {
        let i = *index.entry(w.group.clone()).or_insert_with(|| {
            groups.push(w.group);
            answers.push(Vec::new());
            groups.len() - 1
        });
        answers[i].push(w.answer);
    }
    (groups, answers)
}

fn fail(answers: impl IntoIterator<Item = Answer>, e: &RedisStoreError) {
    for tx in answers {
        let _ = tx.send(Err(e.clone()));
    }
}

/// Dropped only if the drain task stops early (panic, cancelled with its runtime): waiters'
/// receivers error out instead of hanging.
struct DropGuard<'a> {
    queues: &'a Queues,
    lane: &'a str,
}

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        self.queues.abandon(self.lane);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn group(key: &str) -> Group {
        Group {
            redis_key: key.into(),
            window_ms: 60_000,
            max: Some(10),
        }
    }

    /// A stand-in for the script: hit i of the call gets count 100 * (group index + 1) + i.
    async fn numbered(groups: Vec<(Group, usize)>) -> Result<Vec<RateHit>> {
        let mut out = Vec::new();
        for (g, (_, n)) in groups.iter().enumerate() {
            for i in 0..*n {
                out.push(RateHit {
                    count: 100 * (g as u64 + 1) + i as u64,
                    frees_in_ms: 0,
                });
            }
        }
        Ok(out)
    }

    #[tokio::test]
    async fn answers_go_back_by_group_in_arrival_order() {
        let q = Arc::new(Queues::default());
        let (a1, lead_a1) = q.join("", group("a"));
        let (b1, lead_b) = q.join("", group("b"));
        let (a2, lead_a2) = q.join("", group("a"));
        assert_eq!(
            [lead_a1, lead_b, lead_a2],
            [true, CALLS_IN_FLIGHT > 1, CALLS_IN_FLIGHT > 2],
            "one drain task per lane and call in flight"
        );
        let leads = [lead_a1, lead_b, lead_a2].iter().filter(|l| **l).count();
        // The first task takes all three (in one call); the others find the queue empty.
        for _ in 0..leads {
            q.clone().drain(String::new(), 256, numbered).await;
        }
        assert_eq!(a1.await.unwrap().unwrap().count, 100);
        assert_eq!(a2.await.unwrap().unwrap().count, 101);
        assert_eq!(b1.await.unwrap().unwrap().count, 200);
        // The lane is gone with its tasks: the next hit leads again.
        assert!(q.join("", group("a")).1);
    }

    #[tokio::test]
    async fn a_failed_call_fails_its_batch_and_everything_queued_behind_it() {
        let q = Arc::new(Queues::default());
        let (first, _) = q.join("", group("a"));
        let queued = q.clone();
        let late_slot = Arc::new(Mutex::new(Vec::new()));
        let slot = late_slot.clone();
        let extra_leads = Arc::new(Mutex::new(0usize));
        let leads = extra_leads.clone();
        let timeout = RedisStoreError::CommandTimeout(std::time::Duration::from_millis(5));
        let failure = timeout.clone();
        q.clone()
            .drain(String::new(), 1, move |_| {
                // While the first call is in flight, hits arrive until one has to queue (the
                // lane's other call slots are taken by the hits before it).
                loop {
                    let (late, lead) = queued.join("", group("a"));
                    slot.lock().push(late);
                    if !lead {
                        break;
                    }
                    *leads.lock() += 1;
                }
                let failure = failure.clone();
                async move { Err::<Vec<RateHit>, _>(failure) }
            })
            .await;
        assert_eq!(first.await.unwrap().unwrap_err(), timeout);
        let late = std::mem::take(&mut *late_slot.lock());
        assert_eq!(late.len(), CALLS_IN_FLIGHT);
        for hit in late {
            assert_eq!(hit.await.unwrap().unwrap_err(), timeout);
        }
        // The tasks the other arrivals would have started find nothing left to do.
        let extra = *extra_leads.lock();
        for _ in 0..extra {
            q.clone().drain(String::new(), 1, numbered).await;
        }
        assert!(q.join("", group("a")).1, "lane freed after the failure");
    }

    /// One hit as `RedisRateLimitStore::hit_window` takes it on a current-thread runtime.
    async fn inline_hit<F, Fut>(q: Arc<Queues>, call: F) -> Result<RateHit>
    where
        F: Fn(Vec<(Group, usize)>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<RateHit>>> + Send + 'static,
    {
        let (answer, lead) = q.join("", group("a"));
        if lead {
            q.clone().drain_inline(String::new(), 256, call).await;
        }
        answer.await.unwrap()
    }

    #[tokio::test]
    async fn an_inline_lead_takes_the_hits_polled_with_it_and_later_ones_go_out_in_a_second_call() {
        let q = Arc::new(Queues::default());
        let calls = Arc::new(Mutex::new(Vec::<usize>::new()));
        let late_slot = Arc::new(Mutex::new(None));
        let (seen, joiner, slot) = (calls.clone(), q.clone(), late_slot.clone());
        let call = move |groups: Vec<(Group, usize)>| {
            seen.lock().push(groups.iter().map(|(_, n)| n).sum());
            // During the first call a hit arrives that must wait for the next call.
            if seen.lock().len() == 1 {
                *slot.lock() = Some(joiner.join("", group("a")));
            }
            numbered(groups)
        };
        // Three evaluations polled together (as in one submitted group).
        let together: Vec<_> = (0..3)
            .map(|_| inline_hit(q.clone(), call.clone()))
            .collect();
        let hits = futures::future::join_all(together).await;
        let counts: Vec<u64> = hits.into_iter().map(|h| h.unwrap().count).collect();
        assert_eq!(counts, [100, 101, 102], "one call, in arrival order");
        let (late, late_leads) = late_slot.lock().take().unwrap();
        assert!(!late_leads, "both call slots were taken when it arrived");
        assert_eq!(
            late.await.unwrap().unwrap().count,
            100,
            "a second call answered it"
        );
        assert_eq!(*calls.lock(), [3, 1]);
        // Every drain slot came back: the next hit leads again.
        tokio::task::yield_now().await;
        assert!(q.join("", group("a")).1);
    }

    #[tokio::test]
    async fn an_inline_lead_dropped_mid_call_fails_what_waits_and_frees_the_lane() {
        let q = Arc::new(Queues::default());
        let waiting = Arc::new(Mutex::new(Vec::new()));
        let (joiner, slot) = (q.clone(), waiting.clone());
        let never = move |_groups: Vec<(Group, usize)>| {
            // Fill the other call slot, then queue one hit behind the stuck call.
            loop {
                let (rx, lead) = joiner.join("", group("a"));
                slot.lock().push(rx);
                if !lead {
                    break;
                }
            }
            std::future::pending::<Result<Vec<RateHit>>>()
        };
        let lead = inline_hit(q.clone(), never);
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), lead).await;
        assert!(cut.is_err(), "the call never answers");
        let queued = std::mem::take(&mut *waiting.lock());
        for rx in queued {
            assert!(rx.await.is_err(), "no waiter hangs or gets a hit");
        }
        // The slot the extra arrival took was never used by a task: free it as its drain would.
        q.clone().drain(String::new(), 256, numbered).await;
        assert!(q.join("", group("a")).1, "the lane is free again");
    }

    #[tokio::test]
    async fn a_drain_task_that_dies_fails_its_waiters_and_frees_the_lane() {
        let q = Arc::new(Queues::default());
        let (first, lead) = q.join("k", group("k"));
        assert!(lead);
        let (second, _) = q.join("k", group("k"));
        let task = tokio::spawn(q.clone().drain("k".into(), 1, |_| async {
            if true {
                panic!("script exploded");
            }
            Ok(Vec::new())
        }));
        assert!(task.await.is_err(), "the task panicked");
        // Neither waiter hangs; neither gets a hit.
        assert!(first.await.is_err());
        assert!(second.await.is_err());
        assert!(
            q.join("k", group("k")).1,
            "the next hit starts a fresh task"
        );
    }
}
