//! `aw-run cluster setup | status`: the NATS JetStream cluster's streams, created and shown;
//! and joining the cluster as a run's coordinator (`aw-run run --cluster`).
//! Every failure (a bad URL, no server answering, a server too old) exits 2 with what to fix.

use aw_runtime::cluster::coordinator::ClusterAttempts;
use aw_runtime::cluster::{self, components, ClusterSpec, StreamStatus};
use aw_runtime::redact::Scrubber;
use aw_runtime::RunError;
use aw_runtime::{logging, run::tokio_runtime};

use crate::args::{ClusterArgs, ClusterCommand, ClusterConnection, StreamCompression};

pub(crate) fn cmd_cluster(args: ClusterArgs, scrubber: Scrubber) -> i32 {
    let connection = match &args.command {
        ClusterCommand::Setup { connection, .. } | ClusterCommand::Status { connection, .. } => {
            connection
        }
    };
    logging::init(0, scrubber.clone());
    let result = match tokio_runtime() {
        Ok(runtime) => runtime.block_on(run(&args.command, connection)),
        Err(e) => Err(format!("cannot start the async runtime: {e}")),
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("aw-run: {}", scrubber.scrub(&message));
            2
        }
    }
}

async fn run(command: &ClusterCommand, connection: &ClusterConnection) -> Result<(), String> {
    let spec = ClusterSpec::parse(&connection.cluster, connection.cluster_creds.clone())
        .map_err(|e| e.to_string())?;
    let joined = spec
        .connect("aw-run cluster")
        .await
        .map_err(|e| e.to_string())?;
    match command {
        ClusterCommand::Setup {
            replicas,
            compression,
            ..
        } => {
            let compress = *compression == StreamCompression::S2;
            cluster::ensure_streams(&joined, *replicas, compress)
                .await
                .map_err(|e| e.to_string())?;
            components::bucket(&joined, *replicas)
                .await
                .map_err(|e| e.to_string())?;
            cluster::runs::bucket(&joined, *replicas)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "streams ready on {} (NATS server {}): {}",
                spec.label(),
                joined.version,
                cluster::STREAMS.map(|s| s.name).join(", ")
            );
        }
        ClusterCommand::Status { json, .. } => {
            let streams = cluster::status(&joined).await.map_err(|e| e.to_string())?;
            if *json {
                let out = serde_json::json!({
                    "server_version": joined.version.to_string(),
                    "streams": streams,
                });
                println!("{out}");
            } else {
                print_table(&joined.version.to_string(), &streams);
            }
        }
    }
    Ok(())
}

fn print_table(version: &str, streams: &[StreamStatus]) {
    println!("NATS server {version}");
    for s in streams {
        if !s.present {
            println!("{}: missing (run `aw-run cluster setup`)", s.name);
            continue;
        }
        let followers: Vec<String> = s
            .followers
            .iter()
            .map(|(name, current)| format!("{name}{}", if *current { "" } else { " (behind)" }))
            .collect();
        println!(
            "{}: {} messages, {} bytes, {} replicas, leader {}, copies on {}",
            s.name,
            s.messages,
            s.bytes,
            s.replicas,
            s.leader.as_deref().unwrap_or("none"),
            if followers.is_empty() {
                "none".to_string()
            } else {
                followers.join(", ")
            }
        );
        for c in &s.consumers {
            println!(
                "  consumer {}: {} pending, {} in flight, {} redelivered, {} waiting",
                c.name, c.pending, c.in_flight, c.redelivered, c.waiting
            );
        }
    }
}

/// Joins the cluster for a run of `component` whose attempts go to the workers of a queue
/// serving a run profile: publishes the component to
/// the cluster's object store (once per content) and returns what sends the run's task
/// attempts to the workers. Failures are usage errors (exit 2) naming what to fix.
pub(crate) async fn coordinate(
    urls: &str,
    creds: Option<std::path::PathBuf>,
    component: &std::path::Path,
    queue_and_profile: (&str, &str),
    context: std::sync::Arc<aw_runtime::RunContext>,
) -> Result<std::sync::Arc<ClusterAttempts>, RunError> {
    let usage = |e: cluster::ClusterError| RunError::Usage(e.to_string());
    let spec = ClusterSpec::parse(urls, creds).map_err(usage)?;
    let joined = std::sync::Arc::new(spec.connect("aw-run coordinator").await.map_err(usage)?);
    let bytes = std::fs::read(component).map_err(|e| {
        RunError::Usage(format!(
            "cannot read component {}: {e}",
            component.display()
        ))
    })?;
    let replicas = cluster::stream_replicas(&joined).await.map_err(usage)?;
    let store = components::bucket(&joined, replicas).await.map_err(usage)?;
    let sha = components::publish(&store, &bytes).await.map_err(usage)?;
    let attempts = ClusterAttempts::new(joined, context, queue_and_profile, sha)
        .await
        .map_err(usage)?;
    Ok(std::sync::Arc::new(attempts))
}
