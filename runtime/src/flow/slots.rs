//! A flow run's concurrency slots: `max_tasks` units, each held by one running attempt.
//!
//! A task that waits in `join` lends its unit to its own children only, so they can run (a
//! parent joining a child would otherwise deadlock at `max_tasks = 1`) while no unrelated task
//! starts in its place: lent to anyone, every waiting parent let one more task start, and the
//! waiting instances (each with its memory) grew without bound. A lending chain is one task
//! per spawn depth, so at most `max_tasks x max_depth` task instances are resident. A parent
//! whose join is over takes its unit back before any new task starts.
//!
//! Tasks that become ready together (spawned in one go, or freed by the same finished
//! dependency) must compete for units by priority, not by which of their tokio tasks happens
//! to run first: each is announced with an [`Expected`] claim at the moment it is known to be
//! ready, and free units wait until every announced claim has queued (or been withdrawn).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::oneshot;

/// A unit of concurrency: one of the run's free ones, or one lent (by the lend's id).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Free,
    LentBy(u64),
}

/// What a waiter wants: a start (its spawner's id, whose lent unit it may use) or its own
/// unit back after a join.
#[derive(Debug, Clone, Copy)]
enum Claim {
    Start { parent: Option<u64> },
    Reclaim { lender: u64 },
}

/// The run's units and who waits for one.
pub struct Slots {
    state: Mutex<State>,
    ids: AtomicU64,
}

struct State {
    free: usize,
    /// Units lent, by lend id (a slot lends anew each time it joins).
    lent: HashMap<u64, Lent>,
    /// The current lend of each slot waiting in a join, by slot id.
    lending: HashMap<u64, u64>,
    waiting: Vec<Waiter>,
    sequence: u64,
    /// Claims announced but not queued yet: while any are, no free unit goes to a start.
    expected: usize,
}

/// A unit its holder lent out while it waits.
struct Lent {
    /// The lending slot's id: its children may run on the unit.
    lender: u64,
    /// Any task may run on it (the lender joins a task it did not spawn, e.g. one shared
    /// through the result cache, which its children's rule would leave without a unit).
    open: bool,
    /// The unit the lender held (itself possibly lent by the lender's parent).
    underlying: Unit,
    /// A child runs on it.
    in_use: bool,
    /// The lender went on with another unit, or went away: give `underlying` back when the
    /// child is done.
    orphaned: bool,
}

struct Waiter {
    claim: Claim,
    priority: i32,
    sequence: u64,
    wake: oneshot::Sender<Unit>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Slots {
    pub fn new(max_tasks: usize) -> Arc<Slots> {
        Arc::new(Slots {
            state: Mutex::new(State {
                free: max_tasks.max(1),
                lent: HashMap::new(),
                lending: HashMap::new(),
                waiting: Vec::new(),
                sequence: 0,
                expected: 0,
            }),
            ids: AtomicU64::new(1),
        })
    }

    /// Announces a task that is ready to start and will ask for a unit soon: until it asks
    /// (or the claim is dropped), free units wait, so it competes with the tasks that became
    /// ready with it. Its place in the order of asking is taken now.
    pub fn announce(self: &Arc<Self>) -> Expected {
        let mut state = lock(&self.state);
        state.expected += 1;
        state.sequence += 1;
        Expected {
            slots: Arc::downgrade(self),
            sequence: state.sequence,
            live: true,
        }
    }

    /// Waits for a unit to start a task spawned by `parent` (none: by the flow), higher
    /// priority first, then in order of asking (an announced task: of its announcement).
    pub async fn acquire(
        self: &Arc<Self>,
        priority: i32,
        parent: Option<u64>,
        expected: Option<Expected>,
    ) -> Arc<Slot> {
        let unit = self.take(Claim::Start { parent }, priority, expected).await;
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        Arc::new(Slot {
            slots: Arc::downgrade(self),
            id,
            unit: Mutex::new(Some(unit)),
        })
    }

    async fn take(&self, claim: Claim, priority: i32, expected: Option<Expected>) -> Unit {
        let rx = {
            let mut state = lock(&self.state);
            // An announced claim takes a unit lent by its parent at once (no other task may
            // use it), else queues: the free units go out below, to the best claims queued.
            let announced = expected.map(Expected::withdraw);
            if announced.is_some() {
                state.expected = state.expected.saturating_sub(1);
                if let Claim::Start { parent } = claim {
                    if let Some(unit) = state.take_lent(parent) {
                        state.dispatch();
                        return unit;
                    }
                }
            } else if let Some(unit) = state.take_now(claim) {
                return unit;
            }
            let (wake, rx) = oneshot::channel();
            let sequence = match announced {
                Some(sequence) => sequence,
                None => {
                    state.sequence += 1;
                    state.sequence
                }
            };
            state.waiting.push(Waiter {
                claim,
                priority,
                sequence,
                wake,
            });
            state.dispatch();
            rx
        };
        // A waiter dropped (cancelled) after a unit was handed to it passes the unit on.
        let mut pending = Pending {
            rx: Some(rx),
            slots: self,
        };
        let unit = match pending.rx.as_mut() {
            Some(rx) => rx.await.unwrap_or(Unit::Free),
            None => Unit::Free,
        };
        pending.rx = None;
        unit
    }

    fn release(&self, unit: Unit) {
        lock(&self.state).release(unit);
    }
}

impl State {
    fn take_now(&mut self, claim: Claim) -> Option<Unit> {
        match claim {
            Claim::Reclaim { lender } => {
                if let Some(&id) = self.lending.get(&lender) {
                    if self.lent.get(&id).is_some_and(|l| !l.in_use) {
                        self.lending.remove(&lender);
                        return self.lent.remove(&id).map(|l| l.underlying);
                    }
                }
                if self.free > 0 {
                    self.free -= 1;
                    self.orphan(lender);
                    return Some(Unit::Free);
                }
                None
            }
            Claim::Start { parent } => {
                if self.free > 0
                    && self.expected == 0
                    && !self
                        .waiting
                        .iter()
                        .any(|w| matches!(w.claim, Claim::Reclaim { .. }))
                {
                    self.free -= 1;
                    return Some(Unit::Free);
                }
                self.take_lent(parent)
            }
        }
    }

    /// A unit lent by `parent` (or lent to anyone) that no task runs on.
    fn take_lent(&mut self, parent: Option<u64>) -> Option<Unit> {
        let (&id, lent) = self
            .lent
            .iter_mut()
            .find(|(_, l)| !l.in_use && !l.orphaned && (l.open || parent == Some(l.lender)))?;
        lent.in_use = true;
        Some(Unit::LentBy(id))
    }

    /// The lender no longer waits for its own unit: its current lend is given back to the
    /// run once no task runs on it.
    fn orphan(&mut self, lender: u64) {
        if let Some(id) = self.lending.remove(&lender) {
            match self.lent.get_mut(&id) {
                Some(lent) if lent.in_use => lent.orphaned = true,
                Some(_) => {
                    if let Some(lent) = self.lent.remove(&id) {
                        self.release(lent.underlying);
                    }
                }
                None => {}
            }
        }
    }

    /// Hands `unit` to the waiter that may have it, or keeps it.
    fn release(&mut self, unit: Unit) {
        match unit {
            Unit::Free => {
                // Parents coming back from a join first (they are resident already), then
                // the best start.
                while let Some(at) = self
                    .best(|c| matches!(c, Claim::Reclaim { .. }))
                    .or_else(|| (self.expected == 0).then(|| self.best(|_| true)).flatten())
                {
                    let waiter = self.waiting.swap_remove(at);
                    if let Claim::Reclaim { lender } = waiter.claim {
                        self.orphan(lender);
                    }
                    if waiter.wake.send(Unit::Free).is_ok() {
                        return;
                    }
                }
                self.free += 1;
            }
            Unit::LentBy(id) => {
                let Some(lent) = self.lent.get(&id) else {
                    // Every lend is kept until its unit is back; nothing else gets here.
                    return;
                };
                let (lender, open, underlying) = (lent.lender, lent.open, lent.underlying);
                if lent.orphaned {
                    self.lent.remove(&id);
                    return self.release(underlying);
                }
                if let Some(at) =
                    self.best(|c| matches!(c, Claim::Reclaim { lender: l } if l == lender))
                {
                    let waiter = self.waiting.swap_remove(at);
                    self.lent.remove(&id);
                    self.lending.remove(&lender);
                    if waiter.wake.send(underlying).is_err() {
                        self.release(underlying);
                    }
                    return;
                }
                while let Some(at) = self.best(
                    |c| matches!(c, Claim::Start { parent } if open || parent == Some(lender)),
                ) {
                    if self.waiting.swap_remove(at).wake.send(unit).is_ok() {
                        return;
                    }
                }
                if let Some(lent) = self.lent.get_mut(&id) {
                    lent.in_use = false;
                }
            }
        }
    }

    /// Hands the free units to the best waiters once no announced claim is outstanding.
    fn dispatch(&mut self) {
        while self.expected == 0 && self.free > 0 && !self.waiting.is_empty() {
            self.free -= 1;
            self.release(Unit::Free);
        }
    }

    /// The highest-priority, earliest waiter whose claim passes `eligible`.
    fn best(&self, eligible: impl Fn(Claim) -> bool) -> Option<usize> {
        self.waiting
            .iter()
            .enumerate()
            .filter(|(_, w)| eligible(w.claim))
            .max_by(|(_, a), (_, b)| {
                a.priority
                    .cmp(&b.priority)
                    .then(b.sequence.cmp(&a.sequence))
            })
            .map(|(at, _)| at)
    }
}

/// A task announced as ready (see [`Slots::announce`]); dropped without asking for a unit (a
/// cache hit, a cancellation, a fan-out bound to wait for first), it lets the units go.
pub struct Expected {
    slots: Weak<Slots>,
    sequence: u64,
    live: bool,
}

impl Expected {
    /// Its place in the order of asking; the caller counts it out of `expected`.
    fn withdraw(mut self) -> u64 {
        self.live = false;
        self.sequence
    }
}

impl Drop for Expected {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        if let Some(slots) = self.slots.upgrade() {
            let mut state = lock(&slots.state);
            state.expected = state.expected.saturating_sub(1);
            state.dispatch();
        }
    }
}

/// A wait for a unit; see `Slots::take`.
struct Pending<'a> {
    rx: Option<oneshot::Receiver<Unit>>,
    slots: &'a Slots,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            if let Ok(unit) = rx.try_recv() {
                self.slots.release(unit);
            }
        }
    }
}

/// A running attempt's concurrency slot: lent to the task's children while it waits in
/// `join`, taken back after, and given back for good on drop (also when the attempt is
/// cancelled).
pub struct Slot {
    slots: Weak<Slots>,
    /// Names this attempt as a parent (its children's `parent`) and as a lender.
    pub id: u64,
    unit: Mutex<Option<Unit>>,
}

impl Slot {
    fn unit(&self) -> std::sync::MutexGuard<'_, Option<Unit>> {
        self.unit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lends the unit while the task waits: to its own children, or to any task when
    /// `open` (it waits for a task it did not spawn).
    pub fn lend(&self, open: bool) {
        let Some(underlying) = self.unit().take() else {
            return;
        };
        if let Some(slots) = self.slots.upgrade() {
            let id = slots.ids.fetch_add(1, Ordering::Relaxed);
            let mut state = lock(&slots.state);
            state.lent.insert(
                id,
                Lent {
                    lender: self.id,
                    open,
                    underlying,
                    in_use: true,
                    orphaned: false,
                },
            );
            state.lending.insert(self.id, id);
            state.release(Unit::LentBy(id));
        }
    }

    /// Takes a unit again after waiting: its own if no child runs on it, else the first free.
    pub async fn reclaim(&self) {
        if self.unit().is_some() {
            return;
        }
        if let Some(slots) = self.slots.upgrade() {
            let unit = slots
                .take(Claim::Reclaim { lender: self.id }, i32::MAX, None)
                .await;
            *self.unit() = Some(unit);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(slots) = self.slots.upgrade() else {
            return;
        };
        let mut state = lock(&slots.state);
        if let Some(unit) = self.unit().take() {
            state.release(unit);
        }
        // Dropped while lending (cancelled in a join): the lent unit goes back once free.
        state.orphan(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    async fn soon<F: std::future::Future>(f: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(50), f)
            .await
            .ok()
    }

    #[test]
    fn waiters_start_by_priority_then_in_order_of_asking() {
        let mut state = State {
            free: 0,
            lent: HashMap::new(),
            lending: HashMap::new(),
            waiting: Vec::new(),
            sequence: 0,
            expected: 0,
        };
        let mut woken = Vec::new();
        for (priority, sequence) in [(0, 1), (5, 2), (0, 0), (5, 3), (-1, 4)] {
            let (wake, rx) = oneshot::channel();
            state.waiting.push(Waiter {
                claim: Claim::Start { parent: None },
                priority,
                sequence,
                wake,
            });
            woken.push(((priority, sequence), rx));
        }
        let mut order = Vec::new();
        for _ in 0..5 {
            state.release(Unit::Free);
            let at = woken
                .iter_mut()
                .position(|(_, rx)| rx.try_recv().is_ok())
                .expect("one woken");
            order.push(woken.remove(at).0);
        }
        assert_eq!(order, vec![(5, 2), (5, 3), (0, 0), (0, 1), (-1, 4)]);
    }

    #[test]
    fn tasks_announced_together_start_by_priority_whichever_asks_first() {
        runtime().block_on(async {
            let slots = Slots::new(1);
            let (low, mid, high) = (slots.announce(), slots.announce(), slots.announce());
            let order = Arc::new(Mutex::new(Vec::new()));
            let mut started = Vec::new();
            // The lowest asks first, the highest last: the unit still goes to the highest.
            for (priority, expected) in [(1, low), (3, mid), (5, high)] {
                let (slots, order) = (slots.clone(), order.clone());
                started.push(tokio::spawn(async move {
                    let slot = slots.acquire(priority, None, Some(expected)).await;
                    order.lock().unwrap().push(priority);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    drop(slot);
                }));
                tokio::task::yield_now().await;
            }
            for task in started {
                task.await.expect("task");
            }
            assert_eq!(*order.lock().unwrap(), vec![5, 3, 1]);
            // A claim announced and dropped unasked lets the units go.
            let gone = slots.announce();
            assert!(soon(slots.acquire(0, None, None)).await.is_none());
            drop(gone);
            assert!(soon(slots.acquire(0, None, None)).await.is_some());
        });
    }

    #[test]
    fn a_joining_task_lends_its_slot_to_its_children_only() {
        runtime().block_on(async {
            let slots = Slots::new(1);
            let parent = slots.acquire(0, None, None).await;
            parent.lend(false);
            assert!(
                soon(slots.acquire(0, None, None)).await.is_none(),
                "an unrelated task does not start"
            );
            let child = soon(slots.acquire(0, Some(parent.id), None))
                .await
                .expect("the parent's child runs");
            assert!(
                soon(slots.acquire(0, Some(parent.id), None))
                    .await
                    .is_none(),
                "one child at a time"
            );
            let grandchild_parent = child.id;
            child.lend(false);
            let grandchild = soon(slots.acquire(0, Some(grandchild_parent), None))
                .await
                .expect("a grandchild on the child's unit");
            drop(grandchild);
            child.reclaim().await;
            drop(child);
            assert!(
                soon(parent.reclaim()).await.is_some(),
                "the parent takes its unit back"
            );
            drop(parent);
            assert!(
                soon(slots.acquire(0, None, None)).await.is_some(),
                "and the unit is free again after"
            );
        });
    }

    #[test]
    fn a_parent_back_from_its_join_goes_before_new_tasks() {
        runtime().block_on(async {
            let slots = Slots::new(2);
            let (a, b) = (
                slots.acquire(0, None, None).await,
                slots.acquire(0, None, None).await,
            );
            a.lend(false);
            let child = soon(slots.acquire(0, Some(a.id), None))
                .await
                .expect("child");
            let reclaim = a.reclaim();
            tokio::pin!(reclaim);
            assert!(
                soon(&mut reclaim).await.is_none(),
                "its child still runs on its unit"
            );
            let slots2 = slots.clone();
            let newcomer = tokio::spawn(async move { slots2.acquire(100, None, None).await });
            tokio::task::yield_now().await;
            drop(b);
            assert!(
                soon(&mut reclaim).await.is_some(),
                "b's unit goes to the parent, not the newcomer"
            );
            drop(child);
            let started = soon(newcomer)
                .await
                .expect("the newcomer starts once the child is done");
            assert!(started.is_ok());
        });
    }

    #[test]
    fn a_parent_that_joins_twice_keeps_the_run_at_max_tasks() {
        runtime().block_on(async {
            let slots = Slots::new(2);
            let parent = slots.acquire(0, None, None).await;
            let first = slots.acquire(0, Some(parent.id), None).await;
            let slots2 = slots.clone();
            let pid = parent.id;
            let second = tokio::spawn(async move { slots2.acquire(0, Some(pid), None).await });
            tokio::task::yield_now().await;
            parent.lend(false);
            let second = soon(second)
                .await
                .expect("the second child runs on the lent unit")
                .expect("task");
            drop(first);
            parent.reclaim().await; // a free unit: the lend stays with the second child
            parent.lend(false); // joins the second child: a new lend, the first kept
            drop(second);
            parent.reclaim().await;
            drop(parent);
            let (a, b) = (
                slots.acquire(0, None, None).await,
                slots.acquire(0, None, None).await,
            );
            assert!(
                soon(slots.acquire(0, None, None)).await.is_none(),
                "two units, no more"
            );
            drop((a, b));
        });
    }

    #[test]
    fn a_task_joining_one_it_did_not_spawn_lends_to_anyone() {
        runtime().block_on(async {
            let slots = Slots::new(1);
            let joiner = slots.acquire(0, None, None).await;
            let slots2 = slots.clone();
            let shared = tokio::spawn(async move { slots2.acquire(0, None, None).await });
            tokio::task::yield_now().await;
            joiner.lend(true);
            let shared = soon(shared)
                .await
                .expect("the shared task runs")
                .expect("task");
            drop(shared);
            assert!(soon(joiner.reclaim()).await.is_some());
        });
    }
}
