//! `aigis privacy epsilon` and `aigis privacy noise` as a user runs them: the text and
//! `--json`, the ways of giving a run, and bad settings. (Equality with Google's
//! dp_accounting over a grid: `scripts/privacy_vs_dp_accounting.py`.)

use crate::common;

use common::{fails, ok};

fn json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["--json", "privacy"];
    all.extend(args);
    serde_json::from_str(&ok(dir.path(), &all).stdout).unwrap()
}

#[test]
fn the_mnist_run_spends_what_dp_accounting_says() {
    let dir = tempfile::tempdir().unwrap();
    let r = ok(
        dir.path(),
        &[
            "privacy",
            "epsilon",
            "--sampling-rate",
            "0.004266666666666667",
            "--noise-multiplier",
            "1.1",
            "--steps",
            "14062",
            "--delta",
            "1e-5",
        ],
    );
    // dp_accounting 0.6: PLDAccountant 2.381686, RdpAccountant 2.5965558697943036 at
    // order 8.1; the tighter is the answer.
    for line in [
        "ε = 2.3817 at δ = 1e-5 (PLD)",
        "PLD: ε = 2.3817 (grid interval 0.0001)",
        "RDP: ε = 2.5966 (best order 8.1)",
        "Poisson sampling",
    ] {
        assert!(r.stdout.contains(line), "{line}: {}", r.stdout);
    }

    // The same run given by batch and dataset size and epochs: 60 epochs of 234.375
    // steps are 14,063 steps, rounded up.
    let v = json(&[
        "epsilon",
        "--batch-size",
        "256",
        "--dataset-size",
        "60000",
        "--epochs",
        "60",
        "--noise-multiplier",
        "1.1",
        "--delta",
        "1e-5",
    ]);
    assert_eq!(v["steps"], 14_063);
    assert_eq!(v["accountant"], "pld");
    assert_eq!(v["sampling"], "poisson");
    let eps = v["epsilon"].as_f64().unwrap();
    assert_eq!(eps, v["pld"]["epsilon"].as_f64().unwrap());
    assert!((eps - 2.3817).abs() < 0.01, "{v}");
    let by_rdp = v["rdp"]["epsilon"].as_f64().unwrap();
    assert!(
        (by_rdp - 2.5966).abs() < 1e-3 && by_rdp > 2.5965558697943036,
        "{v}"
    );
    let rdp = v["rdp"]["rdp"].as_array().unwrap();
    assert_eq!(rdp.len(), 156);
    assert_eq!(rdp[0]["order"], 1.1);
    assert_eq!(rdp[155]["order"], 1024.0);
}

#[test]
fn the_noise_found_meets_the_target_and_no_less_does() {
    // dp_accounting's calibrate_dp_mechanism: 1.513122 with its RdpAccountant, 1.414631
    // with its PLDAccountant (the tighter, which `both` answers with).
    for (accountant, reference) in [("rdp", 1.513_122), ("both", 1.414_631)] {
        let v = json(&[
            "noise",
            "--sampling-rate",
            "0.01",
            "--steps",
            "1000",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
            "--accountant",
            accountant,
        ]);
        let sigma = v["noise_multiplier"].as_f64().unwrap();
        assert!((sigma - reference).abs() < 2e-4, "{v}");
        if accountant == "both" {
            assert_eq!(v["accountant"], "pld");
        }
        assert!(v["epsilon"].as_f64().unwrap() <= 1.0, "{v}");
        let below = json(&[
            "epsilon",
            "--sampling-rate",
            "0.01",
            "--steps",
            "1000",
            "--noise-multiplier",
            &(sigma * 0.999).to_string(),
            "--delta",
            "1e-5",
            "--accountant",
            accountant,
        ]);
        assert!(below["epsilon"].as_f64().unwrap() > 1.0, "{below}");
    }
}

#[test]
fn chosen_orders_are_used_and_an_edge_order_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let r = ok(
        dir.path(),
        &[
            "privacy",
            "epsilon",
            "--sampling-rate",
            "1",
            "--noise-multiplier",
            "0.05",
            "--steps",
            "1",
            "--delta",
            "1e-5",
            "--orders",
            "2,4,8",
            "--accountant",
            "rdp",
        ],
    );
    assert!(r.stdout.contains("best order 2"), "{}", r.stdout);
    assert!(!r.stdout.contains("PLD"), "{}", r.stdout);
    assert!(r.stderr.contains("at the edge"), "{}", r.stderr);
}

#[test]
fn bad_settings_are_named_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fn run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["privacy", "epsilon", "--delta", "1e-5"];
        a.extend(extra);
        a
    }
    fails(
        d,
        &run(&[
            "--sampling-rate",
            "0",
            "--noise-multiplier",
            "1",
            "--steps",
            "5",
        ]),
        2,
        "sampling rate is 0",
    );
    fails(
        d,
        &run(&[
            "--sampling-rate",
            "0.1",
            "--noise-multiplier",
            "0",
            "--steps",
            "5",
        ]),
        2,
        "noise multiplier is 0",
    );
    fails(
        d,
        &run(&[
            "--sampling-rate",
            "0.1",
            "--noise-multiplier",
            "1",
            "--steps",
            "0",
        ]),
        2,
        "no step",
    );
    fails(
        d,
        &run(&["--noise-multiplier", "1", "--steps", "5"]),
        2,
        "give the sampling rate",
    );
    fails(
        d,
        &run(&["--sampling-rate", "0.1", "--noise-multiplier", "1"]),
        2,
        "--steps or --epochs",
    );
    fails(
        d,
        &run(&[
            "--batch-size",
            "300",
            "--dataset-size",
            "200",
            "--noise-multiplier",
            "1",
            "--steps",
            "5",
        ]),
        2,
        "--batch-size 300 of --dataset-size 200",
    );
    fails(
        d,
        &run(&[
            "--sampling-rate",
            "0.1",
            "--noise-multiplier",
            "1",
            "--steps",
            "5",
            "--orders",
            "0.5",
        ]),
        2,
        "order is 0.5",
    );
    fails(
        d,
        &[
            "privacy",
            "epsilon",
            "--sampling-rate",
            "0.1",
            "--noise-multiplier",
            "1",
            "--steps",
            "5",
            "--delta",
            "0",
        ],
        2,
        "δ is 0:",
    );
    fails(
        d,
        &[
            "privacy",
            "noise",
            "--sampling-rate",
            "0.1",
            "--steps",
            "5",
            "--delta",
            "1e-5",
            "--epsilon=-1",
        ],
        2,
        "target ε is -1",
    );
    // Options that contradict each other are refused by the parser.
    fails(
        d,
        &run(&[
            "--sampling-rate",
            "0.1",
            "--batch-size",
            "5",
            "--dataset-size",
            "50",
            "--noise-multiplier",
            "1",
            "--steps",
            "5",
        ]),
        2,
        "cannot be used with",
    );
}
