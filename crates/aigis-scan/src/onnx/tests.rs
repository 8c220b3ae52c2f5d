use super::*;
use crate::proto::build::Msg;

fn node(name: &str, op: &str, domain: &str) -> Msg {
    Msg::new()
        .str(1, "x")
        .str(2, "y")
        .str(3, name)
        .str(4, op)
        .str(7, domain)
}

fn opset(domain: &str, version: u64) -> Msg {
    Msg::new().str(1, domain).int(2, version)
}

fn model(graph: Msg) -> Msg {
    Msg::new()
        .int(1, 8)
        .str(2, "aigis-test")
        .msg(7, graph)
        .msg(8, opset("", 17))
}

fn entry(key: &str, value: &str) -> Msg {
    Msg::new().str(1, key).str(2, value)
}

fn external_tensor(name: &str, location: &str, offset: u64, length: u64) -> Msg {
    Msg::new()
        .int(1, 4)
        .int(2, 1)
        .str(8, name)
        .msg(13, entry("location", location))
        .msg(13, entry("offset", &offset.to_string()))
        .msg(13, entry("length", &length.to_string()))
        .int(14, 1)
}

fn run(m: &Msg, folder: &Path) -> Vec<Finding> {
    scan_bytes(&m.0, folder, &Limits::default())
}

fn worst(found: &[Finding]) -> Verdict {
    Verdict::worst(found)
}

fn has(found: &[Finding], rule: &str, verdict: Verdict) -> bool {
    found.iter().any(|e| e.rule == rule && e.verdict == verdict)
}

fn nowhere() -> &'static Path {
    Path::new("/nonexistent-aigis-test-folder")
}

#[test]
fn standard_operators_are_safe() {
    let g = Msg::new()
        .msg(1, node("mm", "MatMul", ""))
        .msg(1, node("zm", "ZipMap", "ai.onnx.ml"))
        .msg(1, node("attn", "Attention", "com.microsoft"))
        .str(2, "g")
        .msg(
            5,
            Msg::new().int(1, 2).int(2, 1).str(8, "w").bytes(9, &[0; 8]),
        );
    let found = run(&model(g), nowhere());
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
    let valid = found.iter().find(|e| e.rule == "onnx.valid").unwrap();
    assert!(valid.message.contains("3 nodes, 1 tensors"), "{valid:?}");
}

#[test]
fn a_custom_domain_is_suspicious_with_the_node_named() {
    let g = Msg::new()
        .msg(1, node("relu", "Relu", ""))
        .msg(1, node("decode", "GetSecret", "evil.ops"));
    let m = model(g).msg(8, opset("evil.ops", 1));
    let found = run(&m, nowhere());
    assert_eq!(worst(&found), Verdict::Suspicious, "{found:?}");
    let hit = found
        .iter()
        .find(|e| e.rule == "onnx.custom_domain")
        .unwrap();
    assert!(
        hit.message.contains("`decode`")
            && hit.message.contains("GetSecret")
            && hit.message.contains("evil.ops"),
        "{hit:?}"
    );
    assert!(hit.location.offset.is_some());
    // one finding for the domain, not a second one for its opset import
    assert_eq!(
        found
            .iter()
            .filter(|e| e.rule == "onnx.custom_domain")
            .count(),
        1
    );
    // parsed to the end all the same
    assert!(found.iter().any(|e| e.rule == "onnx.valid"));

    // an imported opset nothing uses still needs the library to load
    let found = run(
        &model(Msg::new()).msg(8, opset("ai.onnx.contrib", 1)),
        nowhere(),
    );
    assert!(has(&found, "onnx.custom_domain", Verdict::Suspicious));
}

#[test]
fn a_function_defined_in_the_model_is_not_a_custom_op() {
    let body = Msg::new()
        .str(1, "MyGelu")
        .str(10, "local.fns")
        .msg(7, node("inner", "Tanh", ""))
        .msg(9, opset("", 17));
    let g = Msg::new().msg(1, node("call", "MyGelu", "local.fns"));
    let m = model(g).msg(8, opset("local.fns", 1)).msg(25, body.clone());
    let found = run(&m, nowhere());
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");

    // but the function's own nodes are checked
    let evil_body = body.msg(7, node("hidden", "Exec", "evil.ops"));
    let m = model(Msg::new().msg(1, node("call", "MyGelu", "local.fns")))
        .msg(8, opset("local.fns", 1))
        .msg(25, evil_body);
    let found = run(&m, nowhere());
    assert!(
        found
            .iter()
            .any(|e| e.rule == "onnx.custom_domain" && e.message.contains("`hidden`")),
        "{found:?}"
    );
    // and an op of the function's domain that is not one of its functions is custom
    let m = model(Msg::new().msg(1, node("call", "Other", "local.fns")))
        .msg(8, opset("local.fns", 1))
        .msg(25, Msg::new().str(1, "MyGelu").str(10, "local.fns"));
    assert!(has(
        &run(&m, nowhere()),
        "onnx.custom_domain",
        Verdict::Suspicious
    ));
}

#[test]
fn subgraphs_are_walked_and_their_depth_is_bounded() {
    let inner = Msg::new().msg(1, node("deep", "Steal", "evil.ops"));
    let if_node = node("branch", "If", "")
        .msg(5, Msg::new().str(1, "then_branch").msg(6, inner.clone()))
        .msg(5, Msg::new().str(1, "else_branch").msg(11, Msg::new()));
    let found = run(&model(Msg::new().msg(1, if_node)), nowhere());
    assert!(
        found
            .iter()
            .any(|e| e.rule == "onnx.custom_domain" && e.message.contains("`deep`")),
        "{found:?}"
    );

    let mut g = Msg::new().msg(1, node("leaf", "Relu", ""));
    for _ in 0..40 {
        g = Msg::new().msg(
            1,
            node("loop", "Loop", "").msg(5, Msg::new().str(1, "body").msg(6, g)),
        );
    }
    let found = run(&model(g), nowhere());
    assert_eq!(worst(&found), Verdict::Inconclusive);
    assert!(
        has(&found, "onnx.limit", Verdict::Inconclusive),
        "{found:?}"
    );
}

#[test]
fn malformed_and_truncated_models_are_inconclusive_with_the_offset() {
    let m = model(
        Msg::new()
            .msg(1, node("a", "Relu", ""))
            .msg(1, node("b", "Relu", "")),
    );
    let bytes = &m.0;
    for cut in 1..bytes.len() {
        let found = scan_bytes(&bytes[..cut], nowhere(), &Limits::default());
        assert!(
            worst(&found) >= Verdict::Inconclusive,
            "cut {cut}: {found:?}"
        );
    }
    let found = scan_bytes(&bytes[..bytes.len() - 3], nowhere(), &Limits::default());
    let e = found.iter().find(|e| e.rule == "onnx.malformed").unwrap();
    assert!(e.location.offset.is_some_and(|o| o > 0), "{e:?}");

    // a model without a graph, and a graph that is a number
    let found = run(&Msg::new().int(1, 8).msg(8, opset("", 17)), nowhere());
    assert!(has(&found, "onnx.malformed", Verdict::Inconclusive));
    let found = run(&Msg::new().int(1, 8).int(7, 3), nowhere());
    assert!(has(&found, "onnx.malformed", Verdict::Inconclusive));
}

#[test]
fn an_opset_import_without_a_domain_is_the_default_domain() {
    // proto2 writers (older exporters) leave out a domain that has its default value
    // `""`: the entry holds only the version, and `onnx.checker` accepts the model.
    let g = Msg::new().msg(1, node("r", "Relu", "")).str(2, "g");
    let m = Msg::new()
        .int(1, 3)
        .str(2, "pytorch")
        .msg(7, g.clone())
        .msg(8, Msg::new().int(2, 6));
    let found = run(&m, nowhere());
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
    let valid = found.iter().find(|e| e.rule == "onnx.valid").unwrap();
    assert!(
        valid.message.ends_with("operator sets ai.onnx"),
        "{valid:?}"
    );
    // beside a custom domain, which is still flagged
    let m = Msg::new()
        .int(1, 3)
        .msg(7, g.msg(1, node("s", "Secret", "evil.ops")))
        .msg(8, Msg::new().int(2, 6))
        .msg(8, opset("evil.ops", 1));
    let found = run(&m, nowhere());
    assert!(
        has(&found, "onnx.custom_domain", Verdict::Suspicious),
        "{found:?}"
    );
    assert!(
        !has(&found, "onnx.malformed", Verdict::Inconclusive),
        "{found:?}"
    );
}

#[test]
fn node_counts_are_bounded() {
    let mut g = Msg::new();
    for i in 0..10 {
        g = g.msg(1, node(&format!("n{i}"), "Relu", ""));
    }
    let limits = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let found = scan_bytes(&model(g).0, nowhere(), &limits);
    assert!(
        has(&found, "onnx.limit", Verdict::Inconclusive),
        "{found:?}"
    );
}

#[test]
fn external_data_inside_the_folder_is_safe_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("weights.bin"), [0u8; 64]).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/more.bin"), [0u8; 16]).unwrap();
    let g = Msg::new()
        .msg(5, external_tensor("w1", "weights.bin", 0, 32))
        .msg(5, external_tensor("w2", "weights.bin", 32, 32))
        .msg(5, external_tensor("w3", "sub/../sub/./more.bin", 0, 16));
    let found = run(&model(g), dir.path());
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
    let listed: Vec<&str> = found
        .iter()
        .filter(|e| e.rule == "onnx.external_data")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|m| m.contains("2 tensors") && m.contains("weights.bin"))
    );
}

#[test]
fn external_data_that_leaves_the_folder_is_dangerous() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(root.path().join("secret"), b"key").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.path().join("secret"), dir.join("link.bin")).unwrap();
    let mut cases = vec![
        ("../secret", "climbs out"),
        ("a/../../secret", "climbs out"),
        ("..\\secret", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\x", "absolute"),
        ("C:\\Windows\\win.ini", "absolute"),
        ("NUL", "Windows device"),
        ("w.bin\0.txt", "NUL byte"),
    ];
    #[cfg(unix)]
    std::os::unix::fs::symlink(&dir, dir.join("self")).unwrap();
    if cfg!(unix) {
        cases.push(("link.bin", "symbolic link `link.bin` (to"));
        cases.push(("self/../secret", "through a symbolic link"));
        cases.push(("/dev/zero", "absolute"));
    }
    for (location, why) in cases {
        let g = Msg::new().msg(5, external_tensor("w", location, 0, 3));
        let found = run(&model(g), &dir);
        let hit = found
            .iter()
            .find(|e| e.rule == "onnx.external_data_escape")
            .unwrap_or_else(|| panic!("{location:?}: {found:?}"));
        assert_eq!(hit.verdict, Verdict::Dangerous);
        assert!(hit.message.contains(why), "{location:?}: {hit:?}");
        assert!(hit.location.offset.is_some());
    }
}

#[cfg(unix)]
#[test]
fn a_pipe_is_not_a_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    // a socket stands in for a pipe or a device: not a regular file
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    let g = Msg::new().msg(5, external_tensor("w", "sock", 0, 0));
    let found = run(&model(g), dir.path());
    assert!(
        has(&found, "onnx.external_data_escape", Verdict::Dangerous),
        "{found:?}"
    );
}

#[test]
fn missing_files_bad_ranges_and_unnamed_external_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short.bin"), [0u8; 10]).unwrap();
    let g = Msg::new().msg(5, external_tensor("w", "gone.bin", 0, 4));
    let found = run(&model(g), dir.path());
    assert_eq!(worst(&found), Verdict::Inconclusive);
    assert!(has(
        &found,
        "onnx.external_data_missing",
        Verdict::Inconclusive
    ));

    let g = Msg::new().msg(5, external_tensor("w", "short.bin", 8, 4));
    let found = run(&model(g), dir.path());
    assert_eq!(worst(&found), Verdict::Suspicious, "{found:?}");
    let e = found
        .iter()
        .find(|e| e.rule == "onnx.external_data_range")
        .unwrap();
    assert!(
        e.message.contains("byte 12") && e.message.contains("10 bytes"),
        "{e:?}"
    );

    let bad = Msg::new()
        .str(8, "w")
        .msg(13, entry("location", "short.bin"))
        .msg(13, entry("offset", "-1"))
        .int(14, 1);
    let found = run(&model(Msg::new().msg(5, bad)), dir.path());
    assert!(has(&found, "onnx.external_data_range", Verdict::Suspicious));

    let unnamed = Msg::new().str(8, "w").int(14, 1);
    let found = run(&model(Msg::new().msg(5, unnamed)), dir.path());
    assert!(has(
        &found,
        "onnx.external_data_invalid",
        Verdict::Inconclusive
    ));

    // external data inside an attribute's tensor, inside a subgraph
    let constant = node("c", "Constant", "").msg(
        5,
        Msg::new()
            .str(1, "value")
            .msg(5, external_tensor("k", "../k", 0, 1)),
    );
    let found = run(&model(Msg::new().msg(1, constant)), dir.path());
    assert!(has(&found, "onnx.external_data_escape", Verdict::Dangerous));
}

/// A link that stays inside the model's folder (a Hugging Face snapshot's layout) is
/// followed, reported as suspicious, and the file it points to is checked and listed.
#[cfg(unix)]
#[test]
fn links_inside_the_folder_are_followed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    std::fs::create_dir_all(dir.join("blobs")).unwrap();
    std::fs::write(dir.join("blobs/abc123"), [0u8; 16]).unwrap();
    std::os::unix::fs::symlink("blobs/abc123", dir.join("weights.bin")).unwrap();
    std::os::unix::fs::symlink("blobs", dir.join("store")).unwrap();
    for location in ["weights.bin", "store/abc123"] {
        let g = Msg::new().msg(5, external_tensor("w", location, 0, 16));
        let found = run(&model(g), &dir);
        assert_eq!(worst(&found), Verdict::Suspicious, "{location}: {found:?}");
        assert!(has(&found, "onnx.external_data_link", Verdict::Suspicious));
        assert!(
            has(&found, "onnx.external_data", Verdict::Safe),
            "{found:?}"
        );
    }
    // the file behind the link is still checked: past its end is caught
    let g = Msg::new().msg(5, external_tensor("w", "weights.bin", 0, 64));
    let found = run(&model(g), &dir);
    assert!(
        has(&found, "onnx.external_data_range", Verdict::Suspicious),
        "{found:?}"
    );
}
