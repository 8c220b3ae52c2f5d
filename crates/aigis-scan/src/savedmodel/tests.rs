use std::io::Cursor;

use super::*;
use crate::proto::build::Msg;

fn node(name: &str, op: &str, inputs: &[&str]) -> Msg {
    let mut m = Msg::new().str(1, name).str(2, op);
    for i in inputs {
        m = m.str(3, i);
    }
    m
}

/// A `StatefulPartitionedCall` of `function`.
fn call(name: &str, function: &str, inputs: &[&str]) -> Msg {
    let value = Msg::new().msg(10, Msg::new().str(1, function));
    node(name, "StatefulPartitionedCall", inputs).msg(5, Msg::new().str(1, "f").msg(2, value))
}

fn string_attr(node: Msg, key: &str, value: &str) -> Msg {
    node.msg(5, Msg::new().str(1, key).msg(2, Msg::new().str(2, value)))
}

fn function(name: &str, nodes: Vec<Msg>) -> Msg {
    let mut f = Msg::new().msg(1, Msg::new().str(1, name));
    for n in nodes {
        f = f.msg(3, n);
    }
    f
}

fn saved_model(
    nodes: Vec<Msg>,
    functions: Vec<Msg>,
    saver: Option<(&str, &str)>,
    exposed: &[&str],
) -> Vec<u8> {
    let mut graph = Msg::new();
    for n in nodes {
        graph = graph.msg(1, n);
    }
    let mut library = Msg::new();
    for f in functions {
        library = library.msg(1, f);
    }
    graph = graph.msg(2, library);
    let mut meta = Msg::new().msg(1, Msg::new().str(4, "serve")).msg(2, graph);
    if let Some((save, restore)) = saver {
        meta = meta.msg(
            3,
            Msg::new()
                .str(1, "saver_filename:0")
                .str(2, save)
                .str(3, restore),
        );
    }
    let mut objects = Msg::new();
    for name in exposed {
        objects = objects.msg(2, Msg::new().str(1, name).msg(2, Msg::new()));
    }
    meta = meta.msg(7, objects);
    Msg::new().int(1, 1).msg(2, meta).0
}

/// What `tf.saved_model.save` writes for a Keras model, reduced to its shape: a serving
/// call, and the saver's save and restore calls.
fn tf2(serve_extra: Vec<Msg>, restore_extra: Vec<Msg>, exposed_extra: &[&str]) -> Vec<u8> {
    let mut serve = vec![
        node("dense/MatMul/ReadVariableOp", "ReadVariableOp", &["kernel"]),
        node(
            "dense/MatMul",
            "MatMul",
            &["x", "dense/MatMul/ReadVariableOp:value:0"],
        ),
    ];
    serve.extend(serve_extra);
    let mut restore = vec![
        node(
            "RestoreV2",
            "RestoreV2",
            &["file_prefix", "RestoreV2/tensor_names"],
        ),
        node(
            "AssignVariableOp",
            "AssignVariableOp",
            &["RestoreV2:tensors:0"],
        ),
    ];
    restore.extend(restore_extra);
    let save = vec![
        node(
            "StaticRegexFullMatch",
            "StaticRegexFullMatch",
            &["file_prefix"],
        ),
        node(
            "StringJoin",
            "StringJoin",
            &["file_prefix", "Select:output:0"],
        ),
        node(
            "ShardedFilename",
            "ShardedFilename",
            &["StringJoin:output:0"],
        ),
        node("SaveV2", "SaveV2", &["ShardedFilename:filename:0"]),
        node("MergeV2Checkpoints", "MergeV2Checkpoints", &["^SaveV2"]),
    ];
    let mut exposed = vec!["__inference_serve_10"];
    exposed.extend(exposed_extra);
    saved_model(
        vec![
            node("serving_default_x", "Placeholder", &[]),
            call(
                "StatefulPartitionedCall",
                "__inference_serve_10",
                &["serving_default_x"],
            ),
            node("saver_filename", "Placeholder", &[]),
            call(
                "StatefulPartitionedCall_1",
                "__inference__traced_save_20",
                &["saver_filename"],
            ),
            call(
                "StatefulPartitionedCall_2",
                "__inference__traced_restore_30",
                &["saver_filename"],
            ),
        ],
        vec![
            function("__inference_serve_10", serve),
            function("__inference__traced_save_20", save),
            function("__inference__traced_restore_30", restore),
        ],
        Some(("StatefulPartitionedCall_1:0", "StatefulPartitionedCall_2")),
        &exposed,
    )
}

fn run(buf: &[u8]) -> Vec<Finding> {
    scan_bytes(buf, &Limits::default())
}

fn worst(found: &[Finding]) -> Verdict {
    Verdict::worst(found)
}

fn hit<'a>(found: &'a [Finding], rule: &str) -> &'a Finding {
    found
        .iter()
        .find(|e| e.rule == rule)
        .unwrap_or_else(|| panic!("no {rule}: {found:?}"))
}

#[test]
fn a_tf2_model_with_its_saver_is_safe() {
    let found = run(&tf2(vec![], vec![], &[]));
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
    let valid = hit(&found, "savedmodel.valid");
    assert!(valid.message.contains("3 checkpoint ops"), "{valid:?}");
}

#[test]
fn checkpoint_ops_outside_the_saver_are_reported() {
    // a serving function that writes a checkpoint
    let found = run(&tf2(vec![node("w", "SaveV2", &["path"])], vec![], &[]));
    assert_eq!(worst(&found), Verdict::Dangerous);
    let e = hit(&found, "savedmodel.file_write");
    assert!(e.message.contains("__inference_serve_10") && e.message.contains("outside"));
    // a read of another checkpoint while serving
    let found = run(&tf2(vec![node("r", "RestoreV2", &["path"])], vec![], &[]));
    assert_eq!(worst(&found), Verdict::Suspicious);
    // a write in the restore function runs when the model loads
    let found = run(&tf2(vec![], vec![node("w", "SaveV2", &["path"])], &[]));
    assert_eq!(worst(&found), Verdict::Dangerous, "{found:?}");
    // the save function made callable from Python, or called while serving
    let found = run(&tf2(vec![], vec![], &["__inference__traced_save_20"]));
    assert_eq!(worst(&found), Verdict::Dangerous);
    let found = run(&tf2(
        vec![call("c", "__inference__traced_save_20", &["x"])],
        vec![],
        &[],
    ));
    assert_eq!(worst(&found), Verdict::Dangerous);
}

#[test]
fn a_tf1_saver_scope_is_allowed_but_not_what_depends_on_it() {
    let saver = || {
        vec![
            node("save/Const", "Const", &[]),
            node(
                "save/SaveV2",
                "SaveV2",
                &["save/Const", "save/SaveV2/tensor_names", "w"],
            ),
            node(
                "save/control_dependency",
                "Identity",
                &["save/Const", "^save/SaveV2"],
            ),
            node("save/RestoreV2", "RestoreV2", &["save/Const"]),
            node("save/Assign", "Assign", &["w", "save/RestoreV2"]),
            node("save/restore_all", "NoOp", &["^save/Assign"]),
            node("w", "VariableV2", &[]),
            node("x", "Placeholder", &[]),
            node("y", "MatMul", &["x", "w"]),
        ]
    };
    let names = Some(("save/control_dependency:0", "save/restore_all"));
    let found = run(&saved_model(saver(), vec![], names, &[]));
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");

    // an output that depends on the save op makes serving write files
    let mut nodes = saver();
    nodes.push(node("out", "Identity", &["y", "^save/SaveV2"]));
    let found = run(&saved_model(nodes, vec![], names, &[]));
    assert_eq!(worst(&found), Verdict::Dangerous, "{found:?}");

    // without a SaverDef nothing is the saver
    let found = run(&saved_model(saver(), vec![], None, &[]));
    assert_eq!(worst(&found), Verdict::Dangerous);
}

#[test]
fn python_file_and_network_ops() {
    let found = run(&tf2(vec![node("py", "EagerPyFunc", &["x"])], vec![], &[]));
    assert_eq!(worst(&found), Verdict::Dangerous);
    let e = hit(&found, "savedmodel.python_op");
    assert!(e.message.contains("`py`") && e.location.offset.is_some());

    let found = run(&saved_model(
        vec![node("w", "WriteFile", &["p", "c"])],
        vec![],
        None,
        &[],
    ));
    assert_eq!(
        hit(&found, "savedmodel.file_write").verdict,
        Verdict::Dangerous
    );

    let found = run(&saved_model(
        vec![node("n", "RpcClient", &["a"])],
        vec![],
        None,
        &[],
    ));
    assert_eq!(
        hit(&found, "savedmodel.network_op").verdict,
        Verdict::Dangerous
    );

    // a file read: of the caller's path, or of a path baked into the model
    let found = run(&saved_model(
        vec![node("p", "Placeholder", &[]), node("r", "ReadFile", &["p"])],
        vec![],
        None,
        &[],
    ));
    assert_eq!(worst(&found), Verdict::Suspicious);
    let found = run(&saved_model(
        vec![node("p", "Const", &[]), node("r", "ReadFile", &["p:0"])],
        vec![],
        None,
        &[],
    ));
    assert_eq!(
        hit(&found, "savedmodel.file_read").verdict,
        Verdict::Dangerous
    );

    // PrintV2 to a file, and to stderr
    let to_file = string_attr(
        node("pr", "PrintV2", &["s"]),
        "output_stream",
        "file:///tmp/x",
    );
    let found = run(&saved_model(vec![to_file], vec![], None, &[]));
    let e = hit(&found, "savedmodel.file_write");
    assert!(e.message.contains("file:///tmp/x"));
    let to_stderr = string_attr(node("pr", "PrintV2", &["s"]), "output_stream", "stderr");
    assert_eq!(
        worst(&run(&saved_model(vec![to_stderr], vec![], None, &[]))),
        Verdict::Safe
    );

    let mapped = string_attr(
        node("c", "ImmutableConst", &[]),
        "memory_region_name",
        "/etc/shadow",
    );
    let found = run(&saved_model(vec![mapped], vec![], None, &[]));
    assert!(
        hit(&found, "savedmodel.file_read")
            .message
            .contains("/etc/shadow")
    );

    // an unknown op is not a finding by itself
    let found = run(&saved_model(
        vec![node("z", "SomeNewOp", &[])],
        vec![],
        None,
        &[],
    ));
    assert_eq!(worst(&found), Verdict::Safe);
}

#[test]
fn findings_are_capped_and_counted() {
    let nodes: Vec<Msg> = (0..100)
        .map(|i| node(&format!("p{i}"), "PyFunc", &[]))
        .collect();
    let found = run(&saved_model(nodes, vec![], None, &[]));
    let py: Vec<_> = found
        .iter()
        .filter(|e| e.rule == "savedmodel.python_op")
        .collect();
    assert_eq!(py.len(), MAX_FINDINGS + 1);
    assert!(py.last().unwrap().message.contains("36 more"));
}

#[test]
fn malformed_truncated_and_empty_are_inconclusive() {
    let buf = tf2(vec![node("py", "PyFunc", &[])], vec![], &[]);
    for cut in 1..buf.len() {
        let found = run(&buf[..cut]);
        assert!(
            worst(&found) >= Verdict::Inconclusive,
            "cut {cut}: {found:?}"
        );
        assert!(!found.iter().any(|e| e.rule == "savedmodel.valid"));
    }
    assert_eq!(
        hit(&run(&[]), "savedmodel.malformed").verdict,
        Verdict::Inconclusive
    );
    let half = run(&buf[..buf.len() / 2]);
    assert!(hit(&half, "savedmodel.malformed").location.offset.is_some());
    // a graph that is a number
    let found = run(&Msg::new().int(1, 1).msg(2, Msg::new().int(2, 5)).0);
    assert_eq!(
        hit(&found, "savedmodel.malformed").verdict,
        Verdict::Inconclusive
    );

    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let found = scan_bytes(&tf2(vec![], vec![], &[]), &limits);
    assert_eq!(
        hit(&found, "savedmodel.limit").verdict,
        Verdict::Inconclusive
    );
}

#[test]
fn the_folders_other_protobufs() {
    let scan_named = |name: &str, bytes: &[u8]| {
        scan(
            &mut Cursor::new(bytes.to_vec()),
            bytes.len() as u64,
            Path::new(name),
            &Limits::default(),
        )
    };
    let layer = |path: &str, json: &str| {
        Msg::new()
            .int(2, 1)
            .str(3, path)
            .str(4, "_tf_keras_layer")
            .str(5, json)
    };
    let benign = Msg::new()
        .msg(
            1,
            layer("root.dense", r#"{"class_name": "Dense", "config": {}}"#),
        )
        .0;
    let (kind, found) = scan_named("keras_metadata.pb", &benign);
    assert_eq!(
        (kind.as_str(), worst(&found)),
        ("keras-metadata", Verdict::Safe)
    );
    let evil = Msg::new()
        .msg(
            1,
            layer(
                "root.lambda",
                r#"{"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__"}}}"#,
            ),
        )
        .0;
    let (_, found) = scan_named("keras_metadata.pb", &evil);
    let e = hit(&found, "savedmodel.keras_lambda");
    assert!(e.verdict == Verdict::Dangerous && e.message.contains("root.lambda"));
    let (_, found) = scan_named("keras_metadata.pb", &evil[..evil.len() - 2]);
    assert_eq!(worst(&found), Verdict::Inconclusive);

    let fp = Msg::new().int(1, 123).int(2, 456).int(5, 789).0;
    let (kind, found) = scan_named("fingerprint.pb", &fp);
    assert_eq!(
        (kind.as_str(), worst(&found)),
        ("tensorflow-fingerprint", Verdict::Safe)
    );
    let (_, found) = scan_named("fingerprint.pb", &Msg::new().str(1, "x").0);
    assert_eq!(worst(&found), Verdict::Inconclusive);

    let text = b"meta_graphs {\n  graph_def {\n    node {\n      name: \"p\"\n      op: \"PyFunc\"\n    }\n  }\n}\n";
    let (kind, found) = scan_named("saved_model.pbtxt", text);
    assert_eq!(kind.as_str(), "tensorflow-savedmodel");
    let e = hit(&found, "savedmodel.python_op");
    assert_eq!(e.location.offset, Some(55));
    let (_, found) = scan_named("saved_model.pbtxt", b"meta_graphs { }\n");
    assert_eq!(worst(&found), Verdict::Inconclusive);
}

/// A `saved_model.pb` whose meta graph names `assets` (`asset_file_def`, field 6).
fn with_assets(assets: &[&str]) -> Vec<u8> {
    let graph = Msg::new().msg(1, node("x", "Placeholder", &[]));
    let mut meta = Msg::new().msg(1, Msg::new().str(4, "serve")).msg(2, graph);
    for (i, name) in assets.iter().enumerate() {
        let tensor = Msg::new().str(1, &format!("asset_path_initializer_{i}:0"));
        meta = meta.msg(6, Msg::new().msg(1, tensor).str(2, name));
    }
    Msg::new().int(1, 1).msg(2, meta).0
}

/// Scans `saved_model.pb` in `folder` (it need not be written there).
fn scan_in(folder: &Path, bytes: &[u8]) -> (Vec<Finding>, Vec<PathBuf>) {
    let (_, found, files) = scan_files(
        &mut Cursor::new(bytes.to_vec()),
        bytes.len() as u64,
        &folder.join("saved_model.pb"),
        &Limits::default(),
    );
    (found, files)
}

#[test]
fn assets_inside_the_folder_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("assets/sub")).unwrap();
    std::fs::write(p.join("assets/vocab.txt"), "a\nb\n").unwrap();
    std::fs::write(p.join("assets/sub/merges.txt"), "a b\n").unwrap();
    std::fs::write(p.join("notes.txt"), "inside the model's folder\n").unwrap();
    // listed twice (two meta graphs may share an asset), nested, and next to `assets/`
    let bytes = with_assets(&["vocab.txt", "sub/merges.txt", "vocab.txt", "../notes.txt"]);
    let (found, files) = scan_in(p, &bytes);
    assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
    let e = hit(&found, "savedmodel.asset");
    assert!(e.message.starts_with("3 asset files"), "{e:?}");
    assert_eq!(
        files,
        [
            p.join("notes.txt"),
            p.join("assets/sub/merges.txt"),
            p.join("assets/vocab.txt"),
        ]
    );
    // held in memory, the assets are not looked for
    assert!(run(&bytes).iter().all(|e| e.rule != "savedmodel.asset"));
}

#[test]
fn assets_outside_the_folder_are_dangerous_and_missing_ones_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model");
    std::fs::create_dir_all(p.join("assets")).unwrap();
    for (name, why) in [
        ("/etc/passwd", "is an absolute path"),
        ("../../secret.txt", "climbs out"),
        ("C:\\keys.txt", "is an absolute path"),
        ("vocab\0.txt", "NUL"),
    ] {
        let (found, files) = scan_in(&p, &with_assets(&[name]));
        let e = hit(&found, "savedmodel.asset_escape");
        assert_eq!(e.verdict, Verdict::Dangerous, "{name}");
        assert!(e.message.contains(why), "{name}: {e:?}");
        assert!(e.location.offset.is_some());
        assert!(files.is_empty(), "{name}");
    }
    let (found, files) = scan_in(&p, &with_assets(&["missing.txt"]));
    let e = hit(&found, "savedmodel.asset_missing");
    assert_eq!(e.verdict, Verdict::Inconclusive);
    assert!(e.message.contains("cannot be read"), "{e:?}");
    assert!(files.is_empty());
    std::fs::create_dir(p.join("assets/folder")).unwrap();
    let (found, _) = scan_in(&p, &with_assets(&["folder"]));
    assert!(
        hit(&found, "savedmodel.asset_missing")
            .message
            .contains("is a folder")
    );
    // more assets than a scan visits files are not looked up
    let bytes = with_assets(&["a", "b", "c"]);
    let few = Limits {
        max_files: 2,
        ..Limits::default()
    };
    let (_, found, files) = scan_files(
        &mut Cursor::new(bytes.clone()),
        bytes.len() as u64,
        &p.join("saved_model.pb"),
        &few,
    );
    assert_eq!(
        hit(&found, "savedmodel.limit").verdict,
        Verdict::Inconclusive
    );
    assert!(files.is_empty());
}

#[cfg(unix)]
#[test]
fn an_asset_through_a_symbolic_link_is_dangerous() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("id_rsa"), "key").unwrap();
    let p = dir.path().join("model");
    std::fs::create_dir_all(p.join("assets")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("id_rsa"), p.join("assets/vocab.txt")).unwrap();
    let (found, files) = scan_in(&p, &with_assets(&["vocab.txt"]));
    let e = hit(&found, "savedmodel.asset_escape");
    assert!(e.message.contains("symbolic link"), "{e:?}");
    assert!(files.is_empty());
}
