//! The subcommands that look at a flow without running a task: `describe` (a component's
//! tasks, or the graph a flow builds), `list` (its flows) and `graph` (a run's graph, from its
//! events).

use std::sync::Arc;

use aw_runtime::config::Limits;
use aw_runtime::engine::EngineOptions;
use aw_runtime::prepare::prepare;
use aw_runtime::redact::Scrubber;
use aw_runtime::run::{FlowSelection, LoadedComponent, Runtime};
use aw_runtime::secrets::Secrets;
use aw_runtime::{logging, RunContext, RunError};

use crate::args::{
    CacheArgs, Common, DescribeArgs, DescribeFormat, GraphArgs, GraphFormat, ListArgs,
};
use crate::run::read_input;
use crate::{cache_for, component_label, fail, load_config, verbosity};

/// A component loaded under a profile, ready for the flow exports that run no task.
struct Inspected {
    runtime: Runtime,
    loaded: LoadedComponent,
    context: Arc<RunContext>,
    limits: Limits,
    tokio: tokio::runtime::Runtime,
}

fn inspect(
    common: &Common,
    cache: &CacheArgs,
    component: &std::path::Path,
    selection: FlowSelection,
    env: &[(String, String)],
    scrubber: &Scrubber,
) -> Result<Inspected, RunError> {
    let config = load_config(common, env)?;
    let secrets = Secrets::from_config(&config, env, scrubber.clone())?;
    let prepared = prepare(
        &config,
        &common.profile,
        &secrets,
        &component_label(component),
    )?;
    let limits = prepared.profile.limits.clone();
    let mut runtime = Runtime::new(
        EngineOptions {
            fuel: limits.fuel.is_some(),
        },
        cache_for(cache, env),
    )?;
    runtime.select(selection);
    let loaded = runtime.load(component)?;
    let tokio = aw_runtime::run::tokio_runtime()
        .map_err(|e| RunError::Internal(format!("cannot start tokio: {e}")))?;
    Ok(Inspected {
        runtime,
        loaded,
        context: prepared.context,
        limits,
        tokio,
    })
}

/// Prints `result` (scrubbed: a flow's declared defaults or graph may hold a granted secret).
fn print(result: Result<String, RunError>, scrubber: &Scrubber) -> i32 {
    match result {
        Ok(text) => {
            println!("{}", scrubber.scrub(&text));
            0
        }
        Err(e) => fail(&e, scrubber),
    }
}

fn pretty(value: &serde_json::Value) -> Result<String, RunError> {
    serde_json::to_string_pretty(value).map_err(|e| RunError::Internal(e.to_string()))
}

/// `aw-run describe`: a flow component's tasks and flows, or with `--format json|dot` the
/// graph its flow builds for `--input`, from fresh instances under the profile.
pub(crate) fn cmd_describe(
    args: DescribeArgs,
    env: &[(String, String)],
    scrubber: Scrubber,
) -> i32 {
    logging::init(
        verbosity(&args.common, load_config(&args.common, env).ok().as_ref()),
        scrubber.clone(),
    );
    let result = (|| -> Result<String, RunError> {
        let input = read_input(&args.input)?;
        let selection = args.flow.selection()?;
        let i = inspect(
            &args.common,
            &args.cache,
            &args.component,
            selection,
            env,
            &scrubber,
        )?;
        if args.format == DescribeFormat::Tasks {
            let (specs, flows) =
                i.tokio
                    .block_on(i.runtime.describe(&i.loaded, i.context.clone(), &i.limits))?;
            return pretty(&serde_json::json!({
                "component": component_label(&args.component),
                "tasks": specs.iter().map(aw_runtime::spec_json).collect::<Vec<_>>(),
                "flows": flows.iter().map(|f| serde_json::json!({"name": f.name, "description": f.description})).collect::<Vec<_>>(),
            }));
        }
        let graph =
            i.tokio.block_on(
                i.runtime
                    .graph(&i.loaded, i.context.clone(), &i.limits, &input),
            )?;
        match args.format {
            DescribeFormat::Dot => graph["dot"].as_str().map(str::to_string).ok_or_else(|| {
                RunError::BadComponent("the component's `graph` export has no `dot`".into())
            }),
            _ => pretty(&graph["describe"]),
        }
    })();
    print(result, &scrubber)
}

/// `aw-run list`: the flows a component defines, each with the number of tasks its graph
/// has when built without input (null for a flow that needs input to build it), as the
/// package's `auto-workflow list` prints them.
pub(crate) fn cmd_list(args: ListArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
    logging::init(
        verbosity(&args.common, load_config(&args.common, env).ok().as_ref()),
        scrubber.clone(),
    );
    let result = (|| -> Result<String, RunError> {
        let mut i = inspect(
            &args.common,
            &args.cache,
            &args.component,
            FlowSelection::default(),
            env,
            &scrubber,
        )?;
        let (_, flows) =
            i.tokio
                .block_on(i.runtime.describe(&i.loaded, i.context.clone(), &i.limits))?;
        let mut counts = serde_json::Map::new();
        for flow in flows {
            i.runtime.select(FlowSelection {
                flow: Some(flow.name.clone()),
                params: None,
            });
            let count = match i.tokio.block_on(i.runtime.graph(
                &i.loaded,
                i.context.clone(),
                &i.limits,
                "null",
            )) {
                Ok(graph) => graph["describe"]["count"].clone(),
                Err(e) => {
                    tracing::warn!(flow = %flow.name, error = %e, "cannot build the flow's graph without input");
                    serde_json::Value::Null
                }
            };
            counts.insert(flow.name, count);
        }
        pretty(&serde_json::Value::Object(counts))
    })();
    print(result, &scrubber)
}

/// `aw-run graph EVENTS.jsonl`: the graph of a run as it ran, from its events file (no
/// component, no config: the events say it all; they were scrubbed when written).
pub(crate) fn cmd_graph(args: GraphArgs, scrubber: Scrubber) -> i32 {
    logging::init(0, scrubber.clone());
    let result = (|| -> Result<String, RunError> {
        let file = std::fs::File::open(&args.events)
            .map_err(|e| RunError::Usage(format!("cannot open {}: {e}", args.events.display())))?;
        let graph = aw_runtime::RanGraph::from_events(std::io::BufReader::new(file))
            .map_err(|e| RunError::Usage(format!("{}: {e}", args.events.display())))?;
        match args.format {
            GraphFormat::Dot => Ok(graph.to_dot()),
            GraphFormat::Json => {
                serde_json::to_string_pretty(&graph).map_err(|e| RunError::Internal(e.to_string()))
            }
        }
    })();
    print(result, &scrubber)
}
