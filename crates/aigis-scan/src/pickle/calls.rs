//! Globals and calls: where the pickle machine meets the [policy](super::policy).
//!
//! Every site that names a global is recorded. A call (`REDUCE`, `INST`, `OBJ`,
//! `NEWOBJ`, `NEWOBJ_EX`) of a global that is not safe is evidence at the call's offset,
//! with its arguments; a global that is named but never called is still evidence (at
//! the import's offset), since importing a dangerous name is already a threat. A few
//! calls are followed symbolically, because published scanner bypasses hide behind them:
//! `importlib.import_module("os")` yields the module `os`, `getattr(<os>, "system")`
//! yields `os.system` (reported as reached), and the argument of `pickle.loads` is
//! scanned as a nested pickle.

use std::io::{Cursor, Read, Seek};

use super::machine::{Halt, MAX_EVIDENCE, Machine, Ref};
use super::policy::{self, classify};
use super::source::Source;
use super::value::{self, Value};
use super::{Import, PickleReport};
use crate::{Finding, Location, Verdict};

impl<R: Read + Seek> Machine<'_, R> {
    /// Records a global named at the current opcode and returns its stack value.
    pub(super) fn global(
        &mut self,
        module: String,
        name: String,
        via: &str,
    ) -> Result<Value, Halt> {
        let key = (module, name);
        let import = match self.import_index.get(&key) {
            Some(&i) => i,
            None => {
                if !self.budget(key.0.len() + key.1.len()) {
                    return Err(Halt::Limit("too many distinct imports".to_owned()));
                }
                let (c, allowed) = policy::classify_allowed(&key.0, &key.1, self.allowlist);
                let verdict = c.verdict;
                if let Some(entry) = allowed {
                    // Which reviewed entry let this import through, where: the audit
                    // trail of the allowlist, one item per import and file.
                    let msg = format!(
                        "`{}.{}` allowed by the project allowlist entry `{}` (reason: {}; reviewed by {})",
                        key.0, key.1, entry.name, entry.reason, entry.by
                    );
                    self.finding(Verdict::Safe, crate::pickle::rule::ALLOWLIST.id, msg);
                }
                self.imports.push(Import {
                    module: key.0.clone(),
                    name: key.1.clone(),
                    verdict,
                    count: 0,
                });
                let i = self.imports.len() - 1;
                self.import_index.insert(key, i);
                i
            }
        };
        let Some(imp) = self.imports.get_mut(import) else {
            return Ok(Value::Other);
        };
        imp.count += 1;
        if imp.verdict == Verdict::Safe {
            return Ok(Value::Global(import, None));
        }
        // Sites are kept until the end (an uncalled import is reported there); past
        // MAX_SITES a site is reported at once instead, so memory stays bounded.
        if self.refs.len() >= MAX_SITES {
            let (v, msg) = (imp.verdict, import_message(imp, "imported by", via));
            self.finding(v, rule(v), msg);
            return Ok(Value::Global(import, None));
        }
        self.refs.push(Ref {
            import,
            offset: self.at,
            via: via.to_owned(),
            called: false,
        });
        Ok(Value::Global(import, Some(self.refs.len() - 1)))
    }

    /// `STACK_GLOBAL`: module and name come from the stack, however they got there; if
    /// they are not plain strings the import cannot be named, which is itself suspicious.
    pub(super) fn stack_global(&mut self) -> Result<(), Halt> {
        let name = self.pop()?;
        let module = self.pop()?;
        let v = match (module.as_str(), name.as_str()) {
            (Some(m), Some(n)) => self.global(m.to_owned(), n.to_owned(), "STACK_GLOBAL")?,
            _ => {
                let shown = format!("({}, {})", self.show(&module), self.show(&name));
                self.finding(
                    Verdict::Suspicious,
                    crate::pickle::rule::STACK_GLOBAL_UNRESOLVED.id,
                    format!(
                        "STACK_GLOBAL imports from operands that are not plain strings: {shown}"
                    ),
                );
                Value::Other
            }
        };
        self.push(v)
    }

    /// `EXT1/2/4`: a code in the extension registry (`copyreg.add_extension`). CPython
    /// ships the registry empty, so a code names whatever the loading process registered.
    pub(super) fn ext(&mut self, code: i64) -> Result<(), Halt> {
        if code <= 0 {
            return Err(Halt::Malformed(format!("EXT specifies code {code} <= 0")));
        }
        self.finding(
            Verdict::Suspicious,
            crate::pickle::rule::EXT_UNKNOWN.id,
            format!("extension code {code} is not in the (empty) standard extension registry"),
        );
        self.push(Value::Other)
    }

    /// `APPEND`, `SETITEM`, `BUILD`, …: harmless on containers and new objects, but on a
    /// class or module they overwrite its attributes (a gadget for later calls).
    pub(super) fn mutate(&mut self, via: &str) -> Result<(), Halt> {
        let target = self.top()?.clone();
        if matches!(target, Value::Global(..) | Value::Module(_)) {
            let shown = self.show(&target);
            self.finding(
                Verdict::Suspicious,
                crate::pickle::rule::MUTATE_GLOBAL.id,
                format!("{via} changes {shown}, an imported global or module, not a new object"),
            );
        }
        Ok(())
    }

    /// A call of `callee` with `args` by the opcode `via`.
    pub(super) fn call(&mut self, callee: Value, args: Value, via: &str) -> Result<Value, Halt> {
        let Value::Global(import, site) = callee else {
            let shown = format!("{} with {}", self.show(&callee), self.show(&args));
            self.finding(
                Verdict::Suspicious,
                crate::pickle::rule::CALL_UNRESOLVED.id,
                format!("{via} calls something that is not an imported global: {shown}"),
            );
            return Ok(Value::Other);
        };
        if let Some(rf) = site.and_then(|s| self.refs.get_mut(s)) {
            rf.called = true;
        }
        let Some(imp) = self.imports.get(import) else {
            return Ok(Value::Other);
        };
        let (module, name, verdict) = (imp.module.clone(), imp.name.clone(), imp.verdict);
        if verdict != Verdict::Safe {
            let shown = self.show(&args);
            self.finding(
                verdict,
                rule(verdict),
                format!("`{module}.{name}` called via {via} with {shown}"),
            );
        }
        let first = args.item(0).cloned();
        if policy::imports_module(&module, &name)
            && let Some(Value::Str(m)) = first
        {
            return Ok(Value::Module(m));
        }
        if policy::gets_attribute(&module, &name) && name == "getattr" {
            let attr = args.item(1).and_then(Value::as_str).map(str::to_owned);
            let target = match (first.clone(), attr) {
                (Some(Value::Module(m)), Some(a)) => Some((m.to_string(), a)),
                (Some(Value::Global(g, _)), Some(a)) => {
                    self.global_name(g).map(|(m, n)| (m, format!("{n}.{a}")))
                }
                _ => None,
            };
            if let Some((m, n)) = target {
                return self.global(m, n, &format!("`{module}.{name}`"));
            }
        }
        if policy::loads_pickle(&module, &name)
            && let Some(Value::Bytes(b)) = &first
        {
            self.nested(b, &format!("{module}.{name}"));
        }
        Ok(super::joblib::construct(&module, &name, first.as_ref()))
    }

    /// Scans the bytes given to `pickle.loads` as a pickle of their own; its findings
    /// are reported at the call.
    fn nested(&mut self, bytes: &[u8], loader: &str) {
        if self.depth >= self.limits.max_nesting {
            self.finding(
                Verdict::Inconclusive,
                crate::pickle::rule::LIMIT.id,
                format!(
                    "pickles nested deeper than {}: not scanned",
                    self.limits.max_nesting
                ),
            );
            return;
        }
        // The nested scan spends this scan's opcode budget: a pickle that loads the same
        // bytes again and again cannot multiply the work.
        let limits = super::Limits {
            max_ops: self.limits.max_ops.saturating_sub(self.ops),
            ..*self.limits
        };
        let report = Source::new(Cursor::new(bytes)).and_then(|src| {
            super::readings::run(
                src,
                self.location,
                &limits,
                self.allowlist,
                self.depth + 1,
                super::Layout::Stream,
            )
        });
        let Ok(report) = report else { return };
        self.ops = self.ops.saturating_add(report.ops);
        for e in report.findings {
            let msg = format!("in the pickle passed to `{loader}`: {}", e.message);
            self.finding(e.verdict, &e.rule, msg);
        }
    }

    fn global_name(&self, import: usize) -> Option<(String, String)> {
        let imp = self.imports.get(import)?;
        Some((imp.module.clone(), imp.name.clone()))
    }

    pub(super) fn show(&self, v: &Value) -> String {
        let name_of = |r: usize| {
            self.global_name(r)
                .map(|(m, n)| format!("{m}.{n}"))
                .unwrap_or_default()
        };
        value::show(v, &name_of)
    }

    /// One piece of evidence at the current opcode.
    pub(super) fn finding(&mut self, verdict: Verdict, rule: &str, message: String) {
        self.finding_at(self.at, verdict, rule, message);
    }

    fn finding_at(&mut self, offset: u64, verdict: Verdict, rule: &str, message: String) {
        if self.findings.len() >= MAX_EVIDENCE {
            if self.dropped.0 == 0 {
                self.dropped.2 = offset;
            }
            self.dropped.0 += 1;
            self.dropped.1 = self.dropped.1.max(verdict);
            return;
        }
        self.findings.push(Finding {
            verdict,
            rule: rule.to_owned(),
            message,
            location: Location {
                member: self.location.member.clone(),
                offset: Some(self.location.offset.unwrap_or(0).saturating_add(offset)),
            },
        });
    }

    /// Finding for a pickle that stopped before its `STOP`.
    pub(super) fn halted(&mut self, h: Halt) {
        let (rule, msg) = match h {
            Halt::Truncated => (
                crate::pickle::rule::TRUNCATED.id,
                "the pickle ends inside an opcode: it is truncated".to_owned(),
            ),
            Halt::Malformed(m) => (crate::pickle::rule::MALFORMED.id, m),
            Halt::Limit(m) => (crate::pickle::rule::LIMIT.id, m),
            Halt::Io(e) => (
                crate::pickle::rule::MALFORMED.id,
                format!("read failed: {e}"),
            ),
        };
        let msg = format!("{msg}; the rest of the file was not scanned");
        self.finding(Verdict::Inconclusive, rule, msg);
    }

    /// The report of this reading (its evidence and imports are taken out of the machine).
    pub(super) fn finish(&mut self, pickles: u32, trailing: Option<(u64, u64)>) -> PickleReport {
        let refs = std::mem::take(&mut self.refs);
        for rf in refs.iter().filter(|rf| !rf.called) {
            let Some(imp) = self.imports.get(rf.import) else {
                continue;
            };
            if imp.verdict == Verdict::Safe {
                continue;
            }
            let verb = if rf.via.starts_with('`') {
                "reached via"
            } else {
                "imported by"
            };
            let (v, msg) = (imp.verdict, import_message(imp, verb, &rf.via));
            self.finding_at(rf.offset, v, rule(v), msg);
        }
        if self.dropped.0 > 0 {
            let (n, v, first) = self.dropped;
            self.findings.push(Finding {
                verdict: v,
                rule: crate::pickle::rule::MORE.id.to_owned(),
                message: format!(
                    "{n} more findings (at worst {v}, the first at offset {first}) were not listed"
                ),
                location: Location {
                    member: self.location.member.clone(),
                    offset: Some(self.location.offset.unwrap_or(0).saturating_add(first)),
                },
            });
        }
        self.findings.sort_by_key(|e| e.location.offset);
        let verdict = Verdict::worst(&self.findings);
        self.import_index.clear();
        PickleReport {
            verdict,
            findings: std::mem::take(&mut self.findings),
            imports: std::mem::take(&mut self.imports),
            ops: self.ops,
            pickles,
            trailing_data: trailing,
        }
    }
}

/// Sites of non-safe imports kept for the end of the scan.
const MAX_SITES: usize = 4096;

/// "`os.system` imported by GLOBAL (why)".
fn import_message(imp: &Import, verb: &str, via: &str) -> String {
    let reason = classify(&imp.module, &imp.name).reason;
    format!("`{}.{}` {verb} {via} ({reason})", imp.module, imp.name)
}

fn rule(v: Verdict) -> &'static str {
    match v {
        Verdict::Dangerous => crate::pickle::rule::GLOBAL_DANGEROUS.id,
        Verdict::Suspicious => crate::pickle::rule::GLOBAL_SUSPICIOUS.id,
        Verdict::Inconclusive => crate::pickle::rule::GLOBAL_INCONCLUSIVE.id,
        Verdict::Safe => crate::pickle::rule::GLOBAL_SAFE.id,
    }
}
