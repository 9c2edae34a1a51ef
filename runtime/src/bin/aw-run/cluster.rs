//! `aw-run cluster setup | status`: the NATS JetStream cluster's streams, created and shown.
//! Every failure (a bad URL, no server answering, a server too old) exits 2 with what to fix.

use aw_runtime::cluster::{self, ClusterSpec, StreamStatus};
use aw_runtime::redact::Scrubber;
use aw_runtime::{logging, run::tokio_runtime};

use crate::args::{ClusterArgs, ClusterCommand, ClusterConnection};

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
        ClusterCommand::Setup { replicas, .. } => {
            cluster::ensure_streams(&joined, *replicas)
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
