use super::*;

fn key(b: u8) -> MaskKey {
    MaskKey::from_bytes(&[b; 32]).unwrap()
}

fn masker(rules: &str, key: Option<&MaskKey>) -> Masker {
    Masker::new(Rules::parse(rules).unwrap(), Detector::new().unwrap(), key).unwrap()
}

#[test]
fn the_docs_show_the_example_rules() {
    let source = include_str!("../mask.rs");
    let block: String = source
        .lines()
        .skip_while(|l| *l != "//! ```toml")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| {
            format!(
                "{}\n",
                l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
            )
        })
        .collect();
    assert_eq!(block, EXAMPLE_RULES);
}

#[test]
fn column_actions() {
    let k = key(1);
    let m = masker(EXAMPLE_RULES, Some(&k));
    let card = m.mask_cell("card_number", "4111111111111111").unwrap();
    assert_eq!(card.text, "************1111");
    assert_eq!(
        card.changes,
        [Change {
            kind: None,
            action: ActionKind::Mask,
            count: 1
        }]
    );
    assert_eq!(
        m.mask_cell("card_number", "12").unwrap().text,
        "12",
        "shorter than keep_last"
    );
    assert_eq!(m.mask_cell("Full Name", "Zoë Ångström").unwrap().text, "-");
    // Hash: same input, same output, 64 hex digits; another key, another hash.
    let h = m
        .mask_cell("email", "ana@example.com")
        .unwrap()
        .text
        .into_owned();
    assert_eq!(h.len(), 64);
    assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(m.mask_cell("email", "ana@example.com").unwrap().text, h);
    assert_ne!(m.mask_cell("email", "ana@example.org").unwrap().text, h);
    let other = masker(EXAMPLE_RULES, Some(&key(2)));
    assert_ne!(other.mask_cell("email", "ana@example.com").unwrap().text, h);
    // Untouched: no rule, or an empty cell.
    let plain = m.mask_cell("amount", "12.50").unwrap();
    assert!(matches!(plain.text, Cow::Borrowed("12.50")) && plain.changes.is_empty());
    assert!(m.mask_cell("email", "").unwrap().changes.is_empty());
}

#[test]
fn hash_options() {
    let k = key(1);
    let m = masker(
        "[columns]\na = { action = \"hash\", format = \"base64url\", bytes = 12 }\nb = { action = \"mask\", char = \"#\", keep_last = 2 }",
        Some(&k),
    );
    let h = m.mask_cell("a", "x").unwrap().text.into_owned();
    assert_eq!(h.len(), 16, "{h}");
    assert!(
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(m.mask_cell("b", "abcdef").unwrap().text, "####ef");
}

#[test]
fn detect_columns_replace_each_piece() {
    let k = key(1);
    let m = masker(EXAMPLE_RULES, Some(&k));
    let text =
        "Ana (ana@example.com) paid with 4111 1111 1111 1111 from 10.0.0.7, ssn 123-45-6789.";
    let cell = m.mask_cell("notes", text).unwrap();
    let out = cell.text.as_ref();
    assert!(out.starts_with("Ana (tok1."), "{out}");
    assert!(
        out.ends_with(") paid with ***************1111 from 10.0.0.7, ssn [REDACTED:us_ssn]."),
        "{out}"
    );
    assert!(!out.contains("ana@"));
    let mut changes = cell.changes.clone();
    changes.sort_by_key(|c| c.kind);
    assert_eq!(
        changes,
        [
            Change {
                kind: Some(PiiKind::CreditCard),
                action: ActionKind::Mask,
                count: 1
            },
            Change {
                kind: Some(PiiKind::UsSsn),
                action: ActionKind::Redact,
                count: 1
            },
            Change {
                kind: Some(PiiKind::IpAddress),
                action: ActionKind::Keep,
                count: 1
            },
            Change {
                kind: Some(PiiKind::Email),
                action: ActionKind::Tokenize,
                count: 1
            },
        ]
        .into_iter()
        .map(|c| (c.kind, c))
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect::<Vec<_>>()
    );
    let back = Detokenizer::new(&k).unwrap().detokenize(out).unwrap();
    assert_eq!(back.restored, 1);
    assert_eq!(
        back.text,
        text.replace("4111 1111 1111", "***************")
            .replace(" 1111 from", "1111 from")
            .replace("123-45-6789", "[REDACTED:us_ssn]")
    );
}

#[test]
fn detect_all_and_min_confidence() {
    let m = masker("detect_all = true\nmin_confidence = 0.9\n", None);
    // 0.95 (separated card) is masked, 0.85 (dashed SSN) is left.
    let cell = m
        .mask_cell("free_text", "4111 1111 1111 1111 / 123-45-6789")
        .unwrap();
    assert_eq!(cell.text, "[REDACTED:credit_card] / 123-45-6789");
    // The column name raises confidence: in an `ssn` column, 0.85 becomes 0.925.
    assert_eq!(
        m.mask_cell("ssn", "123-45-6789").unwrap().text,
        "[REDACTED:us_ssn]"
    );
}

#[test]
fn tokens_round_trip_and_refuse_others() {
    let k = key(1);
    let m = masker("[columns]\nid = \"tokenize\"", Some(&k));
    let values = ["123-45-6789", "Zoë", "a b\tc\n", &"x".repeat(10_000)];
    let d = Detokenizer::new(&k).unwrap();
    for v in values {
        let t = m.mask_cell("id", v).unwrap().text.into_owned();
        assert_eq!(t, m.mask_cell("id", v).unwrap().text, "deterministic");
        assert_eq!(d.detokenize(&t).unwrap().text, v);
        assert_eq!(
            detokenize(&k, &format!("[{t}]")).unwrap().text,
            format!("[{v}]")
        );
    }
    let t = m.mask_cell("id", "secret value").unwrap().text.into_owned();
    let err = detokenize(&key(2), &format!("id: {t}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("token at byte 4") && err.contains(&k.key_id()),
        "{err}"
    );
    assert!(!err.contains("secret value"));
    // One changed character: refused, not silently wrong.
    let i = t.len() - 5;
    let flipped = if &t[i..=i] == "A" { "B" } else { "A" };
    let changed = format!("{}{flipped}{}", &t[..i], &t[i + 1..]);
    assert!(d.detokenize(&changed).is_err());
    // Text without tokens, and token-like text glued to a word, is left as it is.
    let plain = d
        .detokenize("no tokens; mytok1.deadbeef.AAAAAAAAAAAAAAAAAAAAAAAAAA")
        .unwrap();
    assert_eq!(plain.restored, 0);
    assert!(matches!(plain.text, Cow::Borrowed(_)));
}

#[test]
fn keyed_rules_need_a_key() {
    let err = Masker::new(
        Rules::parse(EXAMPLE_RULES).unwrap(),
        Detector::new().unwrap(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("masking key"), "{err}");
    masker("[columns]\na = \"mask\"\n[pii]\ndefault = \"keep\"", None);
}

#[test]
fn report_counts_without_values() {
    let k = key(1);
    let m = masker(EXAMPLE_RULES, Some(&k));
    let mut a = MaskReport::default();
    for cell in ["x@example.com and y@example.com", "nothing here"] {
        a.record("notes", &m.mask_cell("notes", cell).unwrap());
    }
    a.record("email", &m.mask_cell("email", "x@example.com").unwrap());
    let mut total = MaskReport::default();
    total.merge(&a);
    total.merge(&a);
    assert_eq!(total.cells_changed, 4);
    assert_eq!(
        total.columns["notes"],
        [Change {
            kind: Some(PiiKind::Email),
            action: ActionKind::Tokenize,
            count: 4
        }]
    );
    let json = serde_json::to_string(&total).unwrap();
    assert!(!json.contains("example.com"), "{json}");
    assert!(
        json.contains("\"kind\":\"email\",\"action\":\"tokenize\""),
        "{json}"
    );
}

#[test]
fn masker_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Masker>();
    assert_send_sync::<Detokenizer>();
}

#[test]
fn name_columns_get_the_action_of_their_kind() {
    let k = key(1);
    let rules = "[columns]\nname = \"detect\"\nfirst = \"detect\"\nnotes = \"detect\"\n\
                 [pii]\nperson_name = \"tokenize\"\ngiven_name = { action = \"mask\", keep_last = 1 }\n";
    let m = masker(rules, Some(&k)).with_column_kinds([
        ("name".to_owned(), PiiKind::PersonName),
        ("first".to_owned(), PiiKind::GivenName),
    ]);
    assert_eq!(m.column_kind("name"), Some(PiiKind::PersonName));
    let cell = m.mask_cell("name", "miguel hernandez").unwrap();
    assert!(cell.text.starts_with("tok1."), "{}", cell.text);
    assert_eq!(
        cell.changes,
        [Change {
            kind: Some(PiiKind::PersonName),
            action: ActionKind::Tokenize,
            count: 1
        }]
    );
    let back = Detokenizer::new(&k)
        .unwrap()
        .detokenize(&cell.text)
        .unwrap();
    assert_eq!(back.text, "miguel hernandez");
    assert_eq!(m.mask_cell("first", "Kevon").unwrap().text, "****n");
    // A column not judged keeps the pattern search; an empty cell stays empty.
    assert_eq!(
        m.mask_cell("notes", "Kevon Dixon, ssn 123-45-6789")
            .unwrap()
            .text,
        "Kevon Dixon, ssn [REDACTED:us_ssn]"
    );
    assert_eq!(m.mask_cell("name", "").unwrap().text, "");
    // Without the judgement, a name column is only searched for patterns.
    let plain = masker(rules, Some(&k));
    assert_eq!(
        plain.mask_cell("name", "miguel hernandez").unwrap().text,
        "miguel hernandez"
    );
}
