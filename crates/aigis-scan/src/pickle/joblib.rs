//! joblib's array layout: `joblib.dump` writes each NumPy array's bytes straight into the
//! pickle stream, right after the `BUILD` of its `NumpyArrayWrapper` (joblib's unpickler
//! reads them there). To keep parsing, the machine works out the array's length from the
//! wrapper's state (`shape`, `dtype`) and skips it; an object array is itself a pickle,
//! which is scanned. A wrapper whose length cannot be worked out stops the scan
//! (inconclusive): what follows could be anything.
//!
//! joblib 0.9 and earlier wrote each array to a file of its own beside the pickle and
//! pickled an `NDArrayWrapper` (or `ZNDArrayWrapper`) naming it; `joblib.load` still
//! joins that name to the pickle's folder and loads it, `.npy` files with
//! `np.load(allow_pickle=True)`. A plain file name is reported (the file is scanned on its
//! own when its folder is); a name that leaves the folder (a path, `..`) loads whatever
//! file it points to and is dangerous.

use std::io::{Read, Seek};
use std::rc::Rc;

use super::machine::{Halt, Machine};
use super::value::{DICT_KEEP, Value};
use crate::Verdict;

/// The value a call yields when it builds something the layout needs.
pub(super) fn construct(module: &str, name: &str, first: Option<&Value>) -> Value {
    match (module, name, first) {
        ("numpy", "dtype", Some(Value::Str(code))) => dtype(code),
        // scikit-learn <= 0.22 vendored joblib as `sklearn.externals.joblib`, and dumps
        // made through it name that copy: the same layout
        (
            "joblib.numpy_pickle" | "sklearn.externals.joblib.numpy_pickle",
            "NumpyArrayWrapper",
            _,
        ) => Value::ArrayWrapper,
        (
            "joblib.numpy_pickle"
            | "joblib.numpy_pickle_compat"
            | "sklearn.externals.joblib.numpy_pickle"
            | "sklearn.externals.joblib.numpy_pickle_compat",
            "NDArrayWrapper" | "ZNDArrayWrapper",
            _,
        ) => Value::Companion,
        _ => Value::Other,
    }
}

/// A name `os.path.join(folder, name)` keeps inside `folder`: no separator (nor a
/// Windows drive), not `.` or `..`.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', ':', '\0'])
}

/// A dtype from its pickled code (`f8`, `U5`, `O8`, `M8`): kind letters, then a number
/// that is the item size in bytes, except for `U` (characters of 4 bytes).
fn dtype(code: &str) -> Value {
    let digits = code.trim_start_matches(|c: char| !c.is_ascii_digit());
    let kind = code.get(..code.len() - digits.len()).unwrap_or("");
    let n = digits.parse::<u64>().ok();
    let size = match kind {
        "U" => n.and_then(|n| n.checked_mul(4)),
        _ => n,
    };
    Value::Dtype {
        size,
        object: kind == "O",
    }
}

impl<R: Read + Seek> Machine<'_, R> {
    /// `SETITEM(S)` on a kept dict: remember the first items.
    pub(super) fn set_items(&mut self, items: Vec<Value>) {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return;
        }
        if let Some(Value::Dict(d)) = self.stack.last_mut() {
            let d = Rc::make_mut(d);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if d.len() >= DICT_KEEP {
                    break;
                }
                d.push((k, v));
            }
        }
    }

    /// `BUILD` with `state` on the object at the top of the stack.
    pub(super) fn build(&mut self, state: Value) -> Result<(), Halt> {
        match self.stack.last_mut() {
            // numpy's dtype state: (version, byteorder, subdtype, names, fields, elsize,
            // alignment, flags); a positive elsize overrides the code, flag bit 0 means
            // the items are Python objects.
            Some(Value::Dtype { size, object }) => {
                if let Some(Value::Int(e)) = state.item(5)
                    && *e > 0
                {
                    *size = u64::try_from(*e).ok();
                }
                if let Some(Value::Int(flags)) = state.item(7) {
                    *object |= flags & 1 == 1;
                }
                Ok(())
            }
            Some(Value::ArrayWrapper) => self.array_data(&state),
            Some(Value::Companion) => {
                self.companion(&state);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The file a joblib <= 0.9 wrapper loads its array from.
    fn companion(&mut self, state: &Value) {
        match state.get("filename") {
            Some(Value::Str(name)) if is_plain_file_name(name) => self.finding(
                Verdict::Safe,
                crate::pickle::rule::JOBLIB_COMPANION.id,
                format!(
                    "joblib loads this array from `{}` beside the pickle (`.npy` files with `np.load(allow_pickle=True)`): that file is scanned when its folder is",
                    name.escape_debug()
                ),
            ),
            Some(Value::Str(name)) => self.finding(
                Verdict::Dangerous,
                crate::pickle::rule::JOBLIB_COMPANION.id,
                format!(
                    "joblib loads this array from `{}`, a path out of the pickle's folder (`.npy` files with `np.load(allow_pickle=True)`)",
                    name.escape_debug()
                ),
            ),
            _ => self.finding(
                Verdict::Suspicious,
                crate::pickle::rule::JOBLIB_COMPANION.id,
                "joblib loads this array from a file the pickle names, but the name is not a plain string".to_owned(),
            ),
        }
    }

    /// Skips (or, for object arrays, scans) the array bytes that follow a wrapper.
    fn array_data(&mut self, state: &Value) -> Result<(), Halt> {
        // joblib ends the frame before it writes an array, and its loader reads the array
        // from the file, past whatever is left of a frame: bytes inside a frame here would
        // be read in an order no reading of this machine follows.
        if self.src.frame_left() > 0 {
            return Err(Halt::Malformed(format!(
                "a joblib array starts {} bytes before the end of its pickle frame (joblib ends the frame first; its loader would read the array from after the frame)",
                self.src.frame_left()
            )));
        }
        let unreadable =
            || Halt::Malformed("a joblib array whose length cannot be worked out".to_owned());
        let count = match state.get("shape") {
            Some(Value::Tuple(items, len, _)) if items.len() == *len => {
                items.iter().try_fold(1u64, |acc, v| match v {
                    Value::Int(n) => u64::try_from(*n).ok().and_then(|n| acc.checked_mul(n)),
                    _ => None,
                })
            }
            _ => None,
        }
        .ok_or_else(unreadable)?;
        let Some(Value::Dtype { size, object }) = state.get("dtype").cloned() else {
            return Err(unreadable());
        };
        // An object array is pickled right after the wrapper, with no alignment padding
        // (joblib's `write_array` pads only raw data).
        if object {
            return self.inline_pickle();
        }
        if state.get("numpy_array_alignment_bytes").is_some() {
            let pad = self.src.u8()?;
            self.src.payload(u64::from(pad), 0)?;
        }
        let len = size
            .and_then(|s| s.checked_mul(count))
            .ok_or_else(unreadable)?;
        self.src.payload(len, 0)?;
        Ok(())
    }

    /// An object array: joblib calls `pickle.load` on the stream, a pickle of its own
    /// (own stack and memo) inside this one.
    fn inline_pickle(&mut self) -> Result<(), Halt> {
        if self.depth >= self.limits.max_nesting {
            return Err(Halt::Limit(format!(
                "pickles nested deeper than {}",
                self.limits.max_nesting
            )));
        }
        let stack = std::mem::take(&mut self.stack);
        let marks = std::mem::take(&mut self.marks);
        let memo = std::mem::take(&mut self.memo);
        self.depth += 1;
        let result = self.one_pickle();
        self.depth -= 1;
        self.stack = stack;
        self.marks = marks;
        self.memo = memo;
        result
    }
}
