use aigis_core::Digest;
use aigis_crypto::dsse::Envelope;
use aigis_crypto::keyfile::{self, KdfParams};
use aigis_evidence::{KeyRotation, Predicate as _};
use anyhow::Result;
use serde_json::json;

use crate::cli::{Cli, KeysCommand};
use crate::{context, output};

pub fn run(cli: &Cli, cmd: &KeysCommand) -> Result<()> {
    // API keys belong to a gateway's configuration, not to a project.
    if let KeysCommand::Api(cmd) = cmd {
        return crate::commands::serve::api_key(cli, cmd);
    }
    // A person's key is theirs, made anywhere.
    if let KeysCommand::Identity { output, name } = cmd {
        if output.exists() {
            anyhow::bail!(
                "`{}` exists: a key file is never overwritten",
                output.display()
            );
        }
        let key = aigis_crypto::SigningKey::generate();
        let pass = context::passphrase();
        keyfile::save(
            output,
            &key,
            pass.as_deref().map(String::as_str),
            KdfParams::default(),
        )?;
        let vkey = aigis_crypto::note::verifier_key(name, &key.public())?;
        if cli.json {
            return output::json(
                &json!({"file": output, "key_id": key.public().key_id(), "verifier_key": vkey, "encrypted": pass.is_some()}),
            );
        }
        outln!("{vkey}");
        output::note(
            cli,
            &format!(
                "wrote `{}` (keep it secret); give the line above to an admin: aigis roles grant ROLE --key VKEY",
                output.display()
            ),
        );
        return Ok(());
    }
    let project = context::project(cli)?;
    match cmd {
        KeysCommand::Recipient(cmd) => crate::commands::crypt::recipient(cli, &project, cmd),
        KeysCommand::Mask(cmd) => crate::commands::data::mask::key(cli, &project, cmd),
        KeysCommand::Api(cmd) => crate::commands::serve::api_key(cli, cmd),
        KeysCommand::Identity { .. } => Ok(()),
        KeysCommand::Show => {
            let ring = project.keyring()?;
            let vkey = project.verifier_key()?;
            if cli.json {
                return output::json(&json!({
                    "origin": project.origin(),
                    "verifier_key": vkey,
                    "encrypted": keyfile::is_sealed(&project.key_path())?,
                    "keyring": ring.keys,
                }));
            }
            outln!("{vkey}");
            let retired = ring
                .keys
                .iter()
                .filter(|k| k.retired_unix.is_some())
                .count();
            if retired > 0 {
                output::note(
                    cli,
                    &format!(
                        "({retired} retired key(s) in the keyring still verify old evidence; --json lists them)"
                    ),
                );
            }
            Ok(())
        }
        KeysCommand::Rotate => {
            // The project's key, whoever acts.
            let old = context::project_key(&project)?;
            let pass = context::passphrase();
            let ledger = project.open_ledger()?;
            let (new, entry) =
                project.rotate_key(pass.as_deref().map(String::as_str), KdfParams::default())?;
            // The old key vouches for the new one, in the ledger, so an auditor can follow
            // the chain of keys from the first checkpoint to the last.
            let statement = KeyRotation {
                old_key_id: old.public().key_id(),
                new_key_id: entry.key_id.clone(),
                new_verifier_key: entry.verifier_key.clone(),
            }
            // The subject's digest, SHA-256 of the new public key, is its key id.
            .statement(vec![(
                format!("key:{}", entry.key_id),
                Digest::of(&new.public().to_bytes()),
            )])?;
            let envelope = Envelope::sign(aigis_core::PAYLOAD_TYPE, statement.to_json(), &old);
            let index = ledger.append_evidence(envelope.to_json(), &old)?;
            let cp = ledger.checkpoint(project.origin(), &new)?;
            if cli.json {
                return output::json(&json!({
                    "old_key_id": old.public().key_id(),
                    "new_key_id": entry.key_id,
                    "verifier_key": entry.verifier_key,
                    "encrypted": pass.is_some(),
                    "rotation_evidence_index": index,
                    "checkpoint_size": cp.tree_size,
                }));
            }
            outln!("{}", entry.verifier_key);
            output::note(
                cli,
                &format!(
                    "rotated: the old key signed evidence #{index} naming the new key; the old public key stays in the keyring"
                ),
            );
            Ok(())
        }
    }
}
