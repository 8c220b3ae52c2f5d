//! The gate in `aigis demo`: the digits model (signed, registered, attacked by the red
//! team) asked about by a stricter policy than the built-in one, and the refusal explained.

use aigis_ledger::Project;
use aigis_registry::{GatePolicy, Workflow};
use anyhow::Result;
use serde_json::json;

use super::Log;
use crate::cli::Cli;

/// A policy as a team might write it: a fresh PGD red team and DP training.
const POLICY: &str = r#"@id("redteam")
@message("a red team younger than 30 days must have run PGD")
forbid (principal, action, resource)
unless { resource has redteam && resource.redteam.age_days <= 30 && resource.redteam.attacks.contains("pgd") };

@id("dp")
@message("the model must have been trained with (ε ≤ 3)-differential privacy")
forbid (principal, action, resource)
unless { resource has training && resource.training has dp && resource.training.dp.epsilon.lessThanOrEqual(decimal("3.0")) };

@id("allow")
permit (principal, action, resource);
"#;

pub(crate) fn run(cli: &Cli, log: &mut Log<'_>, project: &Project) -> Result<()> {
    let key = crate::context::signing_key(project)?;
    let scanner = crate::context::scanner(Some(project))?;
    let bar = crate::output::Bar::new(cli);
    let policy = GatePolicy::parse(POLICY, "demo policy")?;
    let d = Workflow::new(project, &key, &scanner, &bar)
        .with_policy(&policy)
        .ask("digits", 1, "production")?;
    let result = |id: &str| d.verdict.policies.iter().find(|p| p.policy == id);
    let (Some(redteam), Some(dp)) = (result("redteam"), result("dp")) else {
        anyhow::bail!("the demo policy lost a policy");
    };
    let missing = dp
        .missing
        .first()
        .map(|m| format!("missing `{}`, {}", m.attribute, m.fix))
        .unwrap_or_default();
    log.expect(
        !d.passed && redteam.passed && !dp.passed && !dp.missing.is_empty(),
        "gate",
        format!(
            "aigis gate digits 1 under a stricter Cedar policy: REFUSED by `dp` ({missing}); `redteam` passed, reading evidence {}",
            redteam
                .evidence
                .iter()
                .map(|i| format!("#{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        json!({"policies": d.verdict.policies, "policy": d.policy}),
    )
}
