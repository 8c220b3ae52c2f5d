//! `aigis model watermark keygen|embed|verify` through the real binary, on a small
//! two-layer ONNX model built here from the protobuf schema (no Python needed).

use crate::common;

use std::path::Path;

use common::{aigis, aigis_in, fails, ok};

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn len_field(number: u32, payload: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(number) << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A TensorProto: float32 `values` in raw_data, or `external` data.
fn tensor(name: &str, dims: &[u64], values: &[f32], external: bool) -> Vec<u8> {
    let mut t = Vec::new();
    let mut packed = Vec::new();
    for &d in dims {
        varint(d, &mut packed);
    }
    len_field(1, &packed, &mut t);
    varint(2 << 3, &mut t);
    varint(1, &mut t); // FLOAT
    len_field(8, name.as_bytes(), &mut t);
    if external {
        let mut entry = Vec::new();
        len_field(1, b"location", &mut entry);
        len_field(2, b"weights.bin", &mut entry);
        len_field(13, &entry, &mut t);
        varint(14 << 3, &mut t);
        varint(1, &mut t);
    } else {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        len_field(9, &raw, &mut t);
    }
    t
}

/// A ModelProto holding a graph with these initializers.
fn model(initializers: &[Vec<u8>]) -> Vec<u8> {
    let mut graph = Vec::new();
    len_field(2, b"mlp", &mut graph);
    for t in initializers {
        len_field(5, t, &mut graph);
    }
    let mut m = Vec::new();
    varint(1 << 3, &mut m);
    varint(8, &mut m);
    len_field(7, &graph, &mut m);
    m
}

/// Deterministic, roughly Gaussian weights.
fn weights(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| ((0..12).map(|_| uniform()).sum::<f64>() - 6.0) as f32 * 0.1)
        .collect()
}

/// A 64→48→10 perceptron's weights and biases.
fn mlp() -> Vec<u8> {
    model(&[
        tensor("fc1.weight", &[64, 48], &weights(64 * 48, 1), false),
        tensor("fc1.bias", &[48], &weights(48, 2), false),
        tensor("fc2.weight", &[48, 10], &weights(480, 3), false),
        tensor("fc2.bias", &[10], &weights(10, 4), false),
    ])
}

/// A project with `model.onnx` and two watermark keys.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init"]);
    std::fs::write(d.join("model.onnx"), mlp()).unwrap();
    ok(d, &["model", "watermark", "keygen", "-o", "a.key"]);
    ok(d, &["model", "watermark", "keygen", "-o", "b.key"]);
    dir
}

const SMALL: [&str; 2] = ["--min-elements", "256"];

fn args<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

#[test]
fn embed_then_verify_with_the_right_key_only() {
    let dir = setup();
    let d = dir.path();
    let e = ok(
        d,
        &args(
            &[
                "--json",
                "model",
                "watermark",
                "embed",
                "model.onnx",
                "-o",
                "marked.onnx",
            ],
            &["--watermark-key", "a.key", SMALL[0], SMALL[1]],
        ),
    )
    .json();
    let names: Vec<&str> = e["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // fc2.weight (480) is a carrier at --min-elements 256; the biases are not.
    assert_eq!(names, ["fc1.weight", "fc2.weight"]);
    assert!((e["z"].as_f64().unwrap() - 8.0).abs() < 0.01, "{e}");
    assert!(e["max_change"].as_f64().unwrap() < 0.25, "{e}");

    let original = std::fs::read(d.join("model.onnx")).unwrap();
    let marked = std::fs::read(d.join("marked.onnx")).unwrap();
    assert_eq!(original.len(), marked.len());
    let changed = original.iter().zip(&marked).filter(|(a, b)| a != b).count();
    assert!(changed > 0 && changed <= 4 * (64 * 48 + 480), "{changed}");

    let verify = |model: &str, key: &str, extra: &[&str]| {
        aigis(
            d,
            &args(
                &[
                    "--json",
                    "model",
                    "watermark",
                    "verify",
                    model,
                    "--watermark-key",
                    key,
                ],
                extra,
            ),
        )
    };
    let r = verify("marked.onnx", "a.key", &SMALL);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["present"], true);
    assert!(v["z"].as_f64().unwrap() > 7.9 && v["p_value"].as_f64().unwrap() < 1e-14);
    for (model, key) in [("marked.onnx", "b.key"), ("model.onnx", "a.key")] {
        let r = verify(model, key, &SMALL);
        assert_eq!(r.code, 1, "{model} {key}: {}{}", r.stdout, r.stderr);
        let v = r.json();
        assert_eq!(v["present"], false);
        assert!(v["z"].as_f64().unwrap().abs() < 4.0, "{v}");
    }
    // A threshold above the score makes the mark absent; the text names the verdict.
    let r = aigis(
        d,
        &args(
            &[
                "model",
                "watermark",
                "verify",
                "marked.onnx",
                "--watermark-key",
                "a.key",
            ],
            &[SMALL[0], SMALL[1], "--threshold", "9"],
        ),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("watermark ABSENT"), "{}", r.stdout);
    // The default selection (1024 elements) sees only fc1.weight: still present.
    let r = verify("marked.onnx", "a.key", &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json()["tensors"].as_array().unwrap().len(), 1);
    // Named tensors.
    let r = verify("marked.onnx", "a.key", &["--tensor", "fc1.weight"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn text_output_and_evidence_name_the_key_id_never_the_key() {
    let dir = setup();
    let d = dir.path();
    let r = ok(
        d,
        &args(
            &[
                "model",
                "watermark",
                "embed",
                "model.onnx",
                "-o",
                "marked.onnx",
            ],
            &[
                "--watermark-key",
                "a.key",
                "--strength",
                "0.1",
                "--tensor",
                "fc1.weight",
            ],
        ),
    );
    assert!(r.stdout.contains("fc1.weight"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "aigis model watermark verify marked.onnx --watermark-key a.key --tensor fc1.weight"
        ),
        "{}",
        r.stdout
    );
    let v = ok(
        d,
        &[
            "--json",
            "model",
            "watermark",
            "verify",
            "marked.onnx",
            "--watermark-key",
            "a.key",
            "--tensor",
            "fc1.weight",
        ],
    )
    .json();
    let key_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("a.key")).unwrap()).unwrap();
    let secret = key_file["secret_key"].as_str().unwrap();
    for (index, predicate) in [
        (
            v["evidence"].as_u64().unwrap() - 1,
            "https://aigis.dev/predicate/model-watermark-embed/v1",
        ),
        (
            v["evidence"].as_u64().unwrap(),
            "https://aigis.dev/predicate/model-watermark-verify/v1",
        ),
    ] {
        let st = ok(d, &["evidence", "show", &index.to_string(), "--statement"]);
        let s = st.json();
        assert_eq!(s["predicateType"], predicate);
        assert_eq!(s["predicate"]["key_id"], v["key_id"]);
        assert!(!st.stdout.contains(secret), "the key is in the evidence");
    }
    let st = ok(
        d,
        &[
            "evidence",
            "show",
            &v["evidence"].to_string(),
            "--statement",
        ],
    )
    .json();
    assert_eq!(st["predicate"]["present"], true);
    assert_eq!(st["subject"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_is_refused_with_exit_2_and_no_output() {
    let dir = setup();
    let d = dir.path();
    let bytes = mlp();
    std::fs::write(d.join("cut.onnx"), &bytes[..bytes.len() - 7]).unwrap();
    std::fs::write(
        d.join("external.onnx"),
        model(&[tensor("big", &[64, 64], &[], true)]),
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "not a model").unwrap();
    fn embed<'a>(model: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let base = [
            "model",
            "watermark",
            "embed",
            model,
            "-o",
            "out.onnx",
            "--watermark-key",
            "a.key",
        ];
        args(&base, extra)
    }
    fails(
        d,
        &embed("cut.onnx", &[]),
        2,
        "not a well-formed ONNX model",
    );
    fails(
        d,
        &embed("notes.txt", &[]),
        2,
        "not a well-formed ONNX model",
    );
    fails(d, &embed("external.onnx", &[]), 2, "external file");
    fails(d, &embed("missing.onnx", &[]), 2, "missing.onnx");
    fails(d, &embed("model.onnx", &["--tensor", "nope"]), 2, "`nope`");
    fails(
        d,
        &embed("model.onnx", &["--strength", "0.9"]),
        2,
        "maximum",
    );
    fails(
        d,
        &embed("model.onnx", &["--strength", "0.1", "--target-score", "6"]),
        2,
        "cannot be used with",
    );
    // The 10-weight fc2.bias alone cannot reach a score of 8 within the allowed change.
    fails(
        d,
        &embed("model.onnx", &["--tensor", "fc2.bias"]),
        2,
        "nothing was written",
    );
    assert!(!d.join("out.onnx").exists());
    fails(
        d,
        &[
            "model",
            "watermark",
            "verify",
            "cut.onnx",
            "--watermark-key",
            "a.key",
        ],
        2,
        "not a well-formed ONNX model",
    );
    fails(
        d,
        &[
            "model",
            "watermark",
            "verify",
            "model.onnx",
            "--watermark-key",
            "nokey",
        ],
        2,
        "nokey",
    );
    fails(
        d,
        &["model", "watermark", "keygen", "-o", "a.key"],
        2,
        "already exists",
    );
    // A masking key is not a watermark key.
    ok(d, &["keys", "mask", "new"]);
    fails(
        d,
        &[
            "model",
            "watermark",
            "verify",
            "model.onnx",
            "--watermark-key",
            ".aigis/keys/mask.key",
        ],
        2,
        "aigis-watermark-key/v1",
    );
    // No temporary file is left behind.
    assert!(std::fs::read_dir(d).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".aigis-tmp")
    }));
}

#[test]
fn a_sealed_key_needs_its_passphrase_and_works_without_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("model.onnx"), mlp()).unwrap();
    let pass = [("AIGIS_KEY_PASSPHRASE", "correct horse")];
    let id = aigis_in(d, &["model", "watermark", "keygen", "-o", "s.key"], &pass);
    assert_eq!(id.code, 0, "{}", id.stderr);
    let text = std::fs::read_to_string(d.join("s.key")).unwrap();
    assert!(
        text.contains("argon2id") && !text.contains("secret_key"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join("s.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let embed = [
        "model",
        "watermark",
        "embed",
        "model.onnx",
        "-o",
        "m.onnx",
        "--watermark-key",
        "s.key",
    ];
    fails(d, &embed, 2, "passphrase");
    let r = aigis_in(d, &embed, &pass);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("not recorded in a ledger"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains(id.stdout.trim()), "{}", r.stdout);
    let r = aigis_in(
        d,
        &[
            "model",
            "watermark",
            "verify",
            "m.onnx",
            "--watermark-key",
            "s.key",
        ],
        &pass,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("watermark PRESENT"), "{}", r.stdout);
}

#[test]
fn help_explains_with_an_example() {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (sub, needle) in [
        (
            "embed",
            "aigis model watermark embed model.onnx -o marked.onnx --watermark-key wm.key",
        ),
        ("verify", "Exits 0 when the mark is present"),
        ("keygen", "aigis model watermark keygen -o wm.key"),
    ] {
        let r = ok(d, &["model", "watermark", sub, "--help"]);
        assert!(r.stdout.contains(needle), "{sub}: {}", r.stdout);
    }
}
