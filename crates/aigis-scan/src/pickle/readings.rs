//! Every reading of a pickle that does not respect its frames.
//!
//! A pickler never lets an opcode cross the end of a protocol-4 frame; a crafted pickle
//! can, and then CPython's own readers see different opcode streams in the same bytes
//! (see [`super::source`]): a reader of the whole input reads straight on, the C
//! unpickler reading a frame with `read()` drops the rest of the frame. Which one a
//! loader is depends on the file object it is given (`torch.load` hands the C unpickler
//! an `io.BytesIO`, `pickle.load(open(…))` a buffered file whose `peek` holds small
//! frames but not large ones), so a scanner that follows one reading can be shown a
//! harmless pickle while the loader runs another.
//!
//! A stream of several pickles has one more reading: each pickle with an empty memo
//! (a new unpickler per pickle: `torch.load`, `pickle.load` in a loop; the first
//! reading) or the memo kept from the pickles before (one unpickler's `load` called in a
//! loop). A later pickle that reads an earlier one's memo sees different objects in the
//! two; both are scanned, and the difference is a `pickle.memo` finding (suspicious).
//!
//! So the first reading reads on at every frame event; if it met any, each other
//! combination of choices at the events is read too (a tree: a reading that drops at an
//! event may meet new events after it), up to [`MAX_READINGS`] readings on one opcode
//! budget. The report is the first reading's, with every finding that only another
//! reading makes added (saying which reading), the imports of all readings, and a
//! `pickle.frame` finding that can never be safe: suspicious when every reading was
//! scanned, inconclusive when there were more than the cap.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek};

use super::machine::{MAX_EVIDENCE, Machine, read_all};
use super::source::{FrameEvent, Source};
use super::{Allowlist, Layout, Limits, PickleReport};
use crate::{Finding, Location, Verdict};

/// Readings of one stream, the first included.
pub(super) const MAX_READINGS: usize = 16;

/// One reading's outcome: its report, the frame events it met, and where it dropped the
/// rest of a frame.
struct Reading {
    report: PickleReport,
    events: usize,
    first_events: Vec<(u64, FrameEvent)>,
    drops: Vec<u64>,
    /// Pickles the stream started (a second one may depend on the first one's memo).
    begun: u32,
}

/// How the memo passes from one pickle of a stream to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memo {
    /// Each pickle starts with an empty memo: a new unpickler per pickle, as
    /// `torch.load` (legacy files), `joblib` (object arrays) and `pickle.load` in a loop.
    Fresh,
    /// One unpickler loads every pickle (`Unpickler.load` in a loop) and keeps its memo.
    Kept,
}

/// What every reading of one stream shares.
#[derive(Clone, Copy)]
struct Stream<'a> {
    location: &'a Location,
    limits: &'a Limits,
    allowlist: &'a Allowlist,
    depth: u32,
    layout: Layout,
}

fn read<R: Read + Seek>(
    src: Source<R>,
    stream: Stream<'_>,
    memo: Memo,
    ops: u64,
    script: &[bool],
) -> io::Result<(Reading, Source<R>)> {
    let mut m = Machine::new(
        src,
        stream.location,
        stream.limits,
        stream.allowlist,
        stream.depth,
    );
    // One opcode budget for all readings: a pickle with many frame events cannot
    // multiply the work.
    m.ops = ops;
    m.keep_memo = memo == Memo::Kept;
    let (pickles, trailing) = read_all(&mut m, stream.layout)?;
    let report = m.finish(pickles, trailing);
    let Machine { src, begun, .. } = m;
    let first_events = src.first_events().to_vec();
    let drops = first_events
        .iter()
        .zip(script)
        .filter(|(_, d)| **d)
        .map(|((at, _), _)| *at)
        .collect();
    let reading = Reading {
        report,
        events: src.events(),
        first_events,
        drops,
        begun,
    };
    Ok((reading, src))
}

/// Runs every pickle in `src` to its end and reports: in one reading when the pickle
/// respects its frames, and in every reading of them when it does not.
pub(super) fn run<R: Read + Seek>(
    src: Source<R>,
    location: &Location,
    limits: &Limits,
    allowlist: &Allowlist,
    depth: u32,
    layout: Layout,
) -> io::Result<PickleReport> {
    let stream = Stream {
        location,
        limits,
        allowlist,
        depth,
        layout,
    };
    let (fresh, mut src, begun) = explore(src, stream, Memo::Fresh, 0)?;
    if begun < 2 {
        return Ok(fresh);
    }
    // Several pickles in one stream: the memo is fresh for each or kept across them,
    // depending on the loader; where that changes what is imported, both are reported.
    src.restart(Vec::new())?;
    let ops = fresh.ops;
    let (kept, _, _) = explore(src, stream, Memo::Kept, ops)?;
    let mut merged = Merged::new(fresh, location, limits);
    let added = merged.add(
        kept,
        "when one unpickler loads every pickle of the stream and keeps its memo",
    );
    let mut report = merged.finish();
    if added > 0 {
        report.findings.push(Finding {
            verdict: Verdict::Suspicious,
            rule: crate::pickle::rule::MEMO.id.to_owned(),
            message: "a later pickle of this stream depends on the memo of an earlier one: a \
                      loader that unpickles each pickle afresh (torch.load, pickle.load in a \
                      loop) and one that keeps one unpickler (Unpickler.load in a loop) see \
                      different objects, which no pickler writes; both were scanned"
                .to_owned(),
            location: at(location, 0),
        });
        sort(&mut report);
    }
    Ok(report)
}

/// Every reading of the frames of one stream, with `memo` passed from pickle to pickle as
/// it says; the source back, and how many pickles the stream started.
fn explore<R: Read + Seek>(
    src: Source<R>,
    stream: Stream<'_>,
    memo: Memo,
    ops: u64,
) -> io::Result<(PickleReport, Source<R>, u32)> {
    let Stream {
        location, limits, ..
    } = stream;
    let (first, mut src) = read(src, stream, memo, ops, &[])?;
    let begun = first.begun;
    if first.events == 0 {
        return Ok((first.report, src, begun));
    }
    let mut pending = children(&[], first.events);
    let (events, first_events) = (first.events, first.first_events);
    let mut merged = Merged::new(first.report, location, limits);
    let mut readings = 1usize;
    let mut capped = false;
    while let Some(script) = pending.pop() {
        if readings >= MAX_READINGS {
            capped = true;
            break;
        }
        src.restart(script.clone())?;
        let ops = merged.report.ops;
        let (reading, back) = read(src, stream, memo, ops, &script)?;
        src = back;
        readings += 1;
        pending.extend(children(&script, reading.events));
        let how = reading_name(&reading.drops, location.offset.unwrap_or(0));
        merged.add(reading.report, &how);
    }
    let mut report = merged.finish();
    report.findings.push(frame_finding(
        events,
        &first_events,
        readings,
        capped,
        location,
    ));
    sort(&mut report);
    Ok((report, src, begun))
}

fn at(location: &Location, offset: u64) -> Location {
    Location {
        member: location.member.clone(),
        offset: Some(location.offset.unwrap_or(0).saturating_add(offset)),
    }
}

fn sort(report: &mut PickleReport) {
    report.findings.sort_by_key(|e| e.location.offset);
    report.verdict = Verdict::worst(&report.findings);
}

/// The finding every pickle that breaks its frames gets: suspicious when every reading
/// was scanned, inconclusive when there were more than the cap.
fn frame_finding(
    events: usize,
    first_events: &[(u64, FrameEvent)],
    readings: usize,
    capped: bool,
    location: &Location,
) -> Finding {
    let (offset, kind) = first_events
        .first()
        .copied()
        .unwrap_or((0, FrameEvent::ArgumentCrossesEnd));
    let also = match events.saturating_sub(1) {
        0 => String::new(),
        1 => " and 1 more frame irregularity".to_owned(),
        n => format!(" and {n} more frame irregularities"),
    };
    let (verdict, scanned) = if capped {
        (
            Verdict::Inconclusive,
            format!("there are more than {MAX_READINGS} readings and only {readings} were scanned"),
        )
    } else {
        (
            Verdict::Suspicious,
            format!("all {readings} readings were scanned and their findings merged"),
        )
    };
    Finding {
        verdict,
        rule: crate::pickle::rule::FRAME.id.to_owned(),
        message: format!(
            "{}{also}: readers of this pickle see different opcodes (CPython's C unpickler \
             reading a file drops the rest of such a frame, a reader of the whole input \
             reads across it; gh-154848), which no pickler writes; {scanned}",
            kind.describe()
        ),
        location: at(location, offset),
    }
}

/// The readings below one: it dropped where `script` says and read on after, meeting
/// `events` events; each child drops at one of the events it read on at.
fn children(script: &[bool], events: usize) -> Vec<Vec<bool>> {
    (script.len()..events)
        .map(|j| {
            let mut child = script.to_vec();
            child.resize(j, false);
            child.push(true);
            child
        })
        .collect()
}

/// One reading's report, with what other readings add merged in as they come (readings
/// are not kept: memory stays that of one reading, plus what they add, within
/// [`Limits::max_retained`] for the names of imports).
struct Merged<'a> {
    report: PickleReport,
    location: &'a Location,
    limits: &'a Limits,
    known: HashSet<(String, Option<u64>, String)>,
    imports: HashMap<(String, String), usize>,
    import_bytes: usize,
    /// Findings and imports of other readings left out past the bounds: how many, and
    /// the worst verdict among them.
    more: (u64, Verdict),
    more_imports: u64,
}

impl<'a> Merged<'a> {
    fn new(report: PickleReport, location: &'a Location, limits: &'a Limits) -> Self {
        let known = report
            .findings
            .iter()
            .map(|e| (e.rule.clone(), e.location.offset, e.message.clone()))
            .collect();
        let imports = report
            .imports
            .iter()
            .enumerate()
            .map(|(i, imp)| ((imp.module.clone(), imp.name.clone()), i))
            .collect();
        Merged {
            report,
            location,
            limits,
            known,
            imports,
            import_bytes: 0,
            more: (0, Verdict::Safe),
            more_imports: 0,
        }
    }

    /// Adds what `other` found that this report does not have, each finding marked with
    /// the reading it came from (`how`); how many findings and imports were new. The
    /// other reading's own summary of frames (`pickle.frame`, `pickle.more`) is not
    /// carried over.
    fn add(&mut self, other: PickleReport, how: &str) -> usize {
        let mut added = 0;
        for e in other.findings {
            if e.rule == crate::pickle::rule::FRAME.id || e.rule == crate::pickle::rule::MORE.id {
                continue;
            }
            let key = (e.rule.clone(), e.location.offset, e.message.clone());
            if self.known.contains(&key) {
                continue;
            }
            added += 1;
            if self.report.findings.len() >= 2 * MAX_EVIDENCE {
                self.more = (self.more.0 + 1, self.more.1.max(e.verdict));
                continue;
            }
            self.known.insert(key);
            self.report.findings.push(Finding {
                message: format!("{} (in {how})", e.message),
                ..e
            });
        }
        for imp in other.imports {
            let key = (imp.module.clone(), imp.name.clone());
            if let Some(k) = self
                .imports
                .get(&key)
                .and_then(|&i| self.report.imports.get_mut(i))
            {
                k.count = k.count.max(imp.count);
                continue;
            }
            added += 1;
            let size = imp.module.len() + imp.name.len();
            if self.import_bytes + size > self.limits.max_retained {
                self.more_imports += 1;
                self.more = (self.more.0, self.more.1.max(imp.verdict));
                continue;
            }
            self.import_bytes += size;
            self.imports.insert(key, self.report.imports.len());
            self.report.imports.push(imp);
        }
        self.report.ops = self.report.ops.max(other.ops);
        added
    }

    fn finish(mut self) -> PickleReport {
        if self.more.0 > 0 || self.more_imports > 0 {
            // imports left out were not listed: never a safe answer
            let worst = if self.more_imports > 0 {
                self.more.1.max(Verdict::Inconclusive)
            } else {
                self.more.1
            };
            self.report.findings.push(Finding {
                verdict: worst,
                rule: crate::pickle::rule::MORE.id.to_owned(),
                message: format!(
                    "{} more findings and {} more imports of other readings (at worst {worst}) were not listed",
                    self.more.0, self.more_imports
                ),
                location: at(self.location, 0),
            });
        }
        let mut report = self.report;
        sort(&mut report);
        report
    }
}

/// "the reading that drops the rest of the frame at offset 12" (offsets in the stream).
fn reading_name(drops: &[u64], base: u64) -> String {
    let list: Vec<String> = drops
        .iter()
        .map(|d| base.saturating_add(*d).to_string())
        .collect();
    match list.as_slice() {
        [] => "another reading of the frames".to_owned(),
        [one] => format!("the reading that drops the rest of the frame at offset {one}"),
        many => format!(
            "the reading that drops the rest of the frames at offsets {}",
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;
