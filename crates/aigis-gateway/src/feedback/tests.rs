#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]
use super::*;

fn store() -> Feedback {
    Feedback::new(&FeedbackConfig {
        window_s: 60,
        windows: 3,
        max_pending: 1000,
        labelers: Vec::new(),
    })
    .unwrap()
}

fn answers(labels: &[&str], confidence: Option<&[f64]>) -> Answers {
    Answers {
        labels: labels.iter().map(|s| (*s).to_owned()).collect(),
        confidence: confidence.map(<[f64]>::to_vec),
    }
}

fn feedback(items: &[(&str, &[serde_json::Value])]) -> FeedbackRequest {
    FeedbackRequest {
        feedback: items
            .iter()
            .map(|(id, labels)| Item {
                id: (*id).to_owned(),
                labels: labels.to_vec(),
                principal: None,
            })
            .collect(),
    }
}

#[test]
fn kpis_equal_scikit_learns() {
    // y_true = [0, 1, 2, 2, 1, 0, 2, 1], y_pred = [0, 2, 2, 2, 1, 0, 1, 1] with top
    // probabilities p. scikit-learn: accuracy_score 0.75, precision_score(average="macro")
    // 0.7777777777777777, recall_score(average="macro") 0.7777777777777777; the ECE over
    // ten bins computed with numpy: 0.17625.
    let truth = [0, 1, 2, 2, 1, 0, 2, 1];
    let pred = ["0", "2", "2", "2", "1", "0", "1", "1"];
    let p = [0.95, 0.55, 0.85, 0.9, 0.65, 0.99, 0.6, 0.7];
    let f = store();
    let t = 1_700_000_000_000;
    for (i, (pred, p)) in pred.iter().zip(p).enumerate() {
        f.keep(
            "p",
            &format!("r{i}"),
            false,
            "v1",
            t + i as i64,
            answers(&[pred], Some(&[p])),
        );
    }
    let items: Vec<(String, Vec<serde_json::Value>)> = truth
        .iter()
        .enumerate()
        .map(|(i, y)| (format!("r{i}"), vec![serde_json::json!(y)]))
        .collect();
    let req = FeedbackRequest {
        feedback: items
            .iter()
            .map(|(id, l)| Item {
                id: id.clone(),
                labels: l.clone(),
                principal: None,
            })
            .collect(),
    };
    let m = f.label("p", &req).unwrap();
    assert_eq!(m.matched, 8);
    let k = f.kpis("m");
    assert_eq!(k.windows.len(), 1);
    let w = &k.windows[0];
    assert_eq!((w.kpis.predictions, w.kpis.labeled), (8, 8));
    assert!((w.kpis.accuracy.unwrap() - 0.75).abs() < 1e-12);
    assert!((w.kpis.precision.unwrap() - 0.777_777_777_777_777_7).abs() < 1e-12);
    assert!((w.kpis.recall.unwrap() - 0.777_777_777_777_777_7).abs() < 1e-12);
    assert!(
        (w.kpis.ece.unwrap() - 0.17625).abs() < 1e-12,
        "{:?}",
        w.kpis.ece
    );
    assert!((w.kpis.mean_confidence.unwrap() - 0.77375).abs() < 1e-12);
    // Each id is matched once.
    let again = f.label("p", &req).unwrap();
    assert_eq!(again.matched, 0);
    assert_eq!(again.unknown.len(), 8);
}

#[test]
fn a_class_never_predicted_has_precision_zero_and_versions_are_apart() {
    // y_true = [0, 1], y_pred = [0, 0]: precision_score(average="macro",
    // zero_division=0) = (0.5 + 0) / 2 = 0.25, recall (1 + 0) / 2 = 0.5.
    let f = store();
    f.keep("p", "a", false, "v1", 0, answers(&["0", "0"], None));
    f.keep("p", "b", false, "v2", 1, answers(&["1"], None));
    f.label(
        "p",
        &feedback(&[("a", &[0.into(), 1.into()]), ("b", &["1".into()])]),
    )
    .unwrap();
    let k = f.kpis("m");
    assert_eq!(k.windows.len(), 2);
    let v1 = k.windows.iter().find(|w| w.kpis.version == "v1").unwrap();
    assert_eq!(v1.kpis.precision, Some(0.25));
    assert_eq!(v1.kpis.recall, Some(0.5));
    assert_eq!(v1.kpis.ece, None);
    let v2 = k.windows.iter().find(|w| w.kpis.version == "v2").unwrap();
    assert_eq!(v2.kpis.accuracy, Some(1.0));
    assert_eq!(v2.start, "1970-01-01T00:00:00Z");
    assert_eq!(v2.end, "1970-01-01T00:01:00Z");
}

#[test]
fn a_feedback_that_does_not_fit_counts_nothing() {
    let f = store();
    f.keep("p", "a", false, "v1", 0, answers(&["0", "1"], None));
    let e = f.label("p", &feedback(&[("a", &[0.into()])])).unwrap_err();
    assert!(e.message.contains("had 2 rows, not 1"), "{}", e.message);
    let e = f
        .label("p", &feedback(&[("a", &[0.5.into(), 1.into()])]))
        .unwrap_err();
    assert!(e.message.contains("integer or a string"), "{}", e.message);
    assert_eq!(f.kpis("m").pending, 1);
    assert_eq!(f.kpis("m").windows[0].kpis.labeled, 0);
}

#[test]
fn old_and_surplus_predictions_expire_and_ids_are_not_taken_twice() {
    let f = Feedback::new(&FeedbackConfig {
        window_s: 60,
        windows: 2,
        max_pending: 2,
        labelers: Vec::new(),
    })
    .unwrap();
    f.keep("p", "a", false, "v", 0, answers(&["0"], None));
    f.keep("p", "a", false, "v", 1, answers(&["1"], None));
    assert_eq!(f.kpis("m").duplicate_ids, 1);
    f.keep("p", "b", false, "v", 2, answers(&["0"], None));
    f.keep("p", "c", false, "v", 3, answers(&["0"], None));
    // Over max_pending: a is dropped.
    let k = f.kpis("m");
    assert_eq!((k.pending, k.expired), (2, 1));
    // Older than the windows kept (2 × 60 s): b and c go, and so do their windows.
    f.keep("p", "d", false, "v", 200_000, answers(&["0"], None));
    let k = f.kpis("m");
    assert_eq!((k.pending, k.expired), (1, 3));
    assert_eq!(k.windows.len(), 1);
    let m = f
        .label("p", &feedback(&[("b", &[0.into()]), ("d", &[0.into()])]))
        .unwrap();
    assert_eq!(m.matched, 1);
    assert_eq!(m.unknown, vec!["b".to_owned()]);
}

#[test]
fn answers_read_labels_and_probabilities() {
    use aigis_runtime::Tensor;
    let label = NamedTensor::new(
        "label",
        Tensor::new(vec![2], Data::Int64(vec![3, 7])).unwrap(),
    );
    let probs = NamedTensor::new(
        "probabilities",
        Tensor::new(vec![2, 2], Data::Fp32(vec![0.25, 0.75, 0.9, 0.1])).unwrap(),
    );
    let a = answers_of(&[label, probs.clone()], 2);
    assert_eq!(a.labels, vec!["3", "7"]);
    assert_eq!(a.confidence, Some(vec![0.75, 0.8999999761581421]));
    // Without a label output, the index of the largest.
    assert_eq!(answers_of(&[probs], 2).labels, vec!["1", "0"]);
    // Scores that are not probabilities give no confidence.
    let logits = NamedTensor::new(
        "logits",
        Tensor::new(vec![1, 2], Data::Fp32(vec![2.0, -1.0])).unwrap(),
    );
    assert_eq!(answers_of(&[logits], 1).confidence, None);
}

fn answers_of(outputs: &[NamedTensor], n: usize) -> Answers {
    super::answers(outputs, n).unwrap()
}

#[test]
fn settings_that_cannot_work_are_refused() {
    for (c, key) in [
        (
            FeedbackConfig {
                window_s: 0,
                windows: 1,
                max_pending: 1,
                labelers: Vec::new(),
            },
            "window_s",
        ),
        (
            FeedbackConfig {
                window_s: 1,
                windows: 0,
                max_pending: 1,
                labelers: Vec::new(),
            },
            "windows",
        ),
        (
            FeedbackConfig {
                window_s: 1,
                windows: 1,
                max_pending: 0,
                labelers: Vec::new(),
            },
            "max_pending",
        ),
        (
            FeedbackConfig {
                window_s: 1,
                windows: 1,
                max_pending: 1,
                labelers: vec![String::new()],
            },
            "labelers",
        ),
    ] {
        assert_eq!(Feedback::new(&c).unwrap_err().0, key);
    }
    let id = new_id().unwrap();
    assert!(id.starts_with("aigis-") && id.len() == 38, "{id}");
    assert_ne!(id, new_id().unwrap());
}

#[test]
fn ids_are_each_principals_own_and_expire_one_call_at_a_time() {
    let f = Feedback::new(&FeedbackConfig {
        window_s: 60,
        windows: 2,
        max_pending: 2,
        labelers: vec!["l".into()],
    })
    .unwrap();
    f.keep("a", "x", false, "v", 0, answers(&["0"], None));
    f.keep("b", "x", false, "v", 1, answers(&["1"], None));
    assert_eq!((f.kpis("m").pending, f.kpis("m").duplicate_ids), (2, 0));
    // Over max_pending: the oldest call goes, `a`'s, not `b`'s of the same id.
    f.keep("c", "y", false, "v", 2, answers(&["0"], None));
    let k = f.kpis("m");
    assert_eq!((k.pending, k.expired), (2, 1));
    let by = |who: &str, id: &str| f.label(who, &feedback(&[(id, &[1.into()])])).unwrap();
    assert_eq!(by("a", "x").unknown, ["x"]);
    assert_eq!(by("b", "x").matched, 1);
    // Labelled, then kept again: the first call's place in the queue does not drop the
    // second.
    f.keep("b", "x", false, "v", 3, answers(&["1"], None));
    f.keep("d", "z", true, "v", 4, answers(&["1"], None));
    let k = f.kpis("m");
    assert_eq!((k.pending, k.expired), (2, 2), "{k:?}");
    // A made id is anyone's to label; a chosen one only its principal's or a labeler's.
    assert_eq!(by("c", "x").unknown, ["x"]);
    assert_eq!(by("c", "z").matched, 1);
    assert_eq!(by("l", "x").matched, 1);
    assert_eq!(f.kpis("m").pending, 0);
    // Naming another principal: a labeler only; refused whole, nothing counted.
    f.keep("a", "w", false, "v", 5, answers(&["1"], None));
    let named = FeedbackRequest {
        feedback: vec![Item {
            id: "w".into(),
            labels: vec![1.into()],
            principal: Some("a".into()),
        }],
    };
    let e = f.label("c", &named).unwrap_err();
    assert_eq!(e.status, axum::http::StatusCode::FORBIDDEN);
    assert_eq!(f.kpis("m").pending, 1);
    assert_eq!(f.label("l", &named).unwrap().matched, 1);
}
