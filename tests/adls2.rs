//! The ADLS Gen2 connector against Azurite (Microsoft's Blob emulator, started by
//! scripts/test.sh through tests/services/azurite.sh), driven by a real guest
//! (tests/guests/adls-probe) through aw-run, with the `blob` dialect; interop with Microsoft's
//! Python SDK; faults (a stopped emulator, a wrong key, a path outside the grant).
//! The `dfs` dialect is tested against the fake server in tests/fake_dfs (tests/adls2_dfs.rs).

mod common;
mod fake_entra;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::adls::{fnv, kind, names, ok, pattern, probe_run, steps};
use common::{guest, overlay_scram_postgres, run, Sandbox};
use serde_json::{json, Value as Json};
use sha2::Digest;

/// Azurite's coordinates, from the env scripts/test.sh exports.
struct Az {
    conn: String,
    url: String,
    key: String,
    bin: String,
}

fn az() -> Az {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: start Azurite with tests/services/azurite.sh (scripts/test.sh does this)"))
    };
    Az {
        conn: var("AW_AZURITE_CONNECTION_STRING"),
        url: var("AW_AZURITE_BLOB_URL"),
        key: var("AW_AZURITE_KEY"),
        bin: var("AW_AZURITE_BIN"),
    }
}

/// A container name no other test uses (tests share one emulator).
fn container(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A config whose `default` ADLS profile is Azurite (blob dialect) with `keys`, plus TOML `extra`.
fn lake(keys: &str, extra: &str) -> Sandbox {
    let az = az();
    Sandbox::new(&format!(
        "[connectors.adls2.default]\nconnection_string = \"secret://adls_conn\"\ndialect = \"blob\"\n{keys}\n\n[profiles.default]\nadls2 = [\"default\"]\n{extra}\n",
    ))
    .with_env("ADLS_CONN", &az.conn)
}

#[test]
fn every_operation_round_trips_on_the_blob_dialect() {
    let sandbox = lake("block_size = \"1MiB\"", "");
    let c = container("ops");
    let r = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": c},
            {"op": "create-container", "container": c},
            {"op": "create-container", "container": c, "exist_ok": true},
            {"op": "list-containers", "prefix": c},
            {"op": "make-dirs", "container": c, "path": "a/b/c"},
            {"op": "make-dirs", "container": c, "path": "a/b/c"},
            {"op": "make-dirs", "container": c, "path": "/a//b/./c/", "exist_ok": true},
            {"op": "upload", "container": c, "path": "a/b/x.csv", "text": "id\n1\n", "content_type": "text/csv",
             "metadata": [["source", "probe"], ["run_id", "42"]]},
            {"op": "properties", "container": c, "path": "a/b/x.csv"},
            {"op": "properties", "container": c, "path": "a/b"},
            {"op": "exists", "container": c, "path": "a/b/x.csv"},
            {"op": "exists", "container": c, "path": "a/b/nope.csv"},
            {"op": "exists", "container": c, "path": "a"},
            {"op": "download", "container": c, "path": "a/b/x.csv"},
            {"op": "download", "container": c, "path": "a/b/x.csv", "offset": 3, "length": 2},
            {"op": "download", "container": c, "path": "a/b/x.csv", "offset": 5},
            {"op": "read", "container": c, "path": "a/b/x.csv", "chunk": 2},
            {"op": "make-dirs", "container": c, "path": "a/b/x.csv/d"},
            {"op": "list", "container": c, "prefix": "a"},
            {"op": "list", "container": c, "recursive": true},
            {"op": "list", "container": c, "prefix": "nope"},
            {"op": "rename", "container": c, "path": "a/b/x.csv", "to": "a/y.csv"},
            {"op": "exists", "container": c, "path": "a/b/x.csv"},
            {"op": "download", "container": c, "path": "a/y.csv"},
            {"op": "properties", "container": c, "path": "a/y.csv"},
            {"op": "rename", "container": c, "path": "a", "to": "z"},
            {"op": "list", "container": c, "recursive": true},
            {"op": "download", "container": c, "path": "nope.bin"},
            {"op": "delete-container", "container": c},
            {"op": "list-containers", "prefix": c},
        ]),
    );
    assert_eq!(r[0], json!(true));
    assert_eq!(kind(&r[1]), "ErrorKind::Conflict");
    assert_eq!(r[2], json!(false));
    assert_eq!(r[3], json!([c]));
    assert_eq!(
        kind(&r[5]),
        "ErrorKind::Conflict",
        "an existing directory without exist-ok"
    );
    ok(&r[6]);
    assert_eq!(ok(&r[7])["content_type"], "text/csv");
    assert_eq!(r[7]["size"], 5);
    assert_eq!(r[8]["info"]["content_type"], "text/csv");
    assert_eq!(
        r[8]["metadata"],
        json!([["run_id", "42"], ["source", "probe"]])
    );
    assert_eq!(r[8]["info"]["dir"], false);
    assert_eq!(r[9]["info"]["dir"], true);
    assert_eq!(
        (&r[10], &r[11], &r[12]),
        (&json!(true), &json!(false), &json!(true))
    );
    assert_eq!(r[13]["text"], "id\n1\n");
    assert_eq!(r[14]["text"], "1\n", "bytes 3..5");
    assert_eq!(r[15]["len"], 0, "a range starting at the end is empty");
    assert_eq!(
        (r[16]["len"].as_u64(), r[16]["chunks"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(
        kind(&r[17]),
        "ErrorKind::Conflict",
        "a file in the way of a directory"
    );
    let dirs: Vec<(&str, bool)> = r[18]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["dir"] == true))
        .collect();
    assert_eq!(
        dirs,
        vec![("a/b", true)],
        "non-recursive: the marker blob and its prefix are one directory"
    );
    assert_eq!(names(&r[19]), vec!["a", "a/b", "a/b/c", "a/b/x.csv"]);
    assert_eq!(
        kind(&r[20]),
        "ErrorKind::NotFound",
        "listing a directory that does not exist"
    );
    ok(&r[21]);
    assert_eq!(r[22], json!(false), "rename removes the source");
    assert_eq!(r[23]["text"], "id\n1\n");
    assert_eq!(
        r[24]["info"]["content_type"], "text/csv",
        "rename keeps the content type"
    );
    assert_eq!(
        r[24]["metadata"],
        json!([["run_id", "42"], ["source", "probe"]]),
        "and the metadata"
    );
    ok(&r[25]);
    assert_eq!(
        names(&r[26]),
        vec!["z", "z/b", "z/b/c", "z/y.csv"],
        "a directory renamed with its contents"
    );
    assert_eq!(kind(&r[27]), "ErrorKind::NotFound");
    ok(&r[28]);
    assert_eq!(r[29], json!([]));
}

#[test]
fn a_64_mib_streamed_upload_in_4_mib_blocks_is_byte_identical_with_bounded_host_memory() {
    const SIZE: u64 = 64 << 20;
    let sandbox = lake("block_size = \"4MiB\"", "limits = { memory = \"64MiB\" }");
    let c = container("big");
    let report = probe_run(
        &sandbox,
        &json!({ "steps": [
            {"op": "create-container", "container": c},
            {"op": "write", "container": c, "path": "big/64mib.bin", "size": SIZE, "write_size": 1 << 20},
        ]}),
    )
    .expect_code(0)
    .json();
    let written = &report["result"][1];
    assert_eq!(ok(written)["info"]["size"], SIZE);
    let expected = pattern(SIZE);
    assert_eq!(written["fnv"], fnv(&expected));
    // The whole 64 MiB never sits in the host: blocks of 4 MiB go out as they fill. Measured
    // against the same run writing 1 MiB, so what the binary itself needs does not count.
    let peak = |report: &Json| {
        report["usage"]["host_peak_rss"]
            .as_u64()
            .expect("host_peak_rss in the report")
    };
    let rss = peak(&report);
    let small = probe_run(
        &sandbox,
        &json!({ "steps": [
            {"op": "write", "container": c, "path": "big/1mib.bin", "size": 1 << 20, "write_size": 1 << 20},
        ]}),
    )
    .expect_code(0)
    .json();
    let baseline = peak(&small);
    eprintln!(
        "host peak RSS for a 64 MiB streamed upload: {} MiB (for 1 MiB: {} MiB)",
        rss >> 20,
        baseline >> 20
    );
    assert!(
        rss.saturating_sub(baseline) < 32 << 20,
        "host peak RSS {} MiB for a 64 MiB upload, {} MiB for 1 MiB: the upload is buffered",
        rss >> 20,
        baseline >> 20
    );

    let r = steps(
        &sandbox,
        json!([
            {"op": "read", "container": c, "path": "big/64mib.bin", "chunk": 4 << 20},
            {"op": "read", "container": c, "path": "big/64mib.bin", "offset": 10_000_003, "length": 9_000_000, "chunk": 1 << 20},
            {"op": "download", "container": c, "path": "big/64mib.bin", "offset": 33_554_000, "length": 1000},
            {"op": "properties", "container": c, "path": "big/64mib.bin"},
        ]),
    );
    assert_eq!(
        (r[0]["len"].as_u64(), r[0]["chunks"].as_u64()),
        (Some(SIZE), Some(16))
    );
    assert_eq!(
        r[0]["fnv"],
        fnv(&expected),
        "streamed download is byte-identical"
    );
    assert_eq!(r[1]["len"], 9_000_000);
    assert_eq!(
        r[1]["fnv"],
        fnv(&expected[10_000_003..19_000_003]),
        "ranged streamed download"
    );
    assert_eq!(
        r[2]["fnv"],
        fnv(&expected[33_554_000..33_555_000]),
        "ranged download"
    );
    assert_eq!(r[3]["info"]["content_type"], "application/octet-stream");

    // One response may not bring more than max_download into the host.
    let capped = lake("max_download = \"16MiB\"", "");
    let r = steps(
        &capped,
        json!([
            {"op": "download", "container": c, "path": "big/64mib.bin"},
            {"op": "download", "container": c, "path": "big/64mib.bin", "offset": 0, "length": 1000},
            {"op": "read", "container": c, "path": "big/64mib.bin", "chunk": 64 << 20},
        ]),
    );
    assert_eq!(kind(&r[0]), "ErrorKind::Limit");
    assert!(
        r[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("open-reader"),
        "{}",
        r[0]
    );
    assert_eq!(r[1]["len"], 1000);
    assert_eq!(kind(&r[2]), "ErrorKind::InvalidInput");
}

#[test]
fn listing_2500_paths_follows_pages() {
    let sandbox = lake("", "");
    let c = container("list");
    let r = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": c},
            {"op": "many", "container": c, "path": "d/files", "count": 2500},
            {"op": "list", "container": c, "prefix": "d/files"},
            {"op": "list", "container": c, "recursive": true},
            {"op": "list", "container": c, "prefix": "d"},
        ]),
    );
    assert_eq!(r[1], json!(2500));
    assert_eq!(
        (r[2]["count"].as_u64(), r[2]["pages"].as_u64()),
        (Some(2500), Some(3)),
        "1,000 per page"
    );
    assert_eq!(r[2]["names_sorted"], true);
    assert_eq!(r[3]["count"], 2500);
    assert_eq!(
        r[4]["entries"],
        json!([{"name": "d/files", "dir": true, "size": 0, "etag": false, "modified": null, "content_type": null}])
    );
}

#[test]
fn overwrite_false_is_a_conflict_checked_by_the_store() {
    let sandbox = lake("block_size = \"64KiB\"", "");
    let c = container("nooverwrite");
    let r = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": c},
            {"op": "upload", "container": c, "path": "x.txt", "text": "first", "overwrite": false},
            {"op": "upload", "container": c, "path": "x.txt", "text": "second", "overwrite": false},
            {"op": "write", "container": c, "path": "x.txt", "size": 200_000, "write_size": 10_000, "overwrite": false},
            {"op": "upload", "container": c, "path": "big.bin", "size": 300_000, "overwrite": false},
            {"op": "upload", "container": c, "path": "big.bin", "size": 300_000, "overwrite": false},
            {"op": "download", "container": c, "path": "x.txt"},
            {"op": "upload", "container": c, "path": "x.txt", "text": "third", "overwrite": true},
            {"op": "download", "container": c, "path": "x.txt"},
            {"op": "upload", "container": c, "path": "y.txt", "text": "y"},
            {"op": "rename", "container": c, "path": "y.txt", "to": "x.txt"},
            {"op": "rename", "container": c, "path": "y.txt", "to": "x.txt", "overwrite": true},
            {"op": "download", "container": c, "path": "x.txt"},
        ]),
    );
    ok(&r[1]);
    for i in [2, 3, 5] {
        assert_eq!(kind(&r[i]), "ErrorKind::Conflict", "step {i}: {}", r[i]);
        assert!(
            r[i]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already exists"),
            "{}",
            r[i]
        );
    }
    assert_eq!(r[2]["error"]["code"], "BlobAlreadyExists");
    ok(&r[4]);
    assert_eq!(r[6]["text"], "first", "the refused uploads changed nothing");
    assert_eq!(r[8]["text"], "third");
    assert_eq!(kind(&r[10]), "ErrorKind::Conflict");
    ok(&r[11]);
    assert_eq!(r[12]["text"], "y");
}

#[test]
fn delete_refuses_non_empty_directories_unless_recursive() {
    let sandbox = lake("", "");
    let c = container("delete");
    let r = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": c},
            {"op": "make-dirs", "container": c, "path": "d/empty"},
            {"op": "upload", "container": c, "path": "d/full/a.txt", "text": "a"},
            {"op": "upload", "container": c, "path": "d/full/sub/b.txt", "text": "b"},
            {"op": "delete", "container": c, "path": "d/full"},
            {"op": "delete", "container": c, "path": "d/empty"},
            {"op": "exists", "container": c, "path": "d/empty"},
            {"op": "delete", "container": c, "path": "d/full/a.txt"},
            {"op": "delete", "container": c, "path": "d", "recursive": true},
            {"op": "list", "container": c, "recursive": true},
            {"op": "delete", "container": c, "path": "d"},
            {"op": "delete", "container": c, "path": "d", "recursive": true},
        ]),
    );
    assert_eq!(kind(&r[4]), "ErrorKind::Conflict");
    ok(&r[5]);
    assert_eq!(r[6], json!(false));
    ok(&r[7]);
    ok(&r[8]);
    assert_eq!(r[9]["count"], 0, "recursive delete left nothing: {}", r[9]);
    assert_eq!(kind(&r[10]), "ErrorKind::NotFound");
    assert_eq!(kind(&r[11]), "ErrorKind::NotFound");
}

#[test]
fn unfinished_uploads_never_become_visible() {
    let sandbox = lake("block_size = \"256KiB\"", "");
    let c = container("unfinished");
    let r = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": c},
            {"op": "write", "container": c, "path": "aborted.bin", "size": 2_000_000, "write_size": 100_000, "stop_after": 1_000_000, "stop": "abort"},
            {"op": "write", "container": c, "path": "dropped.bin", "size": 2_000_000, "write_size": 100_000, "stop_after": 1_000_000, "stop": "drop"},
            {"op": "exists", "container": c, "path": "aborted.bin"},
            {"op": "exists", "container": c, "path": "dropped.bin"},
        ]),
    );
    assert_eq!(r[1]["stopped"], 1_000_000);
    assert_eq!((&r[3], &r[4]), (&json!(false), &json!(false)));
    // A guest that traps mid-upload: exit 5, and still nothing at the path.
    let out = probe_run(
        &sandbox,
        &json!({ "steps": [{"op": "write", "container": c, "path": "trapped.bin", "size": 2_000_000, "write_size": 100_000, "stop_after": 1_000_000, "stop": "panic"}] }),
    );
    let report = out.expect_code(5).json();
    assert_eq!(report["status"], "trapped", "{report}");
    let r = steps(
        &sandbox,
        json!([{"op": "exists", "container": c, "path": "trapped.bin"}, {"op": "list", "container": c, "recursive": true}]),
    );
    assert_eq!(r[0], json!(false));
    assert_eq!(r[1]["count"], 0);
}

/// A run frozen (SIGSTOP) and then killed (kill -9) in the middle of a streamed upload, with
/// blocks staged and none committed: nothing appears at the path, partial or whole.
#[test]
fn a_frozen_then_killed_upload_leaves_no_blob() {
    let sandbox = lake("block_size = \"256KiB\"", "");
    let c = container("killed");
    ok(&steps(
        &sandbox,
        json!([{"op": "create-container", "container": c}]),
    )[0]);
    let upload = json!({"steps": [{"op": "write", "container": c, "path": "killed.bin", "size": 4_000_000, "write_size": 100_000, "stop_after": 1_000_000, "stop": "hang"}]});
    let mut child = sandbox
        .aw_run()
        .arg(guest("aw_adls_probe"))
        .args(["--input", &upload.to_string(), "--timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aw-run");
    // Long enough to stage the first blocks (1 MB in 256 KiB blocks) and reach the hang.
    std::thread::sleep(Duration::from_secs(3));
    let stopped = Command::new("kill")
        .args(["-STOP", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("kill -9");
    let _ = child.wait();
    let r = steps(
        &sandbox,
        json!([{"op": "exists", "container": c, "path": "killed.bin"}, {"op": "list", "container": c, "recursive": true}]),
    );
    assert_eq!(r[0], json!(false), "no blob at the path");
    assert_eq!(r[1]["count"], 0, "nothing in the container: {}", r[1]);
}

#[test]
fn scoped_grants_deny_paths_outside_their_prefixes() {
    let c = container("scoped");
    let other = container("other");
    let admin = lake("", "");
    steps(
        &admin,
        json!([{"op": "create-container", "container": c}, {"op": "create-container", "container": other}, {"op": "upload", "container": c, "path": "raw/in.csv", "text": "x"}]),
    );
    let az = az();
    let sandbox = Sandbox::new(&format!(
        r#"
[connectors.adls2.lake]
connection_string = "secret://adls_conn"
dialect = "blob"

[connectors.adls2.unused]
connection_string = "secret://adls_conn"

[profiles.etl]
[profiles.etl.adls2.lake]
read = ["{c}/raw"]
write = ["{c}/curated/out"]
"#
    ))
    .with_env("ADLS_CONN", &az.conn);
    let go = |steps: Json, profile: Option<&str>| {
        let input = json!({ "profile": profile.unwrap_or("lake"), "steps": steps });
        run(sandbox.aw_run().arg(guest("aw_adls_probe")).args([
            "--profile",
            "etl",
            "--json",
            "--input",
            &input.to_string(),
        ]))
        .expect_code(0)
        .json()["result"]
            .as_array()
            .cloned()
            .unwrap()
    };
    let r = go(
        json!([
            {"op": "download", "container": c, "path": "raw/in.csv"},
            {"op": "upload", "container": c, "path": "raw/new.csv", "text": "no"},
            {"op": "upload", "container": c, "path": "curated/out/a.csv", "text": "yes"},
            {"op": "upload", "container": c, "path": "curated/out/../../raw/sneaky.csv", "text": "no"},
            {"op": "upload", "container": c, "path": "curated/outside.csv", "text": "no"},
            {"op": "download", "container": c, "path": "../raw/in.csv"},
            {"op": "download", "container": other, "path": "x"},
            {"op": "list", "container": c},
            {"op": "list-containers", "prefix": "scoped-"},
            {"op": "delete-container", "container": c},
        ]),
        None,
    );
    assert_eq!(r[0]["text"], "x");
    for i in [1, 3, 4, 6, 7, 9] {
        assert_eq!(kind(&r[i]), "ErrorKind::Denied", "step {i}: {}", r[i]);
    }
    assert!(
        r[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[profiles.etl.adls2.lake]"),
        "{}",
        r[1]
    );
    ok(&r[2]);
    assert_eq!(
        kind(&r[5]),
        "ErrorKind::InvalidInput",
        "`..` above the root"
    );
    let visible: Vec<&str> = r[8]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        visible,
        vec![c.as_str()],
        "only granted containers are listed"
    );
    let r = go(json!([]), Some("unused"));
    assert_eq!(
        kind(&r[0]),
        "ErrorKind::Denied",
        "a profile the run profile does not grant"
    );
}

#[test]
fn microsofts_python_sdk_reads_what_a_guest_wrote_and_the_other_way_round() {
    let python = std::env::var("AW_PYTHON").expect("AW_PYTHON is not set: scripts/test.sh prepares the SDK venv (tests/services/python-sdk.sh)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/blob_sdk.py");
    let sdk = |args: &[&str]| -> Json {
        let out = Command::new(&python)
            .arg(script)
            .args(args)
            .env("AW_AZURITE_CONNECTION_STRING", az().conn)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "SDK {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("SDK prints JSON")
    };
    let sandbox = lake("block_size = \"256KiB\"", "");
    let c = container("interop");
    let r = steps(
        &sandbox,
        json!([
            {"op": "create-container", "container": c},
            {"op": "write", "container": c, "path": "from-guest/data.bin", "size": 700_000, "write_size": 65_536,
             "content_type": "application/x-guest", "metadata": [["origin", "guest"], ["rows", "3"]]},
        ]),
    );
    ok(&r[1]);
    let seen = sdk(&["describe", &c, "from-guest/data.bin"]);
    assert_eq!(seen["len"], 700_000);
    assert_eq!(seen["sha256"], hex(&sha2::Sha256::digest(pattern(700_000))));
    assert_eq!(seen["content_type"], "application/x-guest");
    assert_eq!(seen["metadata"], json!({"origin": "guest", "rows": "3"}));

    sdk(&[
        "upload",
        &c,
        "from-sdk/data.bin",
        "300000",
        "text/x-sdk",
        r#"{"origin": "sdk", "Kind": "Mixed"}"#,
    ]);
    let r = steps(
        &sandbox,
        json!([
            {"op": "download", "container": c, "path": "from-sdk/data.bin"},
            {"op": "read", "container": c, "path": "from-sdk/data.bin", "chunk": 100_000},
            {"op": "properties", "container": c, "path": "from-sdk/data.bin"},
            {"op": "list", "container": c, "prefix": "from-sdk"},
        ]),
    );
    assert_eq!(r[0]["fnv"], fnv(&pattern(300_000)));
    assert_eq!(r[1]["fnv"], fnv(&pattern(300_000)));
    assert_eq!(r[2]["info"]["content_type"], "text/x-sdk");
    assert_eq!(
        r[2]["metadata"],
        json!([["kind", "Mixed"], ["origin", "sdk"]]),
        "metadata names come back lower-cased"
    );
    assert_eq!(r[3]["entries"][0]["content_type"], "text/x-sdk");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_sas_token_authorizes_and_never_shows() {
    let python =
        std::env::var("AW_PYTHON").expect("AW_PYTHON is not set (tests/services/python-sdk.sh)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/blob_sdk.py");
    let out = Command::new(&python)
        .arg(script)
        .arg("account-sas")
        .env("AW_AZURITE_CONNECTION_STRING", az().conn)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sas = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let sig = sas
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .expect("a signature")
        .to_string();
    let az = az();
    let sandbox = Sandbox::new(&format!(
        "[connectors.adls2.default]\naccount_url = \"{}\"\nsas_token = \"secret://adls_sas\"\ndialect = \"blob\"\n[profiles.default]\nadls2 = [\"default\"]\n",
        az.url
    ))
    .with_env("ADLS_SAS", &sas);
    let c = container("sas");
    let out = probe_run(
        &sandbox,
        &json!({ "steps": [
            {"op": "create-container", "container": c},
            {"op": "upload", "container": c, "path": "a/b.txt", "text": "via sas"},
            {"op": "download", "container": c, "path": "a/b.txt"},
            {"op": "rename", "container": c, "path": "a/b.txt", "to": "a/c.txt"},
            {"op": "list", "container": c, "recursive": true},
            {"op": "download", "container": "no-such-container-x", "path": "nope"},
        ]}),
    )
    .expect_code(0);
    let r = out.json()["result"].as_array().cloned().unwrap();
    assert_eq!(r[2]["text"], "via sas");
    ok(&r[3]);
    assert_eq!(r[4]["count"], 1);
    assert_eq!(kind(&r[5]), "ErrorKind::NotFound");
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(&sas) && !text.contains(&sig),
            "the SAS leaked: {text}"
        );
    }
}

#[test]
fn a_wrong_key_is_an_auth_error_that_does_not_show_the_key() {
    let az = az();
    let wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let conn = az.conn.replace(&az.key, wrong_key);
    let sandbox = Sandbox::new("[connectors.adls2.default]\nconnection_string = \"secret://adls_conn\"\ndialect = \"blob\"\n[profiles.default]\nadls2 = [\"default\"]\n")
        .with_env("ADLS_CONN", &conn);
    let out = probe_run(&sandbox, &json!({ "steps": [{"op": "list-containers"}] })).expect_code(0);
    let r = out.json()["result"][0].clone();
    assert_eq!(kind(&r), "ErrorKind::Auth", "{r}");
    assert!(
        r["error"]["code"]
            .as_str()
            .is_some_and(|c| c.contains("Authorization") || c.contains("Authentication")),
        "{r}"
    );
    assert_eq!(r["error"]["retryable"], false);
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(wrong_key) && !text.contains(&az.key),
            "the key leaked: {text}"
        );
    }
}

/// A private emulator on disk (so a restart keeps what was committed), for the fault test.
/// Dropping it (also when a test fails) stops it.
struct PrivateAzurite {
    child: Option<Child>,
    port: u16,
    dir: Option<tempfile::TempDir>,
}

impl PrivateAzurite {
    fn start(port: u16, dir: tempfile::TempDir) -> PrivateAzurite {
        let az = az();
        let child = Command::new(&az.bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--loose",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--location",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a private Azurite");
        let emulator = PrivateAzurite {
            child: Some(child),
            port,
            dir: Some(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private Azurite did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }

    /// SIGTERM, as a service manager stops it: Azurite saves its state and exits.
    fn stop(mut self) -> (u16, tempfile::TempDir) {
        self.terminate();
        (
            self.port,
            self.dir.take().expect("the emulator's directory"),
        )
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.wait();
    }
}

impl Drop for PrivateAzurite {
    fn drop(&mut self) {
        self.terminate();
    }
}

#[test]
fn a_stopped_emulator_mid_upload_is_transient_after_retries_and_leaves_no_blob() {
    let az = az();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emulator = PrivateAzurite::start(port, tempfile::tempdir().unwrap());
    let conn = az.conn.replace(
        &az.url,
        &format!("http://127.0.0.1:{port}/devstoreaccount1"),
    );
    let sandbox = Sandbox::new(
        "[connectors.adls2.default]\nconnection_string = \"secret://adls_conn\"\ndialect = \"blob\"\nblock_size = \"1MiB\"\nretries = { attempts = 3, backoff = \"100ms\" }\ntimeouts = { connect_s = 2 }\n[profiles.default]\nadls2 = [\"default\"]\n",
    )
    .with_env("ADLS_CONN", &conn);
    steps(
        &sandbox,
        json!([{"op": "create-container", "container": "faults"}]),
    );
    let input = json!({ "steps": [{"op": "write", "container": "faults", "path": "cut.bin", "size": 4u64 << 30, "write_size": 1 << 20}] });
    let child = sandbox
        .aw_run()
        .arg(guest("aw_adls_probe"))
        .args(["--json", "--input", &input.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (port, dir) = emulator.stop();
    let out = child.wait_with_output().unwrap();
    let report: Json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let r = &report["result"][0];
    assert_eq!(kind(r), "ErrorKind::Transient", "{r}");
    assert_eq!(r["error"]["retryable"], true);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after 3 tries"),
        "{r}"
    );

    let emulator = PrivateAzurite::start(port, dir);
    let r = steps(
        &sandbox,
        json!([{"op": "exists", "container": "faults", "path": "cut.bin"}, {"op": "list", "container": "faults", "recursive": true}]),
    );
    assert_eq!(r[0], json!(false), "no partial blob after the restart");
    assert_eq!(
        r[1]["count"], 0,
        "the container survived the restart, empty: {}",
        r[1]
    );
    emulator.stop();
}

#[test]
fn the_examples_run_against_azurite_with_the_env_overlay_alone() {
    let az = az();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/adls-csv");
    let sandbox = Sandbox::new("");
    let out = run(sandbox
        .aw_run()
        .current_dir(dir)
        .arg(guest("aw_adls_csv"))
        .args(["--profile", "default", "--json"])
        .env(
            "AUTO_WORKFLOW_CONNECTORS_ADLS2_DEFAULT__CONNECTION_STRING",
            &az.conn,
        ))
    .expect_code(0);
    let result = out.json()["result"].clone();
    assert_eq!(result["row_count"], 4, "{result}");
    assert_eq!(result["rows"][0], json!(["id", "name", "amount"]));
    assert_eq!(result["content_type"], "text/csv");
    assert_eq!(result["cleaned_up"], true);
    assert!(!out.stderr.contains(&az.key));
}

#[test]
fn pg_to_adls_exports_a_table_through_copy_out_and_streamed_uploads() {
    let az = az();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/pg-to-adls");
    let sandbox = Sandbox::new("");
    let out = run(overlay_scram_postgres(&mut sandbox.aw_run())
        .current_dir(dir)
        .arg(guest("aw_pg_to_adls"))
        .args(["--profile", "default", "--json"])
        .env(
            "AUTO_WORKFLOW_CONNECTORS_ADLS2_DEFAULT__CONNECTION_STRING",
            &az.conn,
        ))
    .expect_code(0);
    let result = out.json()["result"].clone();
    assert_eq!(result["rows"], 30_000, "{result}");
    let files = result["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        assert_eq!(f["rows"], 10_000, "{f}");
        assert_eq!(f["content_type"], "text/csv");
        assert!(f["size"].as_u64().unwrap() > 100_000, "{f}");
    }
}

#[test]
fn entra_id_client_secret_tokens_authorize_against_azurite_oauth() {
    let https_url = std::env::var("AW_AZURITE_HTTPS_URL")
        .expect("AW_AZURITE_HTTPS_URL (tests/services/azurite.sh)");
    let dir = std::env::var("AW_AZURITE_DIR").expect("AW_AZURITE_DIR (tests/services/azurite.sh)");
    let ca = format!("{dir}/server.crt");
    let secret = "entra-client-secret-9f8e7d";
    let entra = fake_entra::FakeEntra::start(&ca, &format!("{dir}/server.key"), secret);
    let config = |secret_value: &str| {
        Sandbox::new(&format!(
            r#"
[connectors.adls2.default]
account_url = "{https_url}"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = "secret://adls_client_secret"
authority_host = "{authority}"
ca_cert = "{ca}"
dialect = "blob"

[profiles.default]
adls2 = ["default"]
"#,
            tenant = fake_entra::TENANT,
            client = fake_entra::CLIENT_ID,
            authority = entra.authority(),
        ))
        .with_env("ADLS_CLIENT_SECRET", secret_value)
    };
    let c = container("entra");
    let sandbox = config(secret);
    let out = probe_run(
        &sandbox,
        &json!({ "steps": [
            {"op": "create-container", "container": c},
            {"op": "upload", "container": c, "path": "t/token.txt", "text": "bearer ok", "content_type": "text/plain"},
            {"op": "download", "container": c, "path": "t/token.txt"},
            {"op": "list", "container": c, "recursive": true},
        ]}),
    )
    .expect_code(0);
    let r = out.json()["result"].as_array().cloned().unwrap();
    assert_eq!(ok(&r[0]), &json!(true));
    assert_eq!(r[2]["text"], "bearer ok");
    assert_eq!(r[3]["count"], 1);
    let forms = entra.requests.lock().unwrap().clone();
    assert_eq!(
        forms.len(),
        1,
        "one token for the whole run (cached): {forms:?}"
    );
    assert!(
        forms[0].contains("grant_type=client_credentials")
            && forms[0].contains("scope=https%3A%2F%2Fstorage.azure.com%2F.default"),
        "{forms:?}"
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(secret), "the client secret leaked");
    }

    let wrong = "not-the-secret-1234";
    let out = probe_run(
        &config(wrong),
        &json!({ "steps": [{"op": "exists", "container": c, "path": "t/token.txt"}] }),
    )
    .expect_code(0);
    let r = out.json()["result"][0].clone();
    assert_eq!(kind(&r), "ErrorKind::Auth", "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("Entra ID"),
        "{r}"
    );
    assert!(!out.stdout.contains(wrong) && !out.stderr.contains(wrong));
}

/// Issue 16: `make-dirs` under a narrow write grant creates no directory marker above it
/// (with write on `curated/exports/daily` only, it used to write `curated/exports`).
#[test]
fn make_dirs_creates_nothing_above_the_write_grant() {
    let c = container("mkgrant");
    let sandbox = lake(
        "",
        &format!("[profiles.narrow]\n[profiles.narrow.adls2.default]\nwrite = [\"{c}/curated/exports/daily\"]\n"),
    );
    steps(
        &sandbox,
        json!([{"op": "create-container", "container": c}]),
    );
    let input = json!({ "profile": "default", "steps": [{"op": "make-dirs", "container": c, "path": "curated/exports/daily/2024"}] });
    let narrow = run(sandbox.aw_run().arg(guest("aw_adls_probe")).args([
        "--profile",
        "narrow",
        "--json",
        "--input",
        &input.to_string(),
    ]))
    .expect_code(0)
    .json();
    assert!(narrow["result"][0].get("error").is_none(), "{narrow}");
    let r = steps(
        &sandbox,
        json!([
            {"op": "properties", "container": c, "path": "curated/exports/daily/2024"},
            {"op": "properties", "container": c, "path": "curated/exports/daily"},
            {"op": "properties", "container": c, "path": "curated/exports"},
            {"op": "properties", "container": c, "path": "curated"},
        ]),
    );
    assert_eq!(
        r[0]["info"]["etag"], true,
        "the granted levels have markers: {r:?}"
    );
    assert_eq!(r[1]["info"]["etag"], true, "{r:?}");
    for above in &r[2..] {
        assert_eq!(above["info"]["dir"], true, "{above}");
        assert_eq!(
            above["info"]["etag"], false,
            "no marker above the grant: {above}"
        );
    }
}
