//! The NATS JetStream layer (issue 20, first part) against a real 3-node `nats-server`
//! cluster (tests/services/nats.sh, started by scripts/test.sh; a missing cluster fails, it
//! does not skip): `aw-run cluster setup` creates replicated work-queue streams, `aw-run
//! cluster status` shows their leader and copies, and a bad URL, a cluster that does not
//! answer or a stream with other replicas than asked exit 2 naming what to fix, without echoing a password.

mod common;

use common::{clean_aw_run, run};
use serde_json::Value as Json;

fn nats_url() -> String {
    std::env::var("AW_NATS_URL").unwrap_or_else(|_| {
        panic!("AW_NATS_URL is not set: scripts/test.sh starts the NATS cluster")
    })
}

fn status() -> Json {
    run(clean_aw_run().args(["cluster", "status", "--json", "--cluster", &nats_url()]))
        .expect_code(0)
        .json()
}

#[test]
fn setup_creates_streams_with_three_copies_and_status_shows_leader_and_copies() {
    for _ in 0..2 {
        // Idempotent: the second setup finds the streams as the first made them.
        let out =
            run(clean_aw_run().args(["cluster", "setup", "--cluster", &nats_url()])).expect_code(0);
        assert!(
            out.stdout.contains("AW_ATTEMPTS, AW_RESULTS"),
            "{}",
            out.stdout
        );
    }
    let status = status();
    assert!(
        status["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{status}"
    );
    let streams = status["streams"].as_array().cloned().unwrap_or_default();
    assert_eq!(streams.len(), 2, "{status}");
    for stream in &streams {
        assert_eq!(stream["present"], true, "{stream}");
        assert_eq!(stream["replicas"], 3, "{stream}");
        let leader = stream["leader"].as_str().unwrap_or_default().to_string();
        assert!(["n1", "n2", "n3"].contains(&leader.as_str()), "{stream}");
        let mut copies: Vec<String> = stream["followers"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|p| p[0].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        copies.push(leader);
        copies.sort();
        assert_eq!(
            copies,
            ["n1", "n2", "n3"],
            "every server holds a copy: {stream}"
        );
    }
    let table = run(clean_aw_run().args(["cluster", "status", "--cluster", &nats_url()]))
        .expect_code(0)
        .stdout;
    assert!(
        table.contains("AW_ATTEMPTS: ") && table.contains("3 replicas, leader n"),
        "{table}"
    );
}

#[test]
fn a_bad_url_a_silent_cluster_or_too_many_replicas_exit_2_naming_the_fix() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let dead = format!("nats://127.0.0.1:{port}");
    for (url, says) in [
        (
            dead.as_str(),
            format!("cannot connect to the NATS cluster at 127.0.0.1:{port}"),
        ),
        ("http://127.0.0.1:80", "is not a NATS URL".to_string()),
        (
            "nats://aw:hunter2-pw@127.0.0.1:1",
            "--cluster-creds".to_string(),
        ),
    ] {
        let out = run(clean_aw_run().args(["cluster", "status", "--cluster", url])).expect_code(2);
        assert!(out.stderr.contains(&says), "{url}: {}", out.stderr);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    }
    // Five copies where the streams have three: refused, not changed, naming the replicas.
    run(clean_aw_run().args(["cluster", "setup", "--cluster", &nats_url()])).expect_code(0);
    let out = run(clean_aw_run().args([
        "cluster",
        "setup",
        "--replicas",
        "5",
        "--cluster",
        &nats_url(),
    ]))
    .expect_code(2);
    assert!(
        out.stderr.contains("exists with other settings") && out.stderr.contains("work queue, 5"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_option_the_connected_server_is_too_old_for_is_refused_not_ignored() {
    // Stream compression is a 2.10 option; 2.9.10 would store the streams uncompressed
    // without a word, so setup refuses it before touching anything.
    let out = run(clean_aw_run().args([
        "cluster",
        "setup",
        "--compression",
        "s2",
        "--cluster",
        &nats_url(),
    ]))
    .expect_code(2);
    assert!(
        out.stderr
            .contains("stream compression (--compression s2) needs NATS server 2.10.0 or newer")
            && out.stderr.contains("the cluster runs 2.9."),
        "{}",
        out.stderr
    );
    let status =
        run(clean_aw_run().args(["cluster", "status", "--json", "--cluster", &nats_url()]))
            .expect_code(0)
            .stdout;
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert!(
        status["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.9.")),
        "the test cluster is the 2.9 baseline: {status}"
    );
}
