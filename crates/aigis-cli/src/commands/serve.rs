//! `aigis serve` and `aigis keys api`: parse, call `aigis_gateway`, render.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_gateway::{Gateway, ServeConfig};
use aigis_model::signing::VerifierKey;
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{ApiKeyCommand, Cli, ServeArgs};
use crate::{context, output};

/// The largest `--config` file read.
const MAX_CONFIG: u64 = 1 << 20;

/// The `[serve]` configuration, the folder its paths are relative to, and its file.
fn load_config(cli: &Cli, args: &ServeArgs) -> Result<(ServeConfig, PathBuf, PathBuf)> {
    if let Some(path) = &args.config {
        return config_file(path);
    }
    config_of(&context::project(cli)?)
}

/// `--config FILE`, read.
fn config_file(path: &Path) -> Result<(ServeConfig, PathBuf, PathBuf)> {
    let bytes = context::read_input(path, "serve configuration", MAX_CONFIG)?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("`{}` is not UTF-8", path.display()))?;
    let config = ServeConfig::from_toml(text, path)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((config, base, path.to_owned()))
}

/// The project's `[serve]`.
fn config_of(project: &aigis_ledger::Project) -> Result<(ServeConfig, PathBuf, PathBuf)> {
    let file = project.layout().config_file();
    if project.config.serve.is_empty() {
        return Err(crate::hinted(
            format!("`{}` has no [serve] table", file.display()),
            "add [serve] with [[serve.models]] and [[serve.api_keys]] (see `aigis serve --help`), or pass --config FILE",
        ));
    }
    let config = ServeConfig::from_table(&project.config.serve, &file)?;
    Ok((config, project.root.clone(), file))
}

/// What a reload reads again: the configuration (from `file`, or the project's), the
/// folder its paths are relative to, and the project's trusted keys.
fn reread(
    root: &Path,
    file: Option<&Path>,
    listen: Option<std::net::SocketAddr>,
) -> Result<(ServeConfig, PathBuf, Vec<VerifierKey>)> {
    let project = aigis_ledger::Project::load(root)?;
    let (mut config, base, _) = match file {
        Some(path) => config_file(path)?,
        None => config_of(&project)?,
    };
    if let Some(listen) = listen {
        config.listen = listen;
    }
    Ok((config, base, trusted_keys(&project)?))
}

/// The keys whose model signatures are trusted: the project's keyring.
fn trusted_keys(project: &aigis_ledger::Project) -> Result<Vec<VerifierKey>> {
    crate::context::model_verifiers(project)
}

pub fn run(cli: &Cli, args: &ServeArgs) -> Result<()> {
    // With roles, only a gateway admin runs the project's gateway (no key is read without
    // them: a project without roles checks nothing).
    if let Ok(project) = context::project(cli)
        && project.roles()?.is_some()
    {
        let key = context::signing_key(&project)?;
        context::require_role(
            &project,
            &key,
            "gateway-admin",
            "serving the project's models",
        )?;
    }
    let (mut config, base, source) = load_config(cli, args)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
        // The same rule as the file's: plain HTTP on loopback only.
        if config.plain && !listen.ip().is_loopback() {
            return Err(crate::hinted(
                format!(
                    "`{listen}` is not a loopback address, and plain HTTP is served on loopback only"
                ),
                "listen on 127.0.0.1 or ::1 and put a TLS proxy in front",
            ));
        }
    }
    // Every call is recorded in the project's ledger, signed with its key: a gateway
    // without a project would serve unrecorded calls, so there is none.
    let project = context::project(cli).context(
        "`aigis serve` records every call in the project's ledger and trusts the project's keys",
    )?;
    let trusted = trusted_keys(&project)?;
    let audit = aigis_gateway::audit::LedgerAudit::new(
        project.open_ledger()?,
        context::signing_key(&project)?,
    );
    let (tls, certificates) = match &config.tls {
        Some(t) => {
            let (tls, certificates) =
                aigis_gateway::tls::server_config_reloadable(t, &base, &source)?;
            (Some(tls), Some(certificates))
        }
        None => (None, None),
    };
    let source: aigis_gateway::ConfigSource = {
        let root = project.root.clone();
        let file = args.config.clone();
        let listen = args.listen;
        Arc::new(move || reread(&root, file.as_deref(), listen).map_err(|e| format!("{e:#}")))
    };
    let mut gateway =
        Gateway::in_project(&config, &base, &trusted, &project)?.with_config_source(source);
    if let Some(certificates) = certificates {
        gateway = gateway.with_certificates(certificates);
    }
    let buffered = config
        .audit
        .as_ref()
        .filter(|a| a.mode == aigis_gateway::audit::AuditMode::Buffered);
    let gateway = Arc::new(match buffered {
        Some(a) => {
            output::note(
                cli,
                &format!(
                    "audit: buffered (answers do not wait for the ledger; up to {} records queued, then calls are refused)",
                    a.buffer
                ),
            );
            gateway.with_buffered_audit(Arc::new(audit), a, &base)?
        }
        None => gateway.with_audit(Arc::new(audit)),
    });
    for m in gateway.models() {
        let signed = m
            .signed_by
            .as_deref()
            .map_or("NOT VERIFIED: verify = false".to_owned(), |k| {
                format!("signature verified, key {k}")
            });
        let decrypted = m
            .decrypted_by
            .as_deref()
            .map(|k| format!(", decrypted in memory with recipient key {k}"))
            .unwrap_or_default();
        let extraction = m
            .extraction
            .as_ref()
            .map(|e| {
                let source = match e.threshold_source() {
                    "calibrated" => "calibrated for this model by the detector file",
                    "configured" => "configured",
                    _ => "the default: no calibration for this model",
                };
                format!(
                    "; extraction detector: PRADA threshold {:.4} ({source})",
                    e.settings().threshold
                )
            })
            .unwrap_or_default();
        output::note(
            cli,
            &format!(
                "model `{}` version {} ({signed}{decrypted}){extraction}",
                m.name, m.version
            ),
        );
    }
    // The principals an earlier run suspected of copying a model stay suspected: a
    // restart is not a way out.
    let state = project.layout().extraction_state();
    let restored = gateway.restore_extraction(&read_extraction_state(&state)?);
    if restored > 0 {
        output::note(
            cli,
            &format!(
                "extraction: {restored} principals suspected by an earlier run are suspected again (`{}`; clear one with DELETE /admin/v1/models/<name>/extraction/<principal>, or remove it there with the gateway stopped)",
                state.display()
            ),
        );
    }
    output::note(
        cli,
        if gateway.authz().is_some() {
            "authorization: Cedar policies ([serve.authz]), validated against aigis's schema"
        } else {
            "authorization: none ([serve.authz] is absent): every authenticated principal may call every model"
        },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let bind = |addr: std::net::SocketAddr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| aigis_gateway::Error::Listen { addr, source })
        };
        let listener = bind(config.listen).await?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        let metrics = match &config.metrics {
            Some(m) => {
                let l = bind(m.listen).await?;
                let a = l.local_addr().context("reading the bound address")?;
                Some((l, format!("http://{a}/metrics")))
            }
            None => None,
        };
        let admin = match &config.admin {
            Some(a) => {
                let l = bind(a.listen).await?;
                let at = l.local_addr().context("reading the bound address")?;
                let scheme = if tls.is_some() { "https" } else { "http" };
                Some((l, format!("{scheme}://{at}/admin/v1")))
            }
            None => None,
        };
        // The signals are handled from before the gateway says it is listening: one sent
        // as soon as a supervisor reads that line must not kill the process by its
        // default action, losing the audit records still buffered.
        let shutdown = shutdown_signal();
        let hangup = hangup_signal();
        if cli.json {
            output::json(&json!({
                "listening": url,
                "metrics": metrics.as_ref().map(|m| &m.1),
                "admin": admin.as_ref().map(|a| &a.1),
                "instance": gateway.instance(),
            }))?;
        } else {
            outln!("{url}");
            output::note(cli, &format!("instance: {}", gateway.instance()));
        }
        // One signal stops both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let metrics_task = metrics.map(|(listener, murl)| {
            output::note(cli, &format!("metrics: {murl}"));
            tokio::spawn(aigis_gateway::serve_router(
                gateway.clone().metrics_router(),
                listener,
                None,
                until(stopped.clone()),
            ))
        });
        let admin_task = admin.map(|(listener, aurl)| {
            output::note(cli, &format!("admin API: {aurl}"));
            tokio::spawn(aigis_gateway::serve_router(
                gateway.clone().admin_router(),
                listener,
                tls.clone(),
                until(stopped.clone()),
            ))
        });
        output::note(
            cli,
            "serving; SIGHUP reloads models, keys, issuers, policies and the TLS certificate; Ctrl-C or SIGTERM stops after the requests in flight",
        );
        // The server is a task of its own, so a reload blocking this thread (reading and
        // verifying models) never holds up accepting connections.
        let serving = tokio::spawn(aigis_gateway::serve(
            gateway.clone(),
            listener,
            tls,
            until(stopped),
        ));
        tokio::select! {
            served = serving => served.context("the gateway task")??,
            () = reload_on_hangup(cli, &gateway, hangup) => {}
        }
        if let Some(task) = metrics_task {
            task.await.context("the metrics listener")??;
        }
        if let Some(task) = admin_task {
            task.await.context("the admin listener")??;
        }
        let suspects = gateway.extraction_suspects();
        let kept = tokio::task::block_in_place(|| save_extraction_state(&state, suspects));
        match kept {
            Ok(0) => {}
            Ok(n) => output::note(
                cli,
                &format!(
                    "extraction: {n} suspected principals kept in `{}` for the next start",
                    state.display()
                ),
            ),
            Err(e) => output::note(
                cli,
                &format!("warning: extraction: the suspected principals could not be kept: {e:#}"),
            ),
        }
        let spooled = tokio::task::block_in_place(|| {
            gateway.drain_audit(std::time::Duration::from_secs(30))
        });
        if spooled > 0 {
            output::note(
                cli,
                &format!(
                    "{spooled} audit records could not reach the ledger and were spooled; the next start records them first"
                ),
            );
        }
        output::note(cli, "stopped");
        Ok(())
    })
}

/// The format of the file where `aigis serve` keeps the principals its extraction
/// detectors suspect, between a stop and the next start
/// (`aigis_ledger::Layout::extraction_state`).
const EXTRACTION_STATE_FORMAT: &str = "aigis-extraction-state/1";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractionState {
    format: String,
    models: Vec<aigis_gateway::extraction::Saved>,
}

/// What an earlier run left in `path` (nothing when there is no such file). A file that
/// cannot be read is an error: starting without it would let its principals go.
fn read_extraction_state(path: &std::path::Path) -> Result<Vec<aigis_gateway::extraction::Saved>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", path.display())),
    };
    let state: ExtractionState = serde_json::from_slice(&bytes).map_err(|e| {
        crate::hinted(
            format!(
                "`{}` is not the suspected principals an earlier run kept: {e}",
                path.display()
            ),
            "restore it, or remove it to start with no principal suspected",
        )
    })?;
    if state.format != EXTRACTION_STATE_FORMAT {
        return Err(crate::hinted(
            format!(
                "`{}` is in format `{}`, not `{EXTRACTION_STATE_FORMAT}`",
                path.display(),
                state.format
            ),
            "remove it to start with no principal suspected",
        ));
    }
    Ok(state.models)
}

/// Keeps `now` in `path`: for each model served now, the principals suspected now (those
/// restored at the start included, those cleared through the admin API not), and what
/// the file held for models, files and settings not served now; removes the file when no
/// one is suspected. How many principals it holds.
fn save_extraction_state(
    path: &std::path::Path,
    now: Vec<aigis_gateway::extraction::Saved>,
) -> Result<usize> {
    let mut models = read_extraction_state(path).unwrap_or_default();
    for saved in now {
        match models.iter_mut().find(|m| {
            m.model == saved.model && m.sha256 == saved.sha256 && m.settings == saved.settings
        }) {
            Some(m) => m.suspects = saved.suspects,
            None => models.push(saved),
        }
    }
    models.retain(|m| !m.suspects.is_empty());
    let count = models.iter().map(|m| m.suspects.len()).sum();
    if models.is_empty() {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing `{}`", path.display()));
            }
            _ => return Ok(0),
        }
    }
    let state = ExtractionState {
        format: EXTRACTION_STATE_FORMAT.to_owned(),
        models,
    };
    let mut bytes =
        serde_json::to_vec_pretty(&state).context("writing the suspected principals")?;
    bytes.push(b'\n');
    crate::context::write_output(path, &bytes)?;
    Ok(count)
}

/// Reloads on every SIGHUP, and when a promotion or rollback moved the version at the
/// stage of a model served from the registry: the configuration is read again and the
/// gateway swaps in its models, API keys, JWT issuers and policies at once, or keeps what
/// it has and says why.
/// Never returns (on Unix; elsewhere there is no SIGHUP and it waits forever).
async fn reload_on_hangup(cli: &Cli, gateway: &Gateway, hangup: Hangup) {
    #[cfg(unix)]
    {
        let Some(mut hangup) = hangup else {
            return std::future::pending().await;
        };
        // A promotion or rollback in the registry is noticed within this long.
        let mut watch = tokio::time::interval(std::time::Duration::from_secs(2));
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let trigger = tokio::select! {
                signal = hangup.recv() => match signal {
                    Some(()) => "signal",
                    None => break,
                },
                _ = watch.tick() => {
                    if !tokio::task::block_in_place(|| gateway.stages_moved()) {
                        continue;
                    }
                    "promotion"
                }
            };
            // Models are read, verified and optimized on this thread; the runtime's other
            // workers keep answering.
            let result = tokio::task::block_in_place(|| gateway.reload_from_source(trigger, None));
            if cli.json {
                // One line per reload on stdout: an event stream after the start document.
                let event = match &result {
                    Ok(r) => json!({
                        "reload": "applied",
                        "trigger": trigger,
                        "models": r.models.iter().map(|(n, v, p)| json!({"name": n, "version": v, "previous": p})).collect::<Vec<_>>(),
                        "removed": r.removed,
                        "api_keys": r.api_keys,
                        "jwt_issuers": r.jwt_issuers,
                        "policies": r.policies,
                        "certificate": r.certificate,
                        "need_restart": r.need_restart,
                    }),
                    Err(e) => {
                        json!({"reload": "refused", "trigger": trigger, "error": format!("{e:#}")})
                    }
                };
                outln!("{event}");
            }
            if let Err(e) = &result {
                tracing::warn!(error = %format!("{e:#}"), "reload refused; the previous configuration stays in force");
            }
            match result {
                Ok(report) => {
                    let models: Vec<String> = report
                        .models
                        .iter()
                        .map(|(name, version, previous)| match previous {
                            Some(p) if p == version => format!("`{name}` {version} (unchanged)"),
                            Some(p) => format!("`{name}` {version} (was {p})"),
                            None => format!("`{name}` {version} (new)"),
                        })
                        .collect();
                    let mut text = format!(
                        "reloaded ({trigger}): {}; {} API keys, {} JWT issuers, {}",
                        models.join(", "),
                        report.api_keys,
                        report.jwt_issuers,
                        if report.policies {
                            "Cedar policies"
                        } else {
                            "no policies"
                        }
                    );
                    if report.certificate {
                        text.push_str("; TLS certificate read again");
                    }
                    if !report.removed.is_empty() {
                        text.push_str(&format!(
                            "; no longer served: {}",
                            report.removed.join(", ")
                        ));
                    }
                    if !report.need_restart.is_empty() {
                        text.push_str(&format!(
                            "; changed but waiting for a restart: {}",
                            report.need_restart.join(", ")
                        ));
                    }
                    output::note(cli, &text);
                }
                Err(e) => output::note(
                    cli,
                    &format!("reload refused, the previous configuration stays in force: {e:#}"),
                ),
            }
        }
    }
    std::future::pending().await
}

/// SIGHUP, handled from now on (on Unix; `None` when it cannot be).
#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
}

/// Ctrl-C (SIGINT), or SIGTERM on Unix: handled from the call on, the returned future
/// ends at the first.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        let wait = |s: Option<Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        async move {
            tokio::select! {
                () = wait(term) => {},
                () = wait(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `aigis keys api new`.
pub fn api_key(cli: &Cli, cmd: &ApiKeyCommand) -> Result<()> {
    let ApiKeyCommand::New { name } = cmd;
    if !aigis_gateway::config::is_name(name) {
        return Err(crate::hinted(
            format!("`{name}` is not a principal name"),
            "use letters, digits, `-`, `_` and `.`",
        ));
    }
    let (key, hash) = aigis_gateway::auth::generate().context("the system random source failed")?;
    if cli.json {
        return output::json(&json!({"name": name, "key": key.expose(), "sha256": hash}));
    }
    outln!("{}", key.expose());
    output::note(
        cli,
        &format!(
            "add to the [serve] configuration (the key above is not stored anywhere):\n\n[[serve.api_keys]]\nname = \"{name}\"\nsha256 = \"{hash}\"\n"
        ),
    );
    Ok(())
}
