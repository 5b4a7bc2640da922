//! Which SealedSecrets need a reconcile, and the workers that reconcile them.
//!
//! An object is queued at most once, and reconciled by one worker at a time: a wake-up while
//! it is being reconciled queues it again when that reconcile ends. A failed reconcile is
//! retried after [`RETRY_DELAY`]; every object is looked at again [`RESYNC_PERIOD`] after its
//! last reconcile, found by a sweep of the store every [`RESYNC_SWEEP`] rather than by a timer
//! per object.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ids::ObjectKey;
use crate::reconcile::{self, Context, Next};
use crate::store::SealedSecretStore;

/// How often an unchanged SealedSecret is looked at again.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30 * 60);
/// How often the store is swept for objects due for a resync.
pub const RESYNC_SWEEP: Duration = Duration::from_secs(60);
/// Wait before retrying a SealedSecret whose reconcile failed.
pub const RETRY_DELAY: Duration = Duration::from_secs(15);

/// The objects waiting for a reconcile.
#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<QueueState>,
    /// Wakes a worker when an object is queued.
    queued: Notify,
    /// Wakes the retry timer when a retry is added.
    retry_added: Notify,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<ObjectKey>,
    /// The objects in `pending`.
    queued: HashSet<ObjectKey>,
    /// The objects being reconciled.
    running: HashSet<ObjectKey>,
    /// The objects woken while being reconciled: queued again when that ends.
    again: HashSet<ObjectKey>,
    /// Failed objects, by when to retry them.
    retries: BinaryHeap<Reverse<(Instant, ObjectKey)>>,
}

impl WorkQueue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` unless it is queued already; one being reconciled is queued again when
    /// that reconcile ends.
    pub fn wake(&self, key: ObjectKey) {
        let mut state = self.state();
        if state.running.contains(&key) {
            state.again.insert(key);
        } else if state.queued.insert(key.clone()) {
            state.pending.push_back(key);
            self.queued.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn retry_after(&self, key: ObjectKey, delay: Duration) {
        self.state()
            .retries
            .push(Reverse((Instant::now() + delay, key)));
        self.retry_added.notify_one();
    }

    /// How many objects wait (queued or to be retried), and how many are being reconciled.
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let state = self.state();
        (
            state.pending.len() + state.retries.len(),
            state.running.len(),
        )
    }

    /// The next object to reconcile, marked as being reconciled.
    async fn next(&self) -> ObjectKey {
        loop {
            let notified = self.queued.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                if let Some(key) = state.pending.pop_front() {
                    state.queued.remove(&key);
                    state.running.insert(key.clone());
                    // Another worker may be waiting and more is queued.
                    if !state.pending.is_empty() {
                        self.queued.notify_one();
                    }
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Ends the reconcile of `key`; it is queued again if it was woken meanwhile.
    fn done(&self, key: &ObjectKey) {
        let again = {
            let mut state = self.state();
            state.running.remove(key);
            state.again.remove(key)
        };
        if again {
            self.wake(key.clone());
        }
    }

    /// Queues each retry when its time comes.
    async fn run_retries(&self) {
        loop {
            let added = self.retry_added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            let next = {
                let mut state = self.state();
                let now = Instant::now();
                let mut due = Vec::new();
                while let Some(Reverse((at, _))) = state.retries.peek() {
                    if *at > now {
                        break;
                    }
                    if let Some(Reverse((_, key))) = state.retries.pop() {
                        due.push(key);
                    }
                }
                let next = state.retries.peek().map(|Reverse((at, _))| *at);
                drop(state);
                for key in due {
                    self.wake(key);
                }
                next
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = added => {}
                    }
                }
                None => added.await,
            }
        }
    }
}

/// Reconciles what `queue` holds with `concurrency` workers, retries failures and resyncs the
/// store, until dropped.
pub async fn run(
    queue: Arc<WorkQueue>,
    store: Arc<SealedSecretStore>,
    ctx: Arc<Context>,
    concurrency: u16,
) {
    let workers = futures::stream::iter(0..concurrency.max(1))
        .for_each_concurrent(None, |_| worker(&queue, &store, &ctx));
    let sweep = async {
        let mut every = tokio::time::interval(RESYNC_SWEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            for key in store.due(RESYNC_PERIOD) {
                queue.wake(key);
            }
            crate::ids::forget_unused_namespaces();
        }
    };
    tokio::join!(workers, sweep, queue.run_retries());
}

async fn worker(queue: &WorkQueue, store: &SealedSecretStore, ctx: &Arc<Context>) {
    loop {
        let key = queue.next().await;
        // Deleted since it was queued: nothing to do.
        if let Some(summary) = store.get(&key) {
            let outcome = reconcile::reconcile(summary, ctx.clone()).await;
            store.reconciled(&key);
            match outcome {
                Ok(Next::Resync) => {}
                Ok(Next::Again) => {
                    queue.done(&key);
                    queue.wake(key);
                    continue;
                }
                Err(_) => queue.retry_after(key.clone(), RETRY_DELAY),
            }
        }
        queue.done(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_object_is_queued_once_and_woken_again_after_its_reconcile() {
        let queue = WorkQueue::default();
        let a = ObjectKey::new("ns", "a");
        queue.wake(a.clone());
        queue.wake(a.clone());
        assert_eq!(queue.len(), (1, 0));
        let next = queue.next().await;
        assert_eq!(next, a);
        assert_eq!(queue.len(), (0, 1));
        // Woken while being reconciled: not handed to a second worker now.
        queue.wake(a.clone());
        assert_eq!(queue.len(), (0, 1));
        queue.done(&a);
        assert_eq!(queue.len(), (1, 0));
        assert_eq!(queue.next().await, a);
        queue.done(&a);
        assert_eq!(queue.len(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_is_queued_after_its_delay() {
        let queue = Arc::new(WorkQueue::default());
        let timer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.run_retries().await }
        });
        let a = ObjectKey::new("ns", "a");
        queue.retry_after(a.clone(), RETRY_DELAY);
        tokio::time::sleep(RETRY_DELAY - Duration::from_secs(1)).await;
        assert_eq!(queue.state().pending.len(), 0, "retried early");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(queue.state().pending.len(), 1, "not retried");
        assert_eq!(queue.next().await, a);
        timer.abort();
    }
}
