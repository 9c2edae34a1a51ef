//! OpenTelemetry export (feature `otel`): with OTEL_EXPORTER_OTLP_ENDPOINT set, `aw-run`
//! sends its spans over OTLP/HTTP, and no secret value reaches the collector.
//!
//! The collector here is a minimal OTLP/HTTP receiver written for this test from the OTLP
//! specification (POST /v1/traces, JSON encoding, 200 with an empty body on success); it only
//! records the request bodies.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{guest, polyglot_guest, run, shared_cache_dir, Sandbox};
use serde_json::{json, Value as Json};

const TOKEN: &str = "tok-0tel-7c1d2e";

/// A collector on a free port; every `POST /v1/traces` body is appended to the returned list.
fn collector() -> (String, Arc<Mutex<Vec<Json>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut out = stream;
                // One connection may carry several requests (keep-alive).
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let ok = request_line.starts_with("POST /v1/traces ");
                    if ok {
                        if let Ok(parsed) = serde_json::from_slice::<Json>(&body) {
                            sink.lock().expect("lock").push(parsed);
                        }
                    }
                    let status = if ok { "200 OK" } else { "404 Not Found" };
                    let reply = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}");
                    if out.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, bodies)
}

/// Every span in the received bodies: (name, the whole span as JSON).
fn spans(bodies: &[Json]) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for body in bodies {
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    out.push((
                        span["name"].as_str().unwrap_or_default().to_string(),
                        span.clone(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn spans_reach_an_otlp_collector_without_secrets() {
    let (endpoint, bodies) = collector();
    let sandbox = Sandbox::new(
        "[profiles.default]\nsecrets = [\"api-token\"]\nlimits = { memory = \"256MiB\" }\n",
    );
    let otel = |cmd: &mut std::process::Command| {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .env("API_TOKEN", TOKEN);
    };

    // A guest that logs its secret and fails with it in the message.
    let mut cmd = sandbox.aw_run();
    cmd.arg(guest("aw_probe")).args([
        "--profile",
        "default",
        "--input",
        &json!({"mode": "secret-leak", "name": "api-token"}).to_string(),
    ]);
    otel(&mut cmd);
    let out = run(&mut cmd).expect_code(1);
    assert!(!out.stderr.contains(TOKEN), "{}", out.stderr);

    // A flow with tasks: one `task_attempt` span per attempt, under the flow's `run` span. The
    // flow handles its flaky task's failure itself, which fail-fast would not let it do.
    let mut cmd = sandbox.aw_run();
    cmd.env("AW_CACHE_DIR", shared_cache_dir())
        .arg(polyglot_guest("py", "probe"))
        .args(["--profile", "default", "--failure-policy", "continue"])
        .args(["--input", r#"{"mode":"tasks"}"#]);
    otel(&mut cmd);
    run(&mut cmd).expect_code(0);

    let bodies = bodies.lock().expect("lock").clone();
    let text = serde_json::to_string(&bodies).expect("json");
    assert!(!text.contains(TOKEN), "a secret reached the collector");
    assert!(
        text.contains("the secret is ***"),
        "the guest's log line arrives scrubbed, as a span event: {text}"
    );
    let spans = spans(&bodies);
    let count = |name: &str| spans.iter().filter(|(n, _)| n == name).count();
    assert_eq!(
        count("run"),
        2,
        "one run span per aw-run: {:?}",
        spans.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    // 5 + 2 doubles, 1 total, 3 attempts of flaky.
    assert_eq!(
        count("task_attempt"),
        11,
        "{:?}",
        spans.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let flaky: Vec<&Json> = spans
        .iter()
        .filter(|(n, s)| n == "task_attempt" && s["attributes"].to_string().contains("\"flaky\""))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(flaky.len(), 3);
    let run_span = spans
        .iter()
        .find(|(n, s)| n == "run" && s["attributes"].to_string().contains("\"probe\""))
        .expect("the flow's run span");
    let trace_id = run_span.1["traceId"].as_str().expect("trace id");
    assert!(
        flaky.iter().all(|s| s["traceId"] == trace_id),
        "task attempts belong to the flow's trace"
    );
}
