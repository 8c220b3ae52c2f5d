//! Which imports a pickle may make: allowlist-first.
//!
//! A pickle can name any importable callable, so the policy starts from what ordinary ML
//! files use (PyTorch rebuild helpers and storages, NumPy reconstruction, scikit-learn
//! estimators, joblib's array wrapper, XGBoost and LightGBM models, plain containers) and
//! calls that **safe**. Known ways to run code, touch files, reach the network or load
//! another pickle are **dangerous**; everything else is **suspicious** — unknown is not
//! clean.
//!
//! Dangerous modules are matched as whole trees (`os` covers `os.system`, `os.path`, and
//! aliases such as `os.spawnv_passfds` or `posix.system`): new functions appear in them
//! faster than any list of names can follow. Harmless siblings that only look alike
//! (`posixpath`, `ntpath`, `genericpath`: path string arithmetic) are not in the trees
//! and fall to suspicious like any other unknown import.
//!
//! Some names are judged by what they are usually given: `functools.partial` and
//! `operator.itemgetter` are suspicious (neither runs code alone; a `partial` of
//! `os.system` is caught by its `os.system` import), `operator.attrgetter` and
//! `methodcaller` are dangerous (they reach attributes and call methods by name, the
//! same gadget as `getattr`). `builtins.getattr` is dangerous, and the scanner also names
//! what it reaches when its operands are visible (`getattr(<module os>, "system")`).
//!
//! Names are compared exactly as CPython's `find_class` would import them, after the
//! Python 2 renames it applies (`__builtin__` → `builtins`, `copy_reg` → `copyreg`). A
//! name that is not a plain dotted identifier (`os `, `OS`) cannot be imported as such;
//! if its trimmed, lower-cased form is dangerous it is reported dangerous (it can only be
//! there to slip past a scanner), otherwise suspicious.

use crate::Verdict;

/// Module trees (the module and every submodule) where every name is dangerous.
const DANGEROUS_MODULES: &[&str] = &[
    // processes, the OS and the interpreter
    "os",
    "posix",
    "nt",
    "_posixsubprocess",
    "subprocess",
    "pty",
    "shutil",
    "sys",
    "signal",
    "multiprocessing",
    "_multiprocessing",
    "asyncio",
    "concurrent",
    "_thread",
    "threading",
    "ctypes",
    "_ctypes",
    "cffi",
    "resource",
    "fcntl",
    "msvcrt",
    "_winapi",
    "winreg",
    // importing and running code
    "importlib",
    "imp",
    "zipimport",
    "pkgutil",
    "runpy",
    "code",
    "codeop",
    "builtins.__import__",
    "timeit",
    "bdb",
    "pdb",
    "trace",
    "profile",
    "cProfile",
    "doctest",
    "pydoc",
    "idlelib",
    "site",
    "venv",
    "ensurepip",
    "pip",
    "setuptools",
    "distutils",
    "compileall",
    "py_compile",
    "marshal",
    "_marshal",
    "types.CodeType",
    "types.FunctionType",
    "types.MethodType",
    "types.ModuleType",
    "types.LambdaType",
    // nested pickles and other deserializers that run code
    "pickle",
    "_pickle",
    "cPickle",
    "pickletools",
    "dill",
    "cloudpickle",
    "jsonpickle",
    "shelve",
    "copyreg.__newobj_ex__",
    "joblib.load",
    "joblib.numpy_pickle.load",
    "torch.load",
    "torch.serialization",
    "torch.hub",
    "torch.storage._load_from_bytes",
    "torch.jit.load",
    "torch.package",
    "torch.utils.collect_env",
    "torch._inductor",
    "torch.utils.cpp_extension",
    "numpy.load",
    "numpy.loads",
    "numpy.lib.npyio",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.ctypeslib",
    "numpy.fromfile",
    "numpy.core.numeric.loads",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.load_all",
    "yaml.unsafe_load_all",
    // files and the network (exfiltration, remote reads)
    "io.open",
    "_io.open",
    "io.FileIO",
    "_io.FileIO",
    "io.open_code",
    "codecs.open",
    "fileinput",
    "tempfile",
    "glob",
    "pathlib",
    "socket",
    "_socket",
    "ssl",
    "select",
    "selectors",
    "socketserver",
    "http",
    "urllib",
    "urllib3",
    "requests",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "poplib",
    "imaplib",
    "nntplib",
    "telnetlib",
    "xmlrpc",
    "webbrowser",
    "mailbox",
    "pandas.io",
    "pandas.eval",
    "pandas.core.computation",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
    "platform.popen",
    "commands",
    "popen2",
    "operator.attrgetter",
    "operator.methodcaller",
    // builtins that run code, reach attributes or open files
    "builtins.eval",
    "builtins.exec",
    "builtins.execfile",
    "builtins.compile",
    "builtins.open",
    "builtins.file",
    "builtins.getattr",
    "builtins.setattr",
    "builtins.delattr",
    "builtins.globals",
    "builtins.locals",
    "builtins.vars",
    "builtins.input",
    "builtins.breakpoint",
    "builtins.help",
    "builtins.apply",
    "builtins.reload",
    "builtins.exit",
    "builtins.quit",
    "builtins.memoryview.__class__",
];

/// Names that reach code or attributes from anywhere: a dotted name (protocol 4 walks
/// attributes) passing through one of these escapes whatever module it started from.
const DANGEROUS_SEGMENTS: &[&str] = &[
    "__globals__",
    "__builtins__",
    "__import__",
    "__code__",
    "__subclasses__",
    "__getattribute__",
    "__loader__",
    "__spec__",
    "__self__",
    "__func__",
    "__closure__",
    "eval",
    "exec",
    "system",
    "popen",
    "getattr",
    "import_module",
];

/// Exact (module, name) pairs that ordinary ML pickles import.
const SAFE_NAMES: &[(&str, &[&str])] = &[
    (
        "builtins",
        &[
            "set",
            "frozenset",
            "slice",
            "complex",
            "bytearray",
            "range",
            "object",
            "list",
            "dict",
            "tuple",
            "int",
            "float",
            "str",
            "bytes",
            "bool",
            "type(None)",
            "Ellipsis",
            "NotImplemented",
            // Python 2 pickles (`__builtin__`, renamed by `fix_imports`), for the types
            // CPython maps them to: range, str, int, str. NumPy's own `py2-objarr.npy`
            // holds an `xrange`.
            "xrange",
            "unicode",
            "long",
            "basestring",
        ],
    ),
    ("copyreg", &["_reconstructor", "__newobj__"]),
    ("_codecs", &["encode"]),
    ("codecs", &["encode"]),
    (
        "collections",
        &["OrderedDict", "defaultdict", "Counter", "deque"],
    ),
    (
        "datetime",
        &["datetime", "date", "time", "timedelta", "timezone"],
    ),
    ("decimal", &["Decimal"]),
    ("fractions", &["Fraction"]),
    ("uuid", &["UUID"]),
    (
        "torch",
        &[
            "Size",
            "device",
            "dtype",
            "Tensor",
            // legacy tensor types (the `tensors` member of a tar checkpoint names them)
            "FloatTensor",
            "DoubleTensor",
            "HalfTensor",
            "BFloat16Tensor",
            "LongTensor",
            "IntTensor",
            "ShortTensor",
            "CharTensor",
            "ByteTensor",
            "BoolTensor",
            "FloatStorage",
            "DoubleStorage",
            "HalfStorage",
            "BFloat16Storage",
            "LongStorage",
            "IntStorage",
            "ShortStorage",
            "CharStorage",
            "ByteStorage",
            "BoolStorage",
            "ComplexFloatStorage",
            "ComplexDoubleStorage",
            "QInt8Storage",
            "QUInt8Storage",
            "QInt32Storage",
            "QUInt4x2Storage",
            "QUInt2x4Storage",
            "UntypedStorage",
            "TypedStorage",
            "float32",
            "float",
            "float64",
            "double",
            "float16",
            "half",
            "bfloat16",
            "int64",
            "long",
            "int32",
            "int",
            "int16",
            "short",
            "int8",
            "uint8",
            "bool",
            "complex64",
            "complex128",
            "float8_e4m3fn",
            "float8_e5m2",
            "strided",
            "sparse_coo",
            "sparse_csr",
            "per_tensor_affine",
            "per_channel_affine",
            "contiguous_format",
            "channels_last",
            "preserve_format",
        ],
    ),
    (
        "torch._utils",
        &[
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
            "_rebuild_sparse_tensor",
            "_rebuild_nested_tensor",
            "_rebuild_qtensor",
            "_rebuild_device_tensor_from_numpy",
            "_rebuild_meta_tensor_no_storage",
            "_rebuild_wrapper_subclass",
            "_rebuild_xla_tensor",
            "_rebuild_mps_tensor",
        ],
    ),
    (
        "torch._tensor",
        &["_rebuild_from_type", "_rebuild_from_type_v2"],
    ),
    ("torch.storage", &["UntypedStorage", "TypedStorage"]),
    ("torch.nn.parameter", &["Parameter", "Buffer"]),
    // TorchScript's pickler: lists, tagged types and tensors by index in the archive
    (
        "torch.jit._pickle",
        &[
            "build_intlist",
            "build_doublelist",
            "build_boollist",
            "build_tensorlist",
            "build_tensor_from_id",
            "restore_type_tag",
        ],
    ),
    ("torch.serialization", &["_get_layout"]),
    (
        "numpy",
        &[
            "ndarray",
            "dtype",
            "bool_",
            "float64",
            "float32",
            "int64",
            "int32",
            // ndarray subclasses and scalars by the public names NumPy pickles them
            // under (1.x and 2.x); each is rebuilt by `_reconstruct` and `__setstate__`
            "matrix",
            "recarray",
            "record",
            "chararray",
            "poly1d",
        ],
    ),
    // NumPy 2 moved these to their submodules' public names
    ("numpy.rec", &["recarray", "record"]),
    // older NumPy pickled record arrays by their defining module (statsmodels ships an
    // `.npz` of them)
    ("numpy.core.records", &["recarray", "record"]),
    ("numpy.char", &["chararray"]),
    ("numpy.ma", &["MaskedArray"]),
    // `np.matrix` as NumPy 1.x pickles it (joblib's test data has them from 2014 on)
    ("numpy.matrixlib.defmatrix", &["matrix"]),
    // NumPy before 1.0 rebuilt arrays with this `ndarray.__new__` (numpy's own
    // `py2-np0-objarr.npy`); NumPy keeps the name for those pickles.
    ("numpy.core._internal", &["_reconstruct"]),
    ("numpy.core.multiarray", &["_reconstruct", "scalar"]),
    ("numpy._core.multiarray", &["_reconstruct", "scalar"]),
    ("numpy.core.numeric", &["_frombuffer"]),
    ("numpy._core.numeric", &["_frombuffer"]),
    ("numpy.ma.core", &["_mareconstruct", "MaskedArray"]),
    (
        "numpy.random._pickle",
        &[
            "__randomstate_ctor",
            "__generator_ctor",
            "__bit_generator_ctor",
        ],
    ),
    ("numpy.random.mtrand", &["RandomState"]),
    // `np.random.RandomState` as NumPy < 1.17 pickles it (scikit-learn estimators hold one)
    ("numpy.random", &["__RandomState_ctor"]),
    // `Generator` state in NumPy 2: the seed sequence and Cython's generated unpickler,
    // which only fills a `SeedSequence` (any other type is refused by its `__new__`)
    (
        "numpy.random.bit_generator",
        &["SeedSequence", "__pyx_unpickle_SeedSequence"],
    ),
    ("numpy.random._mt19937", &["MT19937"]),
    ("numpy.random._pcg64", &["PCG64"]),
    ("numpy.random._generator", &["Generator"]),
    ("joblib.numpy_pickle", &["NumpyArrayWrapper"]),
    // joblib <= 0.9 kept each array in a file beside the pickle and named it in one of
    // these (`.npy`, or zlib for `ZNDArrayWrapper`); joblib still loads them, with
    // `np.load(allow_pickle=True)`. The file name is checked by the pickle scanner.
    (
        "joblib.numpy_pickle",
        &["NDArrayWrapper", "ZNDArrayWrapper"],
    ),
    (
        "joblib.numpy_pickle_compat",
        &["NDArrayWrapper", "ZNDArrayWrapper"],
    ),
    // scikit-learn 1.1–1.3 gradient boosting keeps its loss as one of these Cython
    // objects, which Cython's generated unpickler rebuilds (a plain name under the
    // `sklearn` tree would already be safe; these start with `__`)
    (
        "sklearn._loss._loss",
        &[
            "__pyx_unpickle_CyLossFunction",
            "__pyx_unpickle_CyHalfSquaredError",
            "__pyx_unpickle_CyAbsoluteError",
            "__pyx_unpickle_CyPinballLoss",
            "__pyx_unpickle_CyHuberLoss",
            "__pyx_unpickle_CyHalfPoissonLoss",
            "__pyx_unpickle_CyHalfGammaLoss",
            "__pyx_unpickle_CyHalfTweedieLoss",
            "__pyx_unpickle_CyHalfTweedieLossIdentity",
            "__pyx_unpickle_CyHalfBinomialLoss",
            "__pyx_unpickle_CyExponentialLoss",
            "__pyx_unpickle_CyHalfMultinomialLoss",
        ],
    ),
    ("xgboost.core", &["Booster"]),
    (
        "xgboost.sklearn",
        &[
            "XGBModel",
            "XGBClassifier",
            "XGBRegressor",
            "XGBRanker",
            "XGBRFClassifier",
            "XGBRFRegressor",
        ],
    ),
    ("lightgbm.basic", &["Booster"]),
    (
        "lightgbm.sklearn",
        &["LGBMModel", "LGBMClassifier", "LGBMRegressor", "LGBMRanker"],
    ),
];

/// Module trees where every plain name is safe: estimator classes and their helpers
/// (loaders and dataset fetchers are caught first by [`DANGEROUS_MODULES`]).
/// `torch.nn.modules` holds PyTorch's layer classes, which a whole pickled model
/// (`torch.save(model)`) names. `__torch__` is TorchScript's namespace for compiled
/// classes in a `torch.jit.save` archive: TorchScript resolves them from the archive's
/// own code, and Python has no such module to import.
const SAFE_TREES: &[&str] = &[
    "sklearn",
    "numpy.dtypes",
    "scipy.sparse",
    "torch.nn.modules",
    "__torch__",
];

/// The policy's answer for one import, and why (for the evidence message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub verdict: Verdict,
    pub reason: &'static str,
}

/// Classifies the global `module`.`name` a pickle imports.
///
/// ```
/// use aigis_model::{pickle::classify, Verdict};
/// assert_eq!(classify("os", "system").verdict, Verdict::Dangerous);
/// assert_eq!(classify("collections", "OrderedDict").verdict, Verdict::Safe);
/// assert_eq!(classify("mypkg.models", "Net").verdict, Verdict::Suspicious);
/// ```
pub fn classify(module: &str, name: &str) -> Classification {
    let plain = is_dotted_identifier(module) && is_dotted_identifier(name);
    if plain && is_dangerous(renamed(module), name) {
        return Classification {
            verdict: Verdict::Dangerous,
            reason: "runs code, opens files or the network, or loads another pickle",
        };
    }
    if plain && is_safe(renamed(module), name) {
        return Classification {
            verdict: Verdict::Safe,
            reason: "used by ordinary model files",
        };
    }
    let (m, n) = (
        module.trim().to_ascii_lowercase(),
        name.trim().to_ascii_lowercase(),
    );
    if (m != module || n != name) && is_dangerous(renamed(&m), &n) {
        return Classification {
            verdict: Verdict::Dangerous,
            reason: "a disguised name (odd spacing or case) of a dangerous import",
        };
    }
    Classification {
        verdict: Verdict::Suspicious,
        reason: if plain {
            "not on the allowlist of imports ordinary model files use"
        } else {
            "not a plain dotted identifier"
        },
    }
}

/// Whether calling the global loads another pickle from bytes (its argument is scanned).
pub(crate) fn loads_pickle(module: &str, name: &str) -> bool {
    name == "loads"
        && matches!(
            renamed(module),
            "pickle"
                | "_pickle"
                | "cPickle"
                | "dill"
                | "cloudpickle"
                | "numpy"
                | "numpy.core.numeric"
        )
}

/// Whether calling the global with a module name returns that module.
pub(crate) fn imports_module(module: &str, name: &str) -> bool {
    matches!(
        (renamed(module), name),
        ("builtins", "__import__")
            | ("importlib", "import_module" | "__import__")
            | ("pkgutil", "resolve_name")
            | ("pydoc", "locate")
            | ("imp", "load_module")
    )
}

/// Whether calling the global with `(obj, "attr")` reads an attribute.
pub(crate) fn gets_attribute(module: &str, name: &str) -> bool {
    matches!(
        (renamed(module), name),
        ("builtins", "getattr") | ("operator", "attrgetter")
    )
}

/// CPython's `fix_imports` renames for Python 2 pickles (the ones that matter here).
fn renamed(module: &str) -> &str {
    match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        "cPickle" => "pickle",
        "urllib2" | "urlparse" | "robotparser" => "urllib",
        "httplib" | "BaseHTTPServer" | "SimpleHTTPServer" | "CGIHTTPServer" | "Cookie"
        | "cookielib" => "http",
        "SocketServer" => "socketserver",
        "xmlrpclib" | "SimpleXMLRPCServer" | "DocXMLRPCServer" => "xmlrpc",
        "commands" => "subprocess",
        "thread" => "_thread",
        _ => module,
    }
}

fn is_dangerous(module: &str, name: &str) -> bool {
    let full = format!("{module}.{name}");
    let in_tree = |tree: &str| {
        full == tree || full.starts_with(tree) && full.as_bytes().get(tree.len()) == Some(&b'.')
    };
    if DANGEROUS_MODULES.iter().any(|t| in_tree(t)) {
        return true;
    }
    // `pandas.read_csv`, `pandas.read_pickle`, …: every reader can fetch a URL or a file.
    if (module == "pandas" || module.starts_with("pandas.")) && name.starts_with("read_") {
        return true;
    }
    // A protocol-4 dotted name walks attributes: `collections.OrderedDict.__init__.__globals__`
    // escapes to whatever the function's module holds.
    if name
        .split('.')
        .skip(1)
        .any(|s| DANGEROUS_SEGMENTS.contains(&s))
    {
        return true;
    }
    // An attribute walk that passes through a dangerous module (`numpy.x.os.system`).
    let parts: Vec<&str> = name.split('.').collect();
    (1..parts.len()).any(|i| {
        let tail = parts.get(i..).map(|p| p.join(".")).unwrap_or_default();
        DANGEROUS_MODULES
            .iter()
            .any(|t| tail == *t || tail.starts_with(&format!("{t}.")))
    })
}

fn is_safe(module: &str, name: &str) -> bool {
    if SAFE_NAMES
        .iter()
        .any(|(m, names)| *m == module && names.contains(&name))
    {
        return true;
    }
    let in_tree = SAFE_TREES.iter().any(|t| {
        module == *t || module.starts_with(t) && module.as_bytes().get(t.len()) == Some(&b'.')
    });
    in_tree && !name.contains('.') && !name.starts_with("__")
}

/// `a.b_c.D`: what `import` and attribute access accept (ASCII; non-ASCII identifiers
/// are legal Python but not in ML libraries, so they stay suspicious).
fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
                && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(m: &str, n: &str) -> Verdict {
        classify(m, n).verdict
    }

    #[test]
    fn allowlist_first() {
        use Verdict::*;
        for (m, n) in [
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch", "FloatStorage"),
            ("collections", "OrderedDict"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("sklearn.linear_model._logistic", "LogisticRegression"),
            ("joblib.numpy_pickle", "NumpyArrayWrapper"),
            ("__builtin__", "set"),
            ("copy_reg", "_reconstructor"),
            ("_codecs", "encode"),
        ] {
            assert_eq!(v(m, n), Safe, "{m}.{n}");
        }
        for (m, n) in [
            ("os", "system"),
            ("os", "spawnv_passfds"),
            ("posix", "system"),
            ("nt", "system"),
            ("os.path", "join"),
            ("subprocess", "Popen"),
            ("builtins", "eval"),
            ("__builtin__", "getattr"),
            ("importlib", "import_module"),
            ("runpy", "run_path"),
            ("torch.utils.collect_env", "run"),
            ("torch", "load"),
            ("torch.hub", "load"),
            ("pandas", "read_csv"),
            ("pandas.io.parsers", "read_csv"),
            ("pickle", "loads"),
            ("_pickle", "loads"),
            ("numpy.testing._private.utils", "runstring"),
            ("sklearn.datasets", "fetch_openml"),
            ("torch._utils", "os.system"),
            ("collections", "OrderedDict.__init__.__globals__"),
            ("OS", "system"),
            ("SocketServer", "TCPServer"),
            ("commands", "getoutput"),
            ("os ", "system"),
            ("builtins", "__import__"),
            ("operator", "attrgetter"),
            ("types", "CodeType"),
            ("platform", "popen"),
            ("asyncio.subprocess", "create_subprocess_shell"),
        ] {
            assert_eq!(v(m, n), Dangerous, "{m}.{n}");
        }
        for (m, n) in [
            ("posixpath", "join"),
            ("mypkg", "Model"),
            ("sklearn.linear_model", "__init__"),
            ("functools", "partial"),
            ("operator", "itemgetter"),
            ("o s", "x"),
            ("builtins", "print"),
            ("osx", "system"),
            ("sklearn.linear_model", "a.b"),
        ] {
            assert_eq!(v(m, n), Suspicious, "{m}.{n}");
        }
    }
}
