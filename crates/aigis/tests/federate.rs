//! `aigis federate` as its users run it: a coordinator and clients as separate processes
//! on loopback, each in its own project with its own key. The clients end with the
//! coordinator's model; every round is evidence whose chain and signatures
//! `aigis federate verify` checks; a client stopped mid-round is a straggler and the
//! round goes on; a key not given is refused; bad settings exit 2 by name.

use crate::common;

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Rng, aigis, fails, ok};

/// A party: its project folder and its verifier key file.
struct Party {
    dir: PathBuf,
    vkey: PathBuf,
}

fn party(root: &Path, name: &str) -> Party {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    ok(&dir, &["init", "-q"]);
    let vkey = root.join(format!("{name}.vkey"));
    std::fs::write(&vkey, ok(&dir, &["keys", "show"]).stdout).unwrap();
    Party { dir, vkey }
}

/// Two classes (labelled 3 and 7) in two features within [0, 10]; client `c` holds
/// mostly one of them.
fn table(p: &Party, c: usize, rows: usize) {
    let mut rng = Rng(c as u64 + 5);
    let mut csv = String::from("a,b,y\n");
    for r in 0..rows {
        let first = if r % 5 == 0 { 1 - c % 2 } else { c % 2 };
        let (centre, label) = if first == 0 { (3.0, 3) } else { (7.0, 7) };
        writeln!(
            csv,
            "{:.4},{:.4},{label}",
            centre + 2.0 * (rng.uniform() - 0.5),
            10.0 - centre + 2.0 * (rng.uniform() - 0.5)
        )
        .unwrap();
    }
    std::fs::write(p.dir.join("t.csv"), csv).unwrap();
}

/// A coordinator and clients named `names`, each with `rows` rows of its own.
fn parties(root: &Path, names: &[&str], rows: usize) -> (Party, Vec<Party>) {
    let coord = party(root, "coord");
    let clients: Vec<Party> = names.iter().map(|n| party(root, n)).collect();
    for (i, c) in clients.iter().enumerate() {
        table(c, i, rows);
    }
    (coord, clients)
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aigis"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIGIS_PROJECT")
        .env_remove("AIGIS_KEY_PASSPHRASE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The coordinator: its address (its first line) and its stderr, line by line.
fn serve(dir: &Path, args: &[&str]) -> (Child, String, mpsc::Receiver<String>) {
    let mut all = vec!["federate", "serve", "--listen", "127.0.0.1:0"];
    all.extend(args);
    let mut child = spawn(dir, &all);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut addr = String::new();
    out.read_line(&mut addr).unwrap();
    // The rest of stdout is read at the end.
    child.stdout = Some(out.into_inner());
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, addr.trim().to_owned(), rx)
}

/// Waits for a coordinator's stderr line containing `needle`; every line seen.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "no `{needle}` from the coordinator; it said:\n{}",
                    seen.join("\n")
                )
            });
        let hit = line.contains(needle);
        seen.push(line);
        if hit {
            return;
        }
    }
}

/// The rest of a coordinator's stderr, once it has exited.
fn drain(rx: &mpsc::Receiver<String>) -> String {
    let mut out = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        out.push(line);
    }
    out.join("\n")
}

fn join(p: &Party, addr: &str, coordinator: &Party, extra: &[&str]) -> Child {
    let mut args = vec![
        "--json",
        "federate",
        "join",
        addr,
        "t.csv",
        "--label",
        "y",
        "--coordinator",
        coordinator.vkey.to_str().unwrap(),
        "-o",
        "final.onnx",
    ];
    args.extend(extra);
    spawn(&p.dir, &args)
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn evidence_of(dir: &Path, predicate: &str) -> Vec<serde_json::Value> {
    let list = ok(dir, &["--json", "evidence", "list"]).stdout;
    list.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["predicate_type"].as_str().unwrap().contains(predicate))
        .map(|e| {
            let i = e["index"].as_u64().unwrap().to_string();
            ok(dir, &["--json", "evidence", "show", &i]).json()["statement"]["predicate"].clone()
        })
        .collect()
}

const SERVE: [&str; 12] = [
    "--bounds",
    "0:10",
    "--classes",
    "3,7",
    "--model",
    "softmax",
    "--local-epochs",
    "5",
    "--learning-rate",
    "0.5",
    "--federation",
    "trial",
];

#[test]
fn three_clients_as_processes_train_one_model_whose_lineage_verifies() {
    let root = tempfile::tempdir().unwrap();
    let (coord, clients) = parties(root.path(), &["a", "b", "c"], 60);
    let mut args: Vec<&str> = SERVE.to_vec();
    args.extend(["--rounds", "4", "-o", "fed.onnx"]);
    for c in &clients {
        args.extend(["--client", c.vkey.to_str().unwrap()]);
    }
    let (server, addr, _lines) = serve(&coord.dir, &args);
    let joins: Vec<Child> = clients
        .iter()
        .map(|c| join(c, &addr, &coord, &[]))
        .collect();
    for (c, j) in clients.iter().zip(joins) {
        let (code, stdout, stderr) = finish(j);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["federation"], "trial");
        assert_eq!(report["trained"], 4);
        assert!(c.dir.join("final.onnx").exists());
    }
    let (code, stdout, stderr) = finish(server);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("wrote fed.onnx (4 rounds, 3 client(s), mean)"),
        "{stdout}"
    );
    // Every client holds the coordinator's model, byte for byte.
    let model = std::fs::read(coord.dir.join("fed.onnx")).unwrap();
    for c in &clients {
        assert_eq!(std::fs::read(c.dir.join("final.onnx")).unwrap(), model);
    }
    // It learned both classes though each client holds mostly one, as the runtime says.
    let mut csv = String::from("a,b,y\n");
    for (i, c) in clients.iter().enumerate() {
        let t = std::fs::read_to_string(c.dir.join("t.csv")).unwrap();
        let _ = i;
        for line in t.lines().skip(1) {
            let mut v: Vec<&str> = line.split(',').collect();
            let y = if v[2] == "3" { "0" } else { "1" };
            v[2] = y;
            writeln!(csv, "{}", v.join(",")).unwrap();
        }
    }
    std::fs::write(coord.dir.join("all.csv"), csv).unwrap();
    let rt = ok(
        &coord.dir,
        &[
            "--json",
            "redteam",
            "fed.onnx",
            "--data",
            "all.csv",
            "--label",
            "y",
            "--attacks",
            "fgsm",
            "--eps",
            "0.01",
        ],
    )
    .json();
    let clean = rt["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.9, "{rt}");
    // The rounds are evidence that chains, each update signed by its client.
    let rounds = evidence_of(&coord.dir, "federated-round");
    assert_eq!(rounds.len(), 4);
    for w in rounds.windows(2) {
        assert_eq!(w[0]["model"], w[1]["base"]);
    }
    assert!(
        rounds
            .iter()
            .all(|r| r["updates"].as_array().unwrap().len() == 3)
    );
    let keys: Vec<&str> = clients.iter().map(|c| c.vkey.to_str().unwrap()).collect();
    let mut verify = vec!["federate", "verify", "fed.onnx"];
    for k in &keys {
        verify.extend(["--client", k]);
    }
    let v = ok(&coord.dir, &verify);
    assert!(
        v.stdout
            .contains("4 rounds chained from the first model, 12 client updates signed"),
        "{}",
        v.stdout
    );
    // Without a client's key its updates cannot be checked: not verified.
    fails(
        &coord.dir,
        &["federate", "verify", "fed.onnx", "--client", keys[0]],
        1,
        "does not verify",
    );
    // A model changed after the federation is not its model.
    let mut changed = model.clone();
    changed.push(b'\n');
    std::fs::write(coord.dir.join("changed.onnx"), changed).unwrap();
    verify[2] = "changed.onnx";
    fails(&coord.dir, &verify, 1, "no federation evidence");
    // Each client recorded its part.
    let part = evidence_of(&clients[0].dir, "federated-participation");
    assert_eq!(part.len(), 1);
    assert_eq!(part[0]["trained"], 4);
    assert_eq!(part[0]["rows"], 60);
    ok(&clients[0].dir, &["ledger", "verify"]);
    ok(&coord.dir, &["ledger", "verify"]);
}

#[test]
fn secure_aggregation_between_processes_gives_a_model_whose_masked_lineage_verifies() {
    let root = tempfile::tempdir().unwrap();
    let (coord, clients) = parties(root.path(), &["a", "b", "c"], 60);
    let mut args: Vec<&str> = SERVE.to_vec();
    args.extend([
        "--rounds",
        "3",
        "--secure-aggregation",
        "--clip-norm",
        "5",
        "-o",
        "fed.onnx",
    ]);
    for c in &clients {
        args.extend(["--client", c.vkey.to_str().unwrap()]);
    }
    let (server, addr, lines) = serve(&coord.dir, &args);
    let joins: Vec<Child> = clients
        .iter()
        .map(|c| join(c, &addr, &coord, &["--require-secure-aggregation"]))
        .collect();
    for j in joins {
        let (code, stdout, stderr) = finish(j);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
    }
    let (code, stdout, _) = finish(server);
    assert_eq!(code, 0, "{stdout}\n{}", drain(&lines));
    let rounds = evidence_of(&coord.dir, "federated-round");
    assert_eq!(rounds.len(), 3);
    for r in &rounds {
        assert_eq!(r["secure_aggregation"], true);
        // No row count of any client is known to the coordinator.
        assert!(
            r["updates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["rows"].is_null())
        );
    }
    let mut verify = vec!["federate", "verify", "fed.onnx"];
    for c in &clients {
        verify.extend(["--client", c.vkey.to_str().unwrap()]);
    }
    let v = ok(&coord.dir, &verify);
    assert!(v.stdout.contains("9 client updates signed"), "{}", v.stdout);
    for c in &clients {
        assert_eq!(
            std::fs::read(c.dir.join("final.onnx")).unwrap(),
            std::fs::read(coord.dir.join("fed.onnx")).unwrap()
        );
    }
}

#[test]
fn a_client_with_its_own_dp_declines_rounds_past_its_budget() {
    let root = tempfile::tempdir().unwrap();
    let (coord, clients) = parties(root.path(), &["a", "b", "c"], 40);
    let mut args: Vec<&str> = SERVE.to_vec();
    args.extend(["--rounds", "3", "--min-updates", "2", "-o", "fed.onnx"]);
    for c in &clients {
        args.extend(["--client", c.vkey.to_str().unwrap()]);
    }
    let (server, addr, lines) = serve(&coord.dir, &args);
    // One round at σ = 2 spends ε 1.993 (PLD, δ = 1e-5), two 2.943: a budget of 2.5
    // allows one.
    let dp = [
        "--dp",
        "--clip-norm",
        "1",
        "--noise-multiplier",
        "2",
        "--epsilon",
        "2.5",
    ];
    let joins: Vec<Child> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| join(c, &addr, &coord, if i == 0 { &dp } else { &[] }))
        .collect();
    let mut reports = Vec::new();
    for j in joins {
        let (code, stdout, stderr) = finish(j);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        reports.push(serde_json::from_str::<serde_json::Value>(&stdout).unwrap());
    }
    let (code, _, _) = finish(server);
    assert_eq!(code, 0, "{}", drain(&lines));
    assert_eq!(reports[0]["trained"], 1);
    let e = reports[0]["epsilon"].as_f64().unwrap();
    assert!((e - 1.993).abs() < 0.01, "{e}");
    assert!(reports[1]["epsilon"].is_null());
    let rounds = evidence_of(&coord.dir, "federated-round");
    let declined: Vec<usize> = rounds
        .iter()
        .map(|r| {
            r["absent"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| {
                    a["reason"]
                        .as_str()
                        .unwrap()
                        .starts_with("declined: its privacy budget")
                })
                .count()
        })
        .collect();
    assert_eq!(declined, vec![0, 1, 1]);
    let part = evidence_of(&clients[0].dir, "federated-participation");
    assert_eq!(part[0]["dp"]["epsilon_limit"], 2.5);
    assert_eq!(part[0]["trained"], 1);
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_stopped_client_is_a_straggler_and_the_rounds_go_on() {
    let root = tempfile::tempdir().unwrap();
    let (coord, clients) = parties(root.path(), &["a", "b", "c", "d"], 40);
    let mut args: Vec<&str> = SERVE.to_vec();
    args.extend([
        "--rounds",
        "4",
        "--min-clients",
        "4",
        "--min-updates",
        "2",
        "--round-timeout",
        "2s",
        "-o",
        "fed.onnx",
    ]);
    for c in &clients {
        args.extend(["--client", c.vkey.to_str().unwrap()]);
    }
    let (server, addr, lines) = serve(&coord.dir, &args);
    let mut seen = Vec::new();
    // `d` joins first and is stopped: connected, never answering.
    let d = join(&clients[3], &addr, &coord, &[]);
    wait_for(&lines, "joined", &mut seen);
    signal(&d, "-STOP");
    let others: Vec<Child> = clients[..3]
        .iter()
        .map(|c| join(c, &addr, &coord, &[]))
        .collect();
    wait_for(&lines, "is a straggler in round 1", &mut seen);
    wait_for(&lines, "round 1/4", &mut seen);
    // Woken, it answers round 1 late (ignored) and takes part again.
    signal(&d, "-CONT");
    for o in others {
        let (code, stdout, stderr) = finish(o);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
    }
    let (code, stdout, stderr) = finish(d);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = finish(server);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rounds = evidence_of(&coord.dir, "federated-round");
    assert_eq!(rounds.len(), 4);
    let absent = rounds[0]["absent"].as_array().unwrap();
    assert_eq!(absent.len(), 1, "{}", rounds[0]);
    assert!(
        absent[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("straggler")
    );
    assert_eq!(rounds[0]["updates"].as_array().unwrap().len(), 3);
    let d_name = |r: &serde_json::Value| {
        r["updates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["client"] == absent[0]["client"])
    };
    assert!(
        rounds[1..].iter().any(d_name),
        "the woken client took part again"
    );
    seen.push(drain(&lines));
    let all = format!("{}\n{stderr}", seen.join("\n"));
    assert!(all.contains("a late update for round 1, ignored"), "{all}");
}

#[test]
fn keys_not_given_are_refused_both_ways() {
    let root = tempfile::tempdir().unwrap();
    let coord = party(root.path(), "coord");
    let member = party(root.path(), "member");
    let stranger = party(root.path(), "stranger");
    let other = party(root.path(), "other");
    table(&member, 0, 20);
    table(&stranger, 1, 20);
    let mut args: Vec<&str> = SERVE.to_vec();
    args.extend([
        "--rounds",
        "1",
        "--join-timeout",
        "4s",
        "-o",
        "fed.onnx",
        "--client",
        member.vkey.to_str().unwrap(),
    ]);
    let (server, addr, lines) = serve(&coord.dir, &args);
    // A key the coordinator was not given fails the handshake.
    let (code, stdout, stderr) =
        finish(join(&stranger, &addr, &coord, &["--connect-timeout", "5s"]));
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("one of its --client keys"),
        "{stdout}\n{stderr}"
    );
    // A client that expects another coordinator refuses this one.
    let (code, stdout, stderr) = finish(join(&member, &addr, &other, &["--connect-timeout", "5s"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("not one this party was given"), "{stdout}");
    // Nobody it accepts joined: the federation fails (exit 1), and writes nothing.
    let (code, _, _) = finish(server);
    let stderr = drain(&lines);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("0 of the 1 client(s) needed joined"),
        "{stderr}"
    );
    // It said whom it turned away, and why.
    assert!(stderr.contains("turned away 127.0.0.1:"), "{stderr}");
    assert!(!coord.dir.join("fed.onnx").exists());
}

#[test]
fn bad_settings_exit_2_by_name() {
    let root = tempfile::tempdir().unwrap();
    let coord = party(root.path(), "coord");
    let a = party(root.path(), "a");
    table(&a, 0, 10);
    let key = a.vkey.to_str().unwrap();
    let base = [
        "federate",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bounds",
        "0:10",
        "--classes",
        "3,7",
        "-o",
        "m.onnx",
        "--client",
        key,
    ];
    let cases: [(&[&str], &str); 10] = [
        (
            &["--secure-aggregation", "--aggregate", "median"],
            "a robust rule needs each one",
        ),
        (&["--secure-aggregation"], "fewer than 3"),
        (&["--aggregate", "krum"], "needs 5 updates a round"),
        (&["--per-round", "2"], "--per-round 2"),
        (&["--model", "logistic"], "--model logistic"),
        (&["--model", "softmax", "--hidden", "4"], "--hidden 4"),
        (
            &["--aggregate", "trimmed-mean", "--trim", "0.5"],
            "below 0.5",
        ),
        (&["--learning-rate", "0"], "learning rate of 0"),
        (&["--client", key], "is another client's too"),
        (&["--rounds", "0"], "0 round(s)"),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend(extra);
        fails(&coord.dir, &args, 2, needle);
    }
    let bad_classes = [
        "federate",
        "serve",
        "--bounds",
        "0:10",
        "--classes",
        "0.5,1",
        "-o",
        "m.onnx",
        "--client",
        key,
    ];
    fails(&coord.dir, &bad_classes, 2, "not a class code");
    fails(
        &coord.dir,
        &[
            "federate",
            "serve",
            "--bounds",
            "0:10",
            "--classes",
            "0,1",
            "-o",
            "m.onnx",
            "--client",
            "nope.vkey",
        ],
        2,
        "nope.vkey",
    );
    // A client's settings.
    let c = coord.vkey.to_str().unwrap();
    fails(
        &a.dir,
        &[
            "federate",
            "join",
            "127.0.0.1:9",
            "t.csv",
            "--label",
            "y",
            "--coordinator",
            c,
            "--dp",
        ],
        2,
        "--clip-norm",
    );
    fails(
        &a.dir,
        &[
            "federate",
            "join",
            "127.0.0.1:9",
            "t.csv",
            "--label",
            "nope",
            "--coordinator",
            c,
        ],
        2,
        "nope",
    );
    fails(
        &a.dir,
        &[
            "federate",
            "join",
            "127.0.0.1:9",
            "t.csv",
            "--label",
            "y",
            "--coordinator",
            c,
            "--connect-timeout",
            "1s",
        ],
        2,
        "could not reach the coordinator",
    );
    // Without a project there is no key to authenticate with.
    let bare = root.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    let r = aigis(
        &bare,
        &[
            "federate",
            "join",
            "127.0.0.1:9",
            "t.csv",
            "--label",
            "y",
            "--coordinator",
            c,
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}
