//! `aw-run`: the command line over aw-runtime. Parses arguments, loads config, calls the
//! library and maps failures to exit codes; nothing else lives here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aw_runtime::check::check;
use aw_runtime::config::{values, Config, Limits, LoadOptions};
use aw_runtime::engine::cache::{CacheOutcome, ComponentCache};
use aw_runtime::engine::EngineOptions;
use aw_runtime::flow::EventLog;
use aw_runtime::grants::Grants;
use aw_runtime::prepare::prepare;
use aw_runtime::redact::Scrubber;
use aw_runtime::report::{ReportError, ReportLimits, RunReport};
use aw_runtime::run::Runtime;
use aw_runtime::secrets::Secrets;
use aw_runtime::{logging, RunError};
use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0   ok
  1   the guest returned an error
  2   usage or config error (including a missing secret or component file)
  3   denied: the run profile does not grant what the guest asked for
  4   a limit was exceeded (memory, timeout, fuel)
  5   the guest trapped (panic, unreachable, stack overflow)
  6   the file is not a valid component or does not match the task world
  70  internal error of aw-run";

/// Runs sandboxed auto-workflow components under a run profile's grants.
#[derive(Parser)]
#[command(name = "aw-run", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a component's task (the default command: `aw-run flow.wasm` means `aw-run run flow.wasm`).
    Run(RunArgs),
    /// List a component's imports and whether the profile grants each, without running it.
    Check(CheckArgs),
    /// Compile a component into the cache so the next run starts at once.
    Compile(CompileArgs),
    /// Print the effective configuration of a run profile (secrets are never shown).
    Config(ConfigArgs),
    /// Print a flow's tasks and their default options as JSON, without running it.
    Describe(DescribeArgs),
}

#[derive(Args)]
struct Common {
    /// The run profile: which grants, config values, secrets and limits apply.
    #[arg(long, short = 'p', default_value = "default")]
    profile: String,
    /// Configuration file (default: $AW_CONFIG, ./aw.toml, or [tool.auto_workflow] of ./pyproject.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors in the log.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
}

#[derive(Args)]
struct CacheArgs {
    /// Directory of compiled components (default: $AW_CACHE_DIR or ~/.cache/auto-workflow).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Compile from scratch and do not touch the cache.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct RunArgs {
    /// The component (.wasm) to run.
    component: PathBuf,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cache: CacheArgs,
    /// The task's input: JSON text, or @FILE to read it from a file.
    #[arg(long, short = 'i', default_value = "{}")]
    input: String,
    /// Wall-clock limit (e.g. 30s, 10m); overrides limits.timeout.
    #[arg(long)]
    timeout: Option<String>,
    /// Linear memory limit per instance (e.g. 64MiB); overrides limits.memory.
    #[arg(long)]
    memory: Option<String>,
    /// Fuel budget (instructions, roughly); overrides limits.fuel.
    #[arg(long)]
    fuel: Option<u64>,
    /// Print a JSON run report instead of the bare result.
    #[arg(long)]
    json: bool,
    /// Flows: tasks running at once; overrides limits.max_tasks.
    #[arg(long)]
    max_concurrency: Option<u64>,
    /// Flows: write task events (JSON Lines) to this file as they happen.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Flows: `fail-fast` (default) cancels the other tasks once one failed for good;
    /// `continue` lets them finish and hands the failure to the flow's join.
    #[arg(long)]
    failure_policy: Option<String>,
}

#[derive(Args)]
struct DescribeArgs {
    component: PathBuf,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct CheckArgs {
    component: PathBuf,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cache: CacheArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CompileArgs {
    component: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
    /// Compile for engines that meter fuel (runs with a fuel limit use those).
    #[arg(long)]
    fuel: bool,
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Args)]
struct ConfigArgs {
    #[command(flatten)]
    common: Common,
}

const SUBCOMMANDS: &[&str] = &["run", "check", "compile", "config", "describe", "help"];

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    // `aw-run flow.wasm ...` and `aw-run --json flow.wasm ...` are `aw-run run ...`.
    if let Some(first) = args.get(1) {
        let top_level_flag = matches!(first.as_str(), "-h" | "--help" | "-V" | "--version");
        if !top_level_flag && !SUBCOMMANDS.contains(&first.as_str()) {
            args.insert(1, "run".into());
        }
    }
    let cli = Cli::parse_from(args);
    let scrubber = Scrubber::default();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let code = match cli.command {
        Command::Run(a) => cmd_run(a, &env, scrubber),
        Command::Check(a) => cmd_check(a, &env, scrubber),
        Command::Compile(a) => cmd_compile(a, &env, scrubber),
        Command::Config(a) => cmd_config(a, &env, scrubber),
        Command::Describe(a) => cmd_describe(a, &env, scrubber),
    };
    logging::shutdown();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The log verbosity: `-q` / `-v` when given, else the config's `log_level` (a key of the
/// Python package), else info. A config that failed to load is reported by the command.
fn verbosity(common: &Common, config: Option<&Config>) -> i8 {
    if common.quiet {
        -1
    } else if common.verbose > 0 {
        common.verbose.min(3) as i8
    } else {
        config.and_then(|c| c.engine.verbosity).unwrap_or(0)
    }
}

fn load_config(common: &Common, env: &[(String, String)]) -> Result<Config, RunError> {
    let cwd = std::env::current_dir()
        .map_err(|e| RunError::Usage(format!("no current directory: {e}")))?;
    let options = LoadOptions {
        file: common.config.clone(),
        cwd,
        env: env.to_vec(),
    };
    Ok(Config::load(&options)?)
}

fn cache_for(args: &CacheArgs, env: &[(String, String)]) -> ComponentCache {
    if args.no_cache {
        ComponentCache::new(None)
    } else {
        ComponentCache::new(
            args.cache_dir
                .clone()
                .or_else(|| ComponentCache::default_dir(env)),
        )
    }
}

/// Prints a failure on stderr, scrubbed, and returns its exit code.
fn fail(error: &RunError, scrubber: &Scrubber) -> i32 {
    eprintln!("aw-run: {}", scrubber.scrub(&error.to_string()));
    error.exit_code()
}

fn cmd_run(args: RunArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
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
        Ok((prepared, input))
    })();
    let (prepared, input) = match setup {
        Ok(ok) => ok,
        Err(e) => {
            return finish(
                &args,
                &component,
                &limits,
                Err(e),
                Default::default(),
                CacheOutcome::Disabled,
                &scrubber,
            )
        }
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
            return finish(
                &args,
                &component,
                &limits,
                Err(error),
                Default::default(),
                CacheOutcome::Disabled,
                &scrubber,
            );
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
        rt.load(&args.component).map(|c| (rt, c))
    });
    let (runtime, loaded) = match runtime_and_component {
        Ok(ok) => ok,
        Err(e) => {
            return finish(
                &args,
                &component,
                &limits,
                Err(e),
                Default::default(),
                CacheOutcome::Disabled,
                &scrubber,
            )
        }
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
    finish(&args, &component, &limits, outcome, usage, cache, &scrubber)
}

/// Ctrl-C (SIGINT) or SIGTERM cancels the run; the run then ends with exit code 130.
async fn cancel_on_signal(context: std::sync::Arc<aw_runtime::host::RunContext>) {
    let interrupt = async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return std::future::pending::<()>().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    interrupt.await;
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
        limits.fail_fast = aw_runtime::config::parse_failure_policy(p).ok_or_else(|| {
            RunError::Usage(format!(
                "--failure-policy {p:?}: expected fail-fast or continue"
            ))
        })?;
    }
    if limits.timeout > Duration::from_secs(365 * 24 * 3600) {
        return Err(RunError::Usage("the timeout is longer than a year".into()));
    }
    Ok(limits)
}

/// `--input`: JSON text or `@file`; must parse as JSON.
fn read_input(input: &str) -> Result<String, RunError> {
    let text = match input.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| RunError::Usage(format!("cannot read --input file {path}: {e}")))?,
        None => input.to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| RunError::Usage(format!("--input is not valid JSON: {e}")))?;
    Ok(text)
}

fn component_label(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component")
        .to_string()
}

fn cmd_check(args: CheckArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    let loaded = load_config(&args.common, env);
    logging::init(
        verbosity(&args.common, loaded.as_ref().ok()),
        scrubber.clone(),
    );
    let result = (|| -> Result<i32, RunError> {
        let config = loaded?;
        let profile = config.run_profile(&args.common.profile)?;
        let runtime = Runtime::new(EngineOptions::default(), cache_for(&args.cache, env))?;
        let (component, _) = runtime.compile(&args.component)?;
        let report = check(
            runtime.engine(),
            &component,
            &component_label(&args.component),
            &Grants::new(&profile),
        );
        if args.json {
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| RunError::Internal(e.to_string()))?;
            println!("{text}");
        } else {
            println!(
                "{} under run profile `{}`:",
                report.component, report.profile
            );
            for import in &report.imports {
                println!(
                    "  import {:<50} {:<12} {}",
                    import.name, import.status, import.detail
                );
            }
            let run = if report.exports_run {
                "ok"
            } else {
                "MISSING: the task world's `run` export"
            };
            println!("  export run {run}");
        }
        Ok(report.exit_code())
    })();
    result.unwrap_or_else(|e| fail(&e, &scrubber))
}

/// `aw-run describe`: a flow's `describe` export, run in a fresh instance under the profile.
fn cmd_describe(args: DescribeArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    let loaded = load_config(&args.common, env);
    logging::init(
        verbosity(&args.common, loaded.as_ref().ok()),
        scrubber.clone(),
    );
    let component = component_label(&args.component);
    let result = (|| -> Result<serde_json::Value, RunError> {
        let config = loaded?;
        let secrets = Secrets::from_config(&config, env, scrubber.clone())?;
        let prepared = prepare(&config, &args.common.profile, &secrets, &component)?;
        let limits = prepared.profile.limits.clone();
        let runtime = Runtime::new(
            EngineOptions {
                fuel: limits.fuel.is_some(),
            },
            cache_for(&args.cache, env),
        )?;
        let loaded = runtime.load(&args.component)?;
        let tokio = aw_runtime::run::tokio_runtime()
            .map_err(|e| RunError::Internal(format!("cannot start tokio: {e}")))?;
        let specs = tokio.block_on(runtime.describe(&loaded, prepared.context.clone(), &limits))?;
        Ok(serde_json::json!({
            "component": component,
            "tasks": specs.iter().map(aw_runtime::flow::spec_json).collect::<Vec<_>>(),
        }))
    })();
    match result {
        Ok(value) => {
            // A flow's declared defaults (cache keys, names) may hold a granted secret.
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            println!("{}", scrubber.scrub(&text));
            0
        }
        Err(e) => fail(&e, &scrubber),
    }
}

fn cmd_compile(args: CompileArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    logging::init(args.verbose.min(3) as i8, scrubber.clone());
    let result = (|| -> Result<CacheOutcome, RunError> {
        let runtime = Runtime::new(
            EngineOptions { fuel: args.fuel },
            cache_for(&args.cache, env),
        )?;
        Ok(runtime.compile(&args.component)?.1)
    })();
    match result {
        Ok(outcome) => {
            println!(
                "{}: {}",
                args.component.display(),
                match outcome {
                    CacheOutcome::Hit => "already cached",
                    CacheOutcome::Miss => "compiled and cached",
                    CacheOutcome::Disabled => "compiled (cache disabled)",
                }
            );
            0
        }
        Err(e) => fail(&e, &scrubber),
    }
}

fn cmd_config(args: ConfigArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    let loaded = load_config(&args.common, env);
    logging::init(
        verbosity(&args.common, loaded.as_ref().ok()),
        scrubber.clone(),
    );
    let result = (|| -> Result<(), RunError> {
        let config = loaded?;
        let profile = config.run_profile(&args.common.profile)?;
        let mut connectors = serde_json::Map::new();
        for (connector, granted) in [("postgres", &profile.postgres), ("adls2", &profile.adls2)] {
            for name in granted {
                if let Some(table) = config.connector_profile(connector, name) {
                    let fields: serde_json::Map<String, serde_json::Value> = table
                        .iter()
                        .map(|(k, node)| {
                            let shown = aw_runtime::config::schema::display_value(connector, k, node);
                            (k.clone(), serde_json::json!({ "value": shown, "source": node.source.to_string() }))
                        })
                        .collect();
                    connectors.insert(
                        format!("{connector}.{name}"),
                        serde_json::Value::Object(fields),
                    );
                }
            }
        }
        let out = serde_json::json!({
            "file": config.file.as_ref().map(|f| f.display().to_string()),
            "profile": profile.name,
            "explicit": profile.explicit,
            "connectors": connectors,
            "config": profile.config,
            "secrets": profile.secrets,
            "limits": {
                "memory": profile.limits.memory,
                "timeout": profile.limits.timeout.as_secs_f64(),
                "fuel": profile.limits.fuel,
                "max_tasks": profile.limits.max_tasks,
            },
            "result_cache": profile.result_cache.as_ref().map(|d| d.display().to_string()),
        });
        let text =
            serde_json::to_string_pretty(&out).map_err(|e| RunError::Internal(e.to_string()))?;
        println!("{}", scrubber.scrub(&text));
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => fail(&e, &scrubber),
    }
}
