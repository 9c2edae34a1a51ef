//! The coordinator's side of a clustered run (`aw-run ... --cluster`): the flow and its
//! scheduler stay in this process; each task attempt the scheduler starts (only when one of
//! the run's slots is free) is published to `AW_ATTEMPTS` and its result awaited from the
//! run's own durable consumer on `AW_RESULTS`.
//!
//! A result for an attempt that is no longer awaited (settled already, cancelled, or a second
//! copy after a redelivery) is acknowledged, counted and ignored. Dropping an attempt's
//! future (cancellation, fail-fast, Ctrl-C) tells the worker running it to stop, and marks it
//! cancelled in the run-state bucket ([`super::runs`]) so that no worker starts it later; the
//! run's own key there is kept fresh while the run lives and says `ended` when it ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::kv;
use futures_util::StreamExt;
use tokio::sync::{oneshot, OnceCell, Semaphore};

use super::protocol::{self, AttemptLimits, AttemptMessage, ResultMessage, RunIdentity};
use super::runs::{self, RunState};
use super::worker::worker_consumer;
use super::{publish_with_id, Cluster, ClusterError};
use crate::bindings::connector_error;
use crate::bindings::types::ErrorKind;
use crate::error::RunError;
use crate::flow::{Attempt, RunAttempt};
use crate::host::RunContext;

/// Publishes awaiting their ack at once (the client blocks for good past 5,000).
const PUBLISH_WINDOW: usize = 1000;

/// How long the end of a run waits for the cluster to clean up after it.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// An attempt's result, routed to the attempt that waits for it.
type Waiting = Arc<Mutex<HashMap<(u64, u32), oneshot::Sender<ResultMessage>>>>;

/// Sends a run's task attempts to the cluster's workers ([`RunAttempt`]).
pub struct ClusterAttempts {
    cluster: Arc<Cluster>,
    context: Arc<RunContext>,
    /// The run profile workers run the attempts under.
    profile: String,
    /// The worker queue the attempts go to.
    queue: String,
    /// The component's SHA-256, published to the Object Store before the run.
    component: String,
    /// How long an attempt may go without a result once its own timeout has passed: the
    /// worker pool's redelivery time, as many times as it redelivers.
    lost_after: Duration,
    waiting: Waiting,
    window: Arc<Semaphore>,
    /// Results that came for an attempt nobody waits for any more.
    duplicates: Arc<AtomicU64>,
    /// The run-state bucket.
    runs: kv::Store,
    /// The run's result consumer, the task reading it and the task refreshing the run's
    /// state, started with the first attempt (the run id is known then).
    reader: OnceCell<Begun>,
}

/// What the first attempt of a run starts.
struct Begun {
    consumer: String,
    reader: tokio::task::AbortHandle,
    heartbeat: tokio::task::AbortHandle,
}

/// How often the run's state key is refreshed: [`runs::HEARTBEAT`], shorter in tests that
/// kill a coordinator (test-hooks builds only).
fn heartbeat_every() -> Duration {
    #[cfg(feature = "test-hooks")]
    if let Some(ms) = std::env::var("AW_TEST_RUN_HEARTBEAT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_millis(ms.max(100));
    }
    runs::HEARTBEAT
}

impl ClusterAttempts {
    /// Attempts of the run `context` describes, for the workers of `queue` serving run
    /// profile `profile`, of the component whose SHA-256 is `component`. Fails when no
    /// worker of the queue ever joined the cluster (there is nobody to run them).
    pub async fn new(
        cluster: Arc<Cluster>,
        context: Arc<RunContext>,
        (queue, profile): (&str, &str),
        component: String,
    ) -> Result<ClusterAttempts, ClusterError> {
        let replicas = super::stream_replicas(&cluster).await?;
        let runs = runs::bucket(&cluster, replicas).await?;
        protocol::check_queue(queue).map_err(ClusterError::Usage)?;
        let (ack_wait, max_deliver) = worker_consumer(&cluster, queue).await?.ok_or_else(|| {
            ClusterError::Unsupported(format!(
                "no worker of queue `{queue}` has joined the cluster yet (there is no consumer {} on AW_ATTEMPTS): start `aw-run worker --cluster URL --queue {queue} --profile {profile}` on the machines that should run the tasks",
                protocol::queue_consumer(queue)
            ))
        })?;
        let rounds = u32::try_from(max_deliver.max(1)).unwrap_or(u32::MAX);
        Ok(ClusterAttempts {
            cluster,
            context,
            profile: profile.to_string(),
            queue: queue.to_string(),
            component,
            lost_after: ack_wait
                .saturating_mul(rounds)
                .saturating_add(Duration::from_secs(10)),
            waiting: Arc::default(),
            window: Arc::new(Semaphore::new(PUBLISH_WINDOW)),
            duplicates: Arc::default(),
            runs,
            reader: OnceCell::new(),
        })
    }

    /// Results that arrived for attempts already settled (redeliveries run twice).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Once the run has ended: tells every worker to drop whatever of it is still queued, and
    /// removes the run's result consumer.
    pub async fn finish(&self) {
        // Bounded: a cluster that stopped answering must not keep the run from ending.
        if tokio::time::timeout(FINISH_WAIT, self.clean_up())
            .await
            .is_err()
        {
            tracing::warn!("the cluster did not answer within {FINISH_WAIT:?} at the end of the run: the run's result consumer and queued attempts may be left on it");
        }
    }

    async fn clean_up(&self) {
        if let Some(begun) = self.reader.get() {
            begun.reader.abort();
            begun.heartbeat.abort();
        }
        let Some(info) = self.context.info.get() else {
            return;
        };
        // First: a worker that pulls one of the run's attempts from now on drops it.
        if let Err(e) = runs::put(&self.runs, &info.run_id, RunState::Ended).await {
            tracing::warn!(error = %e, "could not mark the run ended");
        }
        let subject = protocol::cancel_run_subject(&info.run_id);
        let _ = self
            .cluster
            .client
            .publish(subject, bytes::Bytes::new())
            .await;
        let _ = self.cluster.client.flush().await;
        // What is still queued for the run (attempts no worker took, results that came after
        // their attempt settled) goes: nobody will read it.
        // The results stream holds the run's consumer too.
        for (stream, subject, consumer) in [
            (
                "AW_ATTEMPTS",
                protocol::attempt_subject(&self.queue, &info.run_id),
                None,
            ),
            (
                "AW_RESULTS",
                protocol::results_filter(&info.run_id),
                self.reader.get().map(|begun| &begun.consumer),
            ),
        ] {
            let Ok(stream) = self.cluster.jetstream.get_stream(stream).await else {
                continue;
            };
            if let Err(e) = stream.purge().filter(subject.clone()).await {
                tracing::debug!(%subject, error = %e, "purge at the end of the run");
            }
            if let Some(name) = consumer {
                if let Err(e) = stream.delete_consumer(name).await {
                    tracing::warn!(consumer = %name, error = %e, "could not delete the run's result consumer");
                }
            }
        }
    }

    /// The run's state key, refreshed from now on; its durable result consumer (replicated
    /// like its stream, so a dead server does not stop it) and the task that routes its
    /// messages; made once.
    async fn begin(&self, run_id: &str) -> Result<(), ClusterError> {
        self.reader
            .get_or_try_init(|| async {
                let every = heartbeat_every();
                let state = RunState::Running {
                    every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
                };
                runs::put(&self.runs, run_id, state).await?;
                let heartbeat = {
                    let (store, run_id) = (self.runs.clone(), run_id.to_string());
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(every).await;
                            if let Err(e) = runs::put(&store, &run_id, state).await {
                                tracing::warn!(error = %e, "could not refresh the run's state");
                            }
                        }
                    })
                };
                let name = format!("aw-run-{run_id}");
                let stream = super::stream(&self.cluster, "AW_RESULTS").await?;
                let consumer = stream
                    .get_or_create_consumer(
                        &name,
                        pull::Config {
                            durable_name: Some(name.clone()),
                            filter_subject: protocol::results_filter(run_id),
                            ack_policy: AckPolicy::Explicit,
                            deliver_policy: DeliverPolicy::All,
                            ack_wait: Duration::from_secs(30),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| {
                        ClusterError::JetStream(format!(
                            "cannot create the run's result consumer: {e}"
                        ))
                    })?;
                let task = tokio::spawn(route_results(
                    consumer,
                    self.waiting.clone(),
                    self.duplicates.clone(),
                ));
                Ok::<_, ClusterError>(Begun {
                    consumer: name,
                    reader: task.abort_handle(),
                    heartbeat: heartbeat.abort_handle(),
                })
            })
            .await
            .map(|_| ())
    }

    /// Publishes `message` with its id, retrying while the stream has no leader.
    async fn publish(&self, message: &AttemptMessage) -> Result<(), RunError> {
        let body = serde_json::to_vec(message).map_err(|e| RunError::Internal(e.to_string()))?;
        if body.len() > protocol::MAX_MESSAGE {
            return Err(RunError::Guest(connector_error(
                ErrorKind::InvalidInput,
                format!(
                    "the input of task `{}` is {} bytes, more than a cluster message holds ({} bytes): pass large data by reference (a table, an ADLS path), or run without --cluster",
                    message.task,
                    message.input.len(),
                    protocol::MAX_MESSAGE
                ),
            )));
        }
        let _permit = self
            .window
            .acquire()
            .await
            .map_err(|e| RunError::Internal(e.to_string()))?;
        let subject = protocol::attempt_subject(&self.queue, &message.run.id);
        publish_with_id(&self.cluster, subject, &message.key(), body)
            .await
            .map_err(|e| RunError::Guest(connector_error(ErrorKind::Transient, e.to_string())))
    }
}

/// Forgets an attempt that stopped waiting, and tells its worker to stop unless it ended.
struct Awaiting<'a> {
    attempts: &'a ClusterAttempts,
    run_id: String,
    key: (u64, u32),
    ended: bool,
}

impl Drop for Awaiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.attempts.waiting.lock() {
            waiting.remove(&self.key);
        }
        // Outside a runtime (the process is ending) there is nobody left to tell.
        if let (false, Ok(runtime)) = (self.ended, tokio::runtime::Handle::try_current()) {
            let client = self.attempts.cluster.client.clone();
            let store = self.attempts.runs.clone();
            let subject = protocol::cancel_attempt_subject(&self.run_id, self.key.0, self.key.1);
            let key = protocol::message_id(&self.run_id, self.key.0, self.key.1);
            runtime.spawn(async move {
                let _ = client.publish(subject, bytes::Bytes::new()).await;
                let _ = client.flush().await;
                // Still queued, it is dropped by the worker that pulls it.
                if let Err(e) = runs::put(&store, &key, RunState::Cancelled).await {
                    tracing::debug!(error = %e, "could not mark a dropped attempt cancelled");
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl RunAttempt for ClusterAttempts {
    async fn run_attempt(&self, attempt: Attempt<'_>) -> Result<String, RunError> {
        let info =
            self.context.info.get().ok_or_else(|| {
                RunError::Internal("a clustered attempt before the run began".into())
            })?;
        self.begin(&info.run_id)
            .await
            .map_err(|e| RunError::Guest(connector_error(ErrorKind::Transient, e.to_string())))?;
        let message = AttemptMessage {
            version: protocol::VERSION,
            run: RunIdentity::of(info),
            sequence: attempt.sequence,
            attempt: attempt.number,
            task: attempt.task.to_string(),
            input: attempt.input.to_string(),
            limits: AttemptLimits::of(attempt.limits),
            depth: attempt.depth,
            profile: self.profile.clone(),
            name: self.context.component.clone(),
            component: self.component.clone(),
            traceparent: None,
        };
        let key = (attempt.sequence, attempt.number);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(key, tx);
        }
        let mut guard = Awaiting {
            attempts: self,
            run_id: info.run_id.clone(),
            key,
            ended: false,
        };
        self.publish(&message).await?;
        let bound = attempt.limits.timeout.saturating_add(self.lost_after);
        let result = match tokio::time::timeout(bound, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => return Err(RunError::Internal("the run's result reader stopped".into())),
            Err(_) => {
                return Err(RunError::Guest(connector_error(
                    ErrorKind::Transient,
                    format!(
                        "no worker answered task `{}` (attempt {}) within {} s: are workers serving run profile `{}` running (`aw-run cluster status`)?",
                        attempt.task,
                        attempt.number,
                        bound.as_secs(),
                        self.profile
                    ),
                )))
            }
        };
        guard.ended = true;
        // A worker names itself: bounded, as every task record keeps it.
        let worker: String = result.worker.chars().take(100).collect();
        let _ = attempt.ran_on.set(worker.clone());
        if result.delivered > 1 {
            tracing::info!(task = attempt.task, attempt = attempt.number, delivered = result.delivered, %worker, "the attempt was redelivered after a worker was lost");
        }
        result.outcome.map_err(|wire| wire.into_run_error(&worker))
    }
}

/// Routes each result of the run to the attempt awaiting it; acknowledges every one.
async fn route_results(
    consumer: Consumer<pull::Config>,
    waiting: Waiting,
    duplicates: Arc<AtomicU64>,
) {
    loop {
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "the run's result reader cannot pull; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(next) = messages.next().await {
            let message = match next {
                Ok(message) => message,
                Err(e) => {
                    tracing::debug!(error = %e, "result reader");
                    continue;
                }
            };
            match serde_json::from_slice::<ResultMessage>(&message.payload) {
                Ok(result) => {
                    let sender = waiting
                        .lock()
                        .ok()
                        .and_then(|mut w| w.remove(&(result.sequence, result.attempt)));
                    match sender {
                        Some(sender) => {
                            let _ = sender.send(result);
                        }
                        None => {
                            duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(subject = %message.subject, error = %e, "a result message that is not one: ignored");
                }
            }
            if let Err(e) = message.ack().await {
                tracing::debug!(error = %e, "result ack");
            }
        }
    }
}
