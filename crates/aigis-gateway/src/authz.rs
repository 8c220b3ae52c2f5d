//! Authorization with Cedar: who may do what to which model, in which circumstances.
//!
//! ```toml
//! [serve.authz]
//! policies = "policies.cedar"      # relative to the configuration's folder
//! [serve.authz.groups]             # optional: principals in groups, for `principal in Aigis::Group::"…"`
//! analysts = ["analyst-7", "ci-bot"]
//! ```
//!
//! Policies are written against aigis's Cedar schema ([`SCHEMA`]), and are validated
//! against it (strict mode) when they are loaded: a policy that names an attribute that
//! does not exist, or compares values of different types, refuses to load instead of
//! being skipped at request time (where a skipped `forbid` would allow what it was meant
//! to stop). A reload that fails keeps the policies in force.
//!
//! Each authenticated call to a model route asks one question: may `Aigis::Principal::"<name>"`
//! (with `authenticated_by`, and in its groups) do `Aigis::Action::"infer"` or
//! `"metadata"` to `Aigis::Model::"<name>"` (with its `version`), in the context of the call
//! (`time` as a datetime, the UTC `hour`, the `source_ip`, the `request_bytes` and the
//! batch's `rows`)? Cedar denies unless a `permit` applies and no `forbid` does; aigis
//! also denies when any policy could not be evaluated. The answer for `GET /v2` is the
//! same question with `Aigis::Server::"aigis"` and `metadata`, and a call to the admin API
//! (see [`crate::admin`]) asks it with `Aigis::Server::"aigis"` and `admin`, once the
//! principal is one of `[serve.admin].principals`: a policy that permits everything cannot
//! open the admin API to everyone.
//!
//! Without `[serve.authz]`, every authenticated principal may call every model (and
//! `aigis serve` says so at start).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::{Arc, RwLock};

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde::Deserialize;

use crate::Error;
use crate::auth::Principal;
use crate::kept::Kept;

/// aigis's Cedar schema: the entity types, actions and context of a call.
pub const SCHEMA: &str = r#"namespace Aigis {
  entity Group;
  entity Principal in [Group] {
    "authenticated_by": String,
  };
  entity Model {
    "version": String,
  };
  entity Server;
  type Call = {
    "time": datetime,
    "hour": Long,
    "source_ip": ipaddr,
    "request_bytes": Long,
    "rows": Long,
  };
  action "infer" appliesTo {
    principal: [Principal],
    resource: [Model],
    context: Call,
  };
  action "feedback" appliesTo {
    principal: [Principal],
    resource: [Model],
    context: Call,
  };
  action "metadata" appliesTo {
    principal: [Principal],
    resource: [Model, Server],
    context: Call,
  };
  action "admin" appliesTo {
    principal: [Principal],
    resource: [Server],
    context: Call,
  };
}
"#;

/// The largest policy file read.
const MAX_POLICIES: u64 = 1 << 20;

/// `[serve.authz]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthzConfig {
    /// A file of Cedar policies.
    pub policies: PathBuf,
    /// Groups of principals.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

/// What a call asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Infer,
    /// Labels for earlier calls (`POST /v2/models/{name}/feedback`).
    Feedback,
    Metadata,
    /// A call to the admin API (on the gateway itself).
    Admin,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Infer => "infer",
            Action::Feedback => "feedback",
            Action::Metadata => "metadata",
            Action::Admin => "admin",
        }
    }
}

/// What a call is about.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// A model by name, with its version when it is served.
    Model {
        name: &'a str,
        version: Option<&'a str>,
    },
    /// The gateway itself (`GET /v2`).
    Server,
}

/// The circumstances of a call.
#[derive(Debug, Clone, Copy)]
pub struct CallContext {
    /// When, in milliseconds since the Unix epoch.
    pub unix_ms: i64,
    pub source_ip: Option<IpAddr>,
    pub request_bytes: u64,
    pub rows: u64,
}

/// The policies in force.
struct Loaded {
    policies: PolicySet,
    /// Each principal's groups.
    groups: HashMap<String, Vec<EntityUid>>,
    /// The entities of the questions asked so far (they hold the groups: a reload starts
    /// over).
    entities: Kept<EntitiesKey, Arc<Entities>>,
}

/// What a question's entities depend on: the principal's name and how it authenticated,
/// and the model's name and version (`None`: the server).
#[derive(PartialEq, Eq, Hash)]
struct EntitiesKey {
    principal: String,
    method: &'static str,
    resource: Option<(String, String)>,
}

/// The most entity sets, and source addresses, kept; when full, they start over.
const KEPT: usize = 4096;

/// The policies, the schema, and where the policies come from (for a reload).
pub struct Authz {
    schema: Schema,
    path: PathBuf,
    groups: BTreeMap<String, Vec<String>>,
    loaded: RwLock<Arc<Loaded>>,
    authorizer: Authorizer,
    /// Source addresses as Cedar values.
    ips: Kept<IpAddr, RestrictedExpression>,
    /// Parsed once: names cost more to parse than the rest of a question to build.
    names: Names,
}

/// The entity types and fixed entities every question uses.
struct Names {
    principal: EntityTypeName,
    model: EntityTypeName,
    server: EntityUid,
    infer: EntityUid,
    feedback: EntityUid,
    metadata: EntityUid,
    admin: EntityUid,
}

impl Names {
    fn new() -> Result<Self, String> {
        let kind = |k: &str| EntityTypeName::from_str(k).map_err(|e| e.to_string());
        Ok(Names {
            principal: kind("Aigis::Principal")?,
            model: kind("Aigis::Model")?,
            server: uid("Aigis::Server", "aigis")?,
            infer: uid("Aigis::Action", Action::Infer.name())?,
            feedback: uid("Aigis::Action", Action::Feedback.name())?,
            metadata: uid("Aigis::Action", Action::Metadata.name())?,
            admin: uid("Aigis::Action", Action::Admin.name())?,
        })
    }

    fn action(&self, action: Action) -> &EntityUid {
        match action {
            Action::Infer => &self.infer,
            Action::Feedback => &self.feedback,
            Action::Metadata => &self.metadata,
            Action::Admin => &self.admin,
        }
    }
}

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authz").field("path", &self.path).finish()
    }
}

/// The schema, parsed (it is aigis's own: a failure here is a bug, reported as one).
pub fn schema() -> Result<Schema, String> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| format!("aigis's Cedar schema does not parse: {e}"))
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let kind = EntityTypeName::from_str(kind).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
}

/// Reads and validates a policy file against `schema`; the error lists every problem.
fn read_policies(path: &Path, schema: &Schema) -> Result<PolicySet, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_POLICIES + 1), &mut text)
        .map_err(|e| format!("cannot read as UTF-8: {e}"))?;
    if text.len() as u64 > MAX_POLICIES {
        return Err(format!("larger than {MAX_POLICIES} bytes"));
    }
    let policies = PolicySet::from_str(&text).map_err(|e| {
        let all: Vec<String> = e.iter().map(ToString::to_string).collect();
        format!("not Cedar policies: {}", all.join("; "))
    })?;
    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    if !result.validation_passed() {
        let errors: Vec<String> = result
            .validation_errors()
            .map(|e| format!("{e} ({})", e.policy_id()))
            .collect();
        return Err(format!(
            "does not validate against aigis's Cedar schema: {}",
            errors.join("; ")
        ));
    }
    Ok(policies)
}

fn groups_of(
    groups: &BTreeMap<String, Vec<String>>,
) -> Result<HashMap<String, Vec<EntityUid>>, String> {
    let mut of: HashMap<String, Vec<EntityUid>> = HashMap::new();
    for (group, members) in groups {
        let g = uid("Aigis::Group", group)?;
        for m in members {
            of.entry(m.clone()).or_default().push(g.clone());
        }
    }
    Ok(of)
}

impl Authz {
    /// Loads and validates the policies of `config` (relative to `base`); `source` names
    /// the configuration in errors.
    pub fn load(config: &AuthzConfig, base: &Path, source: &Path) -> Result<Self, Error> {
        let bad = |key: &str, message: String| Error::Config {
            file: source.to_owned(),
            key: key.to_owned(),
            message,
        };
        let schema = schema().map_err(|m| bad("serve.authz", m))?;
        let path = base.join(&config.policies);
        let policies = read_policies(&path, &schema).map_err(|m| {
            bad(
                "serve.authz.policies",
                format!("`{}`: {m}", config.policies.display()),
            )
        })?;
        let groups = groups_of(&config.groups).map_err(|m| bad("serve.authz.groups", m))?;
        let names = Names::new().map_err(|m| bad("serve.authz", m))?;
        Ok(Authz {
            names,
            schema,
            path,
            groups: config.groups.clone(),
            loaded: RwLock::new(Arc::new(Loaded {
                policies,
                groups,
                entities: Kept::new(KEPT),
            })),
            ips: Kept::new(KEPT),
            authorizer: Authorizer::new(),
        })
    }

    /// Reads the policy file again; when it does not parse or validate, the policies in
    /// force stay, and the error says why. Returns how many policies are now in force.
    pub fn reload(&self) -> Result<usize, String> {
        let policies = read_policies(&self.path, &self.schema)?;
        let groups = groups_of(&self.groups)?;
        let count = policies.policies().count();
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Loaded {
            policies,
            groups,
            entities: Kept::new(KEPT),
        });
        Ok(count)
    }

    /// Whether `principal` may do `action` to `resource` in `context`. Any failure to
    /// build the question, and any policy that fails to evaluate, is a denial.
    pub fn allows(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
        context: &CallContext,
    ) -> bool {
        match self.decide(principal, action, resource, context) {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::warn!(error = %e, "the authorization question could not be asked; denied");
                false
            }
        }
    }

    /// The entities of a question: the principal (how it authenticated, its groups) and the
    /// resource (a model's version). They depend on nothing else, so each set is built and
    /// validated against the schema once per policy load and kept (at most 4,096 sets).
    fn entities(
        &self,
        loaded: &Loaded,
        principal: &Principal,
        p: &EntityUid,
        resource: Resource<'_>,
        r: &EntityUid,
    ) -> Result<Arc<Entities>, String> {
        let key = EntitiesKey {
            principal: principal.name.clone(),
            method: principal.method.as_str(),
            resource: match resource {
                Resource::Model { name, version } => {
                    Some((name.to_owned(), version.unwrap_or("").to_owned()))
                }
                Resource::Server => None,
            },
        };
        if let Some(found) = loaded.entities.get(&key) {
            return Ok(found);
        }
        let parents: HashSet<EntityUid> = loaded
            .groups
            .get(&principal.name)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default();
        let mut list = vec![
            Entity::new(
                p.clone(),
                HashMap::from([(
                    "authenticated_by".to_owned(),
                    RestrictedExpression::new_string(principal.method.as_str().to_owned()),
                )]),
                parents.clone(),
            )
            .map_err(|e| e.to_string())?,
        ];
        for g in parents {
            list.push(Entity::new_no_attrs(g, HashSet::new()));
        }
        list.push(match resource {
            Resource::Model { version, .. } => Entity::new(
                r.clone(),
                HashMap::from([(
                    "version".to_owned(),
                    RestrictedExpression::new_string(version.unwrap_or("").to_owned()),
                )]),
                HashSet::new(),
            )
            .map_err(|e| e.to_string())?,
            Resource::Server => Entity::new_no_attrs(r.clone(), HashSet::new()),
        });
        let built =
            Arc::new(Entities::from_entities(list, Some(&self.schema)).map_err(|e| e.to_string())?);
        loaded.entities.put(key, built.clone());
        Ok(built)
    }

    /// The `ipaddr` value of `ip`, kept once made (Cedar parses the extension's name each
    /// time it makes one).
    fn ip(&self, ip: IpAddr) -> RestrictedExpression {
        if let Some(found) = self.ips.get(&ip) {
            return found;
        }
        let made = RestrictedExpression::new_ip(ip.to_string());
        self.ips.put(ip, made.clone());
        made
    }

    fn decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
        context: &CallContext,
    ) -> Result<bool, String> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Not checked against the schema at each call: aigis builds the context, with the
        // same types every time, and `every_question_fits_the_schema` checks them once for
        // every action and resource (3 µs a call saved). A question that did not fit
        // would fail to evaluate, which is a denial.
        let (request, entities) =
            self.question(&loaded, principal, action, resource, context, None)?;
        let response = self
            .authorizer
            .is_authorized(&request, &loaded.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        if !errors.is_empty() {
            return Err(format!(
                "policies failed to evaluate: {}",
                errors.join("; ")
            ));
        }
        Ok(response.decision() == Decision::Allow)
    }

    /// The Cedar request and entities of a question, the request checked against `schema`
    /// when one is given.
    fn question(
        &self,
        loaded: &Loaded,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
        context: &CallContext,
        schema: Option<&Schema>,
    ) -> Result<(Request, Arc<Entities>), String> {
        if schema.is_none() && !applies(action, resource) {
            return Err(format!(
                "the action `{}` does not apply to this resource in aigis's schema",
                action.name()
            ));
        }
        let p = EntityUid::from_type_name_and_id(
            self.names.principal.clone(),
            EntityId::new(&principal.name),
        );
        let r = match resource {
            Resource::Model { name, .. } => {
                EntityUid::from_type_name_and_id(self.names.model.clone(), EntityId::new(name))
            }
            Resource::Server => self.names.server.clone(),
        };
        let entities = self.entities(loaded, principal, &p, resource, &r)?;
        let a = self.names.action(action).clone();
        let time = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH
                // RFC 3339 stops at the year 9999; a time past it (only a broken clock) is
                // said as that year's end rather than failing to format.
                + std::time::Duration::from_millis(
                    u64::try_from(context.unix_ms)
                        .unwrap_or(0)
                        .min(253_402_300_799_999),
                ),
        )
        .to_string();
        let hour = (context.unix_ms / 3_600_000).rem_euclid(24);
        let ip = self.ip(context.source_ip.unwrap_or(IpAddr::from([0u8; 16])));
        let as_long = |n: u64| RestrictedExpression::new_long(i64::try_from(n).unwrap_or(i64::MAX));
        let ctx = Context::from_pairs([
            ("time".to_owned(), RestrictedExpression::new_datetime(time)),
            ("hour".to_owned(), RestrictedExpression::new_long(hour)),
            ("source_ip".to_owned(), ip),
            ("request_bytes".to_owned(), as_long(context.request_bytes)),
            ("rows".to_owned(), as_long(context.rows)),
        ])
        .map_err(|e| e.to_string())?;
        let request = Request::new(p, a, r, ctx, schema).map_err(|e| e.to_string())?;
        Ok((request, entities))
    }
}

/// Whether the schema's `appliesTo` lets `action` be asked of `resource`: what checking
/// the request against the schema would refuse, checked without it at each call.
fn applies(action: Action, resource: Resource<'_>) -> bool {
    matches!(
        (action, resource),
        (Action::Infer | Action::Feedback, Resource::Model { .. })
            | (Action::Metadata, _)
            | (Action::Admin, Resource::Server)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parses() {
        schema().unwrap();
    }

    /// The questions aigis asks, which `decide` does not check against the schema at each
    /// call, fit it: every action on every kind of resource, by every way of
    /// authenticating, from IPv4, IPv6 and no address, with the extremes of each number.
    #[test]
    fn every_question_fits_the_schema() {
        use crate::auth::Method;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.cedar"),
            "permit (principal, action, resource);",
        )
        .unwrap();
        let config = AuthzConfig {
            policies: "p.cedar".into(),
            groups: BTreeMap::from([("g".to_owned(), vec!["ops".to_owned()])]),
        };
        let authz = Authz::load(&config, dir.path(), Path::new("aigis.toml")).unwrap();
        let loaded = authz.loaded.read().unwrap().clone();
        let mut asked = 0;
        for method in [Method::ApiKey, Method::Jwt, Method::Certificate] {
            for name in ["ops", "other", "jwt:auth0|42"] {
                let principal = Principal {
                    name: name.into(),
                    method,
                };
                for action in [
                    Action::Infer,
                    Action::Feedback,
                    Action::Metadata,
                    Action::Admin,
                ] {
                    for resource in [
                        Resource::Server,
                        Resource::Model {
                            name: "digits",
                            version: Some("1"),
                        },
                        Resource::Model {
                            name: "digits",
                            version: None,
                        },
                    ] {
                        for (ip, n, ms) in [
                            (Some(IpAddr::from([127, 0, 0, 1])), 0, 0),
                            (
                                Some(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
                                u64::MAX,
                                i64::MAX,
                            ),
                            (None, 1, -1),
                        ] {
                            let context = CallContext {
                                unix_ms: ms,
                                source_ip: ip,
                                request_bytes: n,
                                rows: n,
                            };
                            let fits = authz.question(
                                &loaded,
                                &principal,
                                action,
                                resource,
                                &context,
                                Some(&authz.schema),
                            );
                            // Cedar's own check and the one made at each call agree.
                            assert_eq!(
                                fits.is_ok(),
                                applies(action, resource),
                                "{action:?} {resource:?} {ip:?} {n}: {:?}",
                                fits.err()
                            );
                            // A question outside the schema is denied, even by `permit` all.
                            assert_eq!(
                                authz.allows(&principal, action, resource, &context),
                                fits.is_ok()
                            );
                            asked += usize::from(fits.is_ok());
                        }
                    }
                }
            }
        }
        // infer and feedback on 2 model resources, metadata on all 3, admin on the server.
        assert_eq!(asked, 3 * 3 * (2 + 2 + 3 + 1) * 3);
    }

    /// The entities kept between questions are those of the question asked: the same name
    /// by another method, another version of a model, another source address, and the
    /// groups after a reload each get their own answer, asked in any order.
    #[test]
    fn kept_entities_answer_only_their_own_question() {
        use crate::auth::Method;
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("p.cedar"), text).unwrap();
        write(
            r#"permit (principal, action, resource) when { principal.authenticated_by == "api_key" };
forbid (principal, action, resource is Aigis::Model) when { resource.version == "2" };
forbid (principal in Aigis::Group::"blocked", action, resource);
forbid (principal, action, resource) when { context.source_ip.isInRange(ip("10.0.0.0/8")) };
"#,
        );
        let config = AuthzConfig {
            policies: "p.cedar".into(),
            groups: BTreeMap::from([("blocked".to_owned(), vec!["eve".to_owned()])]),
        };
        let authz = Authz::load(&config, dir.path(), Path::new("aigis.toml")).unwrap();
        let who = |name: &str, method| Principal {
            name: name.into(),
            method,
        };
        let at = |ip: [u8; 4]| CallContext {
            unix_ms: 1_800_000_000_000,
            source_ip: Some(IpAddr::from(ip)),
            request_bytes: 10,
            rows: 1,
        };
        let model = |version| Resource::Model {
            name: "digits",
            version: Some(version),
        };
        let ask = |p: &Principal, r, ip| authz.allows(p, Action::Infer, r, &at(ip));
        let (ops_key, ops_jwt) = (who("ops", Method::ApiKey), who("ops", Method::Jwt));
        for _ in 0..2 {
            assert!(ask(&ops_key, model("1"), [127, 0, 0, 1]));
            assert!(!ask(&ops_jwt, model("1"), [127, 0, 0, 1]));
            assert!(!ask(&ops_key, model("2"), [127, 0, 0, 1]));
            assert!(ask(&ops_key, model("1"), [127, 0, 0, 1]));
            assert!(!ask(&ops_key, model("1"), [10, 1, 2, 3]));
            assert!(!ask(
                &who("eve", Method::ApiKey),
                model("1"),
                [127, 0, 0, 1]
            ));
        }
        // A reload with other policies: what was kept does not answer for them.
        write(
            r#"permit (principal, action, resource) when { principal.authenticated_by == "jwt" };"#,
        );
        authz.reload().unwrap();
        assert!(!ask(&ops_key, model("1"), [127, 0, 0, 1]));
        assert!(ask(&ops_jwt, model("2"), [10, 1, 2, 3]));
    }
}
