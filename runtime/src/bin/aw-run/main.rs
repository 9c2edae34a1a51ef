//! `aw-run`: the command line over aw-runtime. Parses arguments, loads config, calls the
//! library and maps failures to exit codes; nothing else lives here. [`args`] holds the
//! flags, [`run`] the `run` command, [`cluster`] the `cluster` commands, [`inspect`] and
//! [`flows`] the others.

use std::path::Path;
use std::process::ExitCode;

use aw_runtime::config::{Config, LoadOptions};
use aw_runtime::engine::cache::ComponentCache;
use aw_runtime::redact::Scrubber;
use aw_runtime::{logging, RunError};
use clap::Parser;

mod args;
mod cluster;
mod flows;
mod inspect;
mod run;
mod worker;

use args::{CacheArgs, Cli, Command, Common};

const SUBCOMMANDS: &[&str] = &[
    "run", "check", "compile", "config", "describe", "list", "graph", "cluster", "worker", "help",
];

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
        Command::Run(a) => run::cmd_run(a, &env, scrubber),
        Command::Check(a) => inspect::cmd_check(a, &env, scrubber),
        Command::Compile(a) => inspect::cmd_compile(a, &env, scrubber),
        Command::Config(a) => inspect::cmd_config(a, &env, scrubber),
        Command::Describe(a) => flows::cmd_describe(a, &env, scrubber),
        Command::List(a) => flows::cmd_list(a, &env, scrubber),
        Command::Graph(a) => flows::cmd_graph(a, scrubber),
        Command::Cluster(a) => cluster::cmd_cluster(a, scrubber),
        Command::Worker(a) => worker::cmd_worker(a, &env, scrubber),
    };
    logging::shutdown();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The log verbosity: `-q` / `-v` when given, else the config's `log_level` (a key of the
/// Python package), else info. A config that failed to load is reported by the command.
pub(crate) fn verbosity(common: &Common, config: Option<&Config>) -> i8 {
    if common.quiet {
        -1
    } else if common.verbose > 0 {
        common.verbose.min(3) as i8
    } else {
        config.and_then(|c| c.engine.verbosity).unwrap_or(0)
    }
}

pub(crate) fn load_config(common: &Common, env: &[(String, String)]) -> Result<Config, RunError> {
    let cwd = std::env::current_dir()
        .map_err(|e| RunError::Usage(format!("no current directory: {e}")))?;
    let options = LoadOptions {
        file: common.config.clone(),
        cwd,
        env: env.to_vec(),
    };
    Ok(Config::load(&options)?)
}

pub(crate) fn cache_for(args: &CacheArgs, env: &[(String, String)]) -> ComponentCache {
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
pub(crate) fn fail(error: &RunError, scrubber: &Scrubber) -> i32 {
    eprintln!("aw-run: {}", scrubber.scrub(&error.to_string()));
    error.exit_code()
}

pub(crate) fn component_label(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("component")
        .to_string()
}

/// Resolves on Ctrl-C or SIGTERM (a run cancels, a worker drains).
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
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
}
