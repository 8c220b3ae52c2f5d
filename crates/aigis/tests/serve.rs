//! `aigis serve` and `aigis keys api` through the real binary: API keys, configuration
//! errors named by key, models refused unless signed, a served inference over a socket,
//! stopped by SIGTERM, a model served from the registry that follows its stage
//! through a promotion and a rollback, and the admin API on its own listener.

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Command;

use common::aigis_in;
use sha2::Digest as _;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(aigis_in(dir.path(), &["init", "-q"], &[]).code, 0);
    std::fs::create_dir(dir.path().join("models")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/runtime/digits_mlp.onnx"),
        dir.path().join("models/digits.onnx"),
    )
    .unwrap();
    dir
}

/// A project whose `models/digits.onnx` is signed with its key.
fn signed_project() -> tempfile::TempDir {
    let dir = project();
    let signed = aigis_in(dir.path(), &["model", "sign", "models/digits.onnx"], &[]);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    dir
}

/// Adds a `[serve]` table serving `models/digits.onnx` (with `extra` in its model entry)
/// to the key whose SHA-256 is `hash`.
fn configure(dir: &Path, hash: &str, extra: &str) {
    let mut text = std::fs::read_to_string(dir.join("aigis.toml")).unwrap();
    text.push_str(&format!(
        "\n[serve]\nplain = true\n\n[[serve.models]]\nname = \"digits\"\npath = \"models/digits.onnx\"\n{extra}\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{hash}\"\n"
    ));
    std::fs::write(dir.join("aigis.toml"), text).unwrap();
}

/// `aigis serve` on a free loopback port in `dir`: the process and the address it prints.
fn start(dir: &Path) -> (std::process::Child, String) {
    start_with(dir, &[])
}

/// [`start`] with `flags` before `serve`: the process and the first thing it prints.
fn start_with(dir: &Path, flags: &[&str]) -> (std::process::Child, String) {
    common::serve(dir, flags)
}

/// SIGTERM, then the exit code and what the server said on stderr.
fn stop(child: std::process::Child) -> (Option<i32>, String) {
    signal(child, "-TERM")
}

/// `kill SIGNAL`, then the exit code and what the server said on stderr.
fn signal(mut child: std::process::Child, signal: &str) -> (Option<i32>, String) {
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

fn new_key(dir: &Path) -> (String, String) {
    let r = aigis_in(dir, &["keys", "api", "new", "--name", "ci", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    (
        v["key"].as_str().unwrap().to_owned(),
        v["sha256"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn an_api_key_is_shown_once_and_only_its_hash_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (key, hash) = new_key(dir.path());
    assert!(key.starts_with("aigis_"));
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(key.as_bytes())));
    let text = aigis_in(dir.path(), &["keys", "api", "new", "--name", "ci"], &[]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.trim().starts_with("aigis_"));
    assert!(
        text.stderr.contains("[[serve.api_keys]]") && !text.stderr.contains(text.stdout.trim())
    );
    let bad = aigis_in(dir.path(), &["keys", "api", "new", "--name", "a b"], &[]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn a_bad_serve_table_is_refused_by_name_and_an_unsigned_model_is_not_served() {
    let dir = project();
    let d = dir.path();
    let r = aigis_in(d, &["serve"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("no [serve] table") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );

    let (_, hash) = new_key(d);
    configure(d, &hash, "");
    let r = aigis_in(d, &["serve"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("unsigned") && r.stderr.contains("aigis model sign"),
        "{}",
        r.stderr
    );

    // A wrong key in [serve] stops every command, not only `serve`.
    let text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    std::fs::write(
        d.join("aigis.toml"),
        text.replace("plain = true", "plain = true\nlisten = \"0.0.0.0:80\""),
    )
    .unwrap();
    for args in [&["serve"][..], &["keys", "show"]] {
        let r = aigis_in(d, args, &[]);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("serve.listen") && r.stderr.contains("loopback"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_signed_model_is_served_over_a_socket_and_sigterm_stops_it() {
    let dir = signed_project();
    let d = dir.path();
    let (key, hash) = new_key(d);
    configure(d, &hash, "");
    let (child, address) = start(d);
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let (status, v) = infer(&agent, &address, &key, "digits", &digits_row());
    assert_eq!(status, 200);
    assert_eq!(v["outputs"][0]["name"], "output_label");

    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("signature verified") && stderr.contains("stopped"),
        "{stderr}"
    );
}

/// One row of the digits model's input.
fn digits_row() -> serde_json::Value {
    serde_json::json!({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": vec![0.25; 64]}]})
}

/// `body` to `model`'s infer route with `key`: the status and the JSON answer.
fn infer(
    agent: &ureq::Agent,
    address: &str,
    key: &str,
    model: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut resp = agent
        .post(&format!("{address}/v2/models/{model}/infer"))
        .header("Authorization", &format!("Bearer {key}"))
        .send(body.to_string())
        .unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (resp.status().as_u16(), v)
}

/// The version a served model answers with.
fn served_version(agent: &ureq::Agent, address: &str, key: &str) -> String {
    let (status, v) = infer(agent, address, key, "digits", &digits_row());
    assert_eq!(status, 200);
    v["model_version"].as_str().unwrap().to_owned()
}

#[test]
fn a_model_served_from_the_registry_follows_its_stage_and_needs_the_gate() {
    let dir = project();
    let d = dir.path();
    let (key, hash) = new_key(d);
    let mut text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    text.push_str(&format!(
        "\n[serve]\nplain = true\n\n[[serve.models]]\nname = \"digits\"\nregistry = \"digits@production\"\n\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{hash}\"\n"
    ));
    std::fs::write(d.join("aigis.toml"), text).unwrap();

    // Nothing at the stage yet: refused, naming why.
    let r = aigis_in(d, &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no version of `digits` is at stage `production`"),
        "{}",
        r.stderr
    );

    // Version 1, signed, registered and promoted by the gate.
    let ok = |args: &[&str]| {
        let r = aigis_in(d, args, &[]);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    };
    ok(&["model", "sign", "models/digits.onnx"]);
    ok(&[
        "model",
        "register",
        "models/digits.onnx",
        "--name",
        "digits",
    ]);
    ok(&["model", "promote", "digits", "1", "--stage", "production"]);

    let (child, address) = start(d);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    assert_eq!(served_version(&agent, &address, &key), "1");

    // Version 2 (a copy, registered and signed on its own), then a promotion: the
    // gateway notices it and swaps it in while serving.
    std::fs::copy(d.join("models/digits.onnx"), d.join("models/digits2.onnx")).unwrap();
    ok(&["model", "sign", "models/digits2.onnx"]);
    ok(&[
        "model",
        "register",
        "models/digits2.onnx",
        "--name",
        "digits",
    ]);
    ok(&["model", "promote", "digits", "2", "--stage", "production"]);
    let mut version = String::new();
    for _ in 0..50 {
        version = served_version(&agent, &address, &key);
        if version == "2" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(version, "2", "the promotion was served");
    // A rollback is followed too.
    ok(&["model", "rollback", "digits", "--stage", "production"]);
    for _ in 0..50 {
        version = served_version(&agent, &address, &key);
        if version == "1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(version, "1", "the rollback was served");

    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("reloaded (promotion)"), "{stderr}");

    // Each swap is a gateway-admin record with the promotion as its trigger.
    let r = aigis_in(
        d,
        &[
            "--json",
            "evidence",
            "list",
            "--predicate-type",
            "https://aigis.dev/predicate/gateway-admin/v1",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "{}",
        r.stdout
    );
}

#[test]
fn the_admin_api_makes_a_key_that_works_at_once_and_every_change_is_in_the_ledger() {
    let dir = signed_project();
    let d = dir.path();
    let (key, hash) = new_key(d);
    configure(d, &hash, "");
    let mut text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    text.push_str("\n[serve.admin]\nlisten = \"127.0.0.1:0\"\nprincipals = [\"ci\"]\n");
    std::fs::write(d.join("aigis.toml"), text).unwrap();
    let (child, first) = start_with(d, &["--json"]);
    let started: serde_json::Value = serde_json::from_str(&first).unwrap();
    let address = started["listening"].as_str().unwrap().to_owned();
    let admin = started["admin"].as_str().unwrap().to_owned();
    assert!(
        admin.starts_with("http://127.0.0.1:") && admin.ends_with("/admin/v1"),
        "{admin}"
    );

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent
        .post(&format!("{admin}/keys"))
        .header("Authorization", &format!("Bearer {key}"))
        .send(serde_json::json!({"principal": "bot"}).to_string())
        .unwrap();
    assert_eq!(resp.status(), 201);
    let made: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let bot = made["key"].as_str().unwrap().to_owned();
    served_version(&agent, &address, &bot);
    // The admin routes are not on the gateway's port.
    let resp = agent
        .post(&format!("{address}/admin/v1/reload"))
        .header("Authorization", &format!("Bearer {key}"))
        .send_empty()
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = agent
        .post(&format!("{admin}/reload"))
        .header("Authorization", &format!("Bearer {key}"))
        .send_empty()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    let state = std::fs::read_to_string(d.join("gateway-admin.json")).unwrap();
    assert!(!state.contains(&bot) && state.contains(made["id"].as_str().unwrap()));
    let r = aigis_in(d, &["ledger", "verify"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = aigis_in(
        d,
        &[
            "--json",
            "evidence",
            "list",
            "--predicate-type",
            "https://aigis.dev/predicate/gateway-admin/v1",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&bot));
}

#[test]
fn an_encrypted_model_is_served_with_the_projects_recipient_key() {
    let dir = project();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let r = aigis_in(d, args, &[]);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    };
    ok(&["keys", "recipient", "new"]);
    ok(&["model", "sign", "models/digits.onnx"]);
    ok(&["model", "encrypt", "models/digits.onnx", "--to-self"]);
    std::fs::remove_file(d.join("models/digits.onnx")).unwrap();
    let (key, hash) = new_key(d);
    let mut text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    text.push_str(&format!(
        "\n[serve]\nplain = true\n\n[[serve.models]]\nname = \"digits\"\npath = \"models/digits.onnx.aigis-enc\"\n\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{hash}\"\n"
    ));
    std::fs::write(d.join("aigis.toml"), text).unwrap();
    let (child, address) = start(d);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    served_version(&agent, &address, &key);
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("signature verified") && stderr.contains("decrypted in memory"),
        "{stderr}"
    );
    assert!(!d.join("models/digits.onnx").exists());
}

/// A model server on loopback speaking the Open Inference Protocol v2, as small as a test
/// needs: `GET` gives the metadata of a model `m` (input `X` `[-1, 2]`, output `Y`
/// `[-1, 1]`, version 7), `POST` answers `Y` = the sum of each row of `X`. It reads
/// requests one after another on each connection (keep-alive). Returns its port.
fn fake_v2_upstream() -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(tcp.try_clone().unwrap());
                let mut out = tcp;
                loop {
                    let mut head = String::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).unwrap();
                    let answer = if head.starts_with("GET ") {
                        serde_json::json!({"name": "m", "versions": ["7"], "platform": "fake",
                            "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 2]}],
                            "outputs": [{"name": "Y", "datatype": "FP32", "shape": [-1, 1]}]})
                    } else {
                        let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let x: Vec<f64> = request["inputs"][0]["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_f64().unwrap())
                            .collect();
                        let y: Vec<f64> = x.chunks(2).map(|r| r.iter().sum()).collect();
                        serde_json::json!({"model_name": "m", "model_version": "7",
                            "outputs": [{"name": "Y", "datatype": "FP32", "shape": [y.len(), 1], "data": y}]})
                    }
                    .to_string();
                    let sent = write!(
                        out,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The binary serves a model from another server: its signature read from the upstream's
/// metadata when `aigis serve` starts (before the server's own runtime runs), a call
/// passed on and its answer given back, with the version the upstream reported.
#[test]
fn a_model_on_another_server_is_served_by_the_binary() {
    let dir = project();
    let d = dir.path();
    let (key, hash) = new_key(d);
    let port = fake_v2_upstream();
    let mut text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    text.push_str(&format!(
        "\n[serve]\nplain = true\n\n[[serve.models]]\nname = \"sum\"\nverify = false\n[serve.models.upstream]\nurl = \"http://127.0.0.1:{port}/v2/models/m\"\n\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{hash}\"\n"
    ));
    std::fs::write(d.join("aigis.toml"), text).unwrap();
    let (child, address) = start(d);
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    for _ in 0..3 {
        let body = serde_json::json!({"inputs": [{"name": "X", "shape": [2, 2], "datatype": "FP32", "data": [1.0, 2.0, 3.5, 4.0]}]});
        let (status, v) = infer(&agent, &address, &key, "sum", &body);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["model_version"], "7");
        assert_eq!(v["outputs"][0]["data"], serde_json::json!([3.0, 7.5]));
    }
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
}

/// `[model.gate.shadow]`: a candidate is promoted only once the gateway has recorded it
/// answering in the shadow of the version the stage holds, mostly agreeing with it.
#[test]
fn a_candidate_is_promoted_only_after_a_shadow_period_that_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(aigis_in(d, &["init", "-q"], &[]).code, 0);
    std::fs::create_dir(d.join("models")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/runtime");
    std::fs::copy(
        fixtures.join("wine_forest.onnx"),
        d.join("models/wine1.onnx"),
    )
    .unwrap();
    std::fs::copy(fixtures.join("wine_gbc.onnx"), d.join("models/wine2.onnx")).unwrap();
    std::fs::copy(fixtures.join("wine_gbc.onnx"), d.join("models/gbc.onnx")).unwrap();
    let (key, hash) = new_key(d);
    let base = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    let write_serving = |max: &str, served: &str| {
        std::fs::write(
            d.join("aigis.toml"),
            format!(
                "{base}\n[model.gate.shadow]\nmax_disagreement = {max}\nmin_rows = 80\n\n[serve]\nplain = true\n\n[[serve.models]]\nname = \"wine\"\n{served}\n[serve.models.shadow]\npath = \"models/wine2.onnx\"\n\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{hash}\"\n"
            ),
        )
        .unwrap();
    };
    let write = |max: &str| write_serving(max, "registry = \"wine@production\"");
    // A threshold that is not a share is refused by every command, by name.
    write("2");
    let r = aigis_in(d, &["model", "list"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("model.gate.shadow.max_disagreement"),
        "{}",
        r.stderr
    );
    write("0.04");
    let ok = |args: &[&str]| {
        let r = aigis_in(d, args, &[]);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
        r
    };
    for (file, version) in [("models/wine1.onnx", "1"), ("models/wine2.onnx", "2")] {
        ok(&["model", "sign", file]);
        let r = ok(&["--json", "model", "register", file, "--name", "wine"]);
        assert_eq!(r.json()["version"], version.parse::<u32>().unwrap());
    }
    // The first promotion has nothing to be compared with.
    let r = ok(&["model", "promote", "wine", "1"]);
    assert!(r.stdout.contains("nothing to compare"), "{}", r.stdout);
    // The candidate never ran in a shadow: refused, saying how to get the evidence.
    let promote = || aigis_in(d, &["--json", "model", "promote", "wine", "2"], &[]);
    let r = promote();
    assert_eq!(r.code, 1, "{}", r.stderr);
    let shadow = |r: &common::Run| -> serde_json::Value {
        r.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "shadow")
            .unwrap()
            .clone()
    };
    let c = shadow(&r);
    assert_eq!(c["passed"], false);
    assert!(
        c["detail"].as_str().unwrap().contains("no shadow period")
            && c["detail"]
                .as_str()
                .unwrap()
                .contains("[serve.models.shadow]"),
        "{c}"
    );

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let shadowed = |address: &str, calls: u64| {
        for _ in 0..100 {
            let mut resp = agent
                .get(&format!("{address}/v2/models/wine/shadow"))
                .header("Authorization", &format!("Bearer {key}"))
                .call()
                .unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
            if v["calls"] == calls {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the shadow did not answer {calls} calls");
    };

    // In the shadow of a model it agrees with (a copy of itself, served by path): no
    // version the stage holds, so it does not count.
    write_serving("0.04", "path = \"models/gbc.onnx\"\nverify = false");
    let (child, address) = start(d);
    let (status, v) = infer(&agent, &address, &key, "wine", &wine_row());
    assert_eq!(status, 200, "{v}");
    shadowed(&address, 1);
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    let c = shadow(&promote());
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("no shadow period of this version against version 1")
            && detail.contains("1 compared the version with itself"),
        "{c}"
    );
    write("0.04");

    // Served with version 2 in its shadow: the fixture's 40 rows without a missing value,
    // twice.
    let (child, address) = start(d);
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("wine_forest.json")).unwrap()).unwrap();
    let data: Vec<serde_json::Value> = fixture["inputs"]["X"]["data"]
        .as_array()
        .unwrap()
        .chunks(13)
        .filter(|r| r.iter().all(|v| !v.is_null()))
        .flatten()
        .cloned()
        .collect();
    assert_eq!(data.len(), 40 * 13);
    let body = serde_json::json!({"inputs": [{
        "name": "X", "shape": [40, 13], "datatype": "FP32", "data": data,
    }]});
    for _ in 0..2 {
        let (status, v) = infer(&agent, &address, &key, "wine", &body);
        assert_eq!(status, 200, "{v}");
    }
    shadowed(&address, 2);
    // The period is recorded when the gateway stops.
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");

    // 2 of the 40 rows are answered differently (onnxruntime's labels of the two models
    // say so too): 5 %, above 4 %, refused.
    let r = promote();
    assert_eq!(r.code, 1, "{}", r.stderr);
    let c = shadow(&r);
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("disagreement 5.000 % is above 4.000 %")
            && detail.contains("80 rows in 2 calls"),
        "{c}"
    );
    // The gate's policies read the same figures as attributes.
    let fact = r.json()["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["attribute"] == "shadow")
        .unwrap()
        .clone();
    assert_eq!(fact["value"]["rows"], 80, "{fact}");
    assert_eq!(fact["value"]["disagreement"], 0.05, "{fact}");
    assert!(
        fact["value"]["disagreement_upper"].as_f64().unwrap() > 0.05,
        "{fact}"
    );
    let period = c["evidence"].as_u64().unwrap();
    let r = ok(&["--json", "evidence", "show", &period.to_string()]);
    let v = r.json();
    let text = v.to_string();
    assert!(
        text.contains("shadow-period") && text.contains("\"disagreements\":4"),
        "{text}"
    );

    // Under a looser threshold, the same evidence lets it through.
    write("0.1");
    let r = promote();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let c = shadow(&r);
    assert_eq!(
        (c["passed"].as_bool(), c["evidence"].as_u64()),
        (Some(true), Some(period))
    );
}

/// One wine row with every value present.
fn wine_row() -> serde_json::Value {
    serde_json::json!({"inputs": [{"name": "X", "shape": [1, 13], "datatype": "FP32", "data": [13.2, 1.8, 2.1, 17.0, 100.0, 2.6, 2.6, 0.3, 1.6, 5.0, 1.0, 3.0, 1000.0]}]})
}

/// The extraction detector takes PRADA's threshold the signed detector file calibrated
/// for the served model, and `aigis serve` says so at start; a configured one wins.
#[test]
fn serve_says_which_extraction_threshold_each_model_uses() {
    let dir = signed_project();
    let d = dir.path();
    // A reference of 400 rows of 64 whole numbers 0..16.
    let mut rng = common::Rng(5);
    let mut csv: Vec<String> = vec![
        (0..64)
            .map(|j| format!("p{j}"))
            .collect::<Vec<_>>()
            .join(","),
    ];
    for _ in 0..400 {
        let row: Vec<String> = (0..64)
            .map(|_| ((rng.uniform() * 17.0).floor() as u32).to_string())
            .collect();
        csv.push(row.join(","));
    }
    std::fs::write(d.join("reference.csv"), csv.join("\n") + "\n").unwrap();
    let fit = aigis_in(
        d,
        &[
            "--json",
            "detect",
            "fit",
            "reference.csv",
            "--model",
            "models/digits.onnx",
            "--no-squeeze",
            "--fpr",
            "0.05",
            "--extraction-clients",
            "20",
            "-o",
            "digits.detector.json",
        ],
        &[],
    );
    assert_eq!(fit.code, 0, "{}", fit.stderr);
    let threshold = fit.json()["extraction"]["prada"]["threshold"]
        .as_f64()
        .unwrap();
    let (_, hash) = new_key(d);
    let entry = "[serve.models.detector]\nfile = \"digits.detector.json\"\n[serve.models.extraction]\naction = \"flag\"\n";
    configure(d, &hash, entry);
    let (child, address) = start(d);
    assert!(address.starts_with("http://"), "{address}");
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    let said = format!(
        "extraction detector: PRADA threshold {threshold:.4} (calibrated for this model by the detector file)"
    );
    assert!(stderr.contains(&said), "{said}\n{stderr}");
    // A threshold in the configuration wins, and is said to.
    let text = std::fs::read_to_string(d.join("aigis.toml"))
        .unwrap()
        .replace(
            "action = \"flag\"\n",
            "action = \"flag\"\nthreshold = 0.7\n",
        );
    std::fs::write(d.join("aigis.toml"), text).unwrap();
    let (child, _) = start(d);
    let (_, stderr) = stop(child);
    assert!(
        stderr.contains("extraction detector: PRADA threshold 0.7000 (configured)"),
        "{stderr}"
    );
}

/// A supervisor may stop the gateway as soon as it says it is listening: the signal is
/// handled by then (its default action would kill the process and lose the audit
/// records still buffered), for SIGTERM and SIGINT alike, and SIGHUP reloads.
#[test]
fn a_signal_sent_as_soon_as_it_listens_stops_it_cleanly() {
    let dir = signed_project();
    let d = dir.path();
    let (_, hash) = new_key(d);
    configure(d, &hash, "");
    for sent in ["-TERM", "-INT", "-TERM", "-INT"] {
        let (child, address) = start(d);
        assert!(address.starts_with("http://"), "{address}");
        let (code, stderr) = signal(child, sent);
        assert_eq!(code, Some(0), "{sent}: {stderr}");
        assert!(stderr.contains("stopped"), "{sent}: {stderr}");
    }
    // SIGHUP: a reload, not a stop: it still serves, and then stops on SIGTERM.
    let (mut child, _) = start(d);
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP stopped it");
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A principal suspected of copying a model stays suspected across a restart: the stop
/// keeps it in `.aigis/gateway-extraction.json`, the next start restores it for the same model
/// file and settings. Other settings start over; a file that cannot be read stops the
/// start (its principals would go free).
#[test]
fn a_principal_suspected_of_extraction_stays_suspected_after_a_restart() {
    let dir = signed_project();
    let d = dir.path();
    let (key, hash) = new_key(d);
    let toml = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
    let serve_with = |budget: u32| {
        std::fs::write(d.join("aigis.toml"), &toml).unwrap();
        configure(
            d,
            &hash,
            &format!("[serve.models.extraction]\naction = \"block\"\nbudget = {budget}\n"),
        );
        let mut text = std::fs::read_to_string(d.join("aigis.toml")).unwrap();
        text.push_str("\n[serve.admin]\nlisten = \"127.0.0.1:0\"\nprincipals = [\"ci\"]\n");
        std::fs::write(d.join("aigis.toml"), text).unwrap();
    };
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let state = d.join(".aigis/gateway-extraction.json");
    serve_with(3);
    let (child, address) = start(d);
    let statuses: Vec<u16> = (0..5)
        .map(|_| infer(&agent, &address, &key, "digits", &digits_row()).0)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 403]);
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 suspected principals kept"), "{stderr}");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept["models"][0]["suspects"][0]["principal"], "ci");
    assert_eq!(
        kept["models"][0]["suspects"][0]["suspicion"]["reason"]["sign"],
        "budget"
    );
    // Restarted: refused from the first call.
    let (child, address) = start(d);
    assert_eq!(
        infer(&agent, &address, &key, "digits", &digits_row()).0,
        403
    );
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("1 principals suspected by an earlier run"),
        "{stderr}"
    );
    // Cleared through the admin API: answered, and gone from the file at the stop.
    let (child, first) = start_with(d, &["--json"]);
    let started: serde_json::Value = serde_json::from_str(&first).unwrap();
    let (address, admin) = (
        started["listening"].as_str().unwrap().to_owned(),
        started["admin"].as_str().unwrap().to_owned(),
    );
    let resp = agent
        .delete(&format!("{admin}/models/digits/extraction/ci"))
        .header("Authorization", &format!("Bearer {key}"))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        infer(&agent, &address, &key, "digits", &digits_row()).0,
        200
    );
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!state.exists(), "{stderr}");
    // Suspected again, and kept at the stop.
    let (child, address) = start(d);
    let statuses: Vec<u16> = (0..5)
        .map(|_| infer(&agent, &address, &key, "digits", &digits_row()).0)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 403]);
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(state.exists(), "{stderr}");
    // Other settings: a new history (the file keeps the old one for them).
    serve_with(10);
    let (child, address) = start(d);
    assert_eq!(
        infer(&agent, &address, &key, "digits", &digits_row()).0,
        200
    );
    let (code, stderr) = stop(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(state.exists());
    // A file that cannot be read: no start.
    std::fs::write(
        &state,
        b"{\"format\": \"aigis-extraction-state/1\", \"models\": [{}]}",
    )
    .unwrap();
    let r = aigis_in(d, &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("gateway-extraction.json") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
}
