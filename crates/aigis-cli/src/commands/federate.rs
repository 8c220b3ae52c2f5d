//! `aigis federate serve` and `aigis federate join`: federated learning between parties
//! that keep their rows (`aigis_federate`), each party authenticated by its project's key
//! and recording what it did in its own ledger.

use std::path::Path;
use std::sync::Mutex;

use aigis_core::Digest;
use aigis_crypto::PublicKey;
use aigis_evidence::{
    ClientPrivacy, FederatedAbsent, FederatedClient, FederatedParticipation, FederatedRound,
    FederatedUpdate, Federation, Tool,
};
use aigis_federate::client::{self, ClientDp};
use aigis_federate::coordinator::{self, Party, RoundRecord};
use aigis_federate::wire::{self, LocalTraining};
use aigis_ledger::Project;
use aigis_train::aggregate::Rule;
use anyhow::{Context as _, Result, bail};
use serde_json::json;

use crate::cli::{
    AggregateRule, Cli, FederateCommand, FederateJoinArgs, FederateServeArgs, FederateVerifyArgs,
    TrainModel,
};
use crate::commands::ExitStatus;
use crate::commands::{done, train};
use crate::{context, output};

pub(crate) fn run(cli: &Cli, cmd: &FederateCommand) -> Result<ExitStatus> {
    match cmd {
        FederateCommand::Serve(args) => done(serve(cli, args)),
        FederateCommand::Join(args) => done(join(cli, args)),
        FederateCommand::Verify(args) => verify(cli, args),
    }
}

/// A verifier key file's name and key.
fn party_key(path: &Path) -> Result<(String, PublicKey)> {
    let text = context::read_input(path, "verifier key", 64 << 10)?;
    let text = String::from_utf8(text)
        .map_err(|_| anyhow::anyhow!("the verifier key `{}` is not text", path.display()))?;
    aigis_crypto::note::public_key_of(&text)
        .with_context(|| format!("the verifier key `{}`", path.display()))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A federation that could not go on is a failed run (exit 1); bad settings are errors.
fn federation_error(e: aigis_federate::Error) -> anyhow::Error {
    match e {
        aigis_federate::Error::Quorum(_)
        | aigis_federate::Error::Refused(_)
        | aigis_federate::Error::Protocol(_) => crate::failed(e.to_string()),
        other => anyhow::Error::new(other),
    }
}

fn rule_of(args: &FederateServeArgs, per_round: usize) -> Rule {
    match args.aggregate {
        AggregateRule::Mean => Rule::Mean,
        AggregateRule::Median => Rule::Median,
        AggregateRule::TrimmedMean => Rule::TrimmedMean { trim: args.trim },
        AggregateRule::Krum => Rule::Krum {
            byzantine: args.byzantine,
        },
        AggregateRule::MultiKrum => Rule::MultiKrum {
            byzantine: args.byzantine,
            select: args
                .select
                .unwrap_or_else(|| per_round.saturating_sub(args.byzantine).max(1)),
        },
    }
}

fn serve(cli: &Cli, args: &FederateServeArgs) -> Result<()> {
    let mut clients: Vec<Party> = Vec::new();
    for path in &args.clients {
        let (name, key) = party_key(path)?;
        if let Some(other) = clients.iter().find(|c| c.name == name) {
            bail!(
                "--client `{}`: the name `{name}` is another client's too (key {}); each client's project needs its own name",
                path.display(),
                other.key.key_id()
            );
        }
        clients.push(Party { name, key });
    }
    let report = runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        serve_on(cli, args, clients, listener, &mut |federation| {
            if cli.json {
                output::json_line(&json!({"listening": addr.to_string(), "federation": federation}))
            } else {
                outln!("{addr}");
                Ok(())
            }
        })
        .await
    })?;
    if cli.json {
        output::json_line(&report)?;
    } else {
        outln!(
            "wrote {} ({} rounds, {} client(s), {}): {}",
            args.output.display(),
            report
                .get("rounds")
                .and_then(|r| r.as_array())
                .map_or(0, Vec::len),
            report
                .get("clients")
                .and_then(|r| r.as_array())
                .map_or(0, Vec::len),
            report.get("rule").and_then(|r| r.as_str()).unwrap_or("?"),
            report.get("sha256").and_then(|r| r.as_str()).unwrap_or("?")
        );
    }
    Ok(())
}

/// Coordinates the federation `args` describes among `clients` on `listener`, in the
/// project `cli` names: each round recorded, the model written and recorded. `listening`
/// is told the federation's name once the settings are checked, before any client is
/// waited for. The `--json` report.
pub(crate) async fn serve_on(
    cli: &Cli,
    args: &FederateServeArgs,
    clients: Vec<Party>,
    listener: tokio::net::TcpListener,
    listening: &mut (dyn FnMut(&str) -> Result<()> + Send),
) -> Result<serde_json::Value> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    context::require_role(&project, &key, "trainer", "coordinating a federation")?;
    let hidden = match (args.model, args.hidden) {
        (TrainModel::Logistic, _) => {
            bail!("--model logistic: a federation trains an mlp or a softmax regression")
        }
        (TrainModel::Mlp, Some(0)) => {
            bail!("--hidden 0: an mlp needs hidden units (use --model softmax for none)")
        }
        (TrainModel::Mlp, h) => h.unwrap_or(32),
        (TrainModel::Softmax, Some(h)) => {
            bail!("--hidden {h} is for --model mlp; a softmax regression has no hidden layer")
        }
        (TrainModel::Softmax, None) => 0,
    };
    let per_round = args.per_round.unwrap_or(clients.len());
    if per_round == 0 || per_round > clients.len() {
        bail!(
            "--per-round {per_round}: sample between 1 and the {} client(s) given",
            clients.len()
        );
    }
    let rule = rule_of(args, per_round);
    let min_updates = args
        .min_updates
        .unwrap_or_else(|| rule.least_updates().max(per_round.div_ceil(2)));
    let classes: Vec<f64> = args.classes.iter().map(|c| c + 0.0).collect();
    if let Some(c) = classes.iter().find(|c| !c.is_finite() || c.fract() != 0.0) {
        bail!("--classes: {c} is not a class code (a whole number)");
    }
    let federation = match &args.federation {
        Some(f) if f.is_empty() || f.contains('\n') => {
            bail!("--federation must be a name on one line")
        }
        Some(f) => f.clone(),
        None => format!("federation-{:016x}", fastrand::u64(..)),
    };
    let specs = args.bounds.clone();
    let settings = coordinator::Settings {
        federation: federation.clone(),
        clients: clients.clone(),
        features: args.features.clone(),
        bounds: Box::new(move |names: &[String]| {
            train::bounds(&specs, names, "a federation").map_err(|e| e.to_string())
        }),
        hidden,
        classes: classes.clone(),
        rounds: args.rounds,
        per_round,
        min_updates,
        min_clients: args.min_clients.unwrap_or(clients.len()),
        join_timeout: args.join_timeout,
        round_timeout: args.round_timeout,
        handshake_timeout: std::time::Duration::from_secs(30),
        local: LocalTraining {
            epochs: args.local_epochs,
            learning_rate: args.learning_rate,
            batch_size: args.batch_size,
            alpha: args.alpha,
        },
        rule,
        clip: args.clip_norm,
        secure: args.secure_aggregation,
        seed: args.seed,
    };
    coordinator::check(&settings)?;
    let rounds = args.rounds;
    let project = Mutex::new(project);
    listening(&federation)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    output::note(
        cli,
        &format!(
            "federation `{federation}`: waiting for {} client(s) on {addr}",
            args.min_clients.unwrap_or(clients.len())
        ),
    );
    let mut on_round = |r: &RoundRecord| -> Result<(), String> {
        let p = project.lock().map_err(|_| "the project lock".to_string())?;
        record_round(&p, &federation, args.clip_norm, args.secure_aggregation, r)
            .map_err(|e| format!("{e:#}"))?;
        let stragglers = r.absent.len();
        output::note(
            cli,
            &format!(
                "round {}/{rounds}: {} update(s){}, model {}",
                r.round,
                r.updates.len(),
                if stragglers > 0 {
                    format!(", {stragglers} absent")
                } else {
                    String::new()
                },
                r.model.get(..12).unwrap_or(&r.model)
            ),
        );
        Ok(())
    };
    let mut note = |m: &str| output::note(cli, m);
    let outcome = coordinator::run(listener, &key, settings, &mut on_round, &mut note)
        .await
        .map_err(federation_error)?;
    let project = project
        .into_inner()
        .map_err(|_| anyhow::anyhow!("the project lock"))?;
    let model = outcome.architecture.model(&outcome.params)?;
    let bytes = model.to_onnx("aigis", env!("CARGO_PKG_VERSION"))?;
    let digest = Digest::of(&bytes);
    let first = wire::digest(&outcome.architecture.init(args.seed)?);
    let predicate = Federation {
        federation: outcome.federation.clone(),
        clients: clients
            .iter()
            .map(|c| FederatedClient {
                name: c.name.clone(),
                key_id: c.key.key_id(),
            })
            .collect(),
        rounds: outcome.rounds.len() as u64,
        features: outcome.features.clone(),
        classes: classes.clone(),
        hidden: hidden as u64,
        bounds_low: outcome.architecture.bounds.low.clone(),
        bounds_high: outcome.architecture.bounds.high.clone(),
        rule: rule.name().to_owned(),
        rule_parameter: match rule {
            Rule::TrimmedMean { trim } => Some(trim),
            Rule::Krum { byzantine } | Rule::MultiKrum { byzantine, .. } => Some(byzantine as f64),
            Rule::Mean | Rule::Median => None,
        },
        norm_bound: args.clip_norm,
        secure_aggregation: args.secure_aggregation,
        per_round: per_round as u64,
        local_epochs: args.local_epochs,
        learning_rate: args.learning_rate,
        batch_size: args.batch_size,
        seed: args.seed,
        first_model: first,
        final_model: outcome.model.clone(),
        tool: Tool::current(),
    };
    let subjects = vec![
        (format!("model:{}", args.output.display()), digest),
        (
            format!("federation:{}", outcome.federation),
            outcome.model.parse::<Digest>()?,
        ),
    ];
    let index = project.record(&context::signing_key(&project)?, subjects, &predicate)?;
    context::write_output(&args.output, &bytes)?;
    let report = json!({
        "federation": outcome.federation,
        "output": args.output,
        "sha256": digest.to_string(),
        "parameters": outcome.model,
        "rounds": outcome.rounds.iter().map(|r| json!({
            "round": r.round,
            "updates": r.updates.len(),
            "absent": r.absent,
            "model": r.model,
            "seconds": r.seconds,
        })).collect::<Vec<_>>(),
        "rule": rule.name(),
        "clients": clients.iter().map(|c| &c.name).collect::<Vec<_>>(),
        "evidence": index,
    });
    Ok(report)
}

fn record_round(
    project: &Project,
    federation: &str,
    norm_bound: Option<f64>,
    secure: bool,
    r: &RoundRecord,
) -> Result<u64> {
    let predicate = FederatedRound {
        federation: federation.to_owned(),
        round: r.round,
        base: r.base.clone(),
        model: r.model.clone(),
        rule: r.rule.clone(),
        norm_bound,
        secure_aggregation: secure,
        sampled: r.sampled.clone(),
        updates: r
            .updates
            .iter()
            .map(|u| FederatedUpdate {
                client: u.client.clone(),
                key_id: u.key_id.clone(),
                rows: (!secure).then_some(u.rows),
                digest: u.digest.clone(),
                signature: u.signature.clone(),
                selected: u.selected,
                clipped: u.clipped,
            })
            .collect(),
        absent: r
            .absent
            .iter()
            .map(|a| FederatedAbsent {
                client: a.client.clone(),
                key_id: a.key_id.clone(),
                reason: a.reason.clone(),
            })
            .collect(),
        aggregate: r.aggregate.clone(),
        tool: Tool::current(),
    };
    let subjects = vec![(
        format!("federation:{federation}/round-{}", r.round),
        r.model.parse::<Digest>()?,
    )];
    Ok(project.record(&context::signing_key(project)?, subjects, &predicate)?)
}

fn join(cli: &Cli, args: &FederateJoinArgs) -> Result<()> {
    let project = context::project(cli)?;
    let key = context::signing_key(&project)?;
    let (coordinator_name, coordinator) = party_key(&args.coordinator)?;
    let table = train::read_labelled(cli, &args.data, &args.label, &args.read)?;
    let data_digest = aigis_crypto::sha256_file(&args.data)
        .with_context(|| format!("reading `{}`", args.data.display()))?;
    let dp = if args.dp {
        let (Some(clip), Some(noise_multiplier)) = (args.clip_norm, args.noise_multiplier) else {
            bail!("--dp needs --clip-norm C and --noise-multiplier SIGMA");
        };
        if let Some(e) = args.epsilon
            && !(e.is_finite() && e > 0.0)
        {
            bail!("--epsilon {e}: the budget must be a number above 0");
        }
        Some(ClientDp {
            clip,
            noise_multiplier,
            delta: args.delta,
            epsilon: args.epsilon,
        })
    } else {
        None
    };
    let settings = client::Settings {
        address: args.address.clone(),
        coordinator,
        features: table.names.clone(),
        x: table.data,
        rows: table.rows,
        labels: table.values,
        dp: dp.clone(),
        require_secure: args.require_secure_aggregation,
        connect_timeout: args.connect_timeout,
        seed: args.seed,
    };
    output::note(
        cli,
        &format!(
            "joining {} (`{coordinator_name}`) with {} rows of `{}`",
            args.address,
            table.rows,
            args.data.display()
        ),
    );
    let mut on_event = |e: client::Event| match e {
        client::Event::Joined { federation, rounds } => output::note(
            cli,
            &format!("joined federation `{federation}` ({rounds} rounds)"),
        ),
        client::Event::Trained { round, epsilon, .. } => output::note(
            cli,
            &match epsilon {
                Some(e) => format!("round {round}: update sent (ε spent {e:.3})"),
                None => format!("round {round}: update sent"),
            },
        ),
        client::Event::Declined { round, reason } => {
            output::note(cli, &format!("round {round}: declined ({reason})"));
        }
    };
    let outcome = runtime()?
        .block_on(client::join(&key, settings, &mut on_event))
        .map_err(federation_error)?;
    let written = match &args.output {
        Some(path) => {
            let bytes = outcome
                .architecture
                .model(&outcome.params)?
                .to_onnx("aigis", env!("CARGO_PKG_VERSION"))?;
            Some((path, bytes))
        }
        None => None,
    };
    let predicate = FederatedParticipation {
        federation: outcome.federation.clone(),
        coordinator_key_id: coordinator.key_id(),
        rows: table.rows as u64,
        label: args.label.clone(),
        rounds: outcome.rounds,
        trained: outcome.trained,
        dp: dp.as_ref().map(|d| ClientPrivacy {
            clip: d.clip,
            noise_multiplier: d.noise_multiplier,
            delta: d.delta,
            epsilon: outcome.epsilon.unwrap_or(0.0),
            epsilon_limit: d.epsilon,
        }),
        output: args.output.as_ref().map(|p| p.display().to_string()),
        tool: Tool::current(),
    };
    let subjects = vec![
        (format!("data:{}", args.data.display()), data_digest),
        (
            format!("federation:{}", outcome.federation),
            outcome.model.parse::<Digest>()?,
        ),
    ];
    let index = project.record(&key, subjects, &predicate)?;
    if let Some((path, bytes)) = &written {
        context::write_output(path, bytes)?;
    }
    let report = json!({
        "federation": outcome.federation,
        "rounds": outcome.rounds,
        "trained": outcome.trained,
        "parameters": outcome.model,
        "epsilon": outcome.epsilon,
        "output": args.output,
        "evidence": index,
    });
    if cli.json {
        output::json(&report)?;
    } else {
        outln!(
            "federation `{}` done: trained in {} of {} rounds{}{}",
            outcome.federation,
            outcome.trained,
            outcome.rounds,
            match outcome.epsilon {
                Some(e) => format!(", ε spent {e:.3} at δ {}", args.delta),
                None => String::new(),
            },
            match &args.output {
                Some(p) => format!("; wrote {}", p.display()),
                None => String::new(),
            }
        );
    }
    Ok(())
}

/// The signed entries of one predicate type, read; an entry that does not verify fails
/// the whole check.
fn signed_entries<P: aigis_evidence::Predicate + serde::de::DeserializeOwned>(
    project: &Project,
) -> Result<Vec<(u64, aigis_core::Statement, P)>> {
    let ledger = project.open_ledger()?;
    let keys = project.keyring()?.public_keys();
    let entries = ledger.store().query(&aigis_ledger::Query {
        predicate_type: Some(P::TYPE.to_owned()),
        ..Default::default()
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let (statement, _) = aigis_ledger::signed_statement(&keys, entry.index, &entry.body)
            .map_err(|e| crate::failed(format!("{e}: the lineage cannot be checked")))?;
        let p = P::from_statement(&statement)
            .map_err(|e| crate::failed(format!("evidence #{} cannot be read: {e}", entry.index)))?;
        out.push((entry.index, statement, p));
    }
    Ok(out)
}

fn verify(cli: &Cli, args: &FederateVerifyArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let model = aigis_crypto::sha256_file(&args.model)
        .with_context(|| format!("reading `{}`", args.model.display()))?;
    let mut keys: Vec<(String, PublicKey)> = Vec::new();
    for path in &args.clients {
        keys.push(party_key(path)?);
    }
    let l = lineage(
        &project,
        model,
        &format!("`{}`", args.model.display()),
        &keys,
    )?;
    let problems = &l.problems;
    let report = json!({
        "model": args.model,
        "sha256": model.to_string(),
        "federation": l.federation,
        "evidence": l.evidence,
        "rounds": l.rounds,
        "updates_verified": l.updates_verified,
        "clients": l.clients,
        "verified": problems.is_empty(),
        "problems": problems,
    });
    if cli.json {
        output::json(&report)?;
    } else if problems.is_empty() {
        outln!(
            "verified: `{}` is federation `{}`'s model (#{}): {} rounds chained from the first model, {} client updates signed by their keys",
            args.model.display(),
            l.federation,
            l.evidence,
            l.rounds,
            l.updates_verified
        );
    } else {
        for p in problems {
            outln!("FAIL {p}");
        }
    }
    if problems.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        if !cli.json {
            crate::print_error(&anyhow::anyhow!(
                "the lineage of `{}` does not verify ({} problem(s))",
                args.model.display(),
                problems.len()
            ));
        }
        Ok(ExitStatus::Failure)
    }
}

/// A federated model's lineage, as the ledger has it.
pub(crate) struct Lineage {
    pub(crate) federation: String,
    /// The `federation` evidence naming the model.
    pub(crate) evidence: u64,
    pub(crate) rounds: u64,
    pub(crate) updates_verified: u64,
    pub(crate) clients: Vec<String>,
    /// What does not hold; empty when the lineage verifies.
    pub(crate) problems: Vec<String>,
}

/// Checks the lineage of the model whose file digest is `model` (named `what` in errors)
/// in `project`'s ledger, the clients' updates against `keys`. No federation evidence
/// naming it is a failed check.
pub(crate) fn lineage(
    project: &Project,
    model: Digest,
    what: &str,
    keys: &[(String, PublicKey)],
) -> Result<Lineage> {
    let feds: Vec<(u64, aigis_core::Statement, Federation)> = signed_entries(project)?;
    let names_model = |s: &aigis_core::Statement| {
        s.subject.iter().any(|sub| {
            sub.name.as_deref().is_some_and(|n| n.starts_with("model:"))
                && sub
                    .digest
                    .get("sha256")
                    .and_then(|d| d.parse::<Digest>().ok())
                    == Some(model)
        })
    };
    let Some((fed_index, _, fed)) = feds.into_iter().rev().find(|(_, s, _)| names_model(s)) else {
        return Err(crate::failed(format!(
            "no federation evidence in this project names {what} ({model}): it was not written by `aigis federate serve` here, or it was changed since"
        )));
    };
    let rounds: Vec<(u64, aigis_core::Statement, FederatedRound)> = signed_entries(project)?;
    let mut by_round: std::collections::BTreeMap<u64, (u64, FederatedRound)> =
        std::collections::BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    for (index, _, r) in rounds {
        if r.federation != fed.federation {
            continue;
        }
        if let Some((other, _)) = by_round.get(&r.round) {
            problems.push(format!(
                "round {} is recorded twice (#{other} and #{index})",
                r.round
            ));
        }
        by_round.insert(r.round, (index, r));
    }
    let mut expected_base = fed.first_model.clone();
    let mut updates_checked = 0u64;
    let mut unkeyed: std::collections::BTreeMap<(String, String), u64> =
        std::collections::BTreeMap::new();
    for round in 1..=fed.rounds {
        let Some((index, r)) = by_round.get(&round) else {
            problems.push(format!("round {round} has no evidence"));
            continue;
        };
        if r.base != expected_base {
            problems.push(format!(
                "round {round} (#{index}) started from {}, not the model before it ({expected_base})",
                r.base
            ));
        }
        for u in &r.updates {
            let Some((_, key)) = keys.iter().find(|(_, k)| k.key_id() == u.key_id) else {
                *unkeyed
                    .entry((u.client.clone(), u.key_id.clone()))
                    .or_default() += 1;
                continue;
            };
            let statement = match u.rows {
                Some(rows) if !r.secure_aggregation => {
                    wire::update_statement(&fed.federation, round, &r.base, &u.digest, rows)
                }
                _ => wire::masked_statement(&fed.federation, round, &r.base, &u.digest),
            };
            let sig = hex::decode(&u.signature).unwrap_or_default();
            if key.verify(&statement, &sig) {
                updates_checked += 1;
            } else {
                problems.push(format!(
                    "round {round} (#{index}): the update of `{}` is not signed by its key",
                    u.client
                ));
            }
        }
        expected_base = r.model.clone();
    }
    for ((client, key_id), n) in unkeyed {
        problems.push(format!(
            "the {n} update(s) of `{client}` (key {key_id}) cannot be checked: give its key with --client"
        ));
    }
    if let Some(extra) = by_round.keys().find(|&&k| k == 0 || k > fed.rounds) {
        problems.push(format!(
            "round {extra} is recorded, and the federation ran {} rounds",
            fed.rounds
        ));
    }
    if expected_base != fed.final_model {
        problems.push(format!(
            "the last round made {expected_base}, and the federation's model is {}",
            fed.final_model
        ));
    }
    Ok(Lineage {
        federation: fed.federation.clone(),
        evidence: fed_index,
        rounds: fed.rounds,
        updates_verified: updates_checked,
        clients: fed.clients.iter().map(|c| c.name.clone()).collect(),
        problems,
    })
}
