//! Which imports a pickle may make: allowlist-first.
//!
//! A pickle can name any importable callable, so the policy starts from what ordinary ML
//! files use (PyTorch rebuild helpers and storages, NumPy reconstruction, scikit-learn
//! estimators, joblib's array wrapper, XGBoost and LightGBM models, plain containers) and
//! calls that **safe**. Callables that execute or compile code, evaluate expressions,
//! spawn processes, import modules, load native code, open sockets, read or write files,
//! load another pickle, or call whatever they are given are **dangerous**; everything
//! else is **suspicious** — unknown is not clean, and `model scan` fails on it by
//! default. A project's reviewed [`Allowlist`](super::Allowlist) can turn a suspicious
//! import (the team's own classes) into a safe one ([`classify_with`]); nothing turns a
//! dangerous one safe.
//!
//! Dangerous modules are matched as whole trees (`os` covers `os.system`, `os.path`, and
//! aliases such as `os.spawnv_passfds` or `posix.system`): new functions appear in them
//! faster than any list of names can follow. Harmless siblings that only look alike
//! (`posixpath`, `ntpath`, `genericpath`: path string arithmetic) are not in the trees
//! and fall to suspicious like any other unknown import. An exact name on the safe list
//! wins over a dangerous tree it sits in (`torch.serialization._get_layout` only maps a
//! layout's name to the layout; the rest of `torch.serialization` loads files).
//!
//! Some names are judged by what they are usually given: `functools.partial` and
//! `operator.itemgetter` are suspicious (neither runs code alone; a `partial` of
//! `os.system` is caught by its `os.system` import), `operator.attrgetter` and
//! `methodcaller` are dangerous (they reach attributes and call methods by name, the
//! same gadget as `getattr`), and so are the call gadgets that call what they are given
//! inside a harmless-looking consumer (`builtins.map`, `functools.reduce`,
//! `operator.call`, `itertools.starmap`: `list(map(f, args))` runs `f` where the scanner
//! sees only `list`). `builtins.getattr` is dangerous, and the scanner also names what it
//! reaches when its operands are visible (`getattr(<module os>, "system")`).
//!
//! Names are compared exactly as CPython's `find_class` would import them, after the
//! Python 2 renames it applies (`__builtin__` → `builtins`, `copy_reg` → `copyreg`). A
//! name that is not a plain dotted identifier (`os `, `OS`) cannot be imported as such;
//! if its trimmed, lower-cased form is dangerous it is reported dangerous (it can only be
//! there to slip past a scanner), otherwise suspicious.
//!
//! Sources for the lists: the advisories of picklescan, modelscan and fickling (2024–2026
//! GHSA entries, cited beside the entries they added), and the CPython, PyTorch, NumPy
//! and SymPy sources of each callable.

mod dangerous_names;

use super::allowlist::{AllowEntry, Allowlist};
use crate::Verdict;
use dangerous_names::DANGEROUS_NAMES;

/// Module trees (the module and every submodule or attribute) where every name is
/// dangerous.
const DANGEROUS_MODULES: &[&str] = &[
    // processes, the OS and the interpreter
    "os",
    "posix",
    "nt",
    "_posixsubprocess",
    "_bootsubprocess", // CPython's bootstrap `subprocess` (used by `_aix_support`)
    "subprocess",
    "pty",
    "pipes", // `pipes.Template` runs shell commands (fickling #312)
    "shutil",
    "sys",
    "signal",
    "_signal",
    "atexit", // registers exit hooks (fickling GHSA-m6fh-58r7-x697)
    "multiprocessing",
    "_multiprocessing",
    "asyncio",
    "concurrent",
    "_thread",
    "threading",
    "_interpreters", // `run_string` in a subinterpreter (fickling GHSA-6ggj-6f2q-f7mx)
    "_xxsubinterpreters",
    "ctypes",
    "_ctypes",
    "cffi",
    "resource",
    "fcntl",
    "msvcrt",
    "_winapi",
    "winreg",
    // `_read_output` / `_read_cmd_output` run commands (picklescan GHSA-g38g-8gr9-h9xp)
    "_osx_support",
    "_aix_support",
    "_pyrepl", // `_pyrepl.pager.pipe_pager` runs a command (picklescan GHSA-g38g-8gr9-h9xp)
    "platform", // `_syscmd_file`, `architecture(executable)` run `file` (fickling GHSA-5cxw-w2xg-2m8h)
    "mailcap",  // `findmatch` runs an entry's `test` with os.system (modelscan #346)
    "tkinter",  // a Tcl interpreter: `Tcl().eval("exec ...")` spawns processes
    "_tkinter",
    // `_get_command_stdout` and the node getters run commands (CPython Lib/uuid.py;
    // picklescan GHSA-g38g-8gr9-h9xp); `uuid.UUID` itself stays safe
    "uuid._get_command_stdout",
    "uuid._find_mac_near_keyword",
    "uuid._find_mac_under_heading",
    "uuid._popen",
    "uuid._ifconfig_getnode",
    "uuid._ip_getnode",
    "uuid._arp_getnode",
    "uuid._lanscan_getnode",
    "uuid._netstat_getnode",
    // importing and running code
    "importlib",
    "imp",
    "_imp", // `create_dynamic` loads native code (fickling b9e690c)
    "_frozen_importlib",
    "_frozen_importlib_external",
    "zipimport",
    "pkgutil",
    "pkg_resources", // `EntryPoint.load` imports by name
    "importlib_metadata",
    "runpy",
    "code",
    "codeop",
    "rlcompleter", // `Completer.complete` evaluates the text (Lib/rlcompleter.py)
    "inspect",     // `getattr_static` is a getattr (fickling 9a6d03f)
    "gc", // `get_objects` / `get_referents` hand out live modules (fickling GHSA-r48f-3986-4f9c)
    "unittest", // `unittest.mock` imports targets by name (fickling GHSA-pc6j-px3p-rrj4)
    "test", // `test.support.script_helper.assert_python_ok` runs Python (picklescan GHSA-g38g-8gr9-h9xp)
    "lib2to3", // `Grammar.loads` unpickles, `ParserGenerator.make_label` evals (GHSA-f54q-57x4-jg88, GHSA-p9w7-82w4-7q8m)
    "builtins.__import__",
    "builtins.__build_class__", // calls the class body it is given
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
    "types.new_class", // calls `exec_body`
    // call gadgets: they call whatever callable they are given, inside a consumer that
    // looks harmless (`list(map(f, xs))`)
    "builtins.map",
    "builtins.filter",
    "functools.reduce",
    "_functools.reduce",
    "operator.call",
    "_operator.call",
    "_operator.attrgetter",
    "_operator.methodcaller",
    "itertools.starmap",
    "itertools.accumulate",
    "itertools.filterfalse",
    "itertools.takewhile",
    "itertools.dropwhile",
    "itertools.groupby",
    "weakref.finalize",
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
    // the extension registry: `add_extension("os", "system", 200)` (or a `setitem` into
    // `_inverted_registry`) makes a later EXT1 200 import `os.system` by a number the
    // scanner cannot resolve; `copyreg.pickle` registers reducers
    "copyreg.add_extension",
    "copyreg.remove_extension",
    "copyreg.clear_extension_cache",
    "copyreg._extension_registry",
    "copyreg._inverted_registry",
    "copyreg._extension_cache",
    "copyreg.pickle",
    "copyreg.dispatch_table",
    "joblib.load",
    "joblib.numpy_pickle.load",
    "joblib.numpy_pickle.load_compatibility",
    "joblib.numpy_pickle_compat.load_compatibility",
    "joblib.externals", // vendored loky and cloudpickle
    // GraphModule's reducer execs the source in the pickle (`reduce_graph_module`);
    // `ShapeEnv.evaluate_guards_expression` evals (picklescan GHSA-f4x7-rfwp-v3xw)
    "torch.fx",
    "torch._dynamo", // `GuardBuilder.get` evals (picklescan GHSA-86cj-95qr-2p4f)
    "torch._inductor",
    "torch.compile",
    "torch.jit.unsupported_tensor_ops", // `execWrapper` is exec (picklescan GHSA-vr7h-p6mm-wpmh)
    "torch.jit.annotations",            // `parse_type_line` evals
    "torch.jit.load",
    "torch.jit._serialization",
    "torch.load",
    "torch.serialization",
    "torch.hub",
    "torch.utils.model_zoo",
    "torch.storage._load_from_bytes",
    "torch.package",
    "torch.export.load",
    "torch.utils.collect_env",
    "torch.utils.cpp_extension",
    "torch.utils.bottleneck", // `run_cprofile`, `run_autograd_prof` exec (GHSA-4r9r-ch6f-vxmx, GHSA-4whj-rm5r-c2v8)
    "torch.utils.benchmark",  // `Timer` compiles its statements
    "torch.utils._config_module", // `ConfigModule.load_config` unpickles (GHSA-vv6j-3g6g-2pvj)
    "torch.utils.data.datapipes", // `decoder.basichandlers` unpickles (GHSA-h3qp-7fh3-f8h4); `Saver` writes files
    "torch.utils.tensorboard",    // writes event files
    "torch.testing._internal",    // `common_utils.shell` runs commands
    "torch.distributed.rpc",      // remote calls, sockets (CVE-2024-5480)
    "torch.distributed.run",
    "torch.distributed.launch",
    "torch.distributed.launcher",
    "torch.distributed.elastic",
    "torch.ops.load_library", // `ctypes.CDLL` of the path
    "torch.classes.load_library",
    "torch._ops._Ops.load_library",
    "torch._classes._Classes.load_library",
    "numpy.load",
    "numpy.loads",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.save",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.savetxt",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromregex",
    "numpy.fromfile",
    "numpy.memmap", // creates and writes files
    "numpy.core.memmap",
    "numpy._core.memmap",
    "numpy.lib.format.open_memmap",
    "numpy.DataSource", // opens URLs
    "numpy.lib.datasource",
    "numpy.lib._datasource",
    "numpy.lookfor", // `__import__`s the module it is given
    "numpy.lib.utils.lookfor",
    "numpy.lib.utils._lookfor_generate_cache",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.ctypeslib",
    "numpy.core.numeric.loads",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.load_all",
    "yaml.unsafe_load_all",
    // SymPy parses strings with `eval` (`sympify`, `S(...)`, `parse_expr`), and
    // `lambdify`, `autowrap` and `codegen` generate code, compile it or write it
    "sympy.sympify",
    "sympy.S",
    "sympy.core.singleton.S",
    "sympy.core.sympify",
    "sympy.parsing",
    "sympy.parse_expr",
    "sympy.lambdify",
    "sympy.utilities.lambdify",
    "sympy.utilities.autowrap",
    "sympy.utilities.codegen",
    "sympy.utilities.runtests",
    "sympy.testing",
    "sympy.interactive",
    "sympy.init_session",
    // downloads and code from a model hub
    "huggingface_hub",
    // other model loaders and file I/O of the ML frameworks: a model loaded from a path
    // runs its own layers (Keras `Lambda`), `deserialize_keras_object` imports what its
    // config names, `get_file` downloads, `tf.io` reads and writes files,
    // `load_op_library` loads native code
    "keras.models.load_model",
    "keras.models.model_from_json",
    "keras.models.model_from_config",
    "keras.saving",
    "keras.src.saving",
    "keras.utils.get_file",
    "keras.src.utils.file_utils",
    "keras.utils.deserialize_keras_object",
    "tensorflow.io",
    "tensorflow.raw_ops",
    "tensorflow.saved_model",
    "tensorflow.keras.models.load_model",
    "tensorflow.keras.utils.get_file",
    "tensorflow.load_library",
    "tensorflow.load_op_library",
    "tensorflow.python.lib.io",
    "tensorflow.python.ops.gen_io_ops",
    "tensorflow.compat",
    "tf_keras.models.load_model",
    "onnx.load",
    "onnx.load_model",
    "onnx.save",
    "onnx.save_model",
    "onnx.external_data_helper",
    "onnxruntime", // a session loads a model from a path and custom-op libraries
    "configparser.ConfigParser.read",
    "configparser.RawConfigParser.read",
    "IPython", // `get_ipython().run_cell`, `embed`, magics
    // templates that run code when they are built (`<%! %>` module blocks in Mako) and
    // type hints evaluated from strings
    "mako",
    "typing._eval_type",
    "typing.get_type_hints",
    "typing.ForwardRef._evaluate",
    "typing_extensions.get_type_hints",
    "annotationlib",
    // files: `zipapp.create_archive` and the audio writers create files, `readline`
    // writes its history file, `tracemalloc.Snapshot.load` and `pstats` read pickled
    // and marshalled files
    "zipapp",
    "wave.open",
    "aifc.open",
    "sunau.open",
    "readline",
    "tracemalloc",
    "pstats",
    "antigravity", // importing it opens a web browser (a process)
    "transformers.dynamic_module_utils",
    // files and the network (exfiltration, remote reads)
    "io.open",
    "_io.open",
    "io.FileIO",
    "_io.FileIO",
    "io.open_code",
    "_io.open_code",
    "codecs.open",
    "fileinput",
    "filecmp",
    "linecache", // reads any file (picklescan's dns_exfiltration.npy; fickling GHSA-r48f-3986-4f9c)
    "tempfile",
    "glob",
    "pathlib",
    "mmap",
    "zipfile", // `extractall` and write modes create files (fickling GHSA-mhc9-48gj-9gp3)
    "tarfile",
    "gzip.open",
    "gzip.GzipFile",
    "bz2.open",
    "bz2.BZ2File",
    "lzma.open",
    "lzma.LZMAFile",
    "sqlite3", // creates database files; `load_extension` loads native code
    "_sqlite3",
    "dbm",
    "_dbm",
    "_gdbm",
    "logging.config", // `fileConfig` evals, `dictConfig` imports, `listen` opens a socket
    "logging.handlers", // file, socket, SMTP and HTTP handlers
    "logging.FileHandler", // (picklescan GHSA-m7j5-r2p5-c39r)
    "logging.basicConfig", // `filename=` opens a file
    "syslog",
    "socket",
    "_socket",
    "ssl",
    "select",
    "selectors",
    "socketserver",
    "asyncore",
    "asynchat",
    "wsgiref",
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
    "pandas.to_pickle",
    "pandas.core.computation",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
    // scikit-learn's own call gadgets and loaders: `Parallel` calls the `delayed` calls it
    // is given; `sklearn.utils._joblib` (0.21–1.2) re-exports joblib's `load`, `dump` and
    // `Parallel`; `all_estimators` imports every module of the package; the estimator
    // checks fit and run whatever estimator they are given; the callback transport opens
    // `multiprocessing.connection` sockets; `export_graphviz` writes a file at the path
    // it is given, with text from the pickle (feature and class names)
    "sklearn.utils.parallel",
    "sklearn.utils._joblib",
    "sklearn.utils.discovery",
    "sklearn.utils.estimator_checks",
    "sklearn.callback._transport",
    "sklearn.tree.export_graphviz",
    "sklearn.tree._export.export_graphviz",
    "joblib.dump",
    "joblib.numpy_pickle.dump",
    "joblib.parallel", // runs the calls it is given, in other processes
    "joblib.Parallel",
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

/// Attributes that reach code, globals or the import system from any object: a name
/// passing through one of these (`numpy.__builtins__`, `Net.__init__.__globals__`)
/// escapes whatever module it started from. Checked in every part of the name.
const DANGEROUS_DUNDERS: &[&str] = &[
    "__globals__",
    "__builtins__",
    "__import__",
    "__build_class__",
    "__code__",
    "__subclasses__",
    "__getattribute__",
    "__getattr__",
    "__setattr__",
    "__delattr__",
    "__dict__",
    "__reduce__",
    "__reduce_ex__",
    "__loader__",
    "__spec__",
    "__self__",
    "__func__",
    "__closure__",
];

/// Methods that run code, spawn processes, load native code or fetch files, whatever
/// object they hang from: a dotted name (protocol 4 walks attributes) that reaches one
/// after its first part is dangerous (`torch._utils` + `os.system`).
const DANGEROUS_METHODS: &[&str] = &[
    "eval",
    "exec",
    "system",
    "popen",
    "getattr",
    "import_module",
    "load_library",    // `torch.ops.load_library`: a `ctypes.CDLL` of the path
    "from_pretrained", // downloads and loads weights (and, with a flag, code)
];

/// pandas methods that read or write a file or URL, or evaluate an expression
/// (`DataFrame.query`), reached as a dotted name (`pandas.core.frame` +
/// `DataFrame.to_pickle`). Every `read_*` is dangerous too.
const PANDAS_IO: &[&str] = &[
    "query",
    "to_pickle",
    "to_csv",
    "to_parquet",
    "to_sql",
    "to_hdf",
    "to_excel",
    "to_feather",
    "to_stata",
    "to_orc",
    "to_json",
    "to_html",
    "to_latex",
    "to_xml",
    "to_markdown",
    "to_clipboard",
    "to_gbq",
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
    // scikit-learn <= 0.22 vendored joblib as `sklearn.externals.joblib`; models dumped
    // through it (`from sklearn.externals import joblib`) name that copy's wrappers. The
    // rest of `sklearn.externals` stays dangerous (the vendored loaders).
    (
        "sklearn.externals.joblib.numpy_pickle",
        &["NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper"],
    ),
    (
        "sklearn.externals.joblib.numpy_pickle_compat",
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
    // what scikit-learn's estimators hold at their defaults: `FeatureAgglomeration`'s
    // `pooling_func` (`np.mean`; its docs suggest `np.median`), `SplineTransformer`'s
    // fitted splines (SciPy's `BSpline`, whose coefficients SciPy >= 1.15 pickles through
    // its array-API `asarray`)
    ("numpy", &["mean", "median"]),
    ("scipy.interpolate._bsplines", &["BSpline"]),
    ("scipy._lib.array_api_compat.numpy._aliases", &["asarray"]),
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
/// (loaders and dataset fetchers are caught first by [`DANGEROUS_MODULES`]), except a
/// name that a dangerous module defines ([`DANGEROUS_NAMES`], harvested by
/// `scripts/make_dangerous_names.py`): the tree's modules import such callables and
/// `find_class` hands them out there (`sklearn.utils.discovery.import_module` is
/// `importlib.import_module`).
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
    /// Safe, suspicious or dangerous.
    pub verdict: Verdict,
    /// Why, for a person.
    pub reason: &'static str,
}

const DANGEROUS: Classification = Classification {
    verdict: Verdict::Dangerous,
    reason: "runs code, spawns processes, imports modules, loads native code, touches files or the network, or loads another pickle",
};

/// Classifies the global `module`.`name` a pickle imports, by the built-in policy alone.
///
/// ```
/// use aigis_scan::{internal::pickle::classify, Verdict};
/// assert_eq!(classify("os", "system").verdict, Verdict::Dangerous);
/// assert_eq!(classify("collections", "OrderedDict").verdict, Verdict::Safe);
/// assert_eq!(classify("mypkg.models", "Net").verdict, Verdict::Suspicious);
/// ```
pub fn classify(module: &str, name: &str) -> Classification {
    let plain = is_dotted_identifier(module) && is_dotted_identifier(name);
    if plain && is_safe_name(renamed(module), name) {
        return Classification {
            verdict: Verdict::Safe,
            reason: "used by ordinary model files",
        };
    }
    if plain && is_dangerous(renamed(module), name) {
        return DANGEROUS;
    }
    if plain && is_safe_tree(renamed(module), name) {
        if DANGEROUS_NAMES.binary_search(&name).is_ok() {
            return Classification {
                verdict: Verdict::Dangerous,
                reason: "the name of a callable a dangerous module defines (`import_module`, `Client`, `reduce`): a library module that imports it hands it out under its own name",
            };
        }
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

/// [`classify`] with the project's reviewed allowlist: an import the built-in policy
/// calls suspicious and the allowlist names exactly is safe. A dangerous import stays
/// dangerous even if it is listed (the list refuses such entries when it is built; this
/// is the second lock).
///
/// ```
/// use aigis_scan::internal::pickle::classify_with;
/// use aigis_scan::{AllowEntry, Allowlist};
/// use aigis_scan::Verdict;
/// let list = Allowlist::new(vec![AllowEntry {
///     name: "mypkg.models.Net".into(),
///     reason: "our model class".into(),
///     by: "alice@example.com".into(),
/// }])?;
/// assert_eq!(classify_with("mypkg.models", "Net", &list).verdict, Verdict::Safe);
/// assert_eq!(classify_with("mypkg.models", "Other", &list).verdict, Verdict::Suspicious);
/// assert_eq!(classify_with("os", "system", &list).verdict, Verdict::Dangerous);
/// # Ok::<(), aigis_scan::AllowlistError>(())
/// ```
pub fn classify_with(module: &str, name: &str, allowlist: &Allowlist) -> Classification {
    classify_allowed(module, name, allowlist).0
}

/// [`classify_with`], and the entry that made the import safe, if one did.
pub(crate) fn classify_allowed<'a>(
    module: &str,
    name: &str,
    allowlist: &'a Allowlist,
) -> (Classification, Option<&'a AllowEntry>) {
    let c = classify(module, name);
    if c.verdict != Verdict::Suspicious {
        return (c, None);
    }
    match allowlist.allows(module, name) {
        Some(entry) => (
            Classification {
                verdict: Verdict::Safe,
                reason: "allowed by the project's reviewed allowlist",
            },
            Some(entry),
        ),
        None => (c, None),
    }
}

/// The dangerous module tree a dotted name starts in, if it starts in one whose root is
/// dangerous as a whole (`os`, `sys`, `subprocess`, `importlib`, `pickle`, …) or in
/// `builtins`, the interpreter's own namespace (`eval`, `getattr`, `__import__`, `map`):
/// nothing under such a root may be allowlisted.
pub(crate) fn dangerous_root(name: &str) -> Option<&'static str> {
    let root = renamed(name.split('.').next().unwrap_or_default());
    if root == "builtins" || root == "__builtins__" {
        return Some("builtins");
    }
    DANGEROUS_MODULES.iter().copied().find(|t| *t == root)
}

/// Whether `segment` names a module whose whole tree is dangerous (`os`, `sys`, …).
pub(crate) fn is_dangerous_tree(segment: &str) -> bool {
    matches!(renamed(segment), "builtins" | "__builtins__")
        || DANGEROUS_MODULES.contains(&renamed(segment))
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
    // `venv.__main__`, `IPython.__main__`: importing a package's `__main__` runs its
    // command line (find_class imports the module before it looks up the name). The
    // script's own `__main__` (`__main__.Net`) is only unknown.
    if module.split('.').skip(1).any(|p| p == "__main__") {
        return true;
    }
    let parts: Vec<&str> = name.split('.').collect();
    // `pandas.read_csv`, `pandas.read_pickle`, …: every reader can fetch a URL or a file;
    // `DataFrame.to_pickle` writes one and `DataFrame.query` evaluates an expression.
    if (module == "pandas" || module.starts_with("pandas."))
        && parts
            .iter()
            .any(|s| s.starts_with("read_") || PANDAS_IO.contains(s))
    {
        return true;
    }
    // `numpy.__builtins__`, `OrderedDict.__init__.__globals__`: the name reaches the
    // interpreter's internals, whatever module it starts from.
    if parts.iter().any(|s| DANGEROUS_DUNDERS.contains(s)) {
        return true;
    }
    // A protocol-4 dotted name walks attributes: `torch._utils` + `os.system` reaches
    // `system` through the module's own `os`.
    if parts.iter().skip(1).any(|s| DANGEROUS_METHODS.contains(s)) {
        return true;
    }
    // An attribute walk into a dangerous module (`numpy` + `core._internal.sys.modules`,
    // `mypkg` + `sys.modules`). A plain one-part name is not a walk: a function may well
    // be called `profile` or `code`.
    let first = usize::from(parts.len() < 2);
    (first..parts.len()).any(|i| {
        let tail = parts.get(i..).map(|p| p.join(".")).unwrap_or_default();
        DANGEROUS_MODULES
            .iter()
            .any(|t| tail == *t || tail.starts_with(&format!("{t}.")))
    })
}

/// An exact (module, name) pair on the safe list: reviewed one by one, so it holds even
/// inside a dangerous tree.
fn is_safe_name(module: &str, name: &str) -> bool {
    SAFE_NAMES
        .iter()
        .any(|(m, names)| *m == module && names.contains(&name))
}

/// A plain name in a safe tree (checked after the dangerous lists).
fn is_safe_tree(module: &str, name: &str) -> bool {
    let in_tree = SAFE_TREES.iter().any(|t| {
        module == *t || module.starts_with(t) && module.as_bytes().get(t.len()) == Some(&b'.')
    });
    in_tree && !name.contains('.') && !name.starts_with("__")
}

/// `a.b_c.D`: what `import` and attribute access accept (ASCII; non-ASCII identifiers
/// are legal Python but not in ML libraries, so they stay suspicious).
pub(crate) fn is_dotted_identifier(s: &str) -> bool {
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

    fn all_dangerous(cases: &[(&str, &str)]) {
        for (m, n) in cases {
            assert_eq!(v(m, n), Verdict::Dangerous, "{m}.{n}");
        }
    }

    /// Functions of the standard library that run, compile or evaluate code (the class
    /// the outside test found rated suspicious), each from its advisory or source.
    #[test]
    fn stdlib_code_runners_are_dangerous() {
        all_dangerous(&[
            ("code", "InteractiveInterpreter.runcode"), // GHSA-cj3c-v495-4xqh
            ("rlcompleter", "Completer"),
            ("pydoc", "pipepager"),
            ("pydoc", "locate"), // GHSA-84r2-jw7c-4r5q
            ("lib2to3.pgen2.pgen", "ParserGenerator.make_label"), // GHSA-p9w7-82w4-7q8m
            ("lib2to3.pgen2.grammar", "Grammar.loads"), // GHSA-f54q-57x4-jg88
            ("logging.config", "dictConfig"),
            ("logging.config", "fileConfig"),
            ("logging.config", "listen"),
            ("test.support.script_helper", "assert_python_ok"),
            ("unittest.mock", "_importer"),
            ("unittest.mock", "_dot_lookup"),
            ("inspect", "getattr_static"),
            ("gc", "get_objects"),
            ("_imp", "create_dynamic"),
            ("_frozen_importlib_external", "SourceFileLoader"),
            ("_interpreters", "run_string"),
            ("_xxsubinterpreters", "run_string"),
            ("types", "new_class"),
            ("builtins", "__build_class__"),
            ("pkg_resources", "load_entry_point"),
            ("ensurepip", "_run_pip"),   // GHSA-xp4f-hrf8-rxw7
            ("cProfile", "runctx"),      // GHSA-9w88-8rmg-7g2p
            ("profile", "Profile.run"),  // GHSA-x696-vm39-cp64
            ("trace", "Trace.runctx"),   // GHSA-g344-hcph-8vgg
            ("doctest", "debug_script"), // GHSA-fqq6-7vqf-w3fg
            ("idlelib.run", "Executive.runcode"),
        ]);
    }

    /// Functions that spawn processes without saying so in their module's name.
    #[test]
    fn hidden_process_spawners_are_dangerous() {
        all_dangerous(&[
            ("uuid", "_get_command_stdout"), // GHSA-g38g-8gr9-h9xp
            ("uuid", "_find_mac_near_keyword"),
            ("uuid", "_popen"),
            ("_osx_support", "_read_output"),
            ("_aix_support", "_read_cmd_output"),
            ("_bootsubprocess", "check_output"),
            ("_pyrepl.pager", "pipe_pager"),
            ("platform", "_syscmd_file"),
            ("platform", "_syscmd_ver"),
            ("platform", "architecture"),
            ("mailcap", "findmatch"),
            ("pipes", "Template"),
            ("imaplib", "IMAP4_stream"),
            ("multiprocessing.util", "spawnv_passfds"),
            ("tkinter", "Tcl"),
            ("atexit", "register"),
            ("asyncio.unix_events", "_UnixSubprocessTransport._start"), // GHSA-q77w-mwjj-7mqx
        ]);
        // `uuid.UUID` is what pickled UUIDs name: still safe.
        assert_eq!(v("uuid", "UUID"), Verdict::Safe);
    }

    /// Call gadgets: they call whatever they are given inside a harmless consumer.
    #[test]
    fn call_gadgets_are_dangerous() {
        all_dangerous(&[
            ("builtins", "map"),
            ("__builtin__", "filter"),
            ("functools", "reduce"),
            ("_functools", "reduce"),
            ("operator", "call"),
            ("_operator", "call"),
            ("_operator", "attrgetter"), // GHSA-955r-x9j8-7rhh
            ("_operator", "methodcaller"),
            ("itertools", "starmap"),
            ("itertools", "accumulate"),
            ("weakref", "finalize"),
            ("copyreg", "add_extension"), // then EXT1 imports by number
            ("copy_reg", "add_extension"),
            ("copyreg", "_inverted_registry"),
            ("typing", "_eval_type"), // evaluates a ForwardRef's string
            ("mako.template", "Template"),
            ("keras.models", "load_model"),
            ("tensorflow.io", "write_file"),
            ("tensorflow.io.gfile", "GFile"),
            ("tracemalloc.Snapshot", "load"),
            ("venv.__main__", "main"),
            ("IPython.__main__", "x"), // any name: the import runs it
            ("pytest.__main__", "x"),
        ]);
        // A `partial` names its callable as an import of its own, which is judged.
        assert_eq!(v("functools", "partial"), Verdict::Suspicious);
    }

    /// Files, databases and archives: reading any file, or creating one.
    #[test]
    fn file_and_database_access_is_dangerous() {
        all_dangerous(&[
            ("linecache", "getline"),
            ("sqlite3", "connect"),
            ("_sqlite3", "connect"),
            ("dbm", "open"),
            ("dbm.gnu", "open"),
            ("shelve", "open"),
            ("zipfile", "ZipFile.extractall"),
            ("tarfile", "open"),
            ("gzip", "open"),
            ("bz2", "BZ2File"),
            ("mmap", "mmap"),
            ("filecmp", "cmp"),
            ("logging", "FileHandler"), // GHSA-m7j5-r2p5-c39r
            ("logging.handlers", "SocketHandler"),
            ("_io", "FileIO"), // GHSA-9726-w42j-3qjr
            ("_io", "open_code"),
            ("numpy", "memmap"),
            ("numpy", "save"),
            ("numpy.lib.format", "open_memmap"),
            ("numpy", "DataSource"),
            ("numpy.lib.utils", "lookfor"),
            ("joblib", "dump"),
            ("joblib", "Parallel"),
            ("pandas", "to_pickle"),
            ("pandas.core.frame", "DataFrame.to_csv"),
            ("pandas.core.frame", "DataFrame.query"),
            ("pandas", "DataFrame.eval"),
            ("wsgiref.simple_server", "make_server"),
            ("huggingface_hub", "hf_hub_download"),
        ]);
    }

    /// PyTorch, NumPy and SymPy functions that evaluate, compile or generate code, load
    /// native code, or run processes.
    #[test]
    fn ml_library_code_runners_are_dangerous() {
        all_dangerous(&[
            ("torch.jit.unsupported_tensor_ops", "execWrapper"), // GHSA-vr7h-p6mm-wpmh
            ("torch.jit.annotations", "parse_type_line"),
            ("torch.fx.graph_module", "reduce_graph_module"),
            (
                "torch.fx.experimental.symbolic_shapes",
                "ShapeEnv.evaluate_guards_expression",
            ), // GHSA-f4x7-rfwp-v3xw
            ("torch._dynamo.guards", "GuardBuilder.get"), // GHSA-86cj-95qr-2p4f
            ("torch.utils.bottleneck.__main__", "run_cprofile"), // GHSA-4r9r-ch6f-vxmx
            ("torch.utils.bottleneck.__main__", "run_autograd_prof"), // GHSA-4whj-rm5r-c2v8
            ("torch.utils._config_module", "ConfigModule.load_config"), // GHSA-vv6j-3g6g-2pvj
            ("torch.utils.data.datapipes.utils.decoder", "basichandlers"), // GHSA-h3qp-7fh3-f8h4
            ("torch.utils.collect_env", "run_and_read_all"), // GHSA-jhph-76pp-mggw
            ("torch.utils.benchmark", "Timer"),
            ("torch.testing._internal.common_utils", "shell"),
            ("torch.distributed.rpc", "rpc_sync"),
            ("torch.distributed.run", "main"),
            ("torch", "compile"),
            ("torch.ops", "load_library"),
            ("torch", "ops.load_library"),
            ("torch._ops", "_Ops.load_library"),
            ("torch.serialization", "load"),
            ("numpy.f2py.crackfortran", "getlincoef"), // GHSA-r8g5-cgf2-4m4m
            ("sympy", "sympify"),
            ("sympy", "S"),
            ("sympy.core.sympify", "sympify"),
            ("sympy.parsing.sympy_parser", "parse_expr"),
            ("sympy.utilities.lambdify", "lambdify"),
            (
                "transformers.dynamic_module_utils",
                "get_class_from_dynamic_module",
            ),
            ("transformers", "AutoModel.from_pretrained"),
        ]);
    }

    /// Names that walk from a harmless module into the interpreter.
    #[test]
    fn attribute_walks_into_the_interpreter_are_dangerous() {
        all_dangerous(&[
            ("numpy", "__builtins__"),
            ("numpy", "core._internal.sys.modules"),
            ("numpy.core._internal", "sys.modules"),
            ("mypkg", "os.execv"),
            ("collections", "OrderedDict.__dict__"),
            ("builtins", "__loader__"),
        ]);
        // a function that happens to share a dangerous module's name is not a walk
        assert_eq!(v("mypkg.metrics", "profile"), Verdict::Suspicious);
        assert_eq!(v("mypkg.code", "Net"), Verdict::Suspicious);
    }

    /// What ordinary model files name stays safe, and an exact safe name wins over the
    /// dangerous tree it sits in.
    #[test]
    fn benign_ml_names_stay_safe() {
        for (m, n) in [
            ("torch._utils", "_rebuild_parameter"),
            ("torch._tensor", "_rebuild_from_type_v2"),
            ("torch.jit._pickle", "build_tensor_from_id"),
            ("torch.nn.modules.linear", "Linear"),
            ("torch.serialization", "_get_layout"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.random._pickle", "__randomstate_ctor"),
            ("sklearn.ensemble._forest", "RandomForestClassifier"),
            ("sklearn.tree._tree", "Tree"),
            ("xgboost.sklearn", "XGBClassifier"),
            ("__torch__.mymodel", "Net"),
        ] {
            assert_eq!(v(m, n), Verdict::Safe, "{m}.{n}");
        }
        // The only safe names inside a dangerous tree are these, reviewed one by one.
        let inside: Vec<String> = SAFE_NAMES
            .iter()
            .flat_map(|(m, names)| names.iter().map(move |n| (*m, *n)))
            .filter(|(m, n)| is_dangerous(m, n))
            .map(|(m, n)| format!("{m}.{n}"))
            .collect();
        assert_eq!(
            inside,
            [
                "torch.serialization._get_layout",
                "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
                "sklearn.externals.joblib.numpy_pickle.NDArrayWrapper",
                "sklearn.externals.joblib.numpy_pickle.ZNDArrayWrapper",
                "sklearn.externals.joblib.numpy_pickle_compat.NDArrayWrapper",
                "sklearn.externals.joblib.numpy_pickle_compat.ZNDArrayWrapper",
            ]
        );
        // and the vendored loaders around them stay dangerous
        assert_eq!(
            v("sklearn.externals.joblib.numpy_pickle", "load"),
            Verdict::Dangerous
        );
        assert_eq!(v("sklearn.externals.joblib", "load"), Verdict::Dangerous);
    }

    #[test]
    fn the_allowlist_turns_suspicious_into_safe_never_dangerous() {
        let entry = |name: &str| AllowEntry {
            name: name.into(),
            reason: "ours".into(),
            by: "alice".into(),
        };
        let list = Allowlist::new(vec![entry("mypkg.models.Net")]).unwrap();
        let (c, e) = classify_allowed("mypkg.models", "Net", &list);
        assert_eq!(c.verdict, Verdict::Safe);
        assert_eq!(e.map(|e| e.name.as_str()), Some("mypkg.models.Net"));
        assert_eq!(
            classify_with("mypkg.models", "Other", &list).verdict,
            Verdict::Suspicious
        );
        assert_eq!(
            classify_with("collections", "OrderedDict", &list).verdict,
            Verdict::Safe
        );
        assert!(
            classify_allowed("collections", "OrderedDict", &list)
                .1
                .is_none()
        );
        // An entry that slipped past validation still cannot make a dangerous import
        // safe: `mypkg` + `models.Net.__globals__` is not `mypkg.models.Net`, and a
        // walk through `os` stays dangerous whatever is listed.
        assert_eq!(
            classify_with("mypkg", "os.system", &list).verdict,
            Verdict::Dangerous
        );
        assert_eq!(dangerous_root("__builtin__.print"), Some("builtins"));
        assert_eq!(dangerous_root("os.path.join"), Some("os"));
        assert_eq!(dangerous_root("torch.nn.Linear"), None);
    }

    #[test]
    fn the_dangerous_names_table_is_sorted_for_its_binary_search() {
        assert!(DANGEROUS_NAMES.len() > 1000);
        assert!(DANGEROUS_NAMES.windows(2).all(|w| w[0] < w[1]));
    }

    /// What the safe trees' modules import from dangerous ones, as scikit-learn 1.9 and
    /// older releases hand it out: each is the dangerous callable under another path.
    #[test]
    fn a_dangerous_callable_re_exported_by_a_safe_tree_is_dangerous() {
        for (m, n) in [
            ("sklearn.utils.discovery", "import_module"), // importlib.import_module
            ("sklearn.callback._transport", "Client"),    // multiprocessing.connection
            ("sklearn.callback._progressbar", "Thread"),  // threading.Thread
            ("sklearn.model_selection._search", "reduce"), // functools.reduce
            ("sklearn.feature_selection._base", "attrgetter"),
            ("sklearn.utils.validation", "signature"), // inspect
            ("sklearn.utils._repr_html.estimator", "Path"), // pathlib
            ("sklearn.utils._joblib", "load"),         // joblib.load (0.21–1.2)
            ("sklearn.utils._joblib", "dump"),
            ("sklearn.utils.parallel", "Parallel"), // calls what it is given
            ("sklearn.pipeline", "delayed"),
            ("sklearn.ensemble._forest", "Parallel"),
            ("sklearn.tree", "export_graphviz"), // writes a file
            ("sklearn.some_future_module", "system"),
            ("sklearn.some_future_module", "check_output"),
            ("sklearn.some_future_module", "Popen"),
            ("scipy.sparse._base", "run_path"),
            ("torch.nn.modules.module", "load_state_dict_from_url"),
        ] {
            assert_eq!(v(m, n), Verdict::Dangerous, "{m}.{n}");
        }
        // the trees' own classes and functions stay safe, including names a dangerous
        // module happens to share (`torch.fx.Transformer`)
        for (m, n) in [
            ("sklearn.ensemble._forest", "RandomForestClassifier"),
            ("sklearn.neighbors._kd_tree", "newObj"),
            ("sklearn.metrics._scorer", "_passthrough_scorer"),
            (
                "sklearn.feature_selection._univariate_selection",
                "f_classif",
            ),
            ("sklearn.utils._bunch", "Bunch"),
            ("torch.nn.modules.transformer", "Transformer"),
            ("torch.nn.modules.module", "Module"),
            ("torch.nn.modules.linear", "Linear"),
            ("scipy.sparse._csr", "csr_matrix"),
            // held by estimators at their defaults (FeatureAgglomeration, SplineTransformer)
            ("numpy", "mean"),
            ("scipy.interpolate._bsplines", "BSpline"),
        ] {
            assert_eq!(v(m, n), Verdict::Safe, "{m}.{n}");
        }
    }
}
