//! `aw-run run`: prepare the run profile, load the component, run it on the tokio runtime
//! (Ctrl-C / SIGTERM cancel it), and print its result or its `--json` report.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use aw_runtime::config::{values, FailurePolicy, Limits};
use aw_runtime::engine::cache::CacheOutcome;
use aw_runtime::engine::EngineOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::redact::Scrubber;
use aw_runtime::report::{ReportError, ReportLimits, RunReport};
use aw_runtime::run::Runtime;
use aw_runtime::secrets::Secrets;
use aw_runtime::{logging, EventLog, RunError};

use crate::args::RunArgs;
use crate::{cache_for, component_label, fail, load_config, verbosity};

pub(crate) fn cmd_run(args: RunArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    let loaded = load_config(&args.common, env);
    logging::init(
        verbosity(&args.common, loaded.as_ref().ok()),
        scrubber.clone(),
    );
    let component = component_label(&args.component);
    let mut limits = Limits::default();
    let setup = (|| -> Result<_, RunError> {
        let config = loaded?;
        let secrets = Secrets::from_config(&config, env, scrubber.clone())?;
        let prepared = prepare(&config, &args.common.profile, &secrets, &component)?;
        limits = apply_overrides(prepared.profile.limits.clone(), &args)?;
        let input = read_input(&args.input)?;
        let selection = args.flow.selection()?;
        Ok((prepared, input, selection))
    })();
    // A run that ends before the component runs: its report has no usage and no cache.
    let stop = |error: RunError| {
        finish(
            &args,
            &component,
            &limits,
            Err(error),
            Default::default(),
            CacheOutcome::Disabled,
            &scrubber,
        )
    };
    let (prepared, input, selection) = match setup {
        Ok(ok) => ok,
        Err(e) => return stop(e),
    };
    let events = match args
        .events
        .as_deref()
        .map(|path| EventLog::create(path, scrubber.clone()))
        .transpose()
    {
        Ok(events) => events,
        Err(e) => {
            let error = RunError::Usage(format!(
                "--events {}: {e}",
                args.events.as_deref().unwrap_or(Path::new("")).display()
            ));
            return stop(error);
        }
    };
    // The progress line is for people watching a terminal, never for logs or pipes.
    let progress = !args.common.quiet && !args.json && std::io::stderr().is_terminal();
    let runtime_and_component = Runtime::new(
        EngineOptions {
            fuel: limits.fuel.is_some(),
        },
        cache_for(&args.cache, env),
    )
    .and_then(|mut rt| {
        rt.observe(events, progress);
        rt.result_cache(prepared.profile.result_cache.clone());
        rt.select(selection);
        rt.load(&args.component).map(|c| (rt, c))
    });
    let (mut runtime, loaded) = match runtime_and_component {
        Ok(ok) => ok,
        Err(e) => return stop(e),
    };
    let tokio = match aw_runtime::run::tokio_runtime_for(&loaded, &limits) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                &RunError::Internal(format!("cannot start tokio: {e}")),
                &scrubber,
            )
        }
    };
    // --cluster: the flow runs here, its task attempts on the cluster's workers.
    let clustered = match &args.cluster {
        Some(urls) if loaded.is_flow() => {
            let joined = tokio.block_on(crate::cluster::coordinate(
                urls,
                args.cluster_creds.clone(),
                &args.component,
                (&args.queue, &args.common.profile),
                prepared.context.clone(),
            ));
            match joined {
                Ok(attempts) => {
                    runtime.run_attempts_with(attempts.clone());
                    Some(attempts)
                }
                Err(e) => return stop(e),
            }
        }
        _ => None,
    };
    let cache = loaded.cache;
    let context = prepared.context.clone();
    tokio.spawn(cancel_on_signal(context.clone()));
    let run_limits = limits.clone();
    // The guest runs as a task on a worker thread, beside the connection tasks it waits on, so
    // a reply wakes it without a hop to the main thread.
    let task = tokio.spawn(async move { runtime.run(&loaded, context, &run_limits, &input).await });
    let (outcome, usage) = match tokio.block_on(task) {
        Ok(done) => done,
        Err(e) => (
            Err(RunError::Internal(format!("the run task failed: {e}"))),
            Default::default(),
        ),
    };
    if let Some(attempts) = clustered {
        tokio.block_on(attempts.finish());
        let duplicates = attempts.duplicates();
        if duplicates > 0 {
            tracing::info!(
                duplicates,
                "results of attempts already settled (redelivered and run twice) were ignored"
            );
        }
    }
    finish(&args, &component, &limits, outcome, usage, cache, &scrubber)
}

/// Ctrl-C (SIGINT) or SIGTERM cancels the run; the run then ends with exit code 130.
async fn cancel_on_signal(context: std::sync::Arc<aw_runtime::RunContext>) {
    crate::stop_signal().await;
    tracing::warn!("interrupted: cancelling the run");
    context.interrupted.send_replace(true);
}

/// Prints the result or the report and returns the exit code.
fn finish(
    args: &RunArgs,
    component: &str,
    limits: &Limits,
    outcome: Result<String, RunError>,
    mut usage: aw_runtime::run::Usage,
    cache: CacheOutcome,
    scrubber: &Scrubber,
) -> i32 {
    let code = outcome
        .as_ref()
        .map(|_| 0)
        .unwrap_or_else(RunError::exit_code);
    if args.json {
        let report = RunReport {
            status: outcome
                .as_ref()
                .map(|_| "ok")
                .unwrap_or_else(|e| e.status()),
            exit_code: code,
            component: component.to_string(),
            profile: args.common.profile.clone(),
            result: outcome.as_ref().ok().map(|r| {
                let clean = scrubber.scrub(r);
                serde_json::from_str(&clean)
                    .unwrap_or(serde_json::Value::String(clean.into_owned()))
            }),
            error: outcome
                .as_ref()
                .err()
                .map(|e| ReportError::new(e, scrubber)),
            limits: ReportLimits::new(limits),
            tasks: std::mem::take(&mut usage.tasks),
            usage,
            cache,
        };
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{}", scrubber.scrub(&text)),
            Err(e) => {
                return fail(
                    &RunError::Internal(format!("cannot print the report: {e}")),
                    scrubber,
                )
            }
        }
        if let Err(e) = &outcome {
            eprintln!("aw-run: {}", scrubber.scrub(&e.to_string()));
        }
        code
    } else {
        match outcome {
            Ok(result) => {
                println!("{}", scrubber.scrub(&result));
                0
            }
            Err(e) => fail(&e, scrubber),
        }
    }
}

fn apply_overrides(mut limits: Limits, args: &RunArgs) -> Result<Limits, RunError> {
    if let Some(t) = &args.timeout {
        limits.timeout = values::parse_duration(t)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                RunError::Usage(format!(
                    "--timeout {t:?}: expected a duration like 30s, 500ms or 10m"
                ))
            })?;
    }
    if let Some(m) = &args.memory {
        limits.memory = values::parse_size(m).ok_or_else(|| {
            RunError::Usage(format!(
                "--memory {m:?}: expected a size like 64MiB or 1GiB"
            ))
        })?;
    }
    if let Some(f) = args.fuel {
        limits.fuel = Some(f);
    }
    if let Some(n) = args.max_concurrency {
        if n == 0 {
            return Err(RunError::Usage(
                "--max-concurrency must be at least 1".into(),
            ));
        }
        limits.max_tasks = n;
    }
    if let Some(p) = &args.failure_policy {
        limits.failure_policy = FailurePolicy::parse(p).ok_or_else(|| {
            RunError::Usage(format!(
                "--failure-policy {p:?}: {}",
                FailurePolicy::EXPECTED
            ))
        })?;
    }
    if limits.timeout > Duration::from_secs(365 * 24 * 3600) {
        return Err(RunError::Usage("the timeout is longer than a year".into()));
    }
    Ok(limits)
}

/// `--input`: JSON text or `@file`; must parse as JSON.
pub(crate) fn read_input(input: &str) -> Result<String, RunError> {
    let text = match input.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| RunError::Usage(format!("cannot read --input file {path}: {e}")))?,
        None => input.to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| RunError::Usage(format!("--input is not valid JSON: {e}")))?;
    Ok(text)
}
