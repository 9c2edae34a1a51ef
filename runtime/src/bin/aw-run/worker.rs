//! `aw-run worker`: prepares the run profiles this machine serves (its own connectors,
//! secrets and limits), joins the cluster and runs attempts until SIGTERM or Ctrl-C, which
//! drain it. Setup failures exit 2 naming what to fix.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aw_runtime::cluster::worker::{Worker, WorkerProfile};
use aw_runtime::cluster::ClusterSpec;
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::engine::EngineOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::redact::Scrubber;
use aw_runtime::run::{tokio_runtime_with, Runtime};
use aw_runtime::secrets::Secrets;
use aw_runtime::{logging, RunError};

use crate::args::{Common, WorkerArgs};
use crate::{cache_for, fail, load_config, stop_signal, verbosity};

pub(crate) fn cmd_worker(args: WorkerArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    let common = Common {
        profile: "default".into(),
        config: args.config.clone(),
        verbose: args.verbose,
        quiet: args.quiet,
    };
    let loaded = load_config(&common, env);
    logging::init(verbosity(&common, loaded.as_ref().ok()), scrubber.clone());
    let name = args.name.clone().unwrap_or_else(default_name);
    let slots = args.slots.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let setup = (|| -> Result<_, RunError> {
        if slots == 0 {
            return Err(RunError::Usage("--slots must be at least 1".into()));
        }
        aw_runtime::cluster::protocol::check_queue(&args.queue).map_err(RunError::Usage)?;
        if args.ack_wait == 0 || args.max_deliver < 2 {
            return Err(RunError::Usage(
                "--ack-wait must be at least 1 s and --max-deliver at least 2 (the last delivery only reports the lost worker)".into(),
            ));
        }
        let spec = ClusterSpec::parse(
            &args.connection.cluster,
            args.connection.cluster_creds.clone(),
        )
        .map_err(|e| RunError::Usage(e.to_string()))?;
        let config = loaded?;
        let secrets = Secrets::from_config(&config, env, scrubber.clone())?;
        let names: Vec<String> = if args.profiles.is_empty() {
            let defined: Vec<String> = config.section("profiles")?.keys().cloned().collect();
            if defined.is_empty() {
                vec!["default".to_string()]
            } else {
                defined
            }
        } else {
            args.profiles.clone()
        };
        let mut profiles = BTreeMap::new();
        for profile in names {
            let prepared = prepare(&config, &profile, &secrets, "worker")?;
            if !prepared.profile.explicit && profile != "default" {
                return Err(RunError::Usage(format!(
                    "--profile {profile}: the config defines no [profiles.{profile}]"
                )));
            }
            profiles.insert(
                profile,
                WorkerProfile {
                    context: prepared.context,
                    limits: prepared.profile.limits,
                },
            );
        }
        let fuel = profiles.values().any(|p| p.limits.fuel.is_some());
        let runtime = Runtime::new(EngineOptions { fuel }, cache_for(&args.cache, env))?;
        Ok((spec, profiles, runtime))
    })();
    let (spec, profiles, runtime) = match setup {
        Ok(ok) => ok,
        Err(e) => return fail(&e, &scrubber),
    };
    // Beside the compiled cache (the user's own directory), not in a shared temp dir.
    let components = args
        .work_dir
        .clone()
        .or_else(|| ComponentCache::default_dir(env).map(|d| d.join("cluster-components")))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("aw-worker-{name}")));
    let worker = Arc::new(Worker {
        name,
        queue: args.queue.clone(),
        slots,
        profiles,
        runtime: Arc::new(runtime),
        components,
        ack_wait: Duration::from_secs(args.ack_wait),
        max_deliver: args.max_deliver,
    });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let tokio = match tokio_runtime_with(slots.clamp(1, cores)) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                &RunError::Internal(format!("cannot start tokio: {e}")),
                &scrubber,
            )
        }
    };
    let served = tokio.block_on(async {
        let cluster = Arc::new(
            spec.connect(&format!("aw-run worker {}", worker.name))
                .await
                .map_err(|e| RunError::Usage(e.to_string()))?,
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop_signal().await;
            tracing::warn!("stopping: draining the running attempts");
            stop.send_replace(true);
        });
        worker
            .serve(cluster, stopped)
            .await
            .map_err(|e| RunError::Usage(e.to_string()))
    });
    match served {
        Ok(()) => 0,
        Err(e) => fail(&e, &scrubber),
    }
}

/// `HOSTNAME-PID`: unique enough to tell workers apart in reports.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}
