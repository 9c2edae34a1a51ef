//! hello: the smallest useful task. Reads a config value and a granted secret (it prints only
//! the secret's length) and returns JSON.

use aw_guest::{config, log, secrets};
use serde::{Deserialize, Serialize};

/// The task's input; every field is optional (`aw-run hello.wasm` sends `{}`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    name: Option<String>,
}

#[derive(Serialize)]
struct Output {
    greeting: String,
    table: String,
    secret_length: usize,
}

fn run(input: Input) -> aw_guest::Result<Output> {
    let table = config::get("table")?;
    let token = secrets::get("api-token")?;
    let secret_length = token.reveal().len();
    log::info!("hello task: table={table}, api-token has {secret_length} characters");
    let name = input.name.unwrap_or_else(|| "world".to_string());
    Ok(Output {
        greeting: format!("hello, {name}"),
        table,
        secret_length,
    })
}

aw_guest::task!(run);
