//! `aigis roles init|grant|revoke|list|2fa`: the project's members and their roles
//! (`aigis_ledger::roles` signs and verifies the chain), and each member's second factor
//! (`aigis_crypto::totp`), kept in `.aigis/2fa/`.
//!
//! The second factor's state (the last step used, failed attempts, the lock, the recovery
//! codes' digests) is beside the sealed secret. Like every file in `.aigis/`, it protects
//! against someone who holds a member's key but not the project's folder (or, with
//! AIGIS_KEY_PASSPHRASE, not the passphrase the secret is sealed with); whoever can write
//! the folder can reset it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use aigis_crypto::SigningKey;
use aigis_crypto::keyfile::KdfParams;
use aigis_crypto::totp;
use aigis_evidence::{RoleChange, Tool};
use aigis_ledger::Project;
use aigis_ledger::roles::{self, Member, ROLES};
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::{Cli, RolesCommand, RolesGrantArgs, TwoFactorCommand};
use crate::{context, output};

/// Wrong codes before the lock.
const TRIES: u32 = 5;
/// How long the lock lasts.
const LOCK_SECONDS: u64 = 15 * 60;

pub(crate) fn run(cli: &Cli, cmd: &RolesCommand) -> Result<()> {
    let project = context::project(cli)?;
    match cmd {
        RolesCommand::Init {
            no_separation_of_duties,
        } => init(cli, &project, !no_separation_of_duties),
        RolesCommand::Grant(args) => change(cli, &project, args, true),
        RolesCommand::Revoke(args) => change(cli, &project, args, false),
        RolesCommand::List => list(cli, &project),
        RolesCommand::TwoFactor(TwoFactorCommand::Enroll) => enroll(cli, &project),
        RolesCommand::TwoFactor(TwoFactorCommand::Check) => {
            let key = context::signing_key(&project)?;
            let code = cli.otp.as_deref();
            second_factor(&project, &key, code, "checking the second factor")?;
            if cli.json {
                return output::json(&json!({"ok": true}));
            }
            outln!("ok: the code is right (and is now spent)");
            Ok(())
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn record(
    project: &Project,
    key: &SigningKey,
    sha256: &str,
    version: u64,
    change: &str,
    member: Option<String>,
    roles: Vec<String>,
) -> Result<u64> {
    let digest: aigis_core::Digest = sha256.parse()?;
    Ok(project.record(
        key,
        vec![(format!("roles:{version}"), digest)],
        &RoleChange {
            version,
            roles_sha256: sha256.to_owned(),
            change: change.to_owned(),
            member,
            roles,
            by: key.public().key_id(),
            tool: Tool::current(),
        },
    )?)
}

fn init(cli: &Cli, project: &Project, separation_of_duties: bool) -> Result<()> {
    if project.roles()?.is_some() {
        anyhow::bail!(
            "the project has roles already: change them with `aigis roles grant` and `revoke`"
        );
    }
    // The first admin is the project's own key: the root the chain is verified from.
    let key = context::project_key(project)?;
    let me = Member {
        name: "project".into(),
        verifier_key: project.verifier_key()?,
        key_id: key.public().key_id(),
        roles: BTreeSet::from(["admin".to_owned()]),
    };
    let v1 = roles::next(None, vec![me], separation_of_duties);
    let sha = roles::write(&project.roles_dir(), &v1, &key)?;
    let index = record(project, &key, &sha, 1, "init", None, vec!["admin".into()])?;
    if cli.json {
        return output::json(
            &json!({"version": 1, "evidence": index, "separation_of_duties": separation_of_duties}),
        );
    }
    outln!(
        "roles started: the project's key is the first admin (evidence #{index}); separation of duties is {}",
        if separation_of_duties { "on" } else { "off" }
    );
    output::note(
        cli,
        "next: enrol the admin's second factor (aigis roles 2fa enroll), then grant roles (aigis roles grant ROLE --key VKEY)",
    );
    Ok(())
}

fn change(cli: &Cli, project: &Project, args: &RolesGrantArgs, grant: bool) -> Result<()> {
    if let Some(r) = args.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        anyhow::bail!("`{r}` is not a role ({})", ROLES.join(", "));
    }
    let Some(current) = project.roles()? else {
        anyhow::bail!("the project has no roles yet: start them with `aigis roles init`");
    };
    let key = context::signing_key(project)?;
    let what = if grant {
        "granting roles"
    } else {
        "revoking roles"
    };
    context::require_role(project, &key, "admin", what)?;
    let vkey = context::verifier_key_arg(&args.key)?;
    let (_, public) = aigis_crypto::note::public_key_of(&vkey)?;
    let id = public.key_id();
    let mut members = current.roles.members.clone();
    match members.iter_mut().find(|m| m.key_id == id) {
        Some(m) => {
            for r in &args.roles {
                if grant {
                    m.roles.insert(r.clone());
                } else {
                    m.roles.remove(r);
                }
            }
        }
        None if grant => members.push(Member {
            name: args
                .name
                .clone()
                .unwrap_or_else(|| format!("key-{}", id.get(..8).unwrap_or(&id))),
            verifier_key: vkey.clone(),
            key_id: id.clone(),
            roles: args.roles.iter().cloned().collect(),
        }),
        None => anyhow::bail!("key {id} is not a member"),
    }
    members.retain(|m| !m.roles.is_empty());
    if !members.iter().any(|m| m.roles.contains("admin")) {
        anyhow::bail!("that would leave no admin: no one could change the roles again");
    }
    let next = roles::next(Some(&current), members, current.roles.separation_of_duties);
    let sha = roles::write(&project.roles_dir(), &next, &key)?;
    let index = record(
        project,
        &key,
        &sha,
        next.version,
        if grant { "grant" } else { "revoke" },
        Some(id.clone()),
        args.roles.clone(),
    )?;
    if cli.json {
        return output::json(&json!({"version": next.version, "member": id, "evidence": index}));
    }
    outln!(
        "{} {} {} key {id}: roles version {} (evidence #{index})",
        if grant { "granted" } else { "revoked" },
        args.roles.join(", "),
        if grant { "to" } else { "from" },
        next.version
    );
    Ok(())
}

fn list(cli: &Cli, project: &Project) -> Result<()> {
    let Some(v) = project.roles()? else {
        if cli.json {
            return output::json(&json!({"roles": null}));
        }
        outln!(
            "the project has no roles: every command is open to its key (aigis roles init starts them)"
        );
        return Ok(());
    };
    if cli.json {
        let members: Vec<_> = v
            .roles
            .members
            .iter()
            .map(|m| json!({"name": m.name, "key_id": m.key_id, "verifier_key": m.verifier_key, "roles": m.roles, "second_factor": enrolled(project, &m.key_id)}))
            .collect();
        return output::json(
            &json!({"version": v.roles.version, "separation_of_duties": v.roles.separation_of_duties, "members": members}),
        );
    }
    outln!(
        "roles version {} (separation of duties {})",
        v.roles.version,
        if v.roles.separation_of_duties {
            "on"
        } else {
            "off"
        }
    );
    for m in &v.roles.members {
        outln!(
            "  {:<16} {}  {}{}",
            m.name,
            m.key_id.get(..16).unwrap_or(&m.key_id),
            m.roles.iter().cloned().collect::<Vec<_>>().join(", "),
            if enrolled(project, &m.key_id) {
                ""
            } else {
                "  (no second factor)"
            }
        );
    }
    Ok(())
}

/// A member's second-factor state (no secret in it).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    /// Confirmed by a first right code.
    confirmed: bool,
    /// The last TOTP step accepted (never again).
    last_step: Option<u64>,
    /// Wrong codes since the last right one.
    failures: u32,
    /// Locked until then (Unix seconds).
    locked_until: u64,
    /// SHA-256 (hex) of each recovery code not yet used.
    recovery: Vec<String>,
}

fn paths(project: &Project, key_id: &str) -> (PathBuf, PathBuf) {
    let dir = project.layout().state_dir().join("2fa");
    (
        dir.join(format!("{key_id}.secret")),
        dir.join(format!("{key_id}.json")),
    )
}

fn enrolled(project: &Project, key_id: &str) -> bool {
    read_state(project, key_id).is_ok_and(|s| s.is_some_and(|s| s.confirmed))
}

fn read_state(project: &Project, key_id: &str) -> Result<Option<State>> {
    let (_, path) = paths(project, key_id);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading `{}`", path.display()))?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
        format!("`{}` is not a second-factor state", path.display())
    })?))
}

fn write_state(project: &Project, key_id: &str, s: &State) -> Result<()> {
    let (_, path) = paths(project, key_id);
    aigis_crypto::fs::write_atomic(&path, &serde_json::to_vec_pretty(s)?, 0o600)
        .with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}

fn enroll(cli: &Cli, project: &Project) -> Result<()> {
    let key = context::signing_key(project)?;
    let id = key.public().key_id();
    if let Some(roles) = project.roles()?
        && roles.roles.member(&id).is_none()
    {
        anyhow::bail!("key {id} is not a member of the project's roles");
    }
    if read_state(project, &id)?.is_some_and(|s| s.confirmed) {
        anyhow::bail!("key {id} has a second factor already");
    }
    let (secret_path, _) = paths(project, &id);
    if let Some(dir) = secret_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    }
    let secret = totp::new_secret();
    let pass = context::passphrase();
    aigis_crypto::symmetric::save_totp_secret(
        &secret_path,
        id.as_bytes(),
        &secret,
        pass.as_deref().map(String::as_str),
        KdfParams::default(),
    )?;
    let codes = totp::recovery_codes(10);
    write_state(
        project,
        &id,
        &State {
            recovery: codes.iter().map(|c| totp::recovery_digest(c)).collect(),
            ..State::default()
        },
    )?;
    let uri = totp::otpauth_uri(
        &format!("aigis {}", project.origin()),
        id.get(..16).unwrap_or(&id),
        &secret,
        totp::Algorithm::Sha1,
    );
    if cli.json {
        return output::json(&json!({
            "key_id": id, "otpauth_uri": uri, "secret": totp::base32(&secret),
            "recovery_codes": codes, "confirmed": false,
        }));
    }
    outln!("{uri}");
    outln!("secret (base32): {}", totp::base32(&secret));
    outln!("recovery codes (each works once; keep them apart from this machine):");
    for c in &codes {
        outln!("  {c}");
    }
    output::note(
        cli,
        "add the secret to an authenticator app, then confirm with its first code: aigis roles 2fa check --otp CODE",
    );
    Ok(())
}

/// Checks the acting person's one-time password (or a recovery code, then spent) for
/// `what`; refuses (exit 1) when it is missing, wrong, reused, or the person is locked
/// out after five wrong codes (for fifteen minutes).
pub(crate) fn second_factor(
    project: &Project,
    key: &SigningKey,
    code: Option<&str>,
    what: &str,
) -> Result<()> {
    let id = key.public().key_id();
    let Some(mut state) = read_state(project, &id)? else {
        return Err(crate::failed_with_hint(
            format!("{what} needs a second factor, and key {id} has none"),
            "enrol one: aigis [--identity KEY_FILE] roles 2fa enroll",
        ));
    };
    let now = now();
    if state.locked_until > now {
        return Err(crate::failed(format!(
            "{what}: the second factor of key {id} is locked for {} more second(s) after {TRIES} wrong codes",
            state.locked_until - now
        )));
    }
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(crate::failed_with_hint(
            format!("{what} needs the one-time password of key {id}"),
            "give it: --otp CODE (or AIGIS_OTP)",
        ));
    };
    let (secret_path, _) = paths(project, &id);
    let pass = context::passphrase();
    let (_, secret) = aigis_crypto::symmetric::load_totp_secret(
        &secret_path,
        pass.as_deref().map(String::as_str),
    )?;
    if let Some(step) = totp::check(&secret, code, now, state.last_step, totp::Algorithm::Sha1)? {
        state.last_step = Some(step);
        state.failures = 0;
        state.confirmed = true;
        write_state(project, &id, &state)?;
        return Ok(());
    }
    let digest = totp::recovery_digest(code);
    if state.confirmed
        && let Some(at) = state.recovery.iter().position(|d| *d == digest)
    {
        state.recovery.remove(at);
        state.failures = 0;
        write_state(project, &id, &state)?;
        eprintln!(
            "a recovery code was used; {} left (enrol again when they run out)",
            state.recovery.len()
        );
        return Ok(());
    }
    state.failures += 1;
    let message = if state.failures >= TRIES {
        state.locked_until = now + LOCK_SECONDS;
        state.failures = 0;
        format!(
            "{what}: wrong one-time password; the second factor of key {id} is now locked for {LOCK_SECONDS} seconds"
        )
    } else {
        format!(
            "{what}: wrong (or already used) one-time password ({} of {TRIES} tries before a lock)",
            state.failures
        )
    };
    write_state(project, &id, &state)?;
    Err(crate::failed(message))
}
