//! PII detection, mask rules and detokenization from arbitrary bytes (read as text,
//! lossily). Checks that nothing panics and these properties:
//! - `detect` gives spans on `char` boundaries, sorted, disjoint, with a confidence in
//!   0..=1, whatever the column hint;
//! - rules that parse can mask the input as a cell of any of their columns and of an
//!   unnamed `detect` column; a tokenized column detokenizes back to the input;
//! - `detokenize` of any text either fails or returns text; tokenizing the input and
//!   detokenizing gives it back;
//! - the column judge, given the first line as a header and the others as values,
//!   returns a kind with a confidence and shares in 0..=1, and each value check answers.
//!
//! The key is fixed (`[0x42; 32]`, key id `3770e4d1`) so seeds can hold valid tokens.
#![no_main]

use std::sync::LazyLock;

use aigis_data::mask::{Detokenizer, MaskKey, Masker, Rules};
use aigis_data::pii::{Detector, PiiKind};
use libfuzzer_sys::fuzz_target;

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| Detector::new().expect("detector"));
static KEY: LazyLock<MaskKey> =
    LazyLock::new(|| MaskKey::from_bytes(&[0x42; 32]).expect("a 32-byte key"));
static DETOKENIZER: LazyLock<Detokenizer> =
    LazyLock::new(|| Detokenizer::new(&KEY).expect("detokenizer"));
static TOKENIZE: LazyLock<Masker> = LazyLock::new(|| {
    let rules = Rules::parse("[columns]\nv = \"tokenize\"").expect("rules");
    Masker::new(rules, DETECTOR.clone(), Some(&KEY)).expect("masker")
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let hint = data
        .first()
        .and_then(|b| PiiKind::ALL.get(usize::from(*b) % (PiiKind::ALL.len() + 1)))
        .copied();
    let mut found = Vec::new();
    DETECTOR.detect_with_hint(&text, hint, &mut found);
    let mut last_end = 0;
    for m in &found {
        assert!(last_end <= m.start && m.start < m.end && m.end <= text.len());
        assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
        assert!((0.0..=1.0).contains(&m.confidence));
        last_end = m.end;
    }

    if let Ok(rules) = Rules::parse(&text) {
        let columns: Vec<String> = rules.columns().map(|(c, _)| c.to_owned()).collect();
        let masker = Masker::new(rules, DETECTOR.clone(), Some(&KEY)).expect("a key is given");
        for column in columns.iter().map(String::as_str).chain(["notes"]) {
            let _ = masker.mask_cell(column, &text).expect("masking with a key succeeds");
        }
    }

    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let values: Vec<&str> = lines.collect();
    if let Some(class) = aigis_data::pii::columns::classify(header, &values) {
        let e = &class.evidence;
        assert!((0.0..=1.0).contains(&class.confidence));
        assert!((0.0..=1.0).contains(&e.shape) && (0.0..=1.0).contains(&e.distinct));
        assert!(e.dictionary.is_none_or(|d| (0.0..=1.0).contains(&d)));
        assert!(e.sampled <= values.len());
    }
    for kind in PiiKind::ALL {
        let _ = aigis_data::pii::columns::value_matches(kind, &text);
    }
    let _ = aigis_data::pii::columns::quasi_identifier_hint(header);

    let _ = DETOKENIZER.detokenize(&text);
    let token = TOKENIZE.mask_cell("v", &text).expect("tokenize");
    let back = DETOKENIZER.detokenize(&token.text).expect("a fresh token detokenizes");
    assert_eq!(back.text, text);
});
