//! Keras model configs: the JSON that `keras.models.load_model` turns back into layers.
//!
//! Both generations are read the same way. Keras 3 keeps it in `config.json` of a
//! `.keras` zip, each object as `{"module", "class_name", "config", "registered_name"}`;
//! Keras 2 and `tf.keras` keep it in the `model_config` attribute of an `.h5` file
//! (see [`crate::hdf5`]), each object as `{"class_name", "config"}`. The whole tree is
//! walked (layers of Sequential and Functional models, nested models, the `layer` of
//! wrappers such as `Bidirectional`, initializers, dtype policies, the compile config),
//! and every object that names code is judged:
//!
//! - a `Lambda` holding marshalled Python bytecode — Keras 3 `{"class_name":
//!   "__lambda__", "config": {"code": …}}`, Keras 2 `"function": [code, defaults,
//!   closure]` with `"function_type": "lambda"` — runs that bytecode when loaded with
//!   `safe_mode=False` (and always in Keras 2): dangerous, `keras.lambda`;
//! - a `module` outside Keras's own packages is imported by the loaders of Keras up to
//!   3.8 (newer ones refuse it) and names code the model cannot load without: suspicious,
//!   `keras.custom_object`, or dangerous (`keras.dangerous_import`) when the pickle
//!   allowlist knows the import runs code (`os.system`, `builtins.exec`);
//! - a `registered_name` that is not Keras's own is a custom object the loading program
//!   must supply: suspicious, `keras.custom_object`;
//! - `TFOpLambda` / `SlicingOpLambda` layers (`tf.keras` functional models) call a
//!   TensorFlow function by its API name: math, array and neural-network ops are safe,
//!   file, printing, Python-callback and library-loading ops (`tf.io.write_file`,
//!   `tf.py_function`, `tf.load_op_library`) are dangerous, anything else is suspicious
//!   (`keras.tf_op`).
//!
//! Keras 2 classes without a `module` are looked up by name in Keras's registry and the
//! objects the loading program passes; the file cannot make it import anything, so an
//! unfamiliar `class_name` alone is not a finding. A config that is not JSON, or whose
//! root is not a Keras object, is inconclusive (`keras.config_malformed`); one nested
//! deeper than [`Limits::max_config_depth`] is inconclusive (`keras.config_too_deep`).

use serde_json::{Map, Value};

use crate::scan::finding;
use crate::{Finding, Limits, Location, Verdict, pickle};

crate::rules::declare! {
    CONFIG = "keras.config":
        "A Keras model config walked to its end, with no code in it.";
    CONFIG_MALFORMED = "keras.config_malformed":
        "A Keras model config that is not JSON Keras would read.";
    CONFIG_TOO_DEEP = "keras.config_too_deep":
        "A Keras model config nested past the limit: the part below is not analysed.";
    METADATA_MALFORMED = "keras.metadata_malformed":
        "A Keras `metadata.json` that is not a JSON object.";
    MORE_FINDINGS = "keras.more_findings":
        "More findings of the same kinds in a Keras config, counted but not listed.";
    LAMBDA = "keras.lambda":
        "A Keras Lambda layer holds Python bytecode that runs when the model is loaded.";
    CUSTOM_OBJECT = "keras.custom_object":
        "A Keras config names a custom object: code outside Keras that loading imports or needs.";
    DANGEROUS_IMPORT = "keras.dangerous_import":
        "A Keras config names a function that runs code or touches files; loading imports it.";
    TF_OP = "keras.tf_op":
        "A TFOpLambda layer calls a TensorFlow function outside the tensor-op list.";
}

/// Findings kept per config; the rest are summed up in one.
const MAX_FINDINGS: usize = 256;

/// Packages whose classes a Keras config may name without being a custom object.
const KERAS_PACKAGES: &[&str] = &[
    "keras",
    "tf_keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "keras_rs",
];

/// Names Keras resolves for `{"module": "builtins", "class_name": "function"}`:
/// activations, losses and metrics referred to by name. Keras up to 3.8 fell back to
/// `builtins.<name>` for anything else (`exec`, `eval`), which is why the list is closed.
const BUILTIN_FUNCTIONS: &[&str] = &[
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "glu",
    "silu",
    "swish",
    "mish",
    "softplus",
    "softsign",
    "soft_shrink",
    "sparse_plus",
    "tanh",
    "tanh_shrink",
    "sigmoid",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "hard_shrink",
    "exponential",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "softmax",
    "sparsemax",
    "squareplus",
    "threshold",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "mse",
    "mae",
    "mape",
    "msle",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "kl_divergence",
    "kld",
    "kullback_leibler_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "log_cosh",
    "logcosh",
    "huber",
    "cosine_similarity",
    "ctc",
    "dice",
    "tversky",
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
];

/// TensorFlow namespaces of pure tensor computation, for `TFOpLambda`.
const TF_SAFE_NAMESPACES: &[&str] = &[
    "math",
    "nn",
    "linalg",
    "__operators__",
    "signal",
    "bitwise",
    "random",
    "image",
    "sparse",
    "ragged",
    "strings",
    "dtypes",
    "experimental.numpy",
];

/// Top-level `tf.` functions of pure tensor computation, for `TFOpLambda`.
const TF_SAFE_TOP: &[&str] = &[
    "abs",
    "add",
    "add_n",
    "argmax",
    "argmin",
    "boolean_mask",
    "broadcast_to",
    "cast",
    "clip_by_value",
    "concat",
    "cumsum",
    "divide",
    "einsum",
    "equal",
    "exp",
    "expand_dims",
    "eye",
    "fill",
    "gather",
    "gather_nd",
    "greater",
    "identity",
    "less",
    "matmul",
    "maximum",
    "minimum",
    "multiply",
    "norm",
    "one_hot",
    "ones",
    "ones_like",
    "pad",
    "pow",
    "range",
    "rank",
    "reduce_all",
    "reduce_any",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "repeat",
    "reshape",
    "reverse",
    "roll",
    "round",
    "scatter_nd",
    "shape",
    "sigmoid",
    "sign",
    "size",
    "slice",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "stop_gradient",
    "strided_slice",
    "subtract",
    "tanh",
    "tensor_scatter_nd_update",
    "tile",
    "transpose",
    "truediv",
    "unstack",
    "where",
    "zeros",
    "zeros_like",
];

/// Namespaces and name parts of TensorFlow functions that read or write files, print,
/// call back into Python or load native code.
const TF_DANGEROUS_NAMESPACES: &[&str] = &[
    "io",
    "gfile",
    "saved_model",
    "summary",
    "sysconfig",
    "debugging",
    "distribute",
    "data",
    "lookup",
];
const TF_DANGEROUS_PARTS: &[&str] = &[
    "file",
    "py_func",
    "numpy_function",
    "load_op_library",
    "load_library",
    "print",
    "save",
    "restore",
    "execute",
    "system",
    "shell",
];

/// Checks a model config (Keras 3 `config.json`, or the `model_config` attribute of a
/// legacy `.h5`): a Keras object at the root. `what` names it in messages.
pub fn check_config(
    bytes: &[u8],
    what: &str,
    at: &Location,
    limits: &Limits,
    out: &mut Vec<Finding>,
) {
    check(bytes, what, at, limits, true, out);
}

/// Checks the `training_config` attribute of a legacy `.h5`: a JSON object (`loss`,
/// `metrics`, `optimizer_config`) whose values may be Keras objects.
pub fn check_training_config(
    bytes: &[u8],
    what: &str,
    at: &Location,
    limits: &Limits,
    out: &mut Vec<Finding>,
) {
    check(bytes, what, at, limits, false, out);
}

fn check(
    bytes: &[u8],
    what: &str,
    at: &Location,
    limits: &Limits,
    need_class: bool,
    out: &mut Vec<Finding>,
) {
    let root: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.push(finding(
                Verdict::Inconclusive,
                rule::CONFIG_MALFORMED.id,
                format!("the {what} is not JSON Keras would read ({e}), so it is not analysed"),
                at.clone(),
            ));
            return;
        }
    };
    let keras_object = root
        .as_object()
        .is_some_and(|m| !need_class || m.get("class_name").is_some_and(Value::is_string));
    if !keras_object {
        let expected = if need_class {
            "a Keras object (with a `class_name`)"
        } else {
            "a JSON object"
        };
        out.push(finding(
            Verdict::Inconclusive,
            rule::CONFIG_MALFORMED.id,
            format!("the {what} is not {expected}, so it is not analysed"),
            at.clone(),
        ));
        return;
    }
    let mut walk = Walk {
        at,
        max_depth: limits.max_config_depth,
        found: Vec::new(),
        dropped: (0, Verdict::Safe),
        too_deep: false,
        objects: 0,
    };
    let mut path = String::new();
    walk.value(&root, &mut path, None, 0);
    let Walk {
        found,
        dropped,
        too_deep,
        objects,
        ..
    } = walk;
    let clean = found.is_empty() && !too_deep;
    out.extend(found);
    if dropped.0 > 0 {
        out.push(finding(
            dropped.1,
            rule::MORE_FINDINGS.id,
            format!(
                "{} more findings of the same kinds in the {what}",
                dropped.0
            ),
            at.clone(),
        ));
    }
    if too_deep {
        out.push(finding(
            Verdict::Inconclusive,
            rule::CONFIG_TOO_DEEP.id,
            format!(
                "the {what} nests deeper than {} levels; the part below is not analysed",
                limits.max_config_depth
            ),
            at.clone(),
        ));
    }
    if clean {
        out.push(finding(
            Verdict::Safe,
            rule::CONFIG.id,
            format!("the {what}: {objects} Keras objects, none of them code"),
            at.clone(),
        ));
    }
}

/// Checks a Keras 3 `metadata.json`: a JSON object (`keras_version`, `date_saved`).
/// Keras only reads it, so its content is not a finding unless it is not that object.
pub fn check_metadata(bytes: &[u8], at: &Location, out: &mut Vec<Finding>) {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => {}
        _ => out.push(finding(
            Verdict::Inconclusive,
            rule::METADATA_MALFORMED.id,
            "metadata.json is not a JSON object, as Keras writes it",
            at.clone(),
        )),
    }
}

struct Walk<'a> {
    at: &'a Location,
    max_depth: usize,
    found: Vec<Finding>,
    /// Findings past [`MAX_FINDINGS`]: how many, and the worst verdict.
    dropped: (u64, Verdict),
    too_deep: bool,
    objects: u64,
}

impl Walk<'_> {
    fn flag(&mut self, verdict: Verdict, rule: &str, message: String) {
        if self.found.len() < MAX_FINDINGS {
            self.found
                .push(finding(verdict, rule, message, self.at.clone()));
        } else {
            self.dropped.0 += 1;
            self.dropped.1 = self.dropped.1.max(verdict);
        }
    }

    /// Walks any JSON value; `layer` is the name of the nearest enclosing layer.
    fn value(&mut self, v: &Value, path: &mut String, layer: Option<&str>, depth: usize) {
        if depth > self.max_depth {
            self.too_deep = true;
            return;
        }
        match v {
            Value::Object(map) => {
                let mut layer = layer;
                if let Some(class) = map.get("class_name").and_then(Value::as_str) {
                    self.objects += 1;
                    if let Some(name) = map
                        .get("config")
                        .and_then(|c| c.get("name"))
                        .and_then(Value::as_str)
                    {
                        layer = Some(name);
                    }
                    self.object(class, map, path, layer);
                }
                for (key, child) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    self.value(child, path, layer, depth + 1);
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    self.value(child, path, layer, depth + 1);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Judges one `{"class_name": …}` object.
    fn object(&mut self, class: &str, map: &Map<String, Value>, path: &str, layer: Option<&str>) {
        let layer_name = layer.unwrap_or("?");
        let at_path = if path.is_empty() { "the root" } else { path };
        let module = map.get("module").and_then(Value::as_str);
        let config = map.get("config");
        match class {
            "__lambda__" => {
                self.flag(
                    Verdict::Dangerous,
                    rule::LAMBDA.id,
                    format!(
                        "Lambda layer `{layer_name}` ({at_path}) holds marshalled python bytecode, run when the model is loaded with safe_mode off"
                    ),
                );
                return;
            }
            "Lambda" if module.is_none() => self.keras2_lambda(config, layer_name, at_path),
            "TFOpLambda" | "SlicingOpLambda" => self.tf_op(config, layer_name, at_path),
            _ => {}
        }
        if let Some(module) = module {
            self.module(class, module, config, layer_name, at_path);
        }
        // Keras 2 and legacy `.h5` name a registered custom class `package>Name`.
        if let Some((package, _)) = class.split_once('>')
            && !KERAS_PACKAGES.contains(&package)
        {
            self.flag(
                Verdict::Suspicious,
                rule::CUSTOM_OBJECT.id,
                format!(
                    "`{class}` ({at_path}, in `{layer_name}`) is a registered custom object: code the loading program supplies, not Keras"
                ),
            );
        }
        if let Some(registered) = map.get("registered_name").and_then(Value::as_str) {
            let package = registered.split('>').next().unwrap_or_default();
            let own = registered == class
                || (registered.contains('>') && KERAS_PACKAGES.contains(&package))
                || module.is_some_and(|m| class == "function" && m == "builtins");
            if !own && module.is_none_or(is_keras_module) {
                self.flag(
                    Verdict::Suspicious,
                    rule::CUSTOM_OBJECT.id,
                    format!(
                        "`{registered}` ({at_path}, in `{layer_name}`) is a registered custom object: code the loading program supplies, not Keras"
                    ),
                );
            }
        }
    }

    /// Keras 3: a `module` outside Keras is imported by older loaders.
    fn module(
        &mut self,
        class: &str,
        module: &str,
        config: Option<&Value>,
        layer: &str,
        at_path: &str,
    ) {
        // A function is named by its `config` (Keras 3 `serialize_keras_object`).
        let name = if class == "function" {
            config.and_then(Value::as_str).unwrap_or(class)
        } else {
            class
        };
        if module == "builtins" && class == "function" && BUILTIN_FUNCTIONS.contains(&name) {
            return;
        }
        if is_keras_module(module) && module != "builtins" {
            return;
        }
        if pickle::classify(module, name).verdict == Verdict::Dangerous {
            self.flag(
                Verdict::Dangerous,
                rule::DANGEROUS_IMPORT.id,
                format!(
                    "`{module}.{name}` ({at_path}, in `{layer}`): loading imports it, and it runs code or touches files"
                ),
            );
        } else {
            self.flag(
                Verdict::Suspicious,
                rule::CUSTOM_OBJECT.id,
                format!(
                    "`{module}.{name}` ({at_path}, in `{layer}`) is a custom object: Keras up to 3.8 imports module `{module}` to load it"
                ),
            );
        }
    }

    /// Keras 2 `Lambda`: `function` and `output_shape`, each with its `*_type`.
    fn keras2_lambda(&mut self, config: Option<&Value>, layer: &str, at_path: &str) {
        let Some(config) = config.and_then(Value::as_object) else {
            self.flag(
                Verdict::Inconclusive,
                rule::CONFIG_MALFORMED.id,
                format!("Lambda layer `{layer}` ({at_path}) has no config"),
            );
            return;
        };
        let module = config.get("module").and_then(Value::as_str).unwrap_or("?");
        for (field, kind) in [
            ("function", "function_type"),
            ("output_shape", "output_shape_type"),
        ] {
            let value = config.get(field);
            let kind = config.get(kind).and_then(Value::as_str);
            match (value, kind) {
                // Keras 3 keeps its own objects here; the walk judges them.
                (Some(Value::Object(_)), None) => {}
                (None | Some(Value::Null), _) if field == "output_shape" => {}
                // output_shape given as a shape list
                (Some(Value::Array(_)), Some("raw")) | (Some(Value::Array(_)), None)
                    if field == "output_shape" => {}
                (Some(Value::Array(_) | Value::String(_)), Some("lambda"))
                | (Some(Value::Array(_)), None) => self.flag(
                    Verdict::Dangerous,
                    rule::LAMBDA.id,
                    format!(
                        "Lambda layer `{layer}` ({at_path}) holds marshalled python bytecode as its {field}, run when the model is loaded"
                    ),
                ),
                (Some(Value::String(name)), Some("function")) => {
                    let verdict = pickle::classify(module, name).verdict;
                    let (verdict, rule) = if verdict == Verdict::Dangerous {
                        (Verdict::Dangerous, rule::DANGEROUS_IMPORT.id)
                    } else {
                        (Verdict::Suspicious, rule::CUSTOM_OBJECT.id)
                    };
                    self.flag(
                        verdict,
                        rule,
                        format!(
                            "Lambda layer `{layer}` ({at_path}) calls `{module}.{name}` as its {field}, code the loading program supplies"
                        ),
                    );
                }
                _ => self.flag(
                    Verdict::Inconclusive,
                    rule::CONFIG_MALFORMED.id,
                    format!("Lambda layer `{layer}` ({at_path}) has a {field} of a form Keras does not write"),
                ),
            }
        }
    }

    /// `tf.keras` `TFOpLambda`: `config.function` is a `tf.` API name.
    fn tf_op(&mut self, config: Option<&Value>, layer: &str, at_path: &str) {
        let Some(function) = config
            .and_then(|c| c.get("function"))
            .and_then(Value::as_str)
        else {
            self.flag(
                Verdict::Inconclusive,
                rule::CONFIG_MALFORMED.id,
                format!("TFOpLambda layer `{layer}` ({at_path}) names no function"),
            );
            return;
        };
        match tf_op_verdict(function) {
            Verdict::Safe => {}
            Verdict::Dangerous => self.flag(
                Verdict::Dangerous,
                rule::TF_OP.id,
                format!(
                    "TFOpLambda layer `{layer}` ({at_path}) calls `tf.{function}`, which reads or writes files, prints, runs python or loads native code"
                ),
            ),
            v => self.flag(
                v,
                rule::TF_OP.id,
                format!(
                    "TFOpLambda layer `{layer}` ({at_path}) calls `tf.{function}`, not on the list of tensor ops"
                ),
            ),
        }
    }
}

/// `keras`, `keras.layers`, `keras_hub.src.models`, …
fn is_keras_module(module: &str) -> bool {
    let package = module.split('.').next().unwrap_or_default();
    KERAS_PACKAGES.contains(&package) || module == "builtins"
}

/// Safe, suspicious or dangerous: what a `TFOpLambda` calling `tf.<function>` does.
fn tf_op_verdict(function: &str) -> Verdict {
    let ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    if !ident(function) {
        return Verdict::Suspicious;
    }
    let name = function
        .strip_prefix("compat.v1.")
        .or_else(|| function.strip_prefix("compat.v2."))
        .unwrap_or(function);
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('.').collect();
    if parts.iter().any(|p| TF_DANGEROUS_NAMESPACES.contains(p))
        || parts
            .iter()
            .any(|p| TF_DANGEROUS_PARTS.iter().any(|d| p.contains(d)))
        || parts.first() == Some(&"raw_ops")
    {
        return Verdict::Dangerous;
    }
    let safe = match name.rsplit_once('.') {
        Some((namespace, _)) => TF_SAFE_NAMESPACES.contains(&namespace),
        None => TF_SAFE_TOP.contains(&name),
    };
    if safe {
        Verdict::Safe
    } else {
        Verdict::Suspicious
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        check_config(
            json.as_bytes(),
            "config",
            &Location::default(),
            &Limits::default(),
            &mut out,
        );
        out
    }

    fn worst(found: &[Finding]) -> Verdict {
        Verdict::worst(found)
    }

    const DENSE3: &str = r#"{"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 3,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
        "activation": "relu"}, "registered_name": null}"#;

    fn sequential(layers: &[&str]) -> String {
        format!(
            r#"{{"module": "keras", "class_name": "Sequential", "config": {{"name": "seq", "layers": [{}]}}, "registered_name": null}}"#,
            layers.join(",")
        )
    }

    #[test]
    fn built_in_layers_are_safe() {
        let found = check(&sequential(&[DENSE3]));
        assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
        assert_eq!(found[0].rule, "keras.config");
        assert!(found[0].message.contains("3 Keras objects"), "{found:?}");
        // a built-in activation by name
        let relu = r#"{"module": "builtins", "class_name": "function", "config": "relu", "registered_name": "relu"}"#;
        assert_eq!(worst(&check(&sequential(&[relu]))), Verdict::Safe);
    }

    #[test]
    fn keras3_lambda_is_dangerous_and_named() {
        let lambda = r#"{"module": "keras.layers", "class_name": "Lambda", "config": {"name": "scale",
            "function": {"class_name": "__lambda__", "config": {"code": "4wEAAA==", "defaults": null, "closure": null}}}, "registered_name": null}"#;
        let found = check(&sequential(&[DENSE3, lambda]));
        let hit = found.iter().find(|e| e.rule == "keras.lambda").unwrap();
        assert_eq!(hit.verdict, Verdict::Dangerous);
        assert!(hit.message.contains("`scale`"), "{}", hit.message);
        assert!(
            hit.message.contains("config.layers[1].config.function"),
            "{}",
            hit.message
        );
        assert!(!found.iter().any(|e| e.rule == "keras.config"));
    }

    #[test]
    fn keras2_lambda_forms() {
        let code = r#"{"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAA==", null, null],
            "function_type": "lambda", "module": "__main__", "output_shape": null, "output_shape_type": "raw", "arguments": {}}}"#;
        let found = check(&sequential(&[code]));
        assert_eq!(worst(&found), Verdict::Dangerous, "{found:?}");
        assert_eq!(
            found.iter().filter(|e| e.rule == "keras.lambda").count(),
            1,
            "{found:?}"
        );
        // a lambda as output_shape too
        let shape = code.replace(
            r#""output_shape": null, "output_shape_type": "raw""#,
            r#""output_shape": ["4wEA", null, null], "output_shape_type": "lambda""#,
        );
        let found = check(&sequential(&[&shape]));
        assert_eq!(found.iter().filter(|e| e.rule == "keras.lambda").count(), 2);
        // a named function: resolved from the loading program, or dangerous by name
        let named = code
            .replace(r#"["4wEAAA==", null, null]"#, r#""my_fn""#)
            .replace(
                r#""function_type": "lambda""#,
                r#""function_type": "function""#,
            );
        let found = check(&sequential(&[&named]));
        assert_eq!(worst(&found), Verdict::Suspicious, "{found:?}");
        assert!(found[0].message.contains("__main__.my_fn"));
        let system = named.replace("__main__", "os").replace("my_fn", "system");
        let found = check(&sequential(&[&system]));
        assert_eq!(found[0].rule, "keras.dangerous_import");
        // an unknown function type is not guessed at
        let odd = code.replace(
            r#""function_type": "lambda""#,
            r#""function_type": "other""#,
        );
        assert_eq!(worst(&check(&sequential(&[&odd]))), Verdict::Inconclusive);
    }

    #[test]
    fn custom_modules_and_registered_names() {
        let custom = r#"{"module": "my_pkg.layers", "class_name": "Gate", "config": {"name": "gate"}, "registered_name": "my_pkg>Gate"}"#;
        let found = check(&sequential(&[custom]));
        assert_eq!(worst(&found), Verdict::Suspicious);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("my_pkg.layers.Gate"));
        let registered = r#"{"module": "keras.layers", "class_name": "Gate", "config": {"name": "g"}, "registered_name": "Custom>Gate"}"#;
        let found = check(&sequential(&[registered]));
        assert_eq!(found[0].rule, "keras.custom_object");
        assert!(found[0].message.contains("Custom>Gate"));
        let legacy = r#"{"class_name": "aigis_test>Gate", "config": {"name": "gate"}}"#;
        let found = check(&sequential(&[legacy]));
        assert_eq!(found[0].rule, "keras.custom_object");
        assert!(found[0].message.contains("aigis_test>Gate"));
        let hub = r#"{"module": "keras_hub.src.models.gemma", "class_name": "GemmaBackbone", "config": {"name": "b"}, "registered_name": "keras_hub>GemmaBackbone"}"#;
        assert_eq!(worst(&check(&sequential(&[hub]))), Verdict::Safe);
        // the Keras <= 3.8 arbitrary import
        let exec = r#"{"module": "builtins", "class_name": "function", "config": "exec", "registered_name": null}"#;
        let found = check(&sequential(&[exec]));
        assert_eq!(
            (found[0].rule.as_str(), found[0].verdict),
            ("keras.dangerous_import", Verdict::Dangerous)
        );
        let os = r#"{"module": "os", "class_name": "system", "config": {"name": "x"}, "registered_name": null}"#;
        assert_eq!(worst(&check(&sequential(&[os]))), Verdict::Dangerous);
        let unknown_builtin = r#"{"module": "builtins", "class_name": "function", "config": "print", "registered_name": null}"#;
        assert_ne!(
            worst(&check(&sequential(&[unknown_builtin]))),
            Verdict::Safe
        );
    }

    #[test]
    fn wrappers_and_nested_models_are_walked() {
        let inner = sequential(&[
            r#"{"class_name": "Lambda", "config": {"name": "deep", "function": ["AA==", null, null], "function_type": "lambda"}}"#,
        ]);
        let wrapped = format!(
            r#"{{"class_name": "TimeDistributed", "config": {{"name": "td", "layer": {inner}}}}}"#
        );
        let found = check(&sequential(&[&wrapped]));
        let hit = found.iter().find(|e| e.rule == "keras.lambda").unwrap();
        assert!(hit.message.contains("`deep`"), "{}", hit.message);
    }

    #[test]
    fn tf_op_lambda_by_function() {
        for (function, verdict) in [
            ("math.add", Verdict::Safe),
            ("__operators__.getitem", Verdict::Safe),
            ("reshape", Verdict::Safe),
            ("compat.v1.transpose", Verdict::Safe),
            ("io.write_file", Verdict::Dangerous),
            ("io.read_file", Verdict::Dangerous),
            ("compat.v1.py_func", Verdict::Dangerous),
            ("print", Verdict::Dangerous),
            ("raw_ops.WriteFile", Verdict::Dangerous),
            ("load_op_library", Verdict::Dangerous),
            ("audio.decode_wav", Verdict::Suspicious),
            ("math.add; import os", Verdict::Suspicious),
        ] {
            let layer = format!(
                r#"{{"class_name": "TFOpLambda", "config": {{"name": "op", "function": "{function}"}}}}"#
            );
            assert_eq!(worst(&check(&sequential(&[&layer]))), verdict, "{function}");
        }
        let nameless = r#"{"class_name": "TFOpLambda", "config": {"name": "op"}}"#;
        assert_eq!(
            worst(&check(&sequential(&[nameless]))),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn malformed_and_deep_configs_are_inconclusive() {
        for bad in ["", "{", "[1,2]", r#"{"config": {}}"#, "\"Sequential\""] {
            let found = check(bad);
            assert_eq!(worst(&found), Verdict::Inconclusive, "{bad:?}");
            assert_eq!(found[0].rule, "keras.config_malformed");
        }
        let mut deep = String::from(r#"{"class_name": "Sequential", "config": "#);
        for _ in 0..50 {
            deep.push_str(r#"{"class_name": "Wrapper", "config": {"layer": "#);
        }
        deep.push_str("null");
        for _ in 0..50 {
            deep.push_str("}}");
        }
        deep.push('}');
        let found = check(&deep);
        assert!(found.iter().any(|e| e.rule == "keras.config_too_deep"));
        assert_eq!(worst(&found), Verdict::Inconclusive);
    }

    #[test]
    fn findings_are_capped() {
        let lambda = r#"{"class_name": "__lambda__", "config": {"code": "AA=="}}"#;
        let many = vec![lambda; MAX_FINDINGS + 10];
        let found = check(&sequential(&many));
        assert_eq!(found.len(), MAX_FINDINGS + 1);
        let last = found.last().unwrap();
        assert_eq!(
            (last.rule.as_str(), last.verdict),
            ("keras.more_findings", Verdict::Dangerous)
        );
        assert!(last.message.starts_with("10 more"));
    }

    #[test]
    fn a_training_config_is_an_object_of_keras_objects() {
        let mut out = Vec::new();
        let training = br#"{"loss": {"module": "my_losses", "class_name": "Focal", "config": {}}, "metrics": null}"#;
        let limits = Limits::default();
        check_training_config(training, "t", &Location::default(), &limits, &mut out);
        assert_eq!(out[0].rule, "keras.custom_object", "{out:?}");
        out.clear();
        check_training_config(
            br#"{"loss": "mse"}"#,
            "t",
            &Location::default(),
            &limits,
            &mut out,
        );
        assert_eq!(out[0].rule, "keras.config", "{out:?}");
        out.clear();
        check_training_config(b"[]", "t", &Location::default(), &limits, &mut out);
        assert_eq!(out[0].rule, "keras.config_malformed", "{out:?}");
    }

    #[test]
    fn metadata_is_an_object() {
        let mut out = Vec::new();
        check_metadata(
            br#"{"keras_version": "3.15.1"}"#,
            &Location::default(),
            &mut out,
        );
        assert!(out.is_empty());
        check_metadata(b"[]", &Location::default(), &mut out);
        assert_eq!(out[0].rule, "keras.metadata_malformed");
    }
}
