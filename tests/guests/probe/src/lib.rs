//! probe: a test guest that does one misbehaviour or capability check per `mode`, so the
//! integration tests can drive the runtime's sandbox, grants and limits with one component.

use aw_guest::{config, log, secrets, Error};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Input {
    mode: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    bytes: usize,
}

fn run(input: Input) -> aw_guest::Result<Value> {
    match input.mode.as_str() {
        "echo" => Ok(json!({ "mode": "echo" })),
        "config" => Ok(json!({ "value": config::get(&input.name)? })),
        "config-all" => Ok(json!(config::get_all())),
        "secret-leak" => {
            // Tries every way a guest could leak a secret; the host must scrub each.
            let value = secrets::get(&input.name)?.reveal();
            log::warn!("the secret is {value}");
            println!("stdout says {value}");
            eprintln!("stderr says {value}");
            Err(Error::permanent(format!(
                "failing with the secret {value} in the message"
            )))
        }
        "secret-return" => Ok(json!({ "secret": secrets::get(&input.name)?.reveal() })),
        "sandbox" => Ok(sandbox(input.port)),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut v: Vec<u8> = Vec::with_capacity(input.bytes);
            v.resize(input.bytes, 1);
            Ok(json!({ "allocated": std::hint::black_box(v).len() }))
        }
        "panic" => panic!("probe panicked on purpose"),
        other => Err(Error::invalid_input(format!("unknown mode {other}"))),
    }
}

/// Tries to escape the sandbox three ways and reports each outcome.
fn sandbox(port: u16) -> Value {
    let file = std::fs::read_to_string("/etc/passwd").map(|s| s.len());
    let dir = std::fs::read_dir("/").map(|d| d.count());
    let env_var = std::env::var("HOME");
    let env_count = std::env::vars().count();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map(|_| ());
    json!({
        "file": outcome(file),
        "dir": outcome(dir),
        "env_var": outcome(env_var),
        "env_count": env_count,
        "tcp": outcome(tcp),
    })
}

fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> Value {
    match r {
        Ok(v) => json!({ "ok": format!("{v:?}") }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

aw_guest::task!(run);
