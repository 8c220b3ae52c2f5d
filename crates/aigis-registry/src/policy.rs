//! The promotion gate's policies, in Cedar: may this key move this model version to this
//! stage, given what the signed evidence says about it?
//!
//! The version is an `Aigis::ModelVersion` entity whose attributes are the [`facts`] read
//! from the ledger ([`SCHEMA`] lists them), the key asking is an `Aigis::Key`, and the
//! action is `promote` or `rollback` with the target stage in the context. Cedar denies
//! unless a `permit` applies and no `forbid` does; aigis also denies when any policy could
//! not be evaluated, so a policy that fails never lets a version through.
//!
//! Policies are validated against the schema in strict mode when they are loaded: reading
//! an attribute that does not exist, or an optional one without `has`, refuses to load
//! (Cedar would skip such a policy at evaluation, and a skipped `forbid` allows what it
//! was meant to stop). The built-in policy ([`DEFAULT_POLICY`]) makes the checks the gate
//! always made; `[model.gate] policy = "FILE"` in aigis.toml replaces it.
//!
//! A refusal explains itself: each `forbid` that applied, by its `@id`, with its
//! `@message`, the attributes it reads (found by walking the policy's own syntax tree),
//! what each says and the entries it came from, or that it is missing and the command that
//! would record it (a policy's `@fix` annotation, else aigis's own).

pub(crate) mod facts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr as _;

use aigis_core::Digest;
use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Effect, Entities, EntityId, EntityTypeName,
    EntityUid, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde::Serialize;
use serde_json::{Value, json};

pub use facts::Fact;
use facts::{Facts, how_to_get};

/// The Cedar schema of the gate: the attributes of a model version, the actions and their
/// context.
pub const SCHEMA: &str = include_str!("policy/schema.cedarschema");

/// The built-in policy: stored bytes that match, a safe scan, a verified signature, and
/// the shadow and detector checks when aigis.toml asks for them.
pub const DEFAULT_POLICY: &str = include_str!("policy/default.cedar");

/// The policy added when the project's roles require separation of duties.
pub const SEPARATION_OF_DUTIES: &str = r#"@id("separation-of-duties")
@message("the project's roles require separation of duties: the key that trained the model may not promote it")
forbid (principal, action == Aigis::Action::"promote", resource)
when { resource has training && resource.training.trained_by == principal };
"#;

/// The largest policy file read.
const MAX_POLICY: u64 = 1 << 20;

/// A set of gate policies, validated against [`SCHEMA`].
#[derive(Clone)]
pub struct GatePolicy {
    set: PolicySet,
    text: String,
    schema: Schema,
    /// Where it came from: `built-in` or the file's path.
    pub source: String,
    /// The SHA-256 of its text.
    pub digest: Digest,
}

impl std::fmt::Debug for GatePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatePolicy")
            .field("source", &self.source)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("the gate policy `{source_name}` {message}")]
pub struct PolicyError {
    /// The file, or `built-in`.
    pub source_name: String,
    /// What is wrong, every problem listed.
    pub message: String,
}

fn schema() -> Result<Schema, String> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| format!("aigis's gate schema does not parse (a bug): {e:?}"))
}

impl GatePolicy {
    /// The built-in policy.
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::parse(DEFAULT_POLICY, "built-in")
    }

    /// Reads and validates the policies in `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let name = path.display().to_string();
        let bad = |message: String| PolicyError {
            source_name: name.clone(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_POLICY + 1), &mut text)
            .map_err(|e| bad(format!("cannot be read as UTF-8: {e}")))?;
        if text.len() as u64 > MAX_POLICY {
            return Err(bad(format!("is larger than {MAX_POLICY} bytes")));
        }
        Self::parse(&text, &name)
    }

    /// Parses and validates policies from `text`; `source` names them in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, PolicyError> {
        let bad = |message: String| PolicyError {
            source_name: source.to_owned(),
            message,
        };
        let schema = schema().map_err(bad)?;
        let set = PolicySet::from_str(text).map_err(|e| {
            let all: Vec<String> = e.iter().map(ToString::to_string).collect();
            bad(format!("is not Cedar: {}", all.join("; ")))
        })?;
        if set.templates().next().is_some() {
            return Err(bad(
                "holds a template (a policy with `?principal` or `?resource`): the gate links none, so write static policies".into(),
            ));
        }
        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        if !result.validation_passed() {
            let errors: Vec<String> = result
                .validation_errors()
                .map(|e| format!("{} ({})", e, label(&set, e.policy_id())))
                .collect();
            return Err(bad(format!(
                "does not validate against the gate's schema (`aigis gate --schema` prints it): {}",
                errors.join("; ")
            )));
        }
        // Every `@id` names one policy, so a refusal names it without ambiguity.
        let mut ids = BTreeSet::new();
        for p in set.policies() {
            let id = label(&set, p.id());
            if !ids.insert(id.clone()) {
                return Err(bad(format!("has two policies with the id `{id}`")));
            }
        }
        if !set.policies().any(|p| p.effect() == Effect::Permit) {
            return Err(bad(
                "has no `permit`: Cedar denies what no policy permits, so every version would be refused".into(),
            ));
        }
        Ok(GatePolicy {
            set,
            text: text.to_owned(),
            schema,
            source: source.to_owned(),
            digest: Digest::of(text.as_bytes()),
        })
    }

    /// The same policies and the separation of duties the project's roles require: the
    /// key that trained a model may not promote it.
    pub fn with_separation_of_duties(&self) -> Result<Self, PolicyError> {
        if self
            .policies()
            .iter()
            .any(|(id, _)| id == "separation-of-duties")
        {
            return Ok(self.clone());
        }
        Self::parse(
            &format!("{}\n{SEPARATION_OF_DUTIES}", self.text),
            &format!("{} + the roles' separation of duties", self.source),
        )
    }

    /// The policies, with their ids and effects.
    pub fn policies(&self) -> Vec<(String, &'static str)> {
        self.set
            .policies()
            .map(|p| {
                (
                    label(&self.set, p.id()),
                    match p.effect() {
                        Effect::Permit => "permit",
                        Effect::Forbid => "forbid",
                    },
                )
            })
            .collect()
    }
}

/// A policy's name: its `@id` annotation, else Cedar's id (`policy0`, …).
fn label(set: &PolicySet, id: &cedar_policy::PolicyId) -> String {
    set.policy(id)
        .and_then(|p| p.annotation("id"))
        .map_or_else(|| id.to_string(), str::to_owned)
}

/// The question the gate asks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Question<'a> {
    /// The key asking.
    pub principal: &'a str,
    /// `promote` or `rollback`.
    pub action: &'a str,
    /// The stage.
    pub stage: &'a str,
    /// The version the stage holds now.
    pub from: Option<u32>,
    /// The principal's roles, when the project has roles.
    pub roles: Option<&'a [String]>,
}

/// One policy's verdict on the question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// Its `@id`.
    pub policy: String,
    /// `permit` or `forbid`.
    pub effect: &'static str,
    /// For a `forbid`: it did not apply; for a `permit`: it applied.
    pub passed: bool,
    /// Its `@message`, or what it decided.
    pub message: String,
    /// The attributes it reads (`training.dp`, …).
    pub reads: Vec<String>,
    /// For a failed `forbid`: each attribute it reads that is missing, and how to record it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
    /// The ledger entries behind the attributes it reads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<u64>,
    /// Why it could not be evaluated, if it could not (a denial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An attribute a refusing policy reads that no evidence states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missing {
    /// The attribute.
    pub attribute: String,
    /// Why it is missing.
    pub why: String,
    /// The command that would record it.
    pub fix: String,
}

/// What the policies decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Allowed: a permit applied, no forbid did, and nothing failed to evaluate.
    pub allowed: bool,
    /// Every policy's result, forbids first.
    pub policies: Vec<PolicyResult>,
    /// Errors of the whole question (a denial).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Every attribute path a policy reads from `resource` (`scan`, `training.dp.epsilon`),
/// found by walking Cedar's JSON form of it.
fn resource_paths(policy: &cedar_policy::Policy) -> BTreeSet<String> {
    fn path(e: &Value) -> Option<Vec<String>> {
        let o = e.as_object()?;
        if o.get("Var").and_then(Value::as_str) == Some("resource") {
            return Some(Vec::new());
        }
        let (_, inner) = o
            .iter()
            .find(|(k, _)| k.as_str() == "." || k.as_str() == "has")?;
        let mut p = path(inner.get("left")?)?;
        p.push(inner.get("attr")?.as_str()?.to_owned());
        Some(p)
    }
    fn walk(e: &Value, out: &mut BTreeSet<String>) {
        if let Some(p) = path(e) {
            if !p.is_empty() {
                out.insert(p.join("."));
            }
            return;
        }
        match e {
            Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(json) = policy.to_json() {
        walk(&json, &mut out);
    }
    // `training.dp` and `training.dp.epsilon`: keep the longest only.
    let all: Vec<String> = out.iter().cloned().collect();
    out.retain(|p| {
        !all.iter()
            .any(|q| q.len() > p.len() && q.starts_with(&format!("{p}.")))
    });
    out
}

/// Whether the attribute at `path` is present in the facts.
fn present(values: &Value, path: &str) -> bool {
    let mut v = values;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return false,
        }
    }
    true
}

impl GatePolicy {
    /// Decides `q` over `facts`. Every failure to build or evaluate the question is a
    /// denial, never an allowance.
    pub(crate) fn decide(&self, q: &Question<'_>, facts: &Facts) -> Verdict {
        match self.try_decide(q, facts) {
            Ok(v) => v,
            Err(e) => Verdict {
                allowed: false,
                policies: Vec::new(),
                errors: vec![e],
            },
        }
    }

    fn try_decide(&self, q: &Question<'_>, facts: &Facts) -> Result<Verdict, String> {
        let uid = |kind: &str, id: &str| -> Result<EntityUid, String> {
            let kind = EntityTypeName::from_str(kind).map_err(|e| e.to_string())?;
            Ok(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
        };
        let resource_id = format!("{}@{}", facts.name, facts.version);
        let attrs = Value::Object(facts.cedar_attrs());
        let mut entities = vec![json!({
            "uid": {"type": "Aigis::ModelVersion", "id": resource_id},
            "attrs": attrs,
            "parents": [],
        })];
        let mut keys: BTreeSet<&str> = facts.keys();
        keys.remove(q.principal);
        for k in keys {
            entities
                .push(json!({"uid": {"type": "Aigis::Key", "id": k}, "attrs": {}, "parents": []}));
        }
        let principal_attrs = match q.roles {
            Some(r) => json!({"roles": r}),
            None => json!({}),
        };
        entities.push(json!({"uid": {"type": "Aigis::Key", "id": q.principal}, "attrs": principal_attrs, "parents": []}));
        let entities = Entities::from_json_value(Value::Array(entities), Some(&self.schema))
            .map_err(|e| {
                format!("the version's attributes do not fit the gate's schema (a bug): {e}")
            })?;
        let mut context = vec![(
            "stage".to_owned(),
            RestrictedExpression::new_string(q.stage.to_owned()),
        )];
        if let Some(from) = q.from {
            context.push((
                "from".to_owned(),
                RestrictedExpression::new_long(i64::from(from)),
            ));
        }
        let action = uid("Aigis::Action", q.action)?;
        let context = Context::from_pairs(context).map_err(|e| e.to_string())?;
        let request = Request::new(
            uid("Aigis::Key", q.principal)?,
            action,
            uid("Aigis::ModelVersion", &resource_id)?,
            context,
            Some(&self.schema),
        )
        .map_err(|e| format!("the gate's question does not fit its schema (a bug): {e}"))?;
        let authorizer = Authorizer::new();
        let response = authorizer.is_authorized(&request, &self.set, &entities);
        let errors: BTreeMap<String, String> = response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
                (label(&self.set, pe.policy_id()), e.to_string())
            })
            .collect();
        // Cedar names only the policies that determined the decision (the forbids that
        // applied, when one did); each policy is asked alone too, so a refusal can say
        // which of the others passed.
        let alone = |p: &cedar_policy::Policy| -> Result<bool, String> {
            let one = PolicySet::from_policies([p.clone()]).map_err(|e| e.to_string())?;
            let r = authorizer.is_authorized(&request, &one, &entities);
            Ok(r.diagnostics().reason().next().is_some())
        };
        let plain: Value = Value::Object(
            facts
                .facts
                .iter()
                .filter(|f| !f.value.is_null())
                .map(|f| (f.attribute.clone(), f.value.clone()))
                .collect(),
        );
        let mut results = Vec::new();
        for p in self.set.policies() {
            let id = label(&self.set, p.id());
            let effect = p.effect();
            let (applied, error) = match (alone(p), errors.get(&id)) {
                (_, Some(e)) => (false, Some(e.clone())),
                (Ok(applied), None) => (applied, None),
                (Err(e), None) => (false, Some(e)),
            };
            // A forbid that applied or failed refuses; a permit passes when it applied.
            let passed = match effect {
                Effect::Forbid => !applied && error.is_none(),
                Effect::Permit => applied,
            };
            let reads: Vec<String> = resource_paths(p).into_iter().collect();
            let mut evidence = BTreeSet::new();
            let mut missing = Vec::new();
            for path in &reads {
                let top = path.split('.').next().unwrap_or(path);
                if let Some(f) = facts.facts.iter().find(|f| f.attribute == top) {
                    evidence.extend(f.evidence.iter().copied());
                }
                if !passed && effect == Effect::Forbid && !present(&plain, path) {
                    // The shortest part of the path that is missing is what to record.
                    let mut first_missing = String::new();
                    for part in path.split('.') {
                        if !first_missing.is_empty() {
                            first_missing.push('.');
                        }
                        first_missing.push_str(part);
                        if !present(&plain, &first_missing) {
                            break;
                        }
                    }
                    let why = facts
                        .facts
                        .iter()
                        .find(|f| f.attribute == first_missing && f.value.is_null())
                        .map_or_else(
                            || format!("no evidence states `{first_missing}`"),
                            |f| f.detail.clone(),
                        );
                    if !missing
                        .iter()
                        .any(|m: &Missing| m.attribute == first_missing)
                    {
                        missing.push(Missing {
                            fix: facts::fill(
                                p.annotation("fix")
                                    .unwrap_or_else(|| how_to_get(&first_missing)),
                                facts,
                            ),
                            attribute: first_missing,
                            why,
                        });
                    }
                }
            }
            let message = p.annotation("message").map_or_else(
                || match (effect, applied) {
                    (Effect::Forbid, _) => format!("forbidden by policy `{id}`"),
                    (Effect::Permit, true) => format!("permitted by policy `{id}`"),
                    (Effect::Permit, false) => format!("policy `{id}` does not permit this"),
                },
                str::to_owned,
            );
            results.push(PolicyResult {
                policy: id,
                effect: match effect {
                    Effect::Permit => "permit",
                    Effect::Forbid => "forbid",
                },
                passed,
                message,
                reads,
                missing,
                evidence: evidence.into_iter().collect(),
                error,
            });
        }
        // Forbids first, in the file's order; then permits.
        results.sort_by_key(|r| r.effect == "permit");
        let mut question_errors = Vec::new();
        let permitted = results.iter().any(|r| r.effect == "permit" && r.passed);
        if !permitted {
            question_errors.push(format!(
                "no `permit` policy applies to {} to stage `{}`",
                q.action, q.stage
            ));
        }
        let allowed = response.decision() == CedarDecision::Allow && errors.is_empty();
        Ok(Verdict {
            allowed,
            policies: results,
            errors: question_errors,
        })
    }
}

#[cfg(test)]
mod tests;
