//! `aw-run check`: what a component imports and exports, judged against a run profile's
//! grants without running it.

use serde::Serialize;
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::grants::{Grants, ImportVerdict};

/// One import and the verdict on it.
#[derive(Debug, Serialize)]
pub struct ImportLine {
    pub name: String,
    /// `granted`, `always`, `not-granted` or `unknown`.
    pub status: &'static str,
    pub detail: String,
}

/// The verdict on a whole component.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub component: String,
    pub profile: String,
    pub imports: Vec<ImportLine>,
    pub exports: Vec<String>,
    /// True when the component exports the task world's `run`.
    pub exports_run: bool,
}

impl CheckReport {
    /// 0 when everything is granted; 3 when a grant is missing; 6 when the component needs
    /// something this runtime does not provide or lacks the `run` export.
    pub fn exit_code(&self) -> i32 {
        if !self.exports_run || self.imports.iter().any(|i| i.status == "unknown") {
            6
        } else if self.imports.iter().any(|i| i.status == "not-granted") {
            3
        } else {
            0
        }
    }
}

/// Inspects `component`'s type against `grants`.
pub fn check(engine: &Engine, component: &Component, name: &str, grants: &Grants) -> CheckReport {
    let ty = component.component_type();
    let mut imports: Vec<ImportLine> = ty
        .imports(engine)
        .map(|(import, _)| {
            let (status, detail) = match grants.import(import) {
                ImportVerdict::Granted(d) => ("granted", d),
                ImportVerdict::Always(d) => ("always", d),
                ImportVerdict::NotGranted(d) => ("not-granted", d),
                ImportVerdict::Unknown => (
                    "unknown",
                    "this runtime does not provide this interface".into(),
                ),
            };
            ImportLine {
                name: import.to_string(),
                status,
                detail,
            }
        })
        .collect();
    imports.sort_by(|a, b| a.name.cmp(&b.name));
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(export, _)| export.to_string())
        .collect();
    let exports_run = exports.iter().any(|e| e == "run");
    CheckReport {
        component: name.to_string(),
        profile: grants.profile().to_string(),
        imports,
        exports,
        exports_run,
    }
}
