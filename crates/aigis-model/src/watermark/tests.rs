//! The watermark on ONNX models built here, byte by byte, from the protobuf schema.

use super::*;
use aigis_scan::proto::build::{len_field, varint, varint_field};

/// How a tensor stores its values.
enum Data<'a> {
    Raw(&'a [f32]),
    Packed(&'a [f32]),
    Unpacked(&'a [f32]),
    Int8(&'a [i8]),
    Int32(&'a [i32]),
    External,
}

fn tensor(name: &str, dims: &[u64], data: Data<'_>) -> Vec<u8> {
    let mut t = Vec::new();
    // Dims packed, as onnx writes them.
    let mut packed = Vec::new();
    for &d in dims {
        varint(d, &mut packed);
    }
    len_field(1, &packed, &mut t);
    let data_type = match data {
        Data::Int8(_) | Data::Int32(_) => INT8,
        _ => FLOAT,
    };
    varint_field(2, data_type, &mut t);
    len_field(8, name.as_bytes(), &mut t);
    let floats = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>();
    match data {
        Data::Raw(v) => len_field(9, &floats(v), &mut t),
        Data::Packed(v) => len_field(4, &floats(v), &mut t),
        Data::Unpacked(v) => {
            for x in v {
                varint(4 << 3 | 5, &mut t);
                t.extend_from_slice(&x.to_le_bytes());
            }
        }
        Data::Int8(v) => len_field(9, &v.iter().map(|&x| x as u8).collect::<Vec<_>>(), &mut t),
        Data::Int32(v) => {
            let mut p = Vec::new();
            for &x in v {
                varint(i64::from(x) as u64, &mut p);
            }
            len_field(5, &p, &mut t);
        }
        Data::External => {
            let mut entry = Vec::new();
            len_field(1, b"location", &mut entry);
            len_field(2, b"weights.bin", &mut entry);
            len_field(13, &entry, &mut t);
            varint_field(14, 1, &mut t);
        }
    }
    t
}

fn model(initializers: &[Vec<u8>]) -> Vec<u8> {
    let mut graph = Vec::new();
    // A node (MatMul), the graph's name, then the initializers.
    let mut node = Vec::new();
    len_field(1, b"x", &mut node);
    len_field(1, b"w1", &mut node);
    len_field(2, b"y", &mut node);
    len_field(4, b"MatMul", &mut node);
    len_field(1, &node, &mut graph);
    len_field(2, b"test", &mut graph);
    for t in initializers {
        len_field(5, t, &mut graph);
    }
    let mut m = Vec::new();
    varint_field(1, 8, &mut m);
    len_field(2, b"aigis-test", &mut m);
    len_field(7, &graph, &mut m);
    let mut opset = Vec::new();
    varint_field(2, 17, &mut opset);
    len_field(8, &opset, &mut m);
    m
}

/// Deterministic roughly Gaussian weights (xorshift, sum of uniforms).
fn weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let g: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
            (g as f32) * scale
        })
        .collect()
}

fn key(b: u8) -> WatermarkKey {
    WatermarkKey::from_bytes(&[b; 32]).unwrap()
}

struct Fixture {
    bytes: Vec<u8>,
    w1: Vec<f32>,
    w2: Vec<f32>,
    bias: Vec<f32>,
}

/// A two-layer model: w1 64×64 in raw_data, w2 64×32 in packed float_data, a bias.
fn fixture() -> Fixture {
    let w1 = weights(64 * 64, 1, 0.1);
    let w2 = weights(64 * 32, 2, 0.05);
    let bias = weights(64, 3, 0.01);
    let bytes = model(&[
        tensor("w1", &[64, 64], Data::Raw(&w1)),
        tensor("bias", &[1, 64], Data::Raw(&bias)),
        tensor("w2", &[64, 32], Data::Packed(&w2)),
        tensor("shape", &[2], Data::Int32(&[1, 2])),
    ]);
    Fixture {
        bytes,
        w1,
        w2,
        bias,
    }
}

fn floats_of(buf: &[u8], name: &str) -> Vec<f32> {
    let tensors = initializers(buf).unwrap();
    let t = tensors.iter().find(|t| t.name == name).unwrap();
    t.floats(buf)
        .unwrap()
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

/// A copy of `buf` with `f` applied to the values of the float tensors named.
fn rewrite(buf: &[u8], names: &[&str], mut f: impl FnMut(&[f32]) -> Vec<f32>) -> Vec<u8> {
    let mut out = buf.to_vec();
    let tensors = initializers(buf).unwrap();
    for name in names {
        let t = tensors.iter().find(|t| &t.name == name).unwrap();
        let new = f(&floats_of(buf, name));
        let Values::Float(runs) = &t.values else {
            panic!("{name} is not float")
        };
        let mut it = new.iter();
        for run in runs {
            for cell in out[run.clone()].chunks_exact_mut(4) {
                cell.copy_from_slice(&it.next().unwrap().to_le_bytes());
            }
        }
    }
    out
}

#[test]
fn embedding_changes_only_the_carriers_floats() {
    let fx = fixture();
    let (marked, report) = embed(&fx.bytes, &key(1), &EmbedOptions::default()).unwrap();
    assert_eq!(marked.len(), fx.bytes.len());
    // The bias is below the default minimum size: not a carrier.
    let names: Vec<_> = report.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["w1", "w2"]);
    assert_eq!(floats_of(&marked, "bias"), fx.bias);
    // Every changed byte lies inside w1's or w2's values.
    let tensors = initializers(&fx.bytes).unwrap();
    let mut allowed = vec![false; fx.bytes.len()];
    for t in tensors.iter().filter(|t| t.name.starts_with('w')) {
        let Values::Float(runs) = &t.values else {
            panic!()
        };
        for r in runs {
            allowed[r.clone()].iter_mut().for_each(|a| *a = true);
        }
    }
    let changed: Vec<usize> = (0..marked.len())
        .filter(|&i| marked[i] != fx.bytes[i])
        .collect();
    assert!(changed.len() > 4000, "{}", changed.len());
    assert!(changed.iter().all(|&i| allowed[i]));
    // Every weight moved, by at most the reported bound.
    for (name, original) in [("w1", &fx.w1), ("w2", &fx.w2)] {
        let new = floats_of(&marked, name);
        let rms = (original.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>()
            / original.len() as f64)
            .sqrt();
        let max = original
            .iter()
            .zip(&new)
            .map(|(&a, &b)| f64::from((a - b).abs()) / rms)
            .fold(0.0, f64::max);
        assert!(
            max <= report.max_change + 1e-9 && max > 0.0,
            "{name}: {max}"
        );
        assert!(original.iter().zip(&new).all(|(a, b)| a != b), "{name}");
    }
    // The target score is reached (float32 rounding aside) with a small change.
    assert!(
        (report.z - DEFAULT_TARGET_SCORE).abs() < 0.01,
        "{}",
        report.z
    );
    assert!(report.max_change < 0.2, "{}", report.max_change);
    assert!(report.mean_change <= report.max_change);
    assert!(report.p_value < 1e-14 && report.p_value > 0.0);
}

#[test]
fn the_right_key_finds_the_mark_and_others_do_not() {
    let fx = fixture();
    let sel = Selection::default();
    let (marked, _) = embed(&fx.bytes, &key(1), &EmbedOptions::default()).unwrap();
    let right = detect(&marked, &key(1), &sel).unwrap();
    assert!(right.present(DEFAULT_THRESHOLD), "{right:?}");
    assert_eq!(right.tensors.len(), 2);
    assert!(
        right
            .tensors
            .iter()
            .all(|t| t.z > 3.0 && t.stored_as == "float32")
    );
    for (what, buf, k) in [
        ("wrong key", &marked, key(2)),
        ("unmarked", &fx.bytes, key(1)),
    ] {
        let d = detect(buf, &k, &sel).unwrap();
        assert!(!d.present(DEFAULT_THRESHOLD), "{what}: {d:?}");
        assert!(d.z.abs() < 3.0 && d.p_value > 1e-3, "{what}: {d:?}");
    }
    // Wrong keys score like a standard normal: mean near 0, spread near 1.
    let zs: Vec<f64> = (10..40)
        .map(|b| detect(&marked, &key(b), &sel).unwrap().z)
        .collect();
    let mean = zs.iter().sum::<f64>() / zs.len() as f64;
    let var = zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / zs.len() as f64;
    assert!(
        mean.abs() < 0.6 && (0.3..2.0).contains(&var),
        "{mean} {var}"
    );
    assert!(zs.iter().all(|z| z.abs() < DEFAULT_THRESHOLD), "{zs:?}");
}

#[test]
fn the_mark_survives_noise_and_8_bit_quantization() {
    let fx = fixture();
    let sel = Selection::default();
    let (marked, report) = embed(&fx.bytes, &key(7), &EmbedOptions::default()).unwrap();
    // Gaussian noise of 1 % and 10 % of each tensor's standard deviation.
    for (fraction, seed) in [(0.01f32, 11), (0.1, 12)] {
        let mut seed = seed;
        let noisy = rewrite(&marked, &["w1", "w2"], |w| {
            let sd = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
            seed += 1;
            let noise = weights(w.len(), seed, 1.0);
            w.iter()
                .zip(noise)
                .map(|(v, n)| v + n * sd * fraction)
                .collect()
        });
        let d = detect(&noisy, &key(7), &sel).unwrap();
        assert!(d.present(DEFAULT_THRESHOLD), "noise {fraction}: {d:?}");
        assert!((d.z - report.z).abs() < 0.5, "noise {fraction}: {}", d.z);
    }
    // Per-tensor symmetric int8: w ≈ scale·round(w/scale), scale = max|w|/127.
    let quantized = rewrite(&marked, &["w1", "w2"], |w| {
        let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        w.iter()
            .map(|v| (v / scale).round().clamp(-127.0, 127.0) * scale)
            .collect()
    });
    let d = detect(&quantized, &key(7), &sel).unwrap();
    assert!(d.present(DEFAULT_THRESHOLD), "{d:?}");
    assert!((d.z - report.z).abs() < 0.5, "{}", d.z);
    // The quantized, unmarked model still comes out absent.
    assert!(
        !detect(&fx.bytes, &key(8), &sel)
            .unwrap()
            .present(DEFAULT_THRESHOLD)
    );
}

/// What onnxruntime's `quantize_dynamic` leaves: `W_quantized` (int8), `W_scale`,
/// `W_zero_point`.
fn ort_quantized(w1: &[f32], w2: &[f32], zp: i8) -> Vec<u8> {
    let q = |w: &[f32]| -> Vec<i8> {
        let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())) / 120.0;
        w.iter()
            .map(|v| ((v / scale).round() + f32::from(zp)) as i8)
            .collect()
    };
    model(&[
        tensor("w1_quantized", &[64, 64], Data::Int8(&q(w1))),
        tensor("w1_scale", &[], Data::Raw(&[0.01])),
        tensor("w1_zero_point", &[], Data::Int32(&[i32::from(zp)])),
        tensor("w2_quantized", &[64, 32], Data::Int8(&q(w2))),
        tensor("w2_scale", &[], Data::Raw(&[0.01])),
    ])
}

#[test]
fn onnxruntime_quantized_weights_are_read_in_place_of_the_floats() {
    let fx = fixture();
    let (marked, _) = embed(&fx.bytes, &key(3), &EmbedOptions::default()).unwrap();
    for zp in [0i8, 5] {
        let q = ort_quantized(&floats_of(&marked, "w1"), &floats_of(&marked, "w2"), zp);
        for sel in [
            Selection::default(),
            Selection::Named(vec!["w1".into(), "w2".into()]),
        ] {
            let d = detect(&q, &key(3), &sel).unwrap();
            assert!(d.present(DEFAULT_THRESHOLD), "{d:?}");
            let names: Vec<_> = d
                .tensors
                .iter()
                .map(|t| (t.name.as_str(), t.stored_as))
                .collect();
            assert_eq!(names, [("w1", "int8"), ("w2", "int8")]);
            assert!(
                !detect(&q, &key(4), &sel)
                    .unwrap()
                    .present(DEFAULT_THRESHOLD)
            );
        }
    }
    // Embedding needs the floats.
    let q = ort_quantized(&fx.w1, &fx.w2, 0);
    assert!(matches!(
        embed(&q, &key(3), &EmbedOptions::default()),
        Err(WatermarkError::NoCarriers(_))
    ));
}

#[test]
fn named_tensors_in_every_float_layout() {
    let w = weights(600, 5, 0.2);
    let buf = model(&[
        tensor("a", &[600], Data::Unpacked(&w)),
        tensor("b", &[20, 30], Data::Packed(&w)),
        tensor("c", &[30, 20], Data::Raw(&w)),
    ]);
    // Too small for the default selection.
    assert!(matches!(
        embed(&buf, &key(1), &EmbedOptions::default()),
        Err(WatermarkError::NoCarriers(1024))
    ));
    let sel = Selection::Named(vec!["a".into(), "b".into(), "c".into()]);
    let options = EmbedOptions {
        selection: sel.clone(),
        strength: Strength::Relative(0.15),
        ..EmbedOptions::default()
    };
    let (marked, report) = embed(&buf, &key(1), &options).unwrap();
    assert_eq!(marked.len(), buf.len());
    for t in &report.tensors {
        assert!((t.strength - 0.15).abs() < 1e-9, "{t:?}");
        assert!(t.z > 3.0, "{t:?}");
    }
    // Unpacked float_data changed too, and the three tensors each carry their own mark.
    assert_ne!(floats_of(&marked, "a"), w);
    assert!(
        detect(&marked, &key(1), &sel)
            .unwrap()
            .present(DEFAULT_THRESHOLD)
    );
    let only_a = Selection::Named(vec!["a".into()]);
    assert!(detect(&marked, &key(1), &only_a).unwrap().tensors[0].z > 3.0);
    assert!(
        !detect(&buf, &key(1), &sel)
            .unwrap()
            .present(DEFAULT_THRESHOLD)
    );
    // The same weights under other names do not carry the mark.
    let renamed = model(&[
        tensor("x", &[600], Data::Raw(&floats_of(&marked, "a"))),
        tensor("y", &[600], Data::Raw(&floats_of(&marked, "b"))),
    ]);
    let sel_xy = Selection::Named(vec!["x".into(), "y".into()]);
    assert!(
        !detect(&renamed, &key(1), &sel_xy)
            .unwrap()
            .present(DEFAULT_THRESHOLD)
    );
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let fx = fixture();
    let err = |options: EmbedOptions| embed(&fx.bytes, &key(1), &options).unwrap_err().to_string();
    let named = |names: &[&str]| EmbedOptions {
        selection: Selection::Named(names.iter().map(|s| s.to_string()).collect()),
        ..EmbedOptions::default()
    };
    assert!(err(named(&["nope"])).contains("no initializer named `nope`"));
    assert!(err(named(&["shape"])).contains("not float32"));
    assert!(err(named(&["w1", "w1"])).contains("named twice"));
    // A 64-element bias cannot reach a score of 8 within the allowed change.
    assert!(err(named(&["bias"])).contains("nothing was written"));
    for strength in [
        Strength::Relative(0.5),
        Strength::Relative(-1.0),
        Strength::TargetScore(f64::NAN),
    ] {
        let e = err(EmbedOptions {
            strength,
            ..EmbedOptions::default()
        });
        assert!(e.contains("strength") || e.contains("target"), "{e}");
    }
    // A weak mark below the threshold is refused rather than written.
    let e = err(EmbedOptions {
        strength: Strength::TargetScore(3.0),
        ..EmbedOptions::default()
    });
    assert!(e.contains("below the threshold"), "{e}");
    // External data is refused, by name.
    let ext = model(&[tensor("big", &[100, 100], Data::External)]);
    let e = embed(&ext, &key(1), &EmbedOptions::default()).unwrap_err();
    assert!(
        matches!(&e, WatermarkError::External(n) if n == "big"),
        "{e}"
    );
    assert!(detect(&ext, &key(1), &Selection::default()).is_err());
    // Values that disagree with the dimensions.
    let short = model(&[tensor("w", &[64, 64], Data::Raw(&fx.w2))]);
    let e = detect(&short, &key(1), &Selection::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("initializer `w`") && e.contains("4096"), "{e}");
    // Not finite.
    let mut nan = fx.w1.clone();
    nan[5] = f32::NAN;
    let bad = model(&[tensor("w", &[64, 64], Data::Raw(&nan))]);
    let e = embed(&bad, &key(1), &EmbedOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN"), "{e}");
}

#[test]
fn malformed_or_truncated_models_are_errors_not_panics() {
    let fx = fixture();
    let sel = Selection::default();
    for cut in 0..fx.bytes.len() {
        let prefix = &fx.bytes[..cut];
        // Nearly every prefix cuts the graph; none may panic.
        let d = detect(prefix, &key(1), &sel);
        let e = embed(prefix, &key(1), &EmbedOptions::default());
        if cut + 1 == fx.bytes.len() || cut < 20 {
            assert!(d.is_err() && e.is_err(), "cut at {cut}");
        }
    }
    assert!(
        detect(&fx.bytes[..fx.bytes.len() - 1], &key(1), &sel)
            .unwrap_err()
            .to_string()
            .contains("not a well-formed ONNX model")
    );
    // Flipped bytes anywhere.
    let mut s = 0x1234_5678u64;
    for _ in 0..2000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mut bad = fx.bytes.clone();
        let at = (s % bad.len() as u64) as usize;
        bad[at] ^= (s >> 32) as u8 | 1;
        let _ = detect(&bad, &key(1), &sel);
        let _ = embed(&bad, &key(1), &EmbedOptions::default());
    }
    for junk in [&b""[..], b"\x00\x01", b"hello, world", b"PK\x03\x04"] {
        assert!(detect(junk, &key(1), &sel).is_err());
    }
    assert!(
        detect(b"\x08\x08", &key(1), &sel)
            .unwrap_err()
            .to_string()
            .contains("no graph")
    );
}

#[test]
fn the_normal_tail_matches_known_values() {
    for (z, p) in [
        (0.0, 0.5),
        (1.0, 0.158_655_253_931_457_05),
        (2.5, 0.006_209_665_325_776_132),
        (4.0, 3.167_124_183_311_992e-5),
        (8.0, 6.220_960_574_271_785e-16),
        (-1.0, 0.841_344_746_068_542_9),
    ] {
        let got = normal_tail(z);
        assert!((got - p).abs() <= p * 1e-9, "Q({z}) = {got}, not {p}");
    }
    assert!(normal_tail(60.0) >= 0.0 && normal_tail(60.0) < 1e-300);
    assert!(normal_tail(2.9) > normal_tail(3.1));
}

#[test]
fn keys_show_only_their_id() {
    let k = key(9);
    let id = k.key_id();
    assert_eq!(id.len(), 16);
    assert_eq!(id, key(9).key_id());
    assert_ne!(id, key(10).key_id());
    let debug = format!("{k:?}");
    assert!(debug.contains(&id) && !debug.contains("9, 9"), "{debug}");
    assert!(WatermarkKey::from_bytes(&[1; 31]).is_err());
    let fresh = WatermarkKey::generate().unwrap();
    assert_ne!(*fresh.to_bytes(), [0u8; 32]);
    // The chips are balanced and differ between tensors.
    let a: Vec<f64> = k.chips("a").unwrap().take(10_000).collect();
    let b: Vec<f64> = k.chips("b").unwrap().take(10_000).collect();
    assert!(a.iter().sum::<f64>().abs() < 400.0);
    assert_ne!(a, b);
}

/// Known answers for the documented derivation (module docs: "Carriers and the keyed
/// pattern", "Detection"), so that a change to it, which would orphan every key already
/// in use, fails here. The values were computed independently with Python 3.11's `hmac`
/// and `hashlib`, following the docs, not this code:
///
/// ```python
/// import hmac, hashlib, math
/// key = bytes(range(32))
/// seed = lambda name: hmac.new(key, b"aigis watermark v1 chips\0" + name.encode(), hashlib.sha256).digest()
/// block = lambda name, i: hmac.new(seed(name), i.to_bytes(8, "little"), hashlib.sha256).digest()
/// def chips(name, n):  # bit k of a block's byte k // 8, least significant first; 1 -> +1
///     bits = [b >> k & 1 for i in range(n // 256 + 1) for b in block(name, i) for k in range(8)]
///     return [1 if x else -1 for x in bits[:n]]
/// key_id = hashlib.sha256(b"aigis watermark key id v1\0" + key).hexdigest()[:16]
/// w1 = [float(i % 17 - 8) for i in range(32 * 32)]
/// w2 = [float((i * 5) % 11 - 5) for i in range(64 * 32)]
/// z = lambda w, name: sum(v * c for v, c in zip(w, chips(name, len(w)))) / math.sqrt(sum(v * v for v in w))
/// combined = (math.sqrt(len(w1)) * z(w1, "w1") + math.sqrt(len(w2)) * z(w2, "w2")) / math.sqrt(len(w1) + len(w2))
/// ```
#[test]
fn the_documented_derivation_gives_known_answers() {
    let k = WatermarkKey::from_bytes(&(0u8..32).collect::<Vec<_>>()).unwrap();
    assert_eq!(k.key_id(), "008f360dd8ec92c2");

    // The chips, packed back into bytes (least significant bit first), are the HMAC
    // blocks 0, 1 and 2 of each tensor's seed; a non-ASCII name is hashed as UTF-8.
    for (name, blocks) in [
        (
            "w1",
            [
                "a7f75ccd6c6737870007fc5869bad186ec64b8e197f51d5f0ebfc19c952ea412",
                "48cbb821f6cc8a5de128fe2e64543d8ec942243326a5abfd2b758ccb4f050808",
                "55c4250748ce9b40a1613a8d6a2bcf7f63b2605a6f6499fffc505f01e245301f",
            ],
        ),
        (
            "dense/kernel:0é",
            [
                "5ec84469dbc88e5d1611a4664fa420d999d6e7ad02247d5bd65514f0d2a53bad",
                "db4010bc75b71f69a580f055b2dcb1ebee21560c846f6218226cc73cb69c2748",
                "51bc83df238d39027d5a269f3361d966ada6eb50af4f0f470ffd59468ac3ec92",
            ],
        ),
    ] {
        let chips: Vec<f64> = k.chips(name).unwrap().take(3 * 256).collect();
        let bytes: Vec<u8> = chips
            .chunks(8)
            .map(|c| (0..8).fold(0u8, |b, bit| b | u8::from(c[bit] > 0.0) << bit))
            .collect();
        assert_eq!(hex(&bytes), blocks.concat(), "chips of `{name}`");
    }
    let first: String = k
        .chips("w1")
        .unwrap()
        .take(16)
        .map(|c| if c > 0.0 { '+' } else { '-' })
        .collect();
    assert_eq!(first, "+++--+-++++-++++");

    // Per-tensor scores and their √n-weighted combination, through `detect`.
    let w1: Vec<f32> = (0..32 * 32).map(|i| (i % 17 - 8) as f32).collect();
    let w2: Vec<f32> = (0..64 * 32).map(|i| ((i * 5) % 11 - 5) as f32).collect();
    let bytes = model(&[
        tensor("w1", &[32, 32], Data::Raw(&w1)),
        tensor("w2", &[64, 32], Data::Packed(&w2)),
    ]);
    let d = detect(&bytes, &k, &Selection::default()).unwrap();
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.abs();
    let z_of = |name: &str| d.tensors.iter().find(|t| t.name == name).unwrap().z;
    assert!(close(z_of("w1"), 0.980_792_248_923_279_4), "{d:?}");
    assert!(close(z_of("w2"), 0.579_909_346_269_021_1), "{d:?}");
    assert!(close(d.z, 1.039_754_667_411_642_2), "{d:?}");
}
