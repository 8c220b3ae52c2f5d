//! The JSON Schemas of the predicates, generated from the types. The committed copies
//! under `docs/evidence/` are checked against these by a test.

use schemars::generate::SchemaSettings;

use crate::{Predicate, types::*};

/// A predicate's schema, ready to be written to `docs/evidence/<name>.schema.json`.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The file name without `.schema.json`.
    pub name: &'static str,
    /// The predicate-type URI, the schema's `$id`.
    pub predicate_type: &'static str,
    /// The schema (JSON Schema 2020-12).
    pub schema: serde_json::Value,
}

fn schema_of<P: Predicate>() -> SchemaFile {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<P>();
    schema.insert("$id".into(), P::TYPE.into());
    SchemaFile {
        name: P::NAME,
        predicate_type: P::TYPE,
        schema: schema.to_value(),
    }
}

/// Every predicate aigis writes, with its schema, in the order of the docs.
pub fn schemas() -> Vec<SchemaFile> {
    vec![
        schema_of::<DataManifest>(),
        schema_of::<DataProfile>(),
        schema_of::<DataScan>(),
        schema_of::<DataRelease>(),
        schema_of::<DataMask>(),
        schema_of::<DataDetokenize>(),
        schema_of::<Encryption>(),
        schema_of::<IngestProvenance>(),
        schema_of::<KeyRotation>(),
        schema_of::<ModelScan>(),
        schema_of::<ModelSignature>(),
        schema_of::<ModelVerification>(),
        schema_of::<ModelRegistration>(),
        schema_of::<ModelPromotion>(),
        schema_of::<WatermarkEmbed>(),
        schema_of::<WatermarkVerify>(),
        schema_of::<GatewayCall>(),
        schema_of::<GatewayAdmin>(),
        schema_of::<GatewayAlert>(),
        schema_of::<ShadowPeriod>(),
        schema_of::<MonitorWindow>(),
        schema_of::<MonitorDrift>(),
        schema_of::<DetectorFit>(),
        schema_of::<Training>(),
        schema_of::<Certification>(),
        schema_of::<FederatedRound>(),
        schema_of::<Federation>(),
        schema_of::<FederatedParticipation>(),
        schema_of::<Fairness>(),
        schema_of::<Explanation>(),
        schema_of::<RedTeam>(),
        schema_of::<ControlStatement>(),
        schema_of::<ComplianceReport>(),
        schema_of::<DependencyScan>(),
        schema_of::<RoleChange>(),
        schema_of::<Erasure>(),
        schema_of::<RetentionEnforced>(),
        schema_of::<SecretRotation>(),
        schema_of::<DatasetSummary>(),
        schema_of::<ArtifactDigest>(),
        schema_of::<Approval>(),
    ]
}

/// The text of a schema file: pretty JSON with a final newline.
pub fn schema_text(s: &SchemaFile) -> String {
    // Pretty-printing a `Value` cannot fail.
    let mut text = serde_json::to_string_pretty(&s.schema).unwrap_or_default();
    text.push('\n');
    text
}
