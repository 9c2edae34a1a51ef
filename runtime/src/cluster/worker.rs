//! `aw-run worker`: pulls task attempts from `AW_ATTEMPTS` (only as many as it has free
//! slots), runs each in a fresh sandboxed instance under a run profile of its own config,
//! and publishes the result to the coordinator's results subject.
//!
//! The workers of one queue (`--queue`, default `default`) share one durable pull consumer
//! ([`protocol::queue_consumer`]); queues let a cluster keep pools of workers apart (their
//! own machines, profiles or networks). While an attempt runs its
//! worker tells the server it is in progress; a worker that dies stops doing so and the
//! server redelivers the attempt to another after `ack_wait`. On the last delivery
//! `max_deliver` allows, the worker does not run it: it answers that the attempt lost its
//! worker that many times (a task that kills workers is not retried forever).
//!
//! Before it starts an attempt the worker reads the run's state key ([`super::runs`]): an
//! attempt of a run that ended, one its coordinator cancelled, or one whose coordinator is
//! gone is acknowledged and dropped, not run.
//!
//! Credentials never travel: an attempt names a run profile, and the worker resolves it from
//! its own config and secrets; one it does not serve is answered `denied`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer};
use async_nats::jetstream::kv;
use async_nats::jetstream::object_store::ObjectStore;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use tokio::sync::{watch, OnceCell, Semaphore};

use super::protocol::{self, AttemptMessage, ResultMessage, WireError};
use super::{components, publish_with_id, runs, Cluster, ClusterError};
use crate::config::Limits;
use crate::error::RunError;
use crate::flow::flagged;
use crate::host::tasks::AttemptIdentity;
use crate::host::RunContext;
use crate::run::{LoadedComponent, Runtime};

/// How long an attempt may go without a heartbeat before it is redelivered, by default.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// Deliveries of one attempt, by default: the last is answered "lost", not run.
pub const DEFAULT_MAX_DELIVER: i64 = 4;

/// Attempts delivered and not acknowledged at once, over all workers.
const MAX_ACK_PENDING: i64 = 10_000;

/// Components a worker keeps compiled at once (each holds its machine code in memory).
const MAX_LOADED: usize = 16;

/// At most 100 characters of `text` a coordinator sent, for a message about it.
fn shown(text: &str) -> String {
    text.chars().take(100).collect()
}

/// Runs and attempts a worker remembers as cancelled (queued, they are dropped, not run).
const CANCELLED_RUNS: usize = 4096;

/// A run profile a worker serves: its prepared context (pools, secrets, grants) and limits.
pub struct WorkerProfile {
    pub context: Arc<RunContext>,
    pub limits: Limits,
}

/// What a worker is and serves.
pub struct Worker {
    /// `--name`: how reports and `aw-run cluster status` name it.
    pub name: String,
    /// `--queue`: the queue it takes attempts from.
    pub queue: String,
    /// Attempts it runs at once.
    pub slots: usize,
    pub profiles: BTreeMap<String, WorkerProfile>,
    pub runtime: Arc<Runtime>,
    /// Where fetched components are kept (then compiled into the runtime's cache).
    pub components: PathBuf,
    /// For a worker that creates the shared consumer: its redelivery time and deliveries.
    pub ack_wait: Duration,
    pub max_deliver: i64,
}

/// The redelivery time and deliveries of the consumer of `queue`, or none when no worker of
/// it ever joined.
pub async fn worker_consumer(
    cluster: &Cluster,
    queue: &str,
) -> Result<Option<(Duration, i64)>, ClusterError> {
    let stream = super::stream(cluster, "AW_ATTEMPTS").await?;
    match stream
        .get_consumer::<pull::Config>(&protocol::queue_consumer(queue))
        .await
    {
        Ok(consumer) => {
            let config = &consumer.cached_info().config;
            Ok(Some((config.ack_wait, config.max_deliver)))
        }
        Err(_) => Ok(None),
    }
}

/// The attempts running on this worker, and the runs it knows are cancelled.
#[derive(Default)]
struct Running {
    attempts: HashMap<String, watch::Sender<bool>>,
    cancelled: HashSet<String>,
    order: VecDeque<String>,
}

/// What every attempt handler of a serving worker shares.
struct Serving {
    worker: Arc<Worker>,
    cluster: Arc<Cluster>,
    store: ObjectStore,
    runs: kv::Store,
    max_deliver: i64,
    ack_wait: Duration,
    running: Mutex<Running>,
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<LoadedComponent>>>>>,
}

impl Worker {
    /// Serves attempts until `stop` turns true; then takes no more and waits for the
    /// running ones to end (a drain).
    pub async fn serve(
        self: Arc<Self>,
        cluster: Arc<Cluster>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), ClusterError> {
        let stream = super::stream(&cluster, "AW_ATTEMPTS").await?;
        let consumer_name = protocol::queue_consumer(&self.queue);
        let consumer: Consumer<pull::Config> = stream
            .get_or_create_consumer(
                &consumer_name,
                pull::Config {
                    durable_name: Some(consumer_name.clone()),
                    filter_subject: protocol::queue_filter(&self.queue),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_deliver: self.max_deliver,
                    max_ack_pending: MAX_ACK_PENDING,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| {
                ClusterError::JetStream(format!("cannot create consumer {consumer_name}: {e}"))
            })?;
        let (ack_wait, max_deliver) = {
            let config = &consumer.cached_info().config;
            (config.ack_wait, config.max_deliver)
        };
        if ack_wait != self.ack_wait || max_deliver != self.max_deliver {
            tracing::warn!(ack_wait_s = ack_wait.as_secs_f64(), max_deliver, "consumer {consumer_name} exists with another ack_wait / max_deliver: using its settings");
        }
        let replicas = super::stream_replicas(&cluster).await?;
        let store = components::bucket(&cluster, replicas).await?;
        let runs = runs::bucket(&cluster, replicas).await?;
        let serving = Arc::new(Serving {
            worker: self.clone(),
            cluster: cluster.clone(),
            store,
            runs,
            max_deliver,
            ack_wait,
            running: Mutex::default(),
            loaded: Mutex::default(),
        });
        let mut cancels = cluster
            .client
            .subscribe(protocol::CANCEL_ALL)
            .await
            .map_err(|e| {
                ClusterError::JetStream(format!("cannot subscribe to cancellations: {e}"))
            })?;
        let listener = {
            let serving = serving.clone();
            tokio::spawn(async move {
                while let Some(message) = cancels.next().await {
                    serving.cancel(message.subject.as_str());
                }
            })
        };
        tracing::info!(worker = %self.name, slots = self.slots, profiles = ?self.profiles.keys().collect::<Vec<_>>(), "worker serving");
        let slots = Arc::new(Semaphore::new(self.slots.max(1)));
        loop {
            let first = tokio::select! {
                biased;
                _ = stop.wait_for(|on| *on) => break,
                permit = slots.clone().acquire_owned() => permit,
            };
            if *stop.borrow() {
                break;
            }
            let Ok(first) = first else { break };
            let mut permits = vec![first];
            while let Ok(more) = slots.clone().try_acquire_owned() {
                permits.push(more);
            }
            let batch = consumer
                .batch()
                .max_messages(permits.len())
                .expires(Duration::from_secs(2))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot pull attempts; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            loop {
                // Draining or not, what this pull brings is taken: left in a dropped batch it
                // would wait `ack_wait` for another worker and use up one of its deliveries.
                let next = batch.next().await;
                let Some(next) = next else { break };
                match next {
                    Ok(message) => {
                        let Some(permit) = permits.pop() else {
                            // More than asked for: let another worker have it.
                            let _ = message.ack_with(AckKind::Nak(None)).await;
                            continue;
                        };
                        let serving = serving.clone();
                        tokio::spawn(async move {
                            serving.handle(message).await;
                            drop(permit);
                        });
                    }
                    Err(e) => tracing::debug!(error = %e, "pull"),
                }
            }
        }
        // Draining: the running attempts end (they were taken), the queue keeps the rest.
        let _ = slots
            .acquire_many(u32::try_from(self.slots.max(1)).unwrap_or(u32::MAX))
            .await;
        listener.abort();
        tracing::info!(worker = %self.name, "worker drained and stopped");
        Ok(())
    }
}

impl Serving {
    /// A cancellation from a coordinator: a whole run (`aw.cancel.RUN`) or one attempt
    /// (`aw.cancel.RUN.SEQ.ATTEMPT`).
    fn cancel(&self, subject: &str) {
        let Some(rest) = subject.strip_prefix("aw.cancel.") else {
            return;
        };
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if rest.contains('.') {
            if let Some(tx) = running.attempts.get(rest) {
                tx.send_replace(true);
            }
        } else {
            let prefix = format!("{rest}.");
            for (key, tx) in &running.attempts {
                if key.starts_with(&prefix) {
                    tx.send_replace(true);
                }
            }
        }
        // Remembered: the attempt (or the run's attempts) may still be queued, for this
        // worker or another; none of them is started.
        if running.cancelled.insert(rest.to_string()) {
            running.order.push_back(rest.to_string());
            if running.order.len() > CANCELLED_RUNS {
                if let Some(old) = running.order.pop_front() {
                    running.cancelled.remove(&old);
                }
            }
        }
    }

    /// One delivered attempt, from its message to its result and its ack.
    async fn handle(&self, message: Message) {
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1).max(1);
        let attempt: AttemptMessage = match serde_json::from_slice(&message.payload) {
            Ok(attempt) => attempt,
            Err(e) => {
                tracing::warn!(subject = %message.subject, error = %e, "not an attempt message: dropped");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        if !protocol::is_run_id(&attempt.run.id) {
            tracing::warn!(subject = %message.subject, "an attempt whose run id is not one: dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
        let key = attempt.key();
        let outcome = if attempt.version != protocol::VERSION {
            Err(WireError::Worker {
                message: format!(
                    "the attempt is of protocol version {}, this worker speaks {}: run the same auto-workflow version on coordinators and workers",
                    attempt.version,
                    protocol::VERSION
                ),
            })
        } else if delivered >= self.max_deliver && self.max_deliver > 1 {
            Err(WireError::Lost {
                times: u64::try_from(delivered - 1).unwrap_or(0),
            })
        } else {
            match self.run(&attempt, &message, &key).await {
                Some(outcome) => outcome,
                None => {
                    // Cancelled by its coordinator: nobody waits for a result.
                    let _ = message.ack().await;
                    return;
                }
            }
        };
        let result = ResultMessage {
            version: protocol::VERSION,
            sequence: attempt.sequence,
            attempt: attempt.attempt,
            worker: self.worker.name.clone(),
            delivered: u64::try_from(delivered).unwrap_or(1),
            outcome,
        };
        let body = match serde_json::to_vec(&result) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a result");
                return;
            }
        };
        let subject = protocol::result_subject(&attempt.run.id, attempt.sequence, attempt.attempt);
        if let Err(e) = publish_with_id(&self.cluster, subject, &key, body).await {
            // Unacknowledged, the attempt is redelivered and its result sent again.
            tracing::warn!(attempt = %key, error = %e, "cannot publish the result; the attempt will be redelivered");
            return;
        }
        if let Err(e) = message.double_ack().await {
            tracing::debug!(attempt = %key, error = %e, "ack of a finished attempt (a redelivery's result is ignored)");
        }
    }

    /// Runs the attempt under its profile, heartbeating while it runs; none when cancelled.
    async fn run(
        &self,
        attempt: &AttemptMessage,
        message: &Message,
        key: &str,
    ) -> Option<Result<String, WireError>> {
        let Some(profile) = self.worker.profiles.get(&attempt.profile) else {
            let served: Vec<&str> = self.worker.profiles.keys().map(String::as_str).collect();
            return Some(Err(WireError::Denied {
                message: format!(
                    "worker `{}` serves no run profile `{}` (it serves: {}): give its config that profile and restart it with --profile {}, or run the flow under a profile the workers serve",
                    self.worker.name,
                    shown(&attempt.profile),
                    served.join(", "),
                    shown(&attempt.profile)
                ),
            }));
        };
        let scrubber = profile.context.scrubber.clone();
        let scrub = |text: &str| scrubber.scrub(text).into_owned();
        let mut cancelled = {
            let Ok(mut running) = self.running.lock() else {
                return None;
            };
            // Registered first, checked after: a cancel in between is not missed. A second
            // delivery of the same attempt to this worker shares the first one's switch.
            let known =
                running.cancelled.contains(&attempt.run.id) || running.cancelled.contains(key);
            let switch = running
                .attempts
                .entry(key.to_string())
                .or_insert_with(|| watch::channel(false).0);
            if known {
                switch.send_replace(true);
            }
            switch.subscribe()
        };
        let cancel = flagged(&mut cancelled);
        // From the first moment: fetching and compiling a component takes time too.
        let heartbeat = async {
            let every = (self.ack_wait / 3).max(Duration::from_millis(200));
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %e, "heartbeat");
                }
            }
        };
        let limits = attempt.limits.within(&profile.limits);
        let work = async {
            if let Some(skip) = runs::may_start(&self.runs, &attempt.run.id, key).await {
                tracing::info!(attempt = %key, task = %shown(&attempt.task), "attempt dropped, not started: {}", skip.reason());
                return None;
            }
            let loaded = match self.component(attempt).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    return Some(Err(WireError::Worker {
                        message: scrub(&e.to_string()),
                    }))
                }
            };
            tracing::info!(attempt = %key, task = %shown(&attempt.task), delivered = message.info().map(|i| i.delivered).unwrap_or(1), "attempt started");
            Some(Ok(self
                .worker
                .runtime
                .run_remote_attempt(
                    &loaded,
                    profile.context.clone(),
                    attempt.run.info(),
                    &limits,
                    AttemptIdentity {
                        task: attempt.task.clone(),
                        sequence: attempt.sequence,
                        number: attempt.attempt,
                    },
                    &attempt.input,
                )
                .await))
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = heartbeat => None,
            () = cancel => None,
        };
        if let Ok(mut running) = self.running.lock() {
            if running
                .attempts
                .get(key)
                .is_some_and(|switch| switch.receiver_count() <= 1)
            {
                running.attempts.remove(key);
            }
        }
        drop(cancelled);
        let outcome = match outcome? {
            Ok(outcome) => outcome,
            Err(wire) => return Some(Err(wire)),
        };
        Some(match outcome {
            Ok(output) => {
                if matches!(scrubber.scrub(&output), std::borrow::Cow::Owned(_)) {
                    Err(WireError::Worker {
                        message: format!(
                            "the result of task `{}` holds a secret value of this worker's profile: it does not leave the worker",
                            shown(&attempt.task)
                        ),
                    })
                } else if output.len() > protocol::MAX_MESSAGE - 1024 {
                    Err(WireError::Worker {
                        message: format!(
                            "the result of task `{}` is {} bytes, more than a cluster message holds ({} bytes): return a reference (a table, an ADLS path) instead",
                            shown(&attempt.task),
                            output.len(),
                            protocol::MAX_MESSAGE
                        ),
                    })
                } else {
                    Ok(output)
                }
            }
            Err(error) => Err(WireError::of(&error, scrub)),
        })
    }

    /// The attempt's component, fetched and compiled once per worker.
    async fn component(&self, attempt: &AttemptMessage) -> Result<Arc<LoadedComponent>, RunError> {
        // One fetch and compile per component, while attempts of other components go on.
        let cell = {
            let mut loaded = self
                .loaded
                .lock()
                .map_err(|_| RunError::Internal("the worker's component table".into()))?;
            if !loaded.contains_key(&attempt.component) && loaded.len() >= MAX_LOADED {
                // Compiled again from the compiled cache if it comes back.
                if let Some(old) = loaded.keys().next().cloned() {
                    loaded.remove(&old);
                }
            }
            loaded.entry(attempt.component.clone()).or_default().clone()
        };
        let component = cell
            .get_or_try_init(|| async {
                let path = components::fetch(
                    &self.store,
                    &self.worker.components,
                    &attempt.component,
                    &attempt.name,
                )
                .await
                .map_err(|e| RunError::BadComponent(e.to_string()))?;
                let runtime = self.worker.runtime.clone();
                let component = tokio::task::block_in_place(|| runtime.load(&path))?;
                Ok::<_, RunError>(Arc::new(component))
            })
            .await?;
        Ok(component.clone())
    }
}
