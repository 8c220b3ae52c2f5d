//! Round trips of every predicate, the JSON shapes aigis has always written, and
//! predicates that must be refused.

use std::collections::BTreeMap;

use aigis_core::{Digest, Severity, Statement};
use serde_json::json;

use super::*;
use crate::{Error, Predicate};

fn d(s: &[u8]) -> Digest {
    Digest::of(s)
}

/// Serializes, reads back through a statement, and checks nothing changed.
fn round_trip<P: Predicate + PartialEq + std::fmt::Debug>(p: &P) -> serde_json::Value {
    let value = p.to_value().unwrap();
    let statement = p.statement(vec![("x".into(), d(b"x"))]).unwrap();
    let bytes = statement.to_json();
    let back = Statement::from_json(&bytes).unwrap();
    assert_eq!(&P::from_statement(&back).unwrap(), p, "{}", P::TYPE);
    value
}

fn scan_file(file: Option<&str>) -> DataScanFile {
    DataScanFile {
        format: "csv".into(),
        rows: 10,
        columns: 3,
        schema: "reference".into(),
        profile: Some(d(b"profile")),
        counts: vec![RuleCount {
            rule: "pii.email".into(),
            column: Some("email".into()),
            severity: Severity::High,
            count: 2,
        }],
        worst: Some(Severity::High),
        personal_columns: vec![PersonalColumn {
            column: "name".into(),
            kind: "person_name".into(),
            confidence: 0.95,
        }],
        quasi_identifiers: Some(QuasiIdentifiers {
            rows: 10,
            columns: vec!["zip".into(), "dob".into()],
            unique_share: 0.5,
            k: 1,
        }),
        poisoning: Some(Poisoning {
            label: Some("label".into()),
            features: vec!["amount".into()],
            suspicious_rows: 1,
            counts: PoisonCounts {
                outlier: 1,
                label_flip: 0,
                duplicate: 0,
                near_duplicate: 0,
                backdoor: 0,
            },
        }),
        fail_on: "high".into(),
        passed: false,
        tool: Tool::current(),
        quarantine: Some(Quarantine {
            dir: "q".into(),
            quarantine_on: "medium".into(),
            clean: QuarantinePart {
                file: "q/clean.csv".into(),
                rows: 9,
                sha256: d(b"c").hex(),
            },
            quarantined: QuarantinePart {
                file: "q/quarantined.csv".into(),
                rows: 1,
                sha256: d(b"q").hex(),
            },
        }),
        file: file.map(Into::into),
    }
}

fn model_scan() -> ModelScan {
    ModelScan {
        files: vec![ScannedFile {
            path: "model.pkl".into(),
            format: "pickle".into(),
            verdict: Verdict::Dangerous,
            bytes: 100,
            findings: vec![ScanFinding {
                verdict: Verdict::Dangerous,
                rule: "pickle.global.dangerous".into(),
                message: "`os.system`".into(),
                location: Location {
                    member: None,
                    offset: Some(3),
                },
            }],
            allowlist_used: vec![],
        }],
        allowlist: Some(AllowlistInForce {
            digest: d(b"[]"),
            entries: vec![AllowlistEntry {
                name: "pkg.Net".into(),
                reason: "ours".into(),
                by: "ana".into(),
            }],
        }),
        fail_on: "none".into(),
        passed: true,
        tool: Tool::current(),
    }
}

fn serialization() -> SigningSerialization {
    SigningSerialization {
        method: SigningMethod::Shards,
        shard_size: Some(1 << 30),
        allow_symlinks: false,
        ignore_paths: vec![".git".into()],
    }
}

fn registered_files() -> Vec<RegisteredFile> {
    vec![RegisteredFile {
        path: "model.onnx".into(),
        sha256: d(b"m"),
        bytes: 5,
    }]
}

#[test]
fn a_gateway_call_round_trips_and_holds_digests_only() {
    let call = GatewayCall {
        time: "2026-12-02T10:00:00.123Z".into(),
        route: "POST /v2/models/{name}/infer".into(),
        principal: Some("ci".into()),
        authenticated_by: Some("api_key".into()),
        model: Some("digits".into()),
        model_version: Some("4238f3a90acf".into()),
        decision: CallDecision::Refused,
        status: 422,
        code: Some("invalid_input".into()),
        guards: vec![
            "authenticate".into(),
            "model".into(),
            "parse".into(),
            "validate".into(),
        ],
        rows: None,
        request_sha256: d(b"req"),
        response_sha256: d(b"resp"),
        duration_us: 180,
        flags: vec![CallFlag {
            detector: "profile_range".into(),
            action: "flag".into(),
            score: Some(0.25),
            reasons: vec!["row 0, `age`: above the training maximum 90".into()],
            rows: None,
        }],
        tool: Tool::current(),
    };
    let v = round_trip(&call);
    assert_eq!(v["decision"], "refused");
    assert_eq!(v["rows"], serde_json::Value::Null);
    assert_eq!(v["flags"][0]["detector"], "profile_range");
    // A record written before `flags` existed still reads.
    let mut old = v.clone();
    old.as_object_mut().unwrap().remove("flags");
    let back: GatewayCall = serde_json::from_value(old).unwrap();
    assert!(back.flags.is_empty());
}

#[test]
fn every_predicate_round_trips() {
    round_trip(&DataManifest {
        format: "aigis-data-manifest/v1".into(),
        chunk_size: 4096,
        root: d(b"r").hex(),
        files: vec![ManifestFile {
            path: "a.csv".into(),
            size: 3,
            sha256: d(b"a").hex(),
            chunks: vec![d(b"a").hex()],
        }],
    });
    round_trip(&DetectorFit {
        signature: "d.json.sig".into(),
        features: 64,
        fit_rows: 600,
        calibration_rows: 200,
        calibration: "held_out".into(),
        seed: 0,
        fpr: 0.01,
        detectors: vec![DetectorThreshold {
            name: "squeeze".into(),
            threshold: 0.64,
            calibration_flagged: 0.005,
            squeezers: vec!["bits:3".into()],
        }],
        calibration_flagged: 0.01,
        extraction: Some(ExtractionThreshold {
            threshold: 0.89,
            clients: 100,
            rows_per_client: 1078,
            lowest_w: 0.93,
            median_lowest_w: 0.97,
            min_distances: 100,
            history: 1000,
        }),
        tool: Tool::current(),
    });
    round_trip(&MonitorDrift {
        reference_rows: 10,
        current_rows: 8,
        alpha: 0.05,
        drift_share: 0.5,
        verdict: "drift".into(),
        tested: 1,
        drifted: 1,
        insufficient: 1,
        features: vec![
            DriftFeature {
                name: "age".into(),
                kind: "numeric".into(),
                status: "drift".into(),
                test: Some("ks".into()),
                statistic: Some(0.6),
                p_value: Some(0.01),
                psi: Some(0.4),
            },
            DriftFeature {
                name: "note".into(),
                kind: "text".into(),
                status: "not_tested".into(),
                test: None,
                statistic: None,
                p_value: None,
                psi: None,
            },
        ],
        tool: Tool::current(),
    });
    round_trip(&DataProfile {
        rows: 3,
        files: 1,
        columns: vec![ProfileColumn {
            name: "amount".into(),
            column_type: "float".into(),
            null_rate: 0.0,
        }],
    });
    round_trip(&DataScan::One(Box::new(scan_file(None))));
    round_trip(&DataScan::Many(DataScanFiles {
        files: vec![scan_file(Some("a.csv")), scan_file(Some("b.csv"))],
        fail_on: "high".into(),
        passed: false,
        tool: Tool::current(),
    }));
    round_trip(&DataRelease {
        source: ReleaseSource {
            file: "t.csv".into(),
            sha256: d(b"t").hex(),
        },
        released_rows: vec![4],
        not_found: vec![],
        reason: "false positive".into(),
        reviewer: Reviewer {
            key_id: "k".into(),
            user: None,
        },
        before: CleanQuarantined {
            clean: d(b"1").hex(),
            quarantined: d(b"2").hex(),
        },
        rows_now: CleanQuarantined {
            clean: 10,
            quarantined: 0,
        },
    });
    round_trip(&DataMask {
        rules: d(b"rules"),
        key_id: None,
        input_format: "csv".into(),
        output_format: "jsonl".into(),
        rows: 4,
        ragged_rows_padded: 0,
        cells_changed: 2,
        columns: BTreeMap::from([(
            "email".into(),
            vec![MaskChange {
                kind: Some("email".into()),
                action: "redact".into(),
                count: 2,
            }],
        )]),
        tool: Tool::current(),
    });
    round_trip(&DataDetokenize {
        key_id: "k".into(),
        rows: 4,
        tokens_restored: 2,
        columns: BTreeMap::from([("email".into(), 2)]),
        tool: Tool::current(),
    });
    round_trip(&Encryption {
        artifact: "dataset".into(),
        algorithm: "aigis-enc/v1".into(),
        format_version: 1,
        chunk_size: 65536,
        plaintext_bytes: 10,
        ciphertext_bytes: 200,
        recipients: vec!["r1".into()],
    });
    round_trip(&KeyRotation {
        old_key_id: "a".into(),
        new_key_id: "b".into(),
        new_verifier_key: "demo+b+AQ".into(),
    });
    round_trip(&model_scan());
    round_trip(&ModelSignature {
        signature: "model.sig".into(),
        signature_sha256: d(b"sig").hex(),
        format: "https://model_signing/signature/v1.0".into(),
        key_id: "k".into(),
        algorithm: "ed25519".into(),
        serialization: serialization(),
        resources: 2,
        files: 2,
        bytes: 10,
        tool: Tool::current(),
    });
    round_trip(&ModelVerification::Checked(SignatureChecked {
        passed: false,
        signature: "model.sig".into(),
        signature_sha256: d(b"sig").hex(),
        signature_verified: true,
        key_id: "k".into(),
        algorithm: "ed25519".into(),
        serialization: SigningSerialization {
            method: SigningMethod::Files,
            shard_size: None,
            allow_symlinks: false,
            ignore_paths: vec![],
        },
        files: 2,
        changes: vec![FileChange::new(ChangeKind::Modified, "w.bin")],
        tool: Tool::current(),
    }));
    round_trip(&ModelVerification::Rejected(SignatureRejected {
        passed: false,
        signature: "model.sig".into(),
        signature_sha256: d(b"sig").hex(),
        signature_verified: false,
        reason: "no trusted key".into(),
        tool: Tool::current(),
    }));
    round_trip(&ModelVerification::Registered(SignatureRegistered {
        bundle: Some(d(b"bundle")),
        verified: true,
        detail: "verified".into(),
        files: registered_files(),
    }));
    round_trip(&ModelRegistration {
        name: "fraud".into(),
        version: 1,
        kind: ModelKind::Folder,
        source: "/m".into(),
        files: registered_files(),
        scan_evidence: Some(3),
        signature_bundle: None,
        signature_evidence: None,
    });
    round_trip(&ModelPromotion {
        name: "fraud".into(),
        version: 2,
        action: StageAction::Rollback,
        stage: "production".into(),
        from: Some(3),
        decision: Decision::Refused,
        checks: vec![GateCheck {
            check: "scan".into(),
            passed: false,
            detail: "`m.pkl` is dangerous".into(),
            evidence: Some(4),
        }],
        policy: Some(GatePolicyRef {
            source: "built-in".into(),
            digest: Digest::of(b"policy"),
        }),
        policies: vec![GatePolicyVerdict {
            policy: "scan".into(),
            effect: "forbid".into(),
            passed: false,
            reads: vec!["scan".into()],
            evidence: vec![4],
            error: None,
        }],
        attributes: Some(
            serde_json::json!({"scan": {"verdict": "dangerous", "passed": false}})
                .as_object()
                .unwrap()
                .clone(),
        ),
        read: vec![4],
    });
    round_trip(&WatermarkEmbed {
        input: PathDigest {
            path: "m.onnx".into(),
            sha256: d(b"m").hex(),
        },
        output: PathDigest {
            path: "marked.onnx".into(),
            sha256: d(b"n").hex(),
        },
        key_id: "w".into(),
        selection: TensorSelection::Tensors(vec!["fc.weight".into()]),
        strength: WatermarkStrength::TargetScore(8.0),
        threshold: 4.0,
        report: EmbedReport {
            tensors: vec![EmbeddedTensor {
                name: "fc.weight".into(),
                elements: 100,
                strength: 0.01,
                max_change: 0.01,
                mean_change: 0.01,
                relative_l2: 0.01,
                z: 8.0,
            }],
            z: 8.0,
            p_value: 1e-15,
            max_change: 0.01,
            mean_change: 0.01,
        },
        tool: Tool::current(),
    });
    round_trip(&WatermarkVerify {
        key_id: "w".into(),
        selection: TensorSelection::MinElements(1024),
        threshold: 4.0,
        present: true,
        detection: Detection {
            tensors: vec![TensorScore {
                name: "fc.weight".into(),
                stored_as: "int8".into(),
                elements: 100,
                z: 8.0,
            }],
            z: 8.0,
            p_value: 1e-15,
        },
        tool: Tool::current(),
    });
    round_trip(&provenance());
    round_trip(&DatasetSummary {
        rows: 3,
        columns: vec!["a".into()],
        format: "csv".into(),
    });
    round_trip(&ArtifactDigest {
        bytes: 4096,
        note: "stand-in".into(),
    });
    round_trip(&Approval {
        approved_by: "aigis demo".into(),
        decision: "promote".into(),
        model: d(b"m"),
        dataset: d(b"d"),
    });
}

fn provenance() -> IngestProvenance {
    IngestProvenance {
        build_definition: BuildDefinition {
            build_type: "https://aigis.dev/ingest/v1".into(),
            external_parameters: ExternalParameters {
                source: IngestSource {
                    name: "vendor-x".into(),
                    path: "incoming/vendor-x".into(),
                    uri: "file://incoming/vendor-x/batch-1".into(),
                },
                profile: None,
                label: Some("label".into()),
                fail_on: "high".into(),
            },
            internal_parameters: InternalParameters {
                steps: vec!["verify".into()],
                run_by: RunBy {
                    key_id: "k".into(),
                    user: None,
                },
            },
            resolved_dependencies: vec![ResolvedDependency {
                name: "source manifest".into(),
                uri: "file://m.json".into(),
                digest: BTreeMap::from([("sha256".into(), d(b"m").hex())]),
                annotations: ManifestAnnotations {
                    signed_by: "v".into(),
                    root: d(b"r").hex(),
                },
            }],
        },
        run_details: RunDetails {
            builder: Builder {
                id: Tool::builder_id(),
            },
            metadata: RunMetadata {
                started_on: "2026-01-01T00:00:00Z".into(),
                finished_on: "2026-01-01T00:00:01Z".into(),
            },
            byproducts: vec![
                Byproduct::Decision {
                    annotations: IngestDecision {
                        accepted: false,
                        refusals: vec!["a.csv: 1 finding".into()],
                    },
                },
                Byproduct::Scans {
                    annotations: IngestScans {
                        scans: vec![IngestScan {
                            file: "a.csv".into(),
                            sha256: d(b"a").hex(),
                            rows: 3,
                            worst: None,
                            passed: true,
                            evidence: 2,
                        }],
                    },
                },
                Byproduct::Manifest {
                    annotations: IngestManifest {
                        path: None,
                        evidence: None,
                        root: d(b"r").hex(),
                    },
                },
            ],
        },
    }
}

/// Optional fields are written as they always were: `null` where the writers wrote
/// `null`, left out where they left them out.
#[test]
fn json_is_the_shape_aigis_always_wrote() {
    let p = ModelPromotion {
        name: "m".into(),
        version: 1,
        action: StageAction::Promote,
        stage: "staging".into(),
        from: None,
        decision: Decision::Allowed,
        checks: vec![GateCheck {
            check: "stored-bytes".into(),
            passed: true,
            detail: "1 file(s) match their digests".into(),
            evidence: None,
        }],
        policy: None,
        policies: Vec::new(),
        attributes: None,
        read: Vec::new(),
    };
    assert_eq!(
        p.to_value().unwrap(),
        json!({"name": "m", "version": 1, "action": "promote", "stage": "staging",
               "from": null, "decision": "allowed",
               "checks": [{"check": "stored-bytes", "passed": true,
                           "detail": "1 file(s) match their digests"}]})
    );
    let one = DataScan::One(Box::new(scan_file(None))).to_value().unwrap();
    assert!(one.get("file").is_none() && one.get("files").is_none());
    assert_eq!(one["profile"], json!(d(b"profile").to_string()));
    let mut bare = scan_file(None);
    bare.quarantine = None;
    bare.profile = None;
    bare.worst = None;
    bare.poisoning = None;
    let v = DataScan::One(Box::new(bare)).to_value().unwrap();
    assert!(v.get("quarantine").is_none());
    assert_eq!(v["profile"], json!(null));
    assert_eq!(v["worst"], json!(null));
    assert_eq!(v["poisoning"], json!(null));
    assert_eq!(
        TensorSelection::MinElements(7)
            .serialize(serde_json::value::Serializer)
            .unwrap(),
        json!({"min_elements": 7})
    );
    assert_eq!(
        serde_json::to_value(WatermarkStrength::Relative(0.5)).unwrap(),
        json!({"relative": 0.5})
    );
    let files = model_scan().to_value().unwrap();
    assert!(files["files"][0].get("allowlist_used").is_none());
    assert_eq!(
        files["tool"],
        json!(format!("aigis {}", env!("CARGO_PKG_VERSION")))
    );
    // Each shape of `model-verification` reads back as itself.
    let registered = json!({"bundle": d(b"b"), "verified": false, "detail": "x", "files": []});
    assert!(matches!(
        ModelVerification::from_value(&registered).unwrap(),
        ModelVerification::Registered(_)
    ));
}

#[test]
fn malformed_predicates_are_refused() {
    let good = model_scan().to_value().unwrap();
    let refuse = |mutate: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        mutate(&mut v);
        let err = ModelScan::from_value(&v).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert!(err.to_string().contains(ModelScan::TYPE), "{err}");
    };
    refuse(&|v| v["files"][0]["verdict"] = json!("fine"));
    refuse(&|v| v["files"][0]["verdict"] = json!(null));
    refuse(&|v| v["files"] = json!({"path": "m.pkl"}));
    refuse(&|v| v["allowlist"]["digest"] = json!("sha256:zz"));
    refuse(&|v| {
        v.as_object_mut()
            .unwrap()
            .remove("passed")
            .map(drop)
            .unwrap()
    });
    refuse(&|v| v["files"][0]["verdikt"] = json!("safe"));
    refuse(&|v| *v = json!("model-scan"));

    // A statement of another type is not read as this one.
    let other = KeyRotation {
        old_key_id: "a".into(),
        new_key_id: "b".into(),
        new_verifier_key: "c".into(),
    }
    .statement(vec![("k".into(), d(b"k"))])
    .unwrap();
    let err = ModelScan::from_statement(&other).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");
    let mut bare = other.clone();
    bare.predicate = None;
    assert!(matches!(
        KeyRotation::from_statement(&bare).unwrap_err(),
        Error::Missing(_)
    ));
    // A promotion with an unknown decision, a registration with a digest that is not one.
    let mut p = json!({"name": "m", "version": 1, "action": "promote", "stage": "s",
                       "from": null, "decision": "maybe", "checks": []});
    assert!(ModelPromotion::from_value(&p).is_err());
    p["decision"] = json!("allowed");
    assert!(ModelPromotion::from_value(&p).is_ok());
    assert!(DataScan::from_value(&json!({"files": [], "fail_on": "high"})).is_err());
}

#[test]
fn every_schema_has_its_type_as_id_and_distinct_names() {
    let all = crate::schemas();
    let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    for s in &all {
        assert_eq!(s.schema["$id"], json!(s.predicate_type));
    }
}

#[test]
fn fairness_round_trips() {
    let group = |values: Vec<String>, impact: Option<f64>| FairnessGroup {
        values,
        rows: 10,
        label_positive: 4,
        predicted_positive: 3,
        selection_rate: Some(0.3),
        true_positive_rate: Some(0.5),
        false_positive_rate: Some(0.0),
        accuracy: Some(0.8),
        impact_ratio: impact,
        excluded: false,
        brier: Some(0.1),
        expected_calibration_error: None,
    };
    let value = round_trip(&Fairness {
        rows: 20,
        label: "y".into(),
        prediction: "p".into(),
        score: None,
        positive: "1".into(),
        min_group: 0,
        bootstrap: Some(FairnessBootstrap {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }),
        overall: group(vec![], None),
        analyses: vec![FairnessAnalysis {
            sensitive: vec!["sex".into()],
            groups: vec![group(vec!["F".into()], Some(0.5))],
            disparities: vec![
                FairnessDisparity {
                    metric: "demographic-parity-ratio".into(),
                    value: Some(0.5),
                    interval: Some([0.4, 0.6]),
                },
                FairnessDisparity {
                    metric: "equalized-odds-ratio".into(),
                    value: None,
                    interval: None,
                },
            ],
        }],
        thresholds: vec![FairnessThreshold {
            metric: "demographic-parity-ratio".into(),
            bound: "at_least".into(),
            value: 0.8,
        }],
        breaches: vec![FairnessBreach {
            analysis: "sex".into(),
            metric: "demographic-parity-ratio".into(),
            bound: "at_least".into(),
            threshold: 0.8,
            value: Some(0.5),
        }],
        passed: false,
        tool: Tool::current(),
    });
    // A missing score is written as null; a group without calibration has no such key.
    assert_eq!(value["score"], json!(null));
    assert!(value["overall"].get("expected_calibration_error").is_none());
}

#[test]
fn explanation_round_trips() {
    let value = round_trip(&Explanation {
        output: "output_probability".into(),
        features: vec!["a".into(), "b".into()],
        explained_rows: 5,
        background: 50,
        background_from: 1000,
        method: "kernel_shap".into(),
        samples: Some(2052),
        seed: 0,
        mean_abs_shap: vec![0.1, 0.02],
        permutation: Some(PermutationImportance {
            metric: "accuracy".into(),
            score: 0.95,
            rows: 1000,
            repeats: 5,
            mean: vec![0.2, 0.0],
            std: vec![0.01, 0.0],
        }),
        lime: Some(LimeSummary {
            samples: 5000,
            features: 2,
            mean_abs_weight: vec![0.3, 0.01],
            mean_score: 0.8,
        }),
        tool: Tool::current(),
    });
    assert_eq!(value["permutation"]["metric"], json!("accuracy"));
    assert_eq!(value["lime"]["samples"], json!(5000));
    // Evidence from before LIME existed still reads.
    let mut old = value.clone();
    old.as_object_mut().unwrap().remove("lime");
    let back: Explanation = serde_json::from_value(old).unwrap();
    assert!(back.lime.is_none());
}
