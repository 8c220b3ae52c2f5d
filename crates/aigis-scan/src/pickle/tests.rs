//! Hand-built pickles for the opcode corner cases the fixtures do not reach.

use super::*;

fn scan_with(bytes: &[u8], limits: &Limits) -> PickleReport {
    scan_bytes(bytes, &Location::default(), limits)
}

fn scan(bytes: &[u8]) -> PickleReport {
    scan_with(bytes, &Limits::default())
}

/// (rule, offset) of every piece of evidence.
fn rules(r: &PickleReport) -> Vec<(&str, u64)> {
    r.findings
        .iter()
        .map(|e| (e.rule.as_str(), e.location.offset.unwrap()))
        .collect()
}

/// SHORT_BINUNICODE.
fn sbu(s: &str) -> Vec<u8> {
    let mut v = vec![0x8c, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn safe_calls_leave_no_evidence_but_are_counted() {
    let r = scan(b"\x80\x02ccollections\nOrderedDict\n)Rq\x00h\x00h\x00\x87.");
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(r.findings.is_empty());
    assert_eq!(r.imports.len(), 1);
    assert_eq!(r.imports[0].count, 1);
    assert_eq!(r.pickles, 1);
}

#[test]
fn an_uncalled_dangerous_import_is_still_dangerous() {
    let r = scan(b"\x80\x02cos\nsystem\n.");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(rules(&r), [("pickle.global.dangerous", 2)]);
    assert!(
        r.findings[0]
            .message
            .contains("`os.system` imported by GLOBAL")
    );
}

#[test]
fn a_dangerous_global_fetched_from_the_memo_is_still_named_when_called() {
    let r = scan(b"\x80\x02cos\nsystem\nq\x010h\x01(tR.");
    assert_eq!(rules(&r), [("pickle.global.dangerous", 20)]);
    assert!(
        r.findings[0]
            .message
            .contains("`os.system` called via REDUCE with ()")
    );
}

#[test]
fn stack_global_with_operands_that_are_not_strings_is_suspicious() {
    let r = scan(&cat(&[b"\x80\x04K\x01", &sbu("system"), b"\x93."]));
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert_eq!(rules(&r), [("pickle.stack_global.unresolved", 12)]);
    assert!(r.findings[0].message.contains("(1, \"system\")"));
    // a string too long to keep is not a usable module name either
    let mut long = vec![b'X'];
    long.extend_from_slice(&10_000u32.to_le_bytes());
    long.extend(std::iter::repeat_n(b'a', 10_000));
    let r = scan(&cat(&[b"\x80\x04", &long, &sbu("system"), b"\x93."]));
    assert_eq!(rules(&r), [("pickle.stack_global.unresolved", 10_015)]);
}

#[test]
fn protocol_0_escapes_are_decoded_before_the_policy() {
    // UNICODE with \u escapes builds "os"; STACK_GLOBAL does not care about the protocol
    let r = scan(b"Vo\\u0073\nVsystem\n\x93.");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.imports[0].module, "os");
}

#[test]
fn getattr_on_a_safe_class_walks_to_what_it_reaches() {
    // getattr(getattr(collections.OrderedDict, "__init__"), "__globals__")
    let r = scan(&cat(&[
        b"\x80\x02cbuiltins\ngetattr\nq\x00",
        b"h\x00ccollections\nOrderedDict\n",
        &sbu("__init__"),
        b"\x86R",
        &sbu("__globals__"),
        b"\x86R.",
    ]));
    assert_eq!(r.verdict, Verdict::Dangerous);
    let reached: Vec<_> = r
        .imports
        .iter()
        .map(|i| (i.name.as_str(), i.verdict))
        .collect();
    assert!(reached.contains(&("OrderedDict.__init__", Verdict::Suspicious)));
    assert!(reached.contains(&("OrderedDict.__init__.__globals__", Verdict::Dangerous)));
    assert!(r.findings.iter().any(|e| e.message.contains(
        "`collections.OrderedDict.__init__.__globals__` reached via `builtins.getattr`"
    )));
}

#[test]
fn build_on_an_imported_class_is_suspicious() {
    let r = scan(b"\x80\x02ccollections\nOrderedDict\n}b.");
    assert_eq!(rules(&r), [("pickle.mutate.global", 28)]);
}

#[test]
fn torch_persistent_ids_are_allowed() {
    let r = scan(&cat(&[
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((",
        &sbu("storage"),
        b"ctorch\nFloatStorage\n",
        &sbu("0"),
        &sbu("cpu"),
        b"K\x04tQK\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rtq\x01R.",
    ]));
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    let r = scan(b"P0\nN.");
    assert_eq!(r.verdict, Verdict::Safe);
}

#[test]
fn pop_removes_an_empty_mark_frame_like_cpython() {
    let r = scan(b"\x80\x02N(0.");
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    let r = scan(b"\x80\x02(N1N2\x86.");
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    // but popping below a mark is an underflow
    let r = scan(b"\x80\x02(00.");
    assert_eq!(rules(&r), [("pickle.malformed", 4)]);
}

#[test]
fn malformed_input_is_inconclusive_never_clean() {
    for (bytes, rule, offset, msg) in [
        (&b""[..], "pickle.malformed", 0, "empty"),
        (
            b"\x80\x06N.",
            "pickle.malformed",
            0,
            "unsupported pickle protocol 6",
        ),
        (
            b"\x80\x02\xffN.",
            "pickle.malformed",
            2,
            "unknown opcode 0xff",
        ),
        (
            b"\x80\x02R.",
            "pickle.malformed",
            2,
            "REDUCE pops from an empty stack",
        ),
        (
            b"\x80\x02Nt.",
            "pickle.malformed",
            3,
            "TUPLE without a MARK",
        ),
        (
            b"\x80\x02T\xff\xff\xff\xff.",
            "pickle.malformed",
            2,
            "negative",
        ),
        (
            b"\x80\x02j\x05\x00\x00\x00.",
            "pickle.malformed",
            2,
            "memo key 5",
        ),
        (b"\x80\x02\x82\x00.", "pickle.malformed", 2, "code 0"),
        (b"\x80\x02N(Nu.", "pickle.malformed", 5, "odd number"),
        (b"\x80\x02Sos\n.", "pickle.malformed", 2, "must be quoted"),
        (
            b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N.",
            "pickle.truncated",
            2,
            "FRAME declares 255 bytes but 2 are left",
        ),
        (b"\x80\x02N", "pickle.truncated", 3, "truncated"),
        (b"\x80\x02N.\x80\x02N", "pickle.truncated", 7, "truncated"),
        (
            b"\x80\x02\x8b\x00\x00\x00\x80.",
            "pickle.malformed",
            2,
            "negative",
        ),
    ] {
        let r = scan(bytes);
        assert!(r.verdict >= Verdict::Inconclusive, "{bytes:?}");
        assert!(
            r.findings.iter().any(|e| e.rule == rule
                && e.location.offset == Some(offset)
                && e.message.contains(msg)),
            "{bytes:?}: {:?}",
            r.findings
        );
    }
}

#[test]
fn a_long_protocol_0_string_must_still_be_quoted() {
    // found by fuzzing: a STRING line too long to keep skipped the quote check
    let tight = Limits {
        max_inspect: 4,
        ..Limits::default()
    };
    let r = scan_with(b"(S\xa7echo aigis-test\n.", &tight);
    assert_eq!(rules(&r), [("pickle.malformed", 1)]);
    let r = scan_with(b"S'echo aigis-test'\n.", &tight);
    assert_eq!(r.verdict, Verdict::Safe);
}

#[test]
fn huge_declared_lengths_are_never_allocated() {
    for op in [0x8e_u8, 0x96, 0x8d] {
        let mut b = vec![0x80, 0x05, op];
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        let r = scan(&b);
        assert_eq!(rules(&r), [("pickle.truncated", 2)]);
    }
    // a long payload that is there is skipped, not kept
    let mut b = vec![0x80, 0x05, 0x8e];
    b.extend_from_slice(&100_000u64.to_le_bytes());
    b.extend(std::iter::repeat_n(0u8, 100_000));
    b.push(b'.');
    assert_eq!(scan(&b).verdict, Verdict::Safe);
}

#[test]
fn several_pickles_are_all_scanned() {
    // the second pickle is protocol 0 and starts with GLOBAL
    let r = scan(b"\x80\x02N.cos\nsystem\n.");
    assert_eq!(r.pickles, 2);
    assert_eq!(rules(&r), [("pickle.global.dangerous", 4)]);
}

#[test]
fn limits_stop_the_scan_inconclusive() {
    let tight = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        l
    };
    let r = scan_with(b"NNNNNN.", &tight(|l| l.max_ops = 3));
    assert_eq!(rules(&r), [("pickle.limit", 3)]);
    let r = scan_with(b"((((((.", &tight(|l| l.max_stack = 4));
    assert_eq!(rules(&r), [("pickle.limit", 4)]);
    let r = scan_with(b"N\x94\x94\x94.", &tight(|l| l.max_memo = 2));
    assert_eq!(rules(&r), [("pickle.limit", 3)]);
    let r = scan_with(
        &cat(&[&sbu("abcdef"), &sbu("xyz"), b"0."]),
        &tight(|l| l.max_retained = 7),
    );
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert_eq!(rules(&r), [("pickle.limit", 8)]);
    let mut deep = vec![b'N'];
    deep.extend(std::iter::repeat_n(0x85u8, 100));
    deep.push(b'.');
    let r = scan(&deep);
    assert_eq!(rules(&r), [("pickle.limit", 65)]);
}

#[test]
fn evidence_is_capped_and_summarised() {
    let mut b = b"\x80\x02".to_vec();
    for _ in 0..400 {
        b.extend_from_slice(b"cmypkg\nThing\n0");
    }
    b.extend_from_slice(b"N.");
    let r = scan(&b);
    assert_eq!(r.findings.len(), machine::MAX_EVIDENCE + 1);
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert!(r.findings.iter().any(|e| e.rule == "pickle.more"));
    assert_eq!(r.imports[0].count, 400);
}

#[test]
fn nested_pickles_are_scanned_and_bounded() {
    let inner = b"\x80\x02cos\nsystem\n.";
    let mut b = b"\x80\x03c_pickle\nloads\nC".to_vec();
    b.push(inner.len() as u8);
    b.extend_from_slice(inner);
    b.extend_from_slice(b"\x85R.");
    let r = scan(&b);
    assert!(r.findings.iter().any(|e| e.message
        == "in the pickle passed to `_pickle.loads`: `os.system` imported by GLOBAL (runs code, spawns processes, imports modules, loads native code, touches files or the network, or loads another pickle)"));
    let r = scan_with(
        &b,
        &Limits {
            max_nesting: 0,
            ..Limits::default()
        },
    );
    assert!(r.findings.iter().any(|e| e.rule == "pickle.limit"));
}

#[test]
fn every_opcode_byte_is_known() {
    let known = (0u8..=255).filter(|&b| stack::is_opcode(b)).count();
    assert_eq!(known, 68, "protocols 0-5 define 68 opcodes");
}

#[test]
fn memoized_tuples_of_tuples_do_not_blow_up_messages() {
    // t0 = ("x",); t(n+1) = ((tn, tn, tn), tn), 30 levels (nesting 61, under the
    // limit), then passed to os.system: 4^30 leaves if shown naively
    let mut b = b"\x80\x02cos\nsystem\nX\x01\x00\x00\x00x\x85\x940".to_vec();
    for i in 0..30u32 {
        let get = [b'j']
            .into_iter()
            .chain(i.to_le_bytes())
            .collect::<Vec<u8>>();
        b.extend(get.repeat(4));
        b.extend_from_slice(b"\x87\x86\x940");
    }
    b.extend_from_slice(b"j\x1e\x00\x00\x00\x85R.");
    let r = scan(&b);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    assert!(
        r.findings[0]
            .message
            .contains("called via REDUCE with (((…), (…)),)")
    );
}

#[test]
fn many_import_sites_stay_bounded_and_reported() {
    let mut b = b"\x80\x02".to_vec();
    for _ in 0..5000 {
        b.extend_from_slice(b"cmypkg\nThing\n0");
    }
    b.extend_from_slice(b"cos\nsystem\n.");
    let r = scan(&b);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(r.findings.iter().any(|e| e.rule == "pickle.more"));
}

#[test]
fn loading_the_same_nested_pickle_again_and_again_spends_one_budget() {
    let inner = b"\x80\x02NNNNNNNNNN0000000000N.";
    let mut b = b"\x80\x03c_pickle\nloads\nq\x00C".to_vec();
    b.push(inner.len() as u8);
    b.extend_from_slice(inner);
    b.extend_from_slice(b"q\x01");
    for _ in 0..50 {
        b.extend_from_slice(b"h\x00h\x01\x85R0");
    }
    b.extend_from_slice(b"N.");
    let limits = Limits {
        max_ops: 500,
        ..Limits::default()
    };
    let r = scan_with(&b, &limits);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(r.ops > 500);
    assert!(r.findings.iter().any(|e| e.rule == "pickle.limit"));
}

fn scan_as(bytes: &[u8], layout: Layout) -> PickleReport {
    scan_layout(
        std::io::Cursor::new(bytes),
        &Location::default(),
        &Limits::default(),
        &Allowlist::default(),
        layout,
    )
    .unwrap()
}

/// Legacy `torch.save` pickles a module class as the persistent id `('module', cls, file,
/// source)`; `torch.load` returns `cls`, so the NEWOBJ after it calls that class.
#[test]
fn a_module_class_loaded_by_persistent_id_is_what_newobj_calls() {
    let pid_then_newobj = |module: &str| {
        cat(&[
            b"\x80\x02(X\x06\x00\x00\x00module",
            format!("c{module}\nNet\n").as_bytes(),
            b"X\x00\x00\x00\x00X\x00\x00\x00\x00tQ)\x81.",
        ])
    };
    let r = scan(&pid_then_newobj("torch.nn.modules.linear"));
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    let r = scan(&pid_then_newobj("mypkg.models"));
    assert_eq!(r.verdict, Verdict::Suspicious, "{:?}", r.findings);
    assert!(
        r.findings
            .iter()
            .all(|e| e.rule != "pickle.call.unresolved"),
        "{:?}",
        r.findings
    );
    assert!(
        r.findings[0]
            .message
            .contains("mypkg.models.Net` called via NEWOBJ")
    );
}

/// A storage record: `(key, "cpu", torch.<storage>)`, its element count, its bytes.
fn storage_record(key: u8, storage: &str, numel: u64, data: &[u8]) -> Vec<u8> {
    cat(&[
        &[0x80, 2, b'K', key],
        &sbu("cpu"),
        format!("ctorch\n{storage}\n").as_bytes(),
        b"\x87.",
        &numel.to_le_bytes(),
        data,
    ])
}

#[test]
fn tar_storages_are_walked_record_by_record() {
    // `(` is MARK: the raw bytes are opcodes too, found only by the sizes
    let storages = cat(&[
        b"K\x02.",
        &storage_record(0, "FloatStorage", 2, b"((((((((" as &[u8]),
        &storage_record(1, "HalfStorage", 1, b"cc"),
        b"].",
    ]);
    let r = scan_as(&storages, Layout::TorchTarStorages);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert_eq!(r.pickles, 4);
    assert!(
        r.findings[0]
            .message
            .contains("2 storage records (10 raw bytes)")
    );

    // a type whose element size is not known: the rest cannot be found
    let unknown = cat(&[
        b"K\x01.",
        &storage_record(0, "FancyStorage", 1, b"\0"),
        b"].",
    ]);
    let r = scan_as(&unknown, Layout::TorchTarStorages);
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert_eq!(
        rules(&r),
        [
            ("pickle.legacy_record", 3),
            ("pickle.global.suspicious", 12)
        ]
    );

    // cut inside a record pickle: truncated, never safe
    let r = scan_as(&storages[..12], Layout::TorchTarStorages);
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert_eq!(r.findings[0].rule, "pickle.truncated");

    // the plain stream reading of the same bytes does not find the records
    assert_ne!(scan(&storages).verdict, Verdict::Safe);
}

#[test]
fn tar_tensors_are_walked_record_by_record() {
    let record = |key: u8, ndim: i32| {
        let mut v = cat(&[
            &[0x80, 2, b'K', key, b'K', 0],
            b"ctorch\nFloatTensor\n\x87.",
            &ndim.to_le_bytes(),
            &[0; 4],
        ]);
        v.extend(std::iter::repeat_n(b'(', 16 * ndim.max(0) as usize + 8));
        v
    };
    let tensors = cat(&[b"K\x02.", &record(2, 2), &record(3, 0)]);
    let r = scan_as(&tensors, Layout::TorchTarTensors);
    assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
    assert!(
        r.findings[0]
            .message
            .contains("2 tensor records (56 raw bytes)")
    );

    let r = scan_as(&tensors[..tensors.len() - 1], Layout::TorchTarTensors);
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert!(
        r.findings[0].message.contains("raw record of tensor 1"),
        "{:?}",
        r.findings
    );

    // a pickle after the last record is reported and scanned
    let hidden = cat(&[&tensors, b"cos\nsystem\n(S'echo aigis-test'\ntR."]);
    let r = scan_as(&hidden, Layout::TorchTarTensors);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(
        r.findings
            .iter()
            .any(|e| e.rule == "pickle.legacy_leftover")
    );
}

/// `copyreg.add_extension("os", "system", 200)`, then EXT1 200 called: with the real
/// `copyreg`, CPython's unpickler imports `os.system` by the number. The scanner cannot
/// follow the registry, so registering is itself dangerous.
#[test]
fn registering_an_extension_code_is_dangerous() {
    let p = cat(&[
        b"\x80\x02ccopyreg\nadd_extension\n",
        b"X\x02\x00\x00\x00osX\x06\x00\x00\x00systemK\xc8\x87R0",
        b"\x82\xc8X\x07\x00\x00\x00echo hi\x85R.",
    ]);
    let r = scan(&p);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:?}", r.findings);
    assert!(
        r.findings
            .iter()
            .any(|e| e.rule == "pickle.global.dangerous"
                && e.message.contains("`copyreg.add_extension`")),
        "{:?}",
        r.findings
    );
}
