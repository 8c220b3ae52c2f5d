//! What the emulated pickle machine keeps on its stack and in its memo: only what the
//! policy needs (strings that may name a module, globals, modules reached at load time,
//! the first items of tuples), everything else is an opaque [`Value::Other`].

use std::rc::Rc;

/// How many items of a tuple are kept: call arguments are read from the front, and a
/// bound keeps memory linear in the number of opcodes.
pub(crate) const TUPLE_KEEP: usize = 4;

#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A `str` short enough to keep (protocol-0/1 strings too, as Python 3 reads them).
    Str(Rc<str>),
    /// `bytes`/`bytearray` short enough to keep (a nested pickle may be in there).
    Bytes(Rc<[u8]>),
    /// A string or bytes too long to keep, or not text: never a usable module name.
    Data,
    Int(i64),
    /// A global the pickle imported: its index in the imports, and the site (index in
    /// the machine's references) when the site is tracked (non-safe imports only).
    Global(usize, Option<usize>),
    /// A module object reached at load time (`importlib.import_module("os")`).
    Module(Rc<str>),
    /// A tuple's first [`TUPLE_KEEP`] items, its length and its nesting depth.
    Tuple(Rc<[Value]>, usize, u32),
    /// A dict's first [`DICT_KEEP`] items (joblib reads its array layout from one).
    Dict(Rc<Vec<(Value, Value)>>),
    /// A `numpy.dtype`: its item size in bytes, and whether it holds Python objects.
    Dtype {
        size: Option<u64>,
        object: bool,
    },
    /// A `joblib.numpy_pickle.NumpyArrayWrapper`: its `BUILD` is followed by array data.
    ArrayWrapper,
    /// A joblib <= 0.9 `NDArrayWrapper` or `ZNDArrayWrapper`: its `BUILD` names the file
    /// the array is loaded from.
    Companion,
    /// Anything else (numbers, lists, objects built by calls).
    Other,
}

/// How many items of a dict are kept.
pub(crate) const DICT_KEEP: usize = 16;

impl Value {
    /// Nesting depth (1 for a flat tuple, 0 for a scalar), to bound recursion.
    pub(crate) fn depth(&self) -> u32 {
        match self {
            Value::Tuple(_, _, d) => *d,
            _ => 0,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of the string key `key` of a kept dict.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The item at `i` of a kept tuple.
    pub(crate) fn item(&self, i: usize) -> Option<&Value> {
        match self {
            Value::Tuple(items, _, _) => items.get(i),
            _ => None,
        }
    }
}

/// Builds a tuple value from popped items (keeps the first [`TUPLE_KEEP`]).
pub(crate) fn tuple(items: Vec<Value>) -> Value {
    let len = items.len();
    let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
    let kept: Rc<[Value]> = items.into_iter().take(TUPLE_KEEP).collect();
    Value::Tuple(kept, len, depth)
}

/// A short, printable rendering of a value for evidence messages (`"echo aigis-test"`).
/// Tuples are shown two levels deep: memoized tuples of tuples would otherwise make the
/// text grow exponentially.
pub(crate) fn show(v: &Value, name_of: &dyn Fn(usize) -> String) -> String {
    show_at(v, name_of, 0)
}

fn show_at(v: &Value, name_of: &dyn Fn(usize) -> String, level: u32) -> String {
    match v {
        Value::Tuple(..) if level >= 2 => "(…)".to_owned(),
        Value::Str(s) => {
            let t: String = s.chars().take(80).collect();
            if t.len() < s.len() {
                format!("{t:?}…")
            } else {
                format!("{t:?}")
            }
        }
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Data => "<long data>".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Global(g, _) => format!("`{}`", name_of(*g)),
        Value::Module(m) => format!("<module `{m}`>"),
        Value::Tuple(items, len, _) => {
            let mut parts: Vec<String> = items
                .iter()
                .map(|i| show_at(i, name_of, level + 1))
                .collect();
            if *len > items.len() {
                parts.push("…".to_owned());
            }
            if *len == 1 {
                format!("({},)", parts.join(", "))
            } else {
                format!("({})", parts.join(", "))
            }
        }
        Value::Dict(items) => format!("<dict of {} items>", items.len()),
        Value::Dtype { .. } => "<numpy dtype>".to_owned(),
        Value::ArrayWrapper | Value::Companion | Value::Other => "<object>".to_owned(),
    }
}
