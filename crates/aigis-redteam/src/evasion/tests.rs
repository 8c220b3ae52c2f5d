use super::*;
use aigis_runtime::OnnxRuntime;
use aigis_runtime::onnx::read_proto;
use aigis_runtime::rows::RowModel;
use std::path::PathBuf;
use std::sync::Arc;

struct Fixture {
    graph: Graph,
    model: RowModel,
    output: usize,
    x: Vec<f64>,
    rows: usize,
    labels: Vec<usize>,
}

/// A model of `tests/data/runtime`, its stored rows, and the model's own classes for
/// them as their labels.
fn fixture(name: &str) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/runtime");
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
    let graph = Graph::from_onnx(&read_proto(&bytes).unwrap(), None, "output_probability").unwrap();
    let runtime = OnnxRuntime::from_bytes(&bytes).unwrap();
    let model = RowModel::new(Arc::new(runtime), None).unwrap();
    let output = model
        .runtime()
        .signature()
        .outputs
        .iter()
        .position(|o| o.name == "output_probability")
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    let input = json["inputs"].as_object().unwrap().values().next().unwrap();
    let rows = input["shape"][0].as_u64().unwrap() as usize;
    let x: Vec<f64> = input["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mut f = Fixture {
        graph,
        model,
        output,
        x,
        rows,
        labels: Vec::new(),
    };
    f.labels = f.classes(&f.x.clone(), rows);
    f
}

impl Fixture {
    fn classes(&self, x: &[f64], rows: usize) -> Vec<usize> {
        let d = self.graph.features();
        let (p, k) = self.model.run(x, rows, d, self.output).unwrap();
        p.chunks(k)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .unwrap()
                    .0
            })
            .collect()
    }

    fn run(&self, settings: &Settings) -> (Attacked, Outcome) {
        let d = self.graph.features();
        let judge = |x: &[f64], n: usize| Ok(self.classes(x, n));
        let a = attack(
            &self.graph,
            &judge,
            &self.x,
            self.rows,
            d,
            &self.labels,
            settings,
        )
        .unwrap();
        let after = self.classes(&a.rows, self.rows);
        let o = outcome(
            &self.x,
            &a.rows,
            d,
            &self.labels,
            &self.labels,
            &after,
            settings.target,
            self.rows,
        );
        (a, o)
    }
}

#[test]
fn pgd_fools_the_digits_mlp_within_its_budget_and_range() {
    let f = fixture("digits_mlp");
    let d = f.graph.features();
    let fgsm = Settings {
        clip: Some((0.0, 16.0)),
        ..Settings::fgsm(2.0, Norm::Inf)
    };
    let (a, weak) = f.run(&fgsm);
    for (adv, clean) in a.rows.chunks(d).zip(f.x.chunks(d)) {
        for (p, q) in adv.iter().zip(clean) {
            assert!((p - q).abs() <= 2.0 + 1e-9 && (0.0..=16.0).contains(p));
        }
    }
    let pgd = Settings {
        step: 0.25,
        steps: 20,
        ..fgsm.clone()
    };
    let (_, strong) = f.run(&pgd);
    assert_eq!(weak.attacked, f.rows);
    assert!(strong.success_rate.unwrap() >= weak.success_rate.unwrap());
    assert!(strong.success_rate.unwrap() > 0.8, "{strong:?}");
    assert!(strong.median_linf.unwrap() <= 2.0 + 1e-9);
    // Targeted: pushed to class 3, rows of class 3 left out.
    let targeted = Settings {
        target: Some(3),
        ..pgd.clone()
    };
    let (_, t) = f.run(&targeted);
    assert_eq!(t.attacked, f.labels.iter().filter(|&&l| l != 3).count());
    assert!(t.success_rate.unwrap() > 0.5, "{t:?}");
    // Restarts never do worse than the plain run here, and count their queries.
    let restarts = Settings {
        restarts: 3,
        seed: 7,
        ..pgd
    };
    let (a, r) = f.run(&restarts);
    assert_eq!(a.gradients_per_row, 60);
    assert!(r.success_rate.unwrap() > 0.8, "{r:?}");
}

/// A binary logistic regression fed through a scaler is linear: the nearest point of the
/// other class is |s| / ‖w ∘ scale‖ away in L2. PGD must cross at just over that
/// distance and cannot at just under.
#[test]
fn l2_pgd_crosses_a_linear_boundary_exactly_where_it_lies() {
    let f = fixture("cancer_scaler_logreg");
    let d = f.graph.features();
    // The distance of each row from the boundary, from the gradient of the score: the
    // logit s = ln(p1/p0) is linear, so its gradient is constant and s / ‖∇s‖ is exact.
    let tape = f.graph.forward(&f.x, f.rows).unwrap();
    let (p, _) = f.graph.output(&tape).unwrap();
    for r in 0..4 {
        let row = &f.x[r * d..(r + 1) * d];
        let s = (p[2 * r + 1] / p[2 * r]).ln();
        // ∇ of -ln p0 is p1 ∇s: read ∇s from the loss gradient against class 0.
        let (g, _) = f.graph.loss_gradient(row, 1, &[0]).unwrap();
        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt() / p[2 * r + 1];
        let distance = s.abs() / norm;
        for (factor, crosses) in [(1.02, true), (0.98, false)] {
            let settings = Settings {
                eps: distance * factor,
                step: distance / 10.0,
                steps: 40,
                ..Settings::fgsm(1.0, Norm::L2)
            };
            let judge = |x: &[f64], n: usize| Ok(f.classes(x, n));
            let a = attack(&f.graph, &judge, row, 1, d, &f.labels[r..=r], &settings).unwrap();
            assert_eq!(
                f.classes(&a.rows, 1)[0] != f.labels[r],
                crosses,
                "row {r}, eps {factor} × {distance}"
            );
        }
    }
}

#[test]
fn estimated_gradients_agree_with_the_exact_ones() {
    let f = fixture("wine_minmax_mlp");
    let d = f.graph.features();
    let scores = |x: &[f64], n: usize| f.model.run(x, n, d, f.output);
    let estimated = Estimated {
        scores,
        features: d,
        h: 1e-3,
    };
    let rows = 4;
    let (exact, _) = f
        .graph
        .loss_gradient(&f.x[..rows * d], rows, &f.labels[..rows])
        .unwrap();
    let (approx, _) = estimated
        .loss_gradient(&f.x[..rows * d], rows, &f.labels[..rows])
        .unwrap();
    let scale = exact.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    for (e, a) in exact.iter().zip(&approx) {
        // float32 inference: the differences carry its rounding.
        assert!((e - a).abs() <= 2e-2 * scale, "{e} against {a}");
    }
    assert_eq!(estimated.queries_per_gradient(), 2 * d + 1);
}

#[test]
fn bad_settings_are_refused() {
    let f = fixture("digits_mlp");
    let judge = |x: &[f64], n: usize| Ok(f.classes(x, n));
    for s in [
        Settings::fgsm(0.0, Norm::Inf),
        Settings::fgsm(f64::NAN, Norm::Inf),
        Settings {
            steps: 0,
            ..Settings::fgsm(1.0, Norm::Inf)
        },
        Settings {
            clip: Some((1.0, 1.0)),
            ..Settings::fgsm(1.0, Norm::Inf)
        },
    ] {
        let e = attack(&f.graph, &judge, &f.x, f.rows, 64, &f.labels, &s).unwrap_err();
        assert!(matches!(e, Error::Options(_)), "{e}");
    }
    let e = attack(
        &f.graph,
        &judge,
        &f.x,
        f.rows,
        64,
        &f.labels[1..],
        &Settings::fgsm(1.0, Norm::Inf),
    );
    assert!(e.is_err());
}
