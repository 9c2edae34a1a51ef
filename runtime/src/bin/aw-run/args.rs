//! The command line: subcommands and their flags (clap), and the exit codes `--help` lists.

use std::path::PathBuf;

use aw_runtime::run::FlowSelection;
use aw_runtime::RunError;
use clap::{Args, Parser, Subcommand};

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0   ok
  1   the guest returned an error
  2   usage or config error (including a missing secret or component file)
  3   denied: the run profile does not grant what the guest asked for
  4   a limit was exceeded (memory, timeout, fuel)
  5   the guest trapped (panic, unreachable, stack overflow)
  6   the file is not a valid component or does not match the task world
  70  internal error or host bug of aw-run (please report it)";

/// Runs sandboxed auto-workflow components under a run profile's grants.
#[derive(Parser)]
#[command(name = "aw-run", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run a component's task (the default command: `aw-run flow.wasm` means `aw-run run flow.wasm`).
    Run(RunArgs),
    /// List a component's imports and whether the profile grants each, without running it.
    Check(CheckArgs),
    /// Compile a component into the cache so the next run starts at once.
    Compile(CompileArgs),
    /// Print the effective configuration of a run profile (secrets are never shown).
    Config(ConfigArgs),
    /// Print a flow's tasks and their default options as JSON, or (--format json|dot) the graph
    /// a flow builds, without running a task.
    Describe(DescribeArgs),
    /// List the flows a component defines and how many tasks each calls.
    List(ListArgs),
    /// Draw the graph of a flow run as it ran (status per task) from its --events file.
    Graph(GraphArgs),
    /// Set up and inspect the NATS JetStream cluster that flows run on with --cluster.
    Cluster(ClusterArgs),
    /// Run task attempts that coordinators (`aw-run ... --cluster`) send, under run profiles
    /// of this machine's own config, until SIGTERM or Ctrl-C (which drains: the running
    /// attempts finish, the queued ones wait for another worker).
    Worker(WorkerArgs),
}

#[derive(Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    pub(crate) connection: ClusterConnection,
    /// Configuration file (default: $AW_CONFIG, ./aw.toml, or [tool.auto_workflow] of ./pyproject.toml).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// A run profile to serve (repeat for more; default: every profile the config defines).
    #[arg(long = "profile", short = 'p')]
    pub(crate) profiles: Vec<String>,
    /// The queue to take attempts from (runs name it with --queue).
    #[arg(long, default_value = "default")]
    pub(crate) queue: String,
    /// Attempts run at once (default: the machine's cores).
    #[arg(long)]
    pub(crate) slots: Option<usize>,
    /// The worker's name in reports and status (default: HOSTNAME-PID).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Seconds an attempt may go without a heartbeat before another worker gets it (used when
    /// this worker creates the shared consumer; an existing one keeps its setting).
    #[arg(long, default_value_t = 30)]
    pub(crate) ack_wait: u64,
    /// Deliveries of one attempt; the last is answered "worker lost", not run.
    #[arg(long, default_value_t = 4)]
    pub(crate) max_deliver: i64,
    /// Where fetched components are kept (default: `cluster-components` in the compiled
    /// cache's directory).
    #[arg(long)]
    pub(crate) work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    /// More log output (-v debug, -vv trace).
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors in the log.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Args)]
pub(crate) struct ClusterArgs {
    #[command(subcommand)]
    pub(crate) command: ClusterCommand,
}

#[derive(Subcommand)]
pub(crate) enum ClusterCommand {
    /// Create the streams auto-workflow uses (idempotent; coordinators and workers do it too).
    Setup {
        #[command(flatten)]
        connection: ClusterConnection,
        /// Copies of each stream (3 survives the loss of one server).
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        /// How the servers store the streams' messages: s2 compresses them (NATS 2.10+;
        /// refused on an older server, which would silently store them uncompressed).
        #[arg(long, value_enum, default_value = "none")]
        compression: StreamCompression,
    },
    /// Show the streams, their leaders and copies, and their consumers (pending, in flight,
    /// redelivered).
    Status {
        #[command(flatten)]
        connection: ClusterConnection,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `aw-run cluster setup --compression`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StreamCompression {
    None,
    S2,
}

/// Where the cluster is, and the credentials to join it with.
#[derive(Args)]
pub(crate) struct ClusterConnection {
    /// The NATS servers, comma-separated: nats://h1:4222,nats://h2:4222 (tls:// for TLS).
    #[arg(long, env = "AW_CLUSTER")]
    pub(crate) cluster: String,
    /// A NATS credentials file (JWT and seed) for the cluster.
    #[arg(long, env = "AW_CLUSTER_CREDS")]
    pub(crate) cluster_creds: Option<PathBuf>,
}

/// Which flow of a component, with what parameters.
#[derive(Args)]
pub(crate) struct FlowArgs {
    /// The flow to run when the component defines several (default: its only one).
    #[arg(long = "flow")]
    pub(crate) flow: Option<String>,
    /// The run's parameters, a JSON object (a flow reads them with get_context().params).
    #[arg(long)]
    pub(crate) params: Option<String>,
}

impl FlowArgs {
    /// The flow and parameters to run with; `--params` must be a JSON object.
    pub(crate) fn selection(&self) -> Result<FlowSelection, RunError> {
        if let Some(params) = &self.params {
            let value: serde_json::Value = serde_json::from_str(params)
                .map_err(|e| RunError::Usage(format!("--params is not valid JSON: {e}")))?;
            if !value.is_object() {
                return Err(RunError::Usage(
                    "--params must be a JSON object (get_context().params is a dict)".into(),
                ));
            }
        }
        Ok(FlowSelection {
            flow: self.flow.clone(),
            params: self.params.clone(),
        })
    }
}

/// What `aw-run describe` prints.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DescribeFormat {
    /// The component's tasks with their default options, and its flows.
    Tasks,
    /// The graph a flow builds (the Python package's `describe()`), without running a task.
    Json,
    /// The same graph in Graphviz DOT (the package's `export_dot()`).
    Dot,
}

#[derive(Args)]
pub(crate) struct Common {
    /// The run profile: which grants, config values, secrets and limits apply.
    #[arg(long, short = 'p', default_value = "default")]
    pub(crate) profile: String,
    /// Configuration file (default: $AW_CONFIG, ./aw.toml, or [tool.auto_workflow] of ./pyproject.toml).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only errors in the log.
    #[arg(long, short = 'q', global = true)]
    pub(crate) quiet: bool,
}

#[derive(Args)]
pub(crate) struct CacheArgs {
    /// Directory of compiled components (default: $AW_CACHE_DIR or ~/.cache/auto-workflow).
    #[arg(long)]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Compile from scratch and do not touch the cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The component (.wasm) to run.
    pub(crate) component: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    /// The task's input: JSON text, or @FILE to read it from a file.
    #[arg(long, short = 'i', default_value = "{}")]
    pub(crate) input: String,
    /// Wall-clock limit (e.g. 30s, 10m); overrides limits.timeout.
    #[arg(long)]
    pub(crate) timeout: Option<String>,
    /// Linear memory limit per instance (e.g. 64MiB); overrides limits.memory.
    #[arg(long)]
    pub(crate) memory: Option<String>,
    /// Fuel budget (instructions, roughly); overrides limits.fuel.
    #[arg(long)]
    pub(crate) fuel: Option<u64>,
    /// Print a JSON run report instead of the bare result.
    #[arg(long)]
    pub(crate) json: bool,
    /// Flows: tasks running at once; overrides limits.max_tasks.
    #[arg(long)]
    pub(crate) max_concurrency: Option<u64>,
    /// Flows: write task events (JSON Lines) to this file as they happen.
    #[arg(long)]
    pub(crate) events: Option<PathBuf>,
    /// Flows: `fail_fast` (default) cancels the other tasks once one failed for good and
    /// fails the run; `continue` lets them finish and hands the failure to its dependents and
    /// the flow's join; `aggregate` skips the failed task's dependents, lets independent tasks
    /// finish and fails the run listing every failure.
    #[arg(long)]
    pub(crate) failure_policy: Option<String>,
    /// Flows: run the task attempts on `aw-run worker`s of this NATS JetStream cluster
    /// (nats://h1:4222,nats://h2:4222); the flow and its scheduler stay in this process.
    #[arg(long)]
    pub(crate) cluster: Option<String>,
    /// A NATS credentials file (JWT and seed) for --cluster.
    #[arg(long, requires = "cluster")]
    pub(crate) cluster_creds: Option<PathBuf>,
    /// The worker queue the attempts go to (workers started with the same --queue take them).
    #[arg(long, default_value = "default")]
    pub(crate) queue: String,
}

#[derive(Args)]
pub(crate) struct DescribeArgs {
    pub(crate) component: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
    /// The flow's input, as for `run` (JSON text or @FILE).
    #[arg(long, short = 'i', default_value = "{}")]
    pub(crate) input: String,
    #[arg(long, value_enum, default_value = "tasks")]
    pub(crate) format: DescribeFormat,
}

#[derive(Args)]
pub(crate) struct GraphArgs {
    /// The JSON Lines file a run's `--events` wrote.
    pub(crate) events: PathBuf,
    #[arg(long, value_enum, default_value = "dot")]
    pub(crate) format: GraphFormat,
}

/// What `aw-run graph` prints.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// Nodes (with status and attempts), edges and fan-out groups as JSON.
    Json,
    /// Graphviz DOT, coloured by status, a cluster per fan-out group.
    Dot,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    pub(crate) component: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    pub(crate) component: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct CompileArgs {
    pub(crate) component: PathBuf,
    #[command(flatten)]
    pub(crate) cache: CacheArgs,
    /// Compile for engines that meter fuel (runs with a fuel limit use those).
    #[arg(long)]
    pub(crate) fuel: bool,
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub(crate) common: Common,
}
