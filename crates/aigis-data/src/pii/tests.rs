use super::*;

fn detector() -> Detector {
    Detector::new().unwrap()
}

fn find(d: &Detector, text: &str, hint: Option<PiiKind>) -> Vec<(PiiKind, String, f32)> {
    let mut out = Vec::new();
    d.detect_with_hint(text, hint, &mut out);
    out.iter()
        .map(|m| (m.kind, text[m.start..m.end].to_owned(), m.confidence))
        .collect()
}

fn kinds(d: &Detector, text: &str) -> Vec<(PiiKind, String)> {
    find(d, text, None)
        .into_iter()
        .map(|(k, s, _)| (k, s))
        .collect()
}

fn one(d: &Detector, text: &str, kind: PiiKind, value: &str) {
    assert_eq!(kinds(d, text), [(kind, value.to_owned())], "in {text:?}");
}

#[test]
fn emails() {
    let d = detector();
    one(
        &d,
        "mail ana.lopez+x@example.co.uk today",
        PiiKind::Email,
        "ana.lopez+x@example.co.uk",
    );
    one(
        &d,
        "<j_doe@sub.example.org>.",
        PiiKind::Email,
        "j_doe@sub.example.org",
    );
    for near in [
        "user@localhost",
        "a@b.c",
        "logo@2x.png",
        "x@@y.com",
        "@example.com",
    ] {
        assert_eq!(kinds(&d, near), [], "{near}");
    }
}

#[test]
fn phones() {
    let d = detector();
    for p in [
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "+1 415 555 2671",
        "+44 20 7946 0958",
        "+14155552671",
        "020 7946 0958",
        "06 12 34 56 78",
        "1-800-555-0199",
    ] {
        one(&d, &format!("call {p} now"), PiiKind::Phone, p);
    }
}

#[test]
fn cards() {
    let d = detector();
    for c in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "378282246310005",
        "3782 822463 10005",
        "5555555555554444",
    ] {
        one(&d, &format!("card: {c}."), PiiKind::CreditCard, c);
    }
    // Luhn-invalid, unknown network, wrong grouping.
    for near in [
        "4111 1111 1111 1112",
        "9111111111111111",
        "41 1111 1111 1111 11",
        "4111-1111 1111-1111",
    ] {
        assert!(
            kinds(&d, near)
                .iter()
                .all(|(k, _)| *k != PiiKind::CreditCard),
            "{near}"
        );
    }
}

#[test]
fn ssns() {
    let d = detector();
    one(&d, "ssn 123-45-6789", PiiKind::UsSsn, "123-45-6789");
    one(&d, "ssn 123 45 6789", PiiKind::UsSsn, "123 45 6789");
    for near in [
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert_eq!(kinds(&d, near), [], "{near}");
    }
    // A bare 9-digit number is an SSN only in a column that says so.
    assert_eq!(kinds(&d, "123456789"), []);
    let hinted = find(&d, "123456789", Some(PiiKind::UsSsn));
    assert_eq!(hinted.len(), 1);
    assert_eq!(hinted[0].0, PiiKind::UsSsn);
    assert_eq!(find(&d, "666456789", Some(PiiKind::UsSsn)), []);
}

#[test]
fn ibans() {
    let d = detector();
    one(
        &d,
        "IBAN: GB82 WEST 1234 5698 7654 32, thanks",
        PiiKind::Iban,
        "GB82 WEST 1234 5698 7654 32",
    );
    one(
        &d,
        "DE89370400440532013000",
        PiiKind::Iban,
        "DE89370400440532013000",
    );
    one(
        &d,
        "to NL91ABNA0417164300.",
        PiiKind::Iban,
        "NL91ABNA0417164300",
    );
    for near in [
        "GB83 WEST 1234 5698 7654 32",
        "DE89370400440532013001",
        "XDE89370400440532013000",
    ] {
        assert!(
            kinds(&d, near).iter().all(|(k, _)| *k != PiiKind::Iban),
            "{near}"
        );
    }
}

#[test]
fn ip_addresses() {
    let d = detector();
    one(
        &d,
        "from 192.168.1.20:8080",
        PiiKind::IpAddress,
        "192.168.1.20",
    );
    one(&d, "src=10.0.0.1", PiiKind::IpAddress, "10.0.0.1");
    one(
        &d,
        "host 2001:db8:85a3::8a2e:370:7334 up",
        PiiKind::IpAddress,
        "2001:db8:85a3::8a2e:370:7334",
    );
    one(
        &d,
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
        PiiKind::IpAddress,
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
    );
    one(
        &d,
        "::ffff:192.0.2.128",
        PiiKind::IpAddress,
        "::ffff:192.0.2.128",
    );
    for near in [
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "v1.2.3.4",
        "10:30:00",
        "std::fmt",
        "::1",
        "00:1A:2B:3C:4D:5E",
    ] {
        assert_eq!(kinds(&d, near), [], "{near}");
    }
}

#[test]
fn api_keys() {
    let d = detector();
    for k in [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "xoxb-123456789012-abcdefghij",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "sk-proj-Abc123Def456Ghi789Jkl012Mno345",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ] {
        one(&d, &format!("key={k} end"), PiiKind::ApiKey, k);
    }
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
    one(&d, &format!("{pem}\nafter"), PiiKind::ApiKey, pem);
    // Glued to a word, too short, not a JSON header.
    for near in [
        "task-force-is-a-long-hyphenated-phrase",
        "AKIA123",
        "eyJ.notajwt.x",
        "eyJub3Rqc29u.eyJub3Q.x",
    ] {
        assert!(
            kinds(&d, near).iter().all(|(k, _)| *k != PiiKind::ApiKey),
            "{near}"
        );
    }
}

#[test]
fn secrets() {
    let d = detector();
    one(
        &d,
        "aws_secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        PiiKind::Secret,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
}

/// Ordinary columns of a dataset: amounts, dates, timestamps, counts, ids, versions,
/// postcodes, free text. None of it is PII.
#[test]
fn ordinary_values_are_not_pii() {
    let d = detector();
    let cells = [
        "0",
        "42",
        "-17",
        "3.14159",
        "-0.000123",
        "1e-9",
        "1234567",
        "12345678",
        "123456789",
        "1234567890",
        "98765432101",
        "2024-01-05",
        "2024-01-05T10:30:00Z",
        "2024-01-05 10:30:00",
        "05/01/2024",
        "31.12.1999",
        "10:30",
        "1,234,567.89",
        "$1,299.00",
        "ORD-2024-000123",
        "INV-123-45-6789",
        "order #123456789",
        "v1.2.3",
        "version 10.4.1.2b",
        "SKU 4006381333931",
        "75001",
        "SW1A 1AA",
        "90210-1234",
        "lat 48.8566, lon 2.3522",
        "2.5e10",
        "550e8400-e29b-41d4-a716-446655440000",
        "The quick brown fox jumps over the lazy dog.",
        "Customer asked about the refund for order 88123 on 12/03/2023.",
        "Temperature was 21.5 C at 14:05; humidity 40%.",
        "transaction_reference_number_2024",
        "score=0.87 rank=3 of 1200",
        "ISBN 978-3-16-148410-0",
        "12 345 678",
    ];
    for cell in cells {
        assert_eq!(kinds(&d, cell), [], "{cell}");
    }
}

#[test]
fn confidence_reflects_the_strength_of_the_check() {
    let d = detector();
    let conf = |text: &str, hint| find(&d, text, hint)[0].2;
    let card_separated = conf("4111 1111 1111 1111", None);
    let card_bare = conf("4111111111111111", None);
    let ssn_dashed = conf("123-45-6789", None);
    let ssn_bare = conf("123456789", Some(PiiKind::UsSsn));
    assert!(
        card_separated > card_bare && card_bare > ssn_bare,
        "{card_separated} {card_bare} {ssn_bare}"
    );
    assert!(ssn_dashed > ssn_bare);
    // The hint raises the hinted kind only.
    assert!(conf("123-45-6789", Some(PiiKind::UsSsn)) > ssn_dashed);
    assert_eq!(conf("123-45-6789", Some(PiiKind::Email)), ssn_dashed);
    for m in find(
        &d,
        "a@b.com 4111 1111 1111 1111 123-45-6789 10.0.0.1",
        Some(PiiKind::Email),
    ) {
        assert!((0.0..=1.0).contains(&m.2));
    }
}

#[test]
fn several_in_one_cell_are_sorted_and_disjoint() {
    let d = detector();
    let text = "Ana <ana@example.com>, +1 415 555 2671, card 4111 1111 1111 1111, ip 10.1.2.3, ssn 123-45-6789";
    let got: Vec<PiiKind> = kinds(&d, text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        [
            PiiKind::Email,
            PiiKind::Phone,
            PiiKind::CreditCard,
            PiiKind::IpAddress,
            PiiKind::UsSsn
        ]
    );
    let mut out = vec![found(PiiKind::Email, 0, 1, 1.0)];
    d.detect(text, &mut out);
    assert_eq!(out.len(), 6, "appends, keeps what was there");
    assert!(out[1..].windows(2).all(|w| w[0].end <= w[1].start));
}

#[test]
fn column_names() {
    for (name, kind) in [
        ("email", PiiKind::Email),
        ("CustomerEmail", PiiKind::Email),
        ("e-mail", PiiKind::Email),
        ("phone_number", PiiKind::Phone),
        ("PHONENUMBER", PiiKind::Phone),
        ("mobile", PiiKind::Phone),
        ("ssn", PiiKind::UsSsn),
        ("card_number", PiiKind::CreditCard),
        ("iban", PiiKind::Iban),
        ("src_ip", PiiKind::IpAddress),
        ("ipAddress", PiiKind::IpAddress),
        ("api_key", PiiKind::Secret),
    ] {
        assert_eq!(column_hint(name), Some(kind), "{name}");
    }
    for name in [
        "amount",
        "zip",
        "description",
        "shipping",
        "company",
        "recipe",
    ] {
        assert_eq!(column_hint(name), None, "{name}");
    }
}

#[test]
fn kinds_round_trip_by_name() {
    for k in PiiKind::ALL {
        assert_eq!(PiiKind::from_name(k.name()), Some(k));
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!("\"{}\"", k.name())
        );
    }
    assert_eq!(PiiKind::from_name("ssn"), None);
}

/// Inputs that make a backtracking engine or a rescanning loop quadratic. With 1 MB
/// each, a quadratic pass would be ~10^12 steps: the test would not end.
#[test]
fn pathological_cells_stay_linear() {
    let d = detector();
    let mb = 1 << 20;
    let cells = [
        "a".repeat(mb),
        "a@".repeat(mb / 2),
        "a@b.".repeat(mb / 4),
        "1".repeat(mb),
        "1 ".repeat(mb / 2),
        "1.".repeat(mb / 2),
        "GB82".repeat(mb / 4),
        ":".repeat(mb),
        "1:".repeat(mb / 2),
        "eyJ".repeat(mb / 3),
        "sk-".repeat(mb / 3),
        "Ab1/".repeat(mb / 4),
    ];
    for cell in &cells {
        let mut out = Vec::new();
        d.detect(cell, &mut out);
        assert!(out.iter().all(|m| m.start < m.end && m.end <= cell.len()));
    }
}

#[test]
fn offsets_are_char_boundaries_in_unicode_text() {
    let d = detector();
    let text = "Zoë — écrire à zoë.m@exämple.fr ou zoe@example.fr, tél. +33 6 12 34 56 78 ✓";
    let mut out = Vec::new();
    d.detect(text, &mut out);
    for m in &out {
        assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
    }
    let got: Vec<&str> = out.iter().map(|m| &text[m.start..m.end]).collect();
    assert_eq!(got, ["zoe@example.fr", "+33 6 12 34 56 78"]);
}

#[test]
fn detector_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Detector>();
    let d = detector();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut out = Vec::new();
                d.detect("ana@example.com", &mut out);
                assert_eq!(out.len(), 1);
            });
        }
    });
}
