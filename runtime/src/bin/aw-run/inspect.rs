//! The subcommands that look at a component or a profile without running a task: `check`,
//! `compile`, `config`.

use aw_runtime::check::check;
use aw_runtime::config::engine::ArtifactStoreConfig;
use aw_runtime::engine::cache::CacheOutcome;
use aw_runtime::engine::EngineOptions;
use aw_runtime::grants::Grants;
use aw_runtime::redact::Scrubber;
use aw_runtime::run::Runtime;
use aw_runtime::{logging, RunError};

use crate::args::{CheckArgs, CompileArgs, ConfigArgs};
use crate::{cache_for, component_label, fail, load_config, verbosity};

pub(crate) fn cmd_check(args: CheckArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
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

pub(crate) fn cmd_compile(args: CompileArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
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

pub(crate) fn cmd_config(args: ConfigArgs, env: &[(String, String)], scrubber: Scrubber) -> i32 {
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
            "artifact_store": match &config.engine.artifacts {
                ArtifactStoreConfig::Memory => "memory".to_string(),
                ArtifactStoreConfig::Directory(dir) => dir.display().to_string(),
            },
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
