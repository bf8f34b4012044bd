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
