//! The command-line grammar. Doc comments here are the `--help` text; every command's
//! examples are an `after_help` block ([`examples!`]), one command a line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// An `Examples:` block for a command's `after_help`, one command a line, as cargo and uv
/// show them. Examples cannot live in doc comments: clap re-wraps those into paragraphs.
/// Shown by both `-h` and `--help`.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:", $("\n  ", $line),+)
    };
}

/// aigis secures a machine-learning model across its life and keeps the proof: every
/// stage writes signed evidence into a tamper-evident Merkle ledger.
///
/// Start with `aigis demo`, or `aigis init` in your project.
#[derive(Debug, Parser)]
#[command(
    name = "aigis",
    version,
    max_term_width = 100,
    after_help = examples!(
        "aigis demo",
        "aigis init",
        "aigis model scan models/ --sarif models.sarif",
        "aigis data scan train.csv --label target"
    )
)]
pub struct Cli {
    /// The project folder (the one with `aigis.toml`). Default: the current folder or the
    /// nearest one above it that has an `aigis.toml`.
    #[arg(long, global = true, env = "AIGIS_PROJECT", value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors (no progress, no notes on stderr).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Sign as this person: their key file (`aigis keys identity`) instead of the
    /// project's key. Their evidence counts when the project's roles name them.
    #[arg(long, global = true, env = "AIGIS_IDENTITY", value_name = "KEY_FILE")]
    pub identity: Option<PathBuf>,

    /// The one-time password of the acting person, for actions whose role asks for a
    /// second factor (admin and releaser).
    #[arg(
        long,
        global = true,
        env = "AIGIS_OTP",
        value_name = "CODE",
        hide_env_values = true
    )]
    pub otp: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project: `aigis.toml`, a signing key and an empty ledger in `.aigis/`.
    ///
    /// Running it again never replaces the key or the ledger; it says what it kept.
    /// Set AIGIS_KEY_PASSPHRASE to seal the new key with a passphrase (argon2id +
    /// XChaCha20-Poly1305).
    #[command(after_help = examples!(
        "aigis init fraud-model --name fraud-model"
    ))]
    Init(InitArgs),

    /// Show or rotate the project's signing key.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis keys show > project.vkey",
            "aigis keys rotate",
            "aigis keys recipient new > team-a.recipient"
        )
    )]
    Keys(KeysCommand),

    /// Sign a statement about files and append it to the ledger.
    ///
    /// The evidence is an in-toto Statement v1 (subjects: the files' SHA-256 digests) in a
    /// DSSE envelope signed with the project key, so any DSSE/in-toto tool can check it.
    #[command(after_help = examples!(
        "aigis attest --subject model.onnx --predicate eval.json \\",
        "    --predicate-type https://example.com/eval/v1"
    ))]
    Attest(AttestArgs),

    /// List and show the evidence in the ledger.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis evidence list --since 7d",
            "aigis evidence show 3 --statement"
        )
    )]
    Evidence(EvidenceCommand),

    /// Checkpoints, proofs and verification of the ledger.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis ledger status",
            "aigis ledger checkpoint --out release-1.checkpoint",
            "aigis ledger verify --signatures"
        )
    )]
    Ledger(LedgerCommand),

    /// Datasets: profile, scan (schema, personal data, poisoning), signed manifests,
    /// encryption, masking and tokenization.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis data profile train.csv -o train.profile.json",
            "aigis data scan new.csv --profile train.profile.json",
            "aigis data sign datasets/fraud-2026-11/"
        )
    )]
    Data(DataCommand),

    /// Model artifacts: scan, sign, verify, encrypt and watermark model files, and
    /// register and promote them through the gate.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis model scan models/",
            "aigis model register models/fraud-v3/ --name fraud",
            "aigis model promote fraud 3 --stage production"
        )
    )]
    Model(ModelCommand),

    /// Monitor data against its reference: drift per feature (Kolmogorov–Smirnov with
    /// scipy's exact and asymptotic p-values, chi-square, PSI, Wasserstein).
    #[command(
        subcommand,
        after_help = examples!(
            "aigis monitor drift train.csv last-week.csv",
            "aigis monitor drift ref.parquet today.parquet --columns age,income"
        )
    )]
    Monitor(MonitorCommand),

    /// Detect inputs unlike the reference data, row by row: an isolation forest
    /// (out-of-distribution) and feature squeezing (adversarial examples), fitted and
    /// calibrated offline for a stated false-positive rate.
    ///
    /// `aigis detect fit` makes the detector file from the reference (the training data);
    /// `aigis detect --detector FILE INPUTS` scores a file of inputs with it: each row's
    /// scores, whether it is flagged, and why. In a project the detector file is signed
    /// with the project's key (`FILE.sig`, as `aigis model sign` signs a model) and
    /// recorded; scoring checks that signature against the keyring, unless --unsigned.
    ///
    /// Exits 1 when a row is flagged, 2 when a file cannot be read or does not fit the
    /// detector.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        override_usage = "aigis detect [OPTIONS] --detector <FILE> <INPUTS>; to fit one: aigis detect fit --help",
        after_help = examples!(
            "aigis detect fit train.csv --label target -o fraud.detector.json",
            "aigis detect fit train.npy --model digits.onnx --image 8x8",
            "aigis detect --detector train.detector.json --model digits.onnx x.npy",
            "aigis --json detect --detector fraud.detector.json today.csv"
        )
    )]
    Detect(Box<DetectArgs>),

    /// Fairness of a classifier's decisions across groups of people, from a table of
    /// them: per group the selection rate, true and false positive rates and accuracy
    /// (and, with --score, the score's calibration); between groups demographic parity,
    /// equalized odds and disparate impact, as fairlearn computes them, with percentile
    /// bootstrap intervals.
    ///
    /// Each sensitive column is measured alone and, with several, their intersection
    /// (every combination present). A threshold holds in every analysis: --fail-over for
    /// a disparity that must stay at most a value, --fail-under for one that must stay at
    /// least a value; an undefined disparity (fewer than two groups, a ratio over 0)
    /// fails it. Metrics: demographic-parity-difference, demographic-parity-ratio,
    /// true-positive-rate-difference, false-positive-rate-difference,
    /// equalized-odds-difference, equalized-odds-ratio, disparate-impact (each group's
    /// selection rate over the most selected group's, the lowest; the four-fifths rule's
    /// ratio), accuracy-difference. In a project the run is recorded as `fairness`
    /// evidence.
    ///
    /// The intervals are percentile bootstrap intervals (as fairlearn's MetricFrame draws
    /// them): for a difference near 0 they sit above the value, since a largest less a
    /// smallest is biased upward in every resample; read them as the estimate's spread.
    ///
    /// Exits 1 when a threshold is not met, 2 when the table cannot be read or its
    /// columns do not fit (a missing label, more than two outcomes, a score outside
    /// [0, 1]).
    #[command(after_help = examples!(
        "aigis fairness adult.csv --label income --prediction pred \\",
        "    --sensitive sex,race --positive '>50K'",
        "aigis fairness scored.parquet --label y --prediction yhat --score p \\",
        "    --sensitive age_band --fail-under disparate-impact=0.8",
        "aigis fairness decisions.csv --label y --prediction yhat --sensitive sex \\",
        "    --fail-over equalized-odds-difference=0.1 --model model.onnx",
        "aigis fairness decisions.csv --label y --prediction yhat --sensitive sex \\",
        "    --html fairness.html --sarif fairness.sarif",
        "aigis --json fairness d.csv --label y --prediction yhat --sensitive sex"
    ))]
    Fairness(Box<FairnessArgs>),

    /// Explain a model's answers by asking it about rows only: each feature's Shapley
    /// value for chosen rows (exact with up to ten features, KernelSHAP's sampled
    /// regression beyond, against a background summarized as k-means centres), and with
    /// --label each feature's permutation importance (the drop in accuracy, or R² for a
    /// regressor, when its column is shuffled).
    ///
    /// The answer explained is a classifier's probability of the class it gives each
    /// row (--class K for another), or a regressor's output. In a project the run is
    /// recorded as `explanation` evidence: aggregates only (each feature's mean absolute
    /// Shapley value and its importance), never a row.
    ///
    /// The model is an ONNX file, a registry version (`NAME@VERSION`, `NAME@STAGE`), or a
    /// served model's Open Inference Protocol URL (the aigis gateway's included).
    #[command(after_help = examples!(
        "aigis explain model.onnx --data test.csv --label target",
        "aigis explain fraud@production --data test.csv --label target",
        "aigis explain model.onnx --data test.csv --rows 0,1 --lime --top 5",
        "aigis explain model.onnx --data test.csv --label target --html explain.html",
        "aigis explain digits.onnx --data test.npy --rows 0,7,42 --samples 4000",
        "aigis explain model.onnx --data test.csv --label target \\",
        "    --background train.csv --background-size 100",
        "aigis --json explain model.onnx --data test.csv --class 1"
    ))]
    Explain(Box<ExplainArgs>),

    /// Attack a classifier and measure how easily it is fooled and how much it leaks:
    /// FGSM and PGD on labelled rows (L∞ or L2, untargeted or --target, random restarts,
    /// as IBM ART defines them), HopSkipJump (decision-based: the model's answers only)
    /// and Square (score-based: its class scores only, L∞ or L2) at each ε given; with
    /// --extract, copies trained on its answers to more and more queries (their fidelity
    /// and accuracy); and with --members and --non-members
    /// membership inference (the ROC's area and its true-positive rate at 0.1 % and 1 %
    /// false positives).
    ///
    /// The gradients are exact where aigis differentiates the model's ONNX graph (dense
    /// and convolutional networks, scikit-learn's linear models and scalers); for another
    /// model (a tree ensemble) they are estimated from its answers by central differences,
    /// and the report says so. Success is judged by the model itself, through the
    /// runtime: an attacked row (one the model gets right) succeeds when the model then
    /// gives another class (--target: that class). Robust accuracy is the share of every
    /// row still right under attack. Labels are class indices 0, 1, …; the rows' other
    /// numeric columns are the model's input, in order.
    ///
    /// The model is an ONNX file, a version of the project's registry (`NAME@VERSION`,
    /// or `NAME@STAGE` for the version the gate put there; its stored bytes, checked
    /// against their digest), or a served model's Open Inference Protocol (KServe v2)
    /// URL, the aigis gateway's included: what is deployed, as its callers reach it, with
    /// a bearer token from --token-env. A remote model gives no graph, so its gradients
    /// are estimated. --query-budget bounds the rows asked of any model.
    ///
    /// In a project the run is recorded as `redteam` evidence (counts, rates and
    /// perturbation sizes, never a row). Exits 1 when a threshold is not met, or when
    /// --time-budget or --query-budget ran out before every attack ran (the verdict was
    /// not reached).
    #[command(after_help = examples!(
        "aigis redteam model.onnx --data test.csv --label y --eps 0.05,0.1",
        "aigis redteam digits@3 --data test.csv --label y --clip 0,1",
        "AIGIS_KEY=… aigis redteam https://gw.example/v2/models/digits \\",
        "    --token-env AIGIS_KEY --data test.csv --label y --attacks fgsm,hsj \\",
        "    --clip 0,1 --query-budget 200000",
        "aigis redteam digits.onnx --data test.csv --label y --clip 0,1 \\",
        "    --attacks pgd --eps 0.1 --steps 40 --restarts 3",
        "aigis redteam model.onnx --data test.csv --label y --norm 2 --eps 1",
        "aigis redteam model.onnx --data test.csv --label y --attacks hsj \\",
        "    --norm 2 --eps 0.5,1,2 --clip 0,1 --max-queries 5000",
        "aigis redteam model.onnx --data test.csv --label y --attacks square \\",
        "    --eps 0.05,0.1 --clip 0,1 --iterations 1000",
        "aigis redteam model.onnx --data test.csv --label y --attacks square \\",
        "    --norm 2 --eps 1,2 --clip 0,1",
        "aigis redteam model.onnx --data test.csv --label y --attacks none \\",
        "    --extract 100,1000,10000 --fail-over fidelity-at-1000=0.8",
        "aigis redteam model.onnx --data test.csv --label y --attacks none \\",
        "    --train train.csv --poison label-flip=0.1,backdoor=0.01 \\",
        "    --fail-over backdoor-success=0.5",
        "aigis redteam model.onnx --data test.csv --label y --target 3",
        "aigis redteam model.onnx --label y --members train.csv \\",
        "    --non-members test.csv --reference ref1.onnx,ref2.onnx",
        "aigis redteam model.onnx --data test.csv --label y \\",
        "    --fail-under robust-accuracy=0.6 --time-budget 600 --html redteam.html",
        "aigis --json redteam model.onnx --data test.csv --label y"
    ))]
    Redteam(Box<RedteamArgs>),

    /// Train a classifier on a table and write it as an ONNX model: a multilayer perceptron
    /// (`mlp`, one ReLU hidden layer) or a linear model (`softmax` over any number of
    /// classes, `logistic` for two), trained as scikit-learn's MLPClassifier trains (Adam,
    /// an L2 penalty, minibatches, stopping when the loss stops improving), on features
    /// standardized by the table's own means and deviations. `--validation-fraction`
    /// stops on a held-out share's accuracy instead (scikit-learn's early_stopping), and
    /// `--adversarial-eps` trains on each minibatch's L∞ PGD adversarial examples (Madry
    /// et al.) for a model that resists that attack at that radius.
    ///
    /// With `--dp`, the model is trained by DP-SGD and is (ε, δ)-differentially private
    /// with respect to adding or removing one row: each step takes every row independently
    /// with probability q (Poisson sampling, the sampler the accountants assume), clips
    /// each row's gradient to `--max-grad-norm`, adds Gaussian noise and runs a number of
    /// steps fixed in advance (no early stopping). Give the noise (`--noise-multiplier`)
    /// or the ε to spend (`--epsilon`, the least noise found by the PLD accountant); the ε
    /// spent is reported by PLD and RDP, as `aigis privacy` computes it. Each feature is
    /// clamped into public bounds (`--bounds`) and scaled by them, since scaling by the
    /// rows' own statistics would publish them; the bounds must come from the domain (a
    /// unit's range, a schema), not from the table; so must the classes (`--classes`). The sampling and the noise come from
    /// the operating system's random source, so a DP run is not repeatable; `--seed`
    /// fixes only the initial weights. The accuracy reported is measured on the training
    /// rows, outside the guarantee.
    ///
    /// The model's input is `input` (the table's numeric columns but the label, in their
    /// order, as float32); its outputs are `label` (the class index) and `probabilities`,
    /// as skl2onnx writes a classifier, so onnxruntime, `aigis serve`, `aigis redteam` and
    /// `aigis explain` run it. The label's values are numbers; the class indices follow
    /// their sorted order.
    ///
    /// In a project, every run is signed `training` evidence (the table and the model by
    /// digest, the settings, the accuracy, the guarantee). A table with a signed manifest
    /// beside it (or `--manifest`, or every table under `[train] require_signed_data`) must
    /// match it; a table under a `[[train.budget]]` must be trained with --dp, within what
    /// the ledger says is left of the budget. Those refusals exit 1.
    #[command(after_help = examples!(
        "aigis train train.csv --label y -o model.onnx",
        "aigis train train.parquet --label churned --model logistic \\",
        "    --epochs 300 --seed 7 -o churn.onnx",
        "aigis train digits.csv --label target --adversarial-eps 1 --clip 0,16 \\",
        "    -o robust.onnx",
        "aigis train train.csv --label y --partitions 50 -o dpa.onnx",
        "aigis train digits.csv --label target --dp --epsilon 3 --delta 1e-5 \\",
        "    --bounds 0:16 --classes 0,1,2,3,4,5,6,7,8,9 -o digits-dp.onnx",
        "aigis train adult.csv --label income --dp --noise-multiplier 1.1 \\",
        "    --bounds 0:1 --bounds age=17:90 --classes 0,1 --batch-size 256 \\",
        "    -o adult.onnx"
    ))]
    Train(Box<TrainArgs>),

    /// Certify a partition ensemble's predictions against data poisoning: for each row of
    /// a table, the class the vote gives and how many training rows an attacker could add
    /// or remove without changing it (deep partition aggregation, Levine and Feizi 2021:
    /// one row changes one partition's model, so one vote); with the true labels, the
    /// certified accuracy at each number of rows. The model is one `aigis train
    /// --partitions K` wrote.
    #[command(after_help = examples!(
        "aigis certify dpa.onnx --data test.csv --label y",
        "aigis --json certify dpa.onnx --data new.csv"
    ))]
    Certify(Box<CertifyArgs>),

    /// Federated learning: one model trained across parties that keep their rows. A
    /// coordinator (`serve`) sends each round's model to a sample of clients (`join`),
    /// each trains it on its own table and sends back only the change, signed; the
    /// coordinator combines the changes by federated averaging or by a rule that
    /// withstands poisoning clients (Krum, median, trimmed mean). The parties talk over
    /// TLS 1.3, each authenticated by its project's key (`aigis keys show`), and every
    /// round is recorded as evidence.
    #[command(subcommand, after_help = examples!(
        "aigis federate serve --client a.vkey --client b.vkey \\",
        "    --client c.vkey --bounds 0:16 --classes 0,1 -o fed.onnx",
        "aigis federate join coordinator:7443 clinic.csv --label y \\",
        "    --coordinator coordinator.vkey",
        "aigis federate verify fed.onnx --client a.vkey --client b.vkey \\",
        "    --client c.vkey"
    ))]
    Federate(FederateCommand),

    /// Ask the promotion gate whether a registered version may move to a stage, and why
    /// (records nothing; `aigis model promote` asks the same question and acts on it).
    ///
    /// The gate is a set of Cedar policies over the version as an `Aigis::ModelVersion`
    /// whose attributes come only from signed evidence in the project's ledger: the stored
    /// bytes, the scan and the signature, the newest training run on one of its files (its
    /// ε and δ, who trained it, its data's manifest and scan), red-team and fairness
    /// results with their age, and the shadow and detector checks of aigis.toml. An entry
    /// no project key signed is not read. Cedar refuses unless a `permit` applies and no
    /// `forbid` does; a policy that cannot be evaluated refuses too. A refusal names each
    /// policy that refused, what it read and from which entries, and for what is missing
    /// the command that would record it.
    ///
    /// The policy is the built-in one (`--default-policy` prints it), or the project's
    /// (`[model.gate] policy = "FILE"` in aigis.toml), or `--policy FILE` here. Policies
    /// are validated against the gate's schema (`--schema` prints it) when they are
    /// loaded: one that reads an attribute that does not exist, or an optional one without
    /// `has`, does not load. examples/gate/ in aigis's repository holds stricter ones.
    ///
    /// Exits 1 when the gate refuses, 2 when it cannot ask (no such version, a policy
    /// that does not load).
    #[command(after_help = examples!(
        "aigis gate fraud 3",
        "aigis gate fraud 3 --stage staging --json",
        "aigis gate fraud 3 --policy credit-scoring.cedar",
        "aigis gate --schema",
        "aigis gate --default-policy"
    ))]
    Gate(Box<GateArgs>),

    /// Compliance reports an auditor can check offline: a framework's controls judged
    /// from the signed evidence in the ledger, signed, bound to a checkpoint, and verified
    /// with nothing but the project's verifier key.
    #[command(subcommand, after_help = examples!(
        "aigis report compliance --framework eu-ai-act --html eu-ai-act.html",
        "aigis report verify compliance-eu-ai-act.json --key project.vkey",
        "aigis report attest --framework nist-ai-rmf --control 'GOVERN 1.1' \\",
        "    --statement 'Legal reviews AI use quarterly' --document legal-register.pdf",
        "aigis report frameworks"
    ))]
    Report(ReportCommand),

    /// Who may do what: members (their keys) and their roles (admin, data-steward,
    /// trainer, releaser, auditor, gateway-admin), in a signed roles file only an admin
    /// can change, every change recorded as evidence.
    ///
    /// Once a project has roles, `model promote` and `model rollback` need a releaser,
    /// `train` and `federate serve` a trainer, `data sign`, `protect`, `erase`, `retention
    /// --enforce` and the key rotations a data steward, `report compliance` an auditor,
    /// `serve` a gateway admin, and changing the roles an admin;
    /// admin and releaser actions also need the person's one-time password (`--otp`, after
    /// `aigis roles 2fa enroll`). A person acts with their own key (`--identity`), and the
    /// gate refuses to let the key that trained a model promote it (separation of duties,
    /// on unless `roles init --no-separation-of-duties`).
    #[command(subcommand, after_help = examples!(
        "aigis roles init",
        "aigis roles 2fa enroll",
        "aigis roles grant releaser --key alice.vkey --name alice --otp 123456",
        "aigis roles 2fa enroll --identity alice.key",
        "aigis roles list"
    ))]
    Roles(RolesCommand),

    /// The supply chain: the packages a project's lockfiles pin, checked against known
    /// vulnerabilities.
    #[command(subcommand, after_help = examples!(
        "aigis deps scan Cargo.lock requirements.txt --osv osv/",
        "aigis deps scan package-lock.json --osv osv/ --fail-on high \\",
        "    --sarif deps.sarif"
    ))]
    Deps(DepsCommand),

    /// Write a CycloneDX 1.6 ML-BOM of a registered version: the model (its files by
    /// SHA-256, and a model card from the ledger's signed training, red-team and fairness
    /// evidence), the datasets it was trained on (by digest, with their signed manifest),
    /// the packages of the lockfiles given (by purl, with the lockfiles' hashes), and an
    /// attestation reference to each ledger entry it was built from (by the SHA-256 of the
    /// entry's bytes). Writes to standard output, or to -o.
    #[command(after_help = examples!(
        "aigis bom fraud 3 -o fraud-3.cdx.json",
        "aigis bom fraud 3 --lockfile requirements.txt --lockfile Cargo.lock \\",
        "    -o bom.json"
    ))]
    Bom(BomArgs),

    /// Differential privacy's accounting of DP-SGD: the ε a run spends at δ, and the
    /// noise a target ε needs, for the Poisson-subsampled Gaussian mechanism, by its
    /// privacy loss distribution (PLD: the tighter) and by Rényi DP (RDP), as Google's
    /// dp_accounting computes them (TF Privacy and Opacus's RDP accountant use the same
    /// RDP), so the ε claimed for a run made anywhere can be checked.
    ///
    /// The accounting assumes Poisson sampling: each step takes each example independently
    /// with the sampling rate's probability. A run over shuffled fixed-size batches is
    /// another mechanism, and its ε is not this one.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis privacy epsilon --sampling-rate 0.004267 --noise-multiplier 1.1 \\",
            "    --steps 14062 --delta 1e-5",
            "aigis privacy noise --batch-size 256 --dataset-size 60000 --epochs 60 \\",
            "    --epsilon 3 --delta 1e-5"
        )
    )]
    Privacy(PrivacyCommand),

    /// Serve models behind the gateway: the Open Inference Protocol v2 (KServe, Triton)
    /// over TLS, every call authenticated, every input checked against the model's
    /// signature, every call recorded in the ledger.
    ///
    /// Reads `[serve]` from the project's `aigis.toml`, or from --config. Each model must
    /// carry a signature by a key of the project's keyring (`aigis model sign`), unless its
    /// entry says `verify = false`. Prints the address it listens on; Ctrl-C or SIGTERM
    /// stops it after the requests in flight finish. TLS is rustls (1.3 and 1.2, the
    /// hybrid post-quantum key exchange X25519MLKEM768 first), with client certificates
    /// when `tls.client_ca` is set; plain HTTP (`plain = true`) is served on loopback only.
    /// API keys come from `aigis keys api new`. A call:
    /// `curl --cacert ca.pem -H "Authorization: Bearer $KEY" https://gw.example:8443/v2/models/digits`.
    #[command(after_help = examples!(
        "aigis serve",
        "aigis serve --config serve.toml --listen 127.0.0.1:9000"
    ))]
    Serve(ServeArgs),

    /// Run the whole story on a throwaway project: init, evidence, a signed dataset
    /// manifest, a data scan and ingest with planted problems, two weeks of data against
    /// the reference (one drifted), encryption, the model registry's gate, the gateway,
    /// the red team and a model card, the fairness table of loan decisions with a planted
    /// disparity, a model trained by DP-SGD under a privacy budget (and a second run the
    /// budget refuses), a checkpoint, an inclusion proof checked offline, a verify, a tampering
    /// that verify catches, and a changed row that the manifest locates.
    #[command(after_help = examples!(
        "aigis demo --dir /tmp/aigis-demo --keep"
    ))]
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file with the `[serve]` table [default: the project's aigis.toml]. Paths in
    /// it are relative to its folder.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen here instead of `serve.listen` (`127.0.0.1:0` picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project [default: the current folder].
    pub dir: Option<PathBuf>,
    /// The project's name [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a person's own signing key (sealed with AIGIS_KEY_PASSPHRASE when set) and
    /// print its verifier key, for an admin to `aigis roles grant`.
    #[command(after_help = examples!("aigis keys identity -o alice.key --name alice > alice.vkey"))]
    Identity {
        /// The key file to write (it must not exist).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The name in the verifier key.
        #[arg(long, default_value = "aigis-identity")]
        name: String,
    },
    /// Print the public key as a C2SP verifier key string (name+hash+base64).
    ///
    /// Give it to whoever checks your checkpoints and proofs.
    #[command(after_help = examples!(
        "aigis keys show > project.vkey"
    ))]
    Show,
    /// Make a new signing key. Old public keys stay in the keyring, so what they signed
    /// still verifies; the rotation itself is recorded as evidence signed by the old key.
    #[command(after_help = examples!(
        "AIGIS_KEY_PASSPHRASE=... aigis keys rotate"
    ))]
    Rotate,
    /// The project's recipient key pair, for `aigis data encrypt` / `decrypt`: X-Wing,
    /// the hybrid of X25519 and ML-KEM-768 (post-quantum).
    #[command(
        subcommand,
        after_help = examples!(
            "aigis keys recipient new > team-a.recipient"
        )
    )]
    Recipient(RecipientCommand),
    /// The project's masking key, for `aigis data mask` (hash, tokenize) and
    /// `aigis data detokenize`: 32 random bytes in `.aigis/keys/mask.key` (mode 0600).
    #[command(
        subcommand,
        after_help = examples!(
            "aigis keys mask show"
        )
    )]
    Mask(MaskKeyCommand),
    /// API keys for `aigis serve`: the key is printed once; the gateway keeps only its
    /// SHA-256, in a `[[serve.api_keys]]` entry.
    #[command(
        subcommand,
        after_help = examples!(
            "aigis keys api new --name ci-bot"
        )
    )]
    Api(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a new API key: the key on stdout (shown once, never stored), and on stderr the
    /// `[[serve.api_keys]]` entry with its SHA-256 to add to the `[serve]` configuration.
    ///
    /// Two entries with one name are two keys of one principal: add the new entry, hand
    /// out the new key, then remove the old entry (a rotation without downtime).
    #[command(after_help = examples!(
        "aigis keys api new --name ci-bot > ci-bot.key",
        "aigis keys api new --name ci-bot --json"
    ))]
    New {
        /// The principal the key authenticates (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MaskKeyCommand {
    /// Create the masking key in `.aigis/keys/mask.key` and print its key id.
    ///
    /// Never replaces an existing key (its tokens could no longer be reversed): running it
    /// again prints the id of the one there. Set AIGIS_KEY_PASSPHRASE to seal the key.
    #[command(after_help = examples!(
        "AIGIS_KEY_PASSPHRASE=... aigis keys mask new"
    ))]
    New,
    /// Print the masking key's id (never the key). Needs no passphrase.
    #[command(after_help = examples!(
        "aigis keys mask show"
    ))]
    Show,
    /// Replace the masking key: new tokens are made with a new key, and the old one is
    /// kept for the overlap (`data detokenize` still opens its tokens) and deleted after
    /// it. Recorded as `secret-rotation` evidence. Needs a data steward when the project
    /// has roles.
    #[command(after_help = examples!(
        "aigis keys mask rotate",
        "aigis keys mask rotate --overlap-days 90"
    ))]
    Rotate {
        /// How long the old key keeps opening its tokens.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        overlap_days: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecipientCommand {
    /// Create the recipient key pair in `.aigis/keys/recipient.key` and print its public
    /// recipient string (`aigis-recipient-v1:...`) for others to encrypt to.
    ///
    /// Never replaces an existing key: running it again prints the one there. Set
    /// AIGIS_KEY_PASSPHRASE to seal the secret key with a passphrase.
    #[command(after_help = examples!(
        "aigis keys recipient new > team-a.recipient"
    ))]
    New,
    /// Print the project's public recipient string.
    #[command(after_help = examples!(
        "aigis keys recipient show > team-a.recipient"
    ))]
    Show,
    /// Replace the recipient key pair: files encrypted to the old one still decrypt for
    /// the overlap, and its secret key is deleted after it. Prints the new recipient
    /// string, for senders to encrypt to from now. Recorded as `secret-rotation` evidence.
    #[command(after_help = examples!(
        "aigis keys recipient rotate --overlap-days 14 > team-a.recipient"
    ))]
    Rotate {
        /// How long files encrypted to the old key still decrypt.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        overlap_days: u64,
    },
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// A file the evidence is about (repeatable). Its SHA-256 becomes a subject.
    #[arg(
        long = "subject",
        value_name = "FILE",
        required_unless_present = "subject_digest"
    )]
    pub subjects: Vec<PathBuf>,
    /// A subject given by digest instead of a file: `NAME=sha256:HEX` (repeatable).
    #[arg(long = "subject-digest", value_name = "NAME=sha256:HEX")]
    pub subject_digest: Vec<String>,
    /// The kind of evidence, a URI, for example https://slsa.dev/provenance/v1.
    #[arg(long, value_name = "URI")]
    pub predicate_type: String,
    /// The predicate: a JSON object in FILE, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub predicate: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// List evidence, oldest first.
    #[command(after_help = examples!(
        "aigis evidence list --subject model.onnx --since 7d"
    ))]
    List(ListArgs),
    /// Show one piece of evidence and whether its signature verifies.
    #[command(after_help = examples!(
        "aigis evidence show 3 --raw > entry-3.dsse.json"
    ))]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only evidence about this file or digest (`sha256:HEX`).
    #[arg(long, value_name = "FILE|DIGEST")]
    pub subject: Option<String>,
    /// Only evidence of this predicate type.
    #[arg(long, value_name = "URI")]
    pub predicate_type: Option<String>,
    /// Only evidence recorded at or after this time: RFC 3339 (2026-11-01T12:00:00Z), a
    /// date (2026-11-01) or an age (90m, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only evidence recorded before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many, the newest.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The entry's index in the ledger.
    pub index: u64,
    /// Write the entry's exact bytes (the DSSE envelope that is hashed into the log).
    #[arg(long, conflicts_with = "statement")]
    pub raw: bool,
    /// Write only the in-toto statement (the envelope's payload), as JSON.
    #[arg(long)]
    pub statement: bool,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Show the ledger's size, root and newest checkpoint.
    #[command(after_help = examples!(
        "aigis ledger status",
        "aigis ledger status --json"
    ))]
    Status,
    /// Sign a checkpoint of the ledger as it is now, store it and print it.
    ///
    /// The checkpoint is a C2SP tlog-checkpoint signed as a C2SP signed-note. Keep copies
    /// outside the project: `ledger verify --checkpoint` checks the ledger still matches.
    #[command(after_help = examples!(
        "aigis ledger checkpoint --out release-1.checkpoint"
    ))]
    Checkpoint(CheckpointArgs),
    /// Verify any C2SP signed note (a checkpoint or not) against a verifier key.
    #[command(after_help = examples!(
        r#"aigis ledger verify-checkpoint release-1.checkpoint \"#,
        r#"    --key "$(cat project.vkey)""#
    ))]
    VerifyCheckpoint(VerifyCheckpointArgs),
    /// Print an inclusion proof of an entry (C2SP tlog-proof) or, with --from, a
    /// consistency proof between two checkpoints.
    #[command(after_help = examples!(
        "aigis ledger prove 3 --out entry-3.tlog-proof",
        "aigis ledger prove --from 100 --to 250 --out grew.json"
    ))]
    Prove(ProveArgs),
    /// Check a proof offline: needs only the verifier key, the proof and (for inclusion)
    /// the entry's exact bytes; no project.
    #[command(after_help = examples!(
        r#"aigis ledger verify-proof entry-3.tlog-proof --entry entry-3.dsse.json \"#,
        r#"    --key "$(cat project.vkey)""#
    ))]
    VerifyProof(VerifyProofArgs),
    /// Recompute the whole tree, check every checkpoint's signature and root, and name
    /// the first bad entry if anything was modified, deleted, reordered or inserted.
    ///
    /// Exits 1 if the ledger fails, 0 if it passes.
    #[command(after_help = examples!(
        r#"aigis ledger verify --checkpoint release-1.checkpoint \"#,
        r#"    --key "$(cat project.vkey)""#
    ))]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Also write the signed checkpoint to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyCheckpointArgs {
    /// The signed note, or `-` for stdin.
    pub file: PathBuf,
    /// A verifier key string, `name+hash+base64` (repeatable).
    #[arg(long = "key", value_name = "VERIFIER_KEY", required = true)]
    pub keys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The index of the entry to prove.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    pub entry: Option<u64>,
    /// Prove consistency from the tree of this many entries.
    #[arg(long, value_name = "N")]
    pub from: Option<u64>,
    /// ... to the tree of this many entries [default: the whole ledger].
    #[arg(long, value_name = "M", requires = "from")]
    pub to: Option<u64>,
    /// Write the proof to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// The proof: a `.tlog-proof` (inclusion) or a consistency proof (JSON).
    pub proof: PathBuf,
    /// The verifier key that must have signed the checkpoint(s) (repeatable).
    #[arg(long = "key", value_name = "VERIFIER_KEY", required = true)]
    pub keys: Vec<String>,
    /// The entry, byte for byte (`aigis evidence show N --raw`); for inclusion proofs.
    #[arg(long, value_name = "FILE")]
    pub entry: Option<PathBuf>,
    /// Check against this signed checkpoint instead of the one in the proof.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// For consistency proofs: the older checkpoint you hold.
    #[arg(long, value_name = "FILE")]
    pub old_checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also check every entry's DSSE signature (slower: one Ed25519 check per entry).
    #[arg(long)]
    pub signatures: bool,
    /// A checkpoint kept outside the ledger that it must still match (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,
    /// Trust only these verifier keys, not the keyring in `.aigis/` (repeatable).
    #[arg(long = "key", value_name = "VERIFIER_KEY")]
    pub keys: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Hash a file or folder into a manifest (per-file and per-chunk SHA-256 under one
    /// Merkle root), sign it (DSSE) and append it to the ledger.
    ///
    /// The signed manifest is written beside the data as `<PATH>.aigis-manifest.json`
    /// unless --out says otherwise.
    #[command(after_help = examples!(
        "aigis data sign datasets/fraud-2026-11/"
    ))]
    Sign(DataSignArgs),
    /// Re-hash a file or folder and check it against its signed manifest: the signature,
    /// the manifest's place in the ledger, and every file and chunk. Names what changed.
    ///
    /// Exits 1 if anything differs or does not verify.
    #[command(after_help = examples!(
        r#"aigis data verify datasets/fraud-2026-11/ --key "$(cat project.vkey)""#
    ))]
    Verify(DataVerifyArgs),
    /// Build a reference profile of a table: per column the type, null rate, range,
    /// quantiles, categories and mergeable sketches (Apache DataSketches KLL, HLL and
    /// frequent items) that `data scan --profile` and the drift monitor compare against.
    ///
    /// Reads CSV, JSON Lines or Parquet in one streamed, parallel pass. A folder is one
    /// dataset: the statistics of all its tables merge into one profile.
    #[command(after_help = examples!(
        "aigis data profile train.csv -o train.profile.json"
    ))]
    Profile(DataProfileArgs),
    /// Scan a table: schema violations against a profile (type, range, unknown category,
    /// unexpected null, missing or extra column), malformed rows and encodings, personal
    /// data and secrets (emails, phones, Luhn-checked cards, SSNs, IBANs, IPs, API keys),
    /// columns of people's names, dates of birth, street addresses, postal codes and
    /// person or case ids (judged from the header in several languages, the values'
    /// shape and US Census name lists), quasi-identifiers (columns such as date of
    /// birth + sex + postal code that make rows unique: the share of unique rows and
    /// k-anonymity's k), and, with --label, poisoning (outliers, likely flipped labels,
    /// exact and near duplicates, backdoor-like groups). Every finding has its row and
    /// column; the result is recorded as evidence in the ledger (counts only, never values).
    ///
    /// Without --profile the column types are inferred from the first batch of rows and
    /// only types are checked. A folder is scanned table by table, into one report and
    /// one piece of evidence. Exits 1 when a finding reaches --fail-on.
    #[command(after_help = examples!(
        "aigis data scan new.csv --profile train.profile.json",
        "aigis data scan train.csv --label target --html scan.html",
        "aigis data scan events.parquet --sarif scan.sarif --fail-on medium"
    ))]
    Scan(DataScanArgs),
    /// Encrypt a file to one or more recipients (post-quantum: X25519 + ML-KEM-768 key
    /// wrap, ChaCha20-Poly1305 in 64 KiB authenticated chunks) and record signed evidence
    /// naming the plaintext's and the ciphertext's digests.
    ///
    /// Without --to, the file is encrypted to the project's own recipient key.
    #[command(after_help = examples!(
        "aigis data encrypt train.parquet --to team-b.recipient --to-self"
    ))]
    Encrypt(DataEncryptArgs),
    /// Take in data from an approved source: refuse it unless it lies under a source
    /// listed in aigis.toml (`[[data.sources]]`), its signed manifest verifies against
    /// that source's keys and every file still matches it, and every table scans clean
    /// (below --fail-on). Then sign the project's own manifest and record the
    /// provenance (SLSA Provenance v1: inputs, output digests, the steps, who ran it).
    ///
    /// Exits 1 when the data is refused; the refusal is recorded too.
    #[command(after_help = examples!(
        "aigis data ingest incoming/vendor-x/2026-11/ --label target"
    ))]
    Ingest(DataIngestArgs),
    /// Move reviewed rows back from a quarantine (`data scan --quarantine`) into its clean
    /// file, and record the decision — which rows, why, who — as signed evidence.
    #[command(after_help = examples!(
        r#"aigis data release quarantine/ --rows 57,212 --reason "real refunds""#
    ))]
    Release(DataReleaseArgs),
    /// Decrypt a file made by `aigis data encrypt`. The output appears only once every
    /// chunk has authenticated; a modified, truncated or reordered file leaves no output.
    ///
    /// Exits 1 if the file fails authentication, 2 if it is not for your keys.
    #[command(after_help = examples!(
        "aigis data decrypt train.parquet.aigis-enc -o train.parquet"
    ))]
    Decrypt(DataDecryptArgs),
    /// Mask, redact, hash (keyed HMAC-SHA256) or tokenize (deterministic AES-SIV,
    /// reversible with the project's key) chosen columns of a table, or the personal data
    /// found inside free-text columns, as a rules file says; write the result to OUT and
    /// record evidence in the ledger (the digests of both files, of the rules, the key id
    /// and counts per column and action, never values).
    ///
    /// Reads CSV, JSON Lines or Parquet, streamed in batches. OUT's format follows its
    /// extension (`.csv`, `.tsv`, `.jsonl`; else the input's): CSV or JSON Lines (keys in
    /// order of first appearance; a key missing from a row is written as null). Parquet is not
    /// written (masked columns change type): write `-o out.csv` or `-o out.jsonl`. In JSON
    /// Lines, untouched numbers, booleans, nulls and nested values stay as they were; a
    /// changed cell becomes a string. A CSV row shorter than the header is padded with empty
    /// cells (and counted); a longer row, a malformed line or header, or a cell that is not
    /// UTF-8 is an error naming its row and column. Nothing is written unless the whole
    /// file is; OUT is never the input.
    ///
    /// The first run whose rules hash or tokenize creates the project's masking key
    /// (`.aigis/keys/mask.key`, sealed with AIGIS_KEY_PASSPHRASE when set) and says so.
    ///
    /// A rules file (mask.toml):
    ///
    ///   detect_all = false
    ///   min_confidence = 0.5
    ///
    ///   [columns]                  # exact column names; other columns are copied
    ///   email = "hash"             # { action = "hash", format = "base64url", bytes = 16 }
    ///   card_number = { action = "mask", keep_last = 4 }   # `char = "#"`
    ///   customer_id = "tokenize"   # tok1.<key id>.<base64url>, reversible with the key
    ///   "Full Name" = { action = "redact", text = "-" }    # default text: [REDACTED]
    ///   notes = "detect"           # find PII inside; apply the [pii] actions to each piece
    ///
    ///   [pii]                      # actions for PII found in "detect" columns, by kind
    ///   email = "tokenize"
    ///   credit_card = { action = "mask", keep_last = 4 }
    ///   person_name = "tokenize"   # a "detect" column judged to hold names: each whole cell
    ///   ip_address = "keep"
    ///   default = "redact"         # every other kind: [REDACTED:<kind>]
    #[command(
        verbatim_doc_comment,
        after_help = examples!(
            "aigis data mask customers.csv -o customers.masked.csv --rules mask.toml"
        )
    )]
    Mask(DataMaskArgs),
    /// Restore the tokens (`tok1.<key id>.<data>`) that `aigis data mask` wrote, with the
    /// project's masking key or --key-file, into OUT (same formats as `data mask`), and
    /// record evidence (counts per column and the key id).
    ///
    /// A token made with another key is an error naming both key ids (exit 2); a token
    /// that was changed fails its check (exit 1) and names its row and column. Nothing is
    /// written unless every token restored.
    #[command(after_help = examples!(
        "aigis data detokenize masked.csv -o customers.csv --columns customer_id"
    ))]
    Detokenize(DataDetokenizeArgs),

    /// Protect a table's personal data for erasure by crypto-shredding: the subject column
    /// (the data subject's id) and the columns given are encrypted per row under that
    /// subject's own key (XChaCha20-Poly1305), kept in the project's subject key store.
    /// `aigis data erase` destroys one subject's key, and their cells become unreadable
    /// in every copy; `aigis data reveal` opens what is left. Reads CSV, TSV, JSON Lines
    /// and Parquet; writes CSV, TSV or JSON Lines (a JSON number or boolean is revealed as
    /// one again).
    #[command(after_help = examples!(
        "aigis data protect customers.csv --subject customer_id \\",
        "    --columns email,name,phone -o customers.protected.csv"
    ))]
    Protect(DataProtectArgs),
    /// Decrypt a protected table with the subject keys that remain: an erased subject's
    /// cells come out empty, and are counted.
    #[command(after_help = examples!("aigis data reveal customers.protected.csv -o customers.csv"))]
    Reveal(DataRevealArgs),
    /// Erase a data subject: destroy their key (the store is re-encrypted under a fresh
    /// store key), record the erasure as evidence (by the subject's keyed hash, never
    /// their id). The ledger, which never held their data, still verifies.
    #[command(after_help = examples!(
        "aigis data erase --subject C-1042 --reason 'GDPR Art. 17 request 2026-118'"
    ))]
    Erase(DataEraseArgs),
    /// List the files past their retention (`[[data.retention]]` in aigis.toml: a folder
    /// and the most days a file under it is kept from its last change), and with
    /// --enforce delete them, each by digest in `retention` evidence.
    ///
    /// Exits 1 when files are due and not deleted (a CI job fails until they are).
    #[command(after_help = examples!(
        "aigis data retention",
        "aigis --json data retention --enforce"
    ))]
    Retention {
        /// Delete the files that are due.
        #[arg(long)]
        enforce: bool,
    },
    /// Data minimisation: the columns of a training table the model does not use (read
    /// from the signed training evidence of a registered version, or --features), and
    /// the columns the newest signed scan of the table judged personal that are kept in
    /// the clear (neither tokenized nor protected).
    ///
    /// Exits 1 when a column is unused or personal data is kept in the clear.
    #[command(after_help = examples!(
        "aigis data minimise train.csv --model fraud@3",
        "aigis data minimise train.csv --features age,income --label default"
    ))]
    Minimise(DataMinimiseArgs),
}

/// How to read a table (shared by every command that reads one).
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The input's format [default: from the extension, else from the content].
    #[arg(long, value_enum, ignore_case = true, value_name = "FORMAT")]
    pub format: Option<TableFormat>,
    /// The CSV delimiter [default: sniffed from the header: `,` `;` tab or `|`].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
    /// Refuse a CSV row or JSON line longer than this (bounds memory on broken files).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_record_bytes: u64,
}

#[derive(Debug, Args)]
pub struct DataMaskArgs {
    /// The table: CSV, JSON Lines or Parquet.
    pub file: PathBuf,
    /// Where to write the masked table (`.csv` or `.jsonl`).
    #[arg(long, short, value_name = "OUT")]
    pub out: PathBuf,
    /// The rules file (TOML; see above).
    #[arg(long, value_name = "RULES")]
    pub rules: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Accept rules that name columns the file does not have (by default that is an
    /// error: a misspelt column would be left unmasked).
    #[arg(long)]
    pub allow_missing_columns: bool,
}

#[derive(Debug, Args)]
pub struct DataDetokenizeArgs {
    /// The masked table.
    pub file: PathBuf,
    /// Where to write the restored table (`.csv` or `.jsonl`).
    #[arg(long, short, value_name = "OUT")]
    pub out: PathBuf,
    /// Restore only these columns (comma-separated) [default: every column].
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub columns: Vec<String>,
    /// The masking key file [default: the project's `.aigis/keys/mask.key`].
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// How to read a table and how many threads to use (profile, scan).
#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Worker threads [default: the available cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `aigis detect …`: scoring, or `fit`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(subcommand)]
    pub fit: Option<DetectCommand>,
    #[command(flatten)]
    pub score: DetectScoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum DetectCommand {
    /// Fit the detectors on the reference data and calibrate their thresholds.
    ///
    /// The reference is a table (CSV, JSON Lines, Parquet: its numeric columns, or
    /// --columns, without --label) or a NumPy `.npy` array (rows × features; an image
    /// array `(n, 8, 8)` is flattened). Three detectors:
    ///
    /// - ood: an isolation forest (the data stage's, --trees trees on --subsample rows
    ///   each). A row far outside the reference in any feature scores higher the farther
    ///   it is; a feature with one value in the reference flags any other value.
    ///
    /// - mahalanobis: the squared Mahalanobis distance under a Ledoit–Wolf shrunk
    ///   covariance of the standardized features. It flags a row whose values are each in
    ///   range but do not go together (random or synthetic queries, a copier's), which the
    ///   forest does not see. On by default up to 512 features (the file holds d²/2
    ///   numbers and a row costs as many multiplications); --mahalanobis or
    ///   --no-mahalanobis decide.
    ///
    /// - squeeze (with --model, an ONNX classifier): the largest L1 distance between the
    ///   model's probabilities on the row and on the row squeezed by each of --squeeze
    ///   (bits:B bit depth over --range; median:HxW smoothing of the --image; round:D
    ///   decimals; bins:N equal-width bins per feature). Default: bits:3 for an --image
    ///   (and median:2x2 from 16x16 up), else bins:16. The file records the model's
    ///   SHA-256: scoring refuses another model.
    ///
    /// With --model the file also holds the threshold of the gateway's extraction
    /// detector for that model (PRADA's Shapiro–Wilk W of a client's nearest-query
    /// distances, `[serve.models.extraction]`): natural rows give skewed distances on some
    /// data, so one threshold for all models blocks natural clients of one and passes
    /// copiers of another. --extraction-clients natural clients are simulated, each
    /// sending the reference rows in its own order, one per call, classed by the model's
    /// answers; the threshold is the lowest W any reached, less the gap between it and
    /// the median client's lowest (at least 0.02; between 0.01 and 0.95). The gateway
    /// uses it unless its configuration sets `threshold`. The calibration rows are also
    /// counted by the class the model answers, with how many of each the detectors
    /// flagged: the gateway's extraction detector then compares a client's flagged rows
    /// with clean rows of the classes it asks about, so a client of one sub-population is
    /// not taken for a copier.
    ///
    /// The thresholds are set together on clean rows the forest did not see, so that at
    /// most --fpr of them are flagged by any detector: a held-out
    /// --calibration-share of the reference (drawn with --seed), or the --calibration
    /// file. When the model was trained on the reference, give --calibration rows it
    /// did not see (a validation split): the model is surer of its training rows, so a
    /// squeeze threshold set on them is too low and flags more than --fpr of new rows.
    #[command(after_help = examples!(
        "aigis detect fit train.csv --label target",
        "aigis detect fit train.npy --model m.onnx --image 8x8 --fpr 0.05",
        "aigis detect fit train.csv --model m.onnx --calibration valid.csv",
        "aigis detect fit train.csv --model m.onnx --squeeze bins:10,round:1",
        "aigis detect fit train.csv --model m.onnx --no-squeeze"
    ))]
    Fit(DetectFitArgs),
}

#[derive(Debug, Args)]
pub struct DetectScoreArgs {
    /// The detector file (`aigis detect fit`).
    #[arg(long, value_name = "FILE", required = true)]
    pub detector: Option<PathBuf>,
    /// The model the detector was calibrated with (needed when it squeezes features).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// The inputs: a table (CSV, JSON Lines, Parquet) with the detector's feature columns,
    /// or an `.npy` array of as many columns.
    #[arg(value_name = "INPUTS", required = true)]
    pub inputs: Option<PathBuf>,
    /// Use a detector file without checking its signature (outside a project there is
    /// no keyring to check it with).
    #[arg(long)]
    pub unsigned: bool,
    /// Rows listed in the text output (all are in --json).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub show: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct DetectFitArgs {
    /// The reference rows: a table or an `.npy` array.
    pub reference: PathBuf,
    /// Where to write the detector [default: `<REFERENCE>.detector.json`].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The ONNX classifier to squeeze features for (adds the squeeze detector), to
    /// calibrate the extraction detector's threshold for and to class the calibration
    /// rows by.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// With --model, leave out the squeeze detector (the model then calibrates the
    /// extraction detector only).
    #[arg(long, requires = "model", conflicts_with = "squeeze")]
    pub no_squeeze: bool,
    /// With --model, leave out the extraction detector's calibration.
    #[arg(long, requires = "model")]
    pub no_extraction: bool,
    /// Natural clients simulated to calibrate the extraction detector's threshold
    /// [default: 100]. Any --extraction-* option makes the calibration required: a
    /// reference too small for it is then an error, not a note.
    #[arg(
        long,
        value_name = "N",
        requires = "model",
        conflicts_with = "no_extraction"
    )]
    pub extraction_clients: Option<usize>,
    /// The extraction detector's `min_distances` to calibrate for; the gateway's must be
    /// the same for it to use the threshold [default: 100].
    #[arg(
        long,
        value_name = "N",
        requires = "model",
        conflicts_with = "no_extraction"
    )]
    pub extraction_min_distances: Option<usize>,
    /// The extraction detector's `history` to calibrate for, likewise [default: 1000].
    #[arg(
        long,
        value_name = "N",
        requires = "model",
        conflicts_with = "no_extraction"
    )]
    pub extraction_history: Option<usize>,
    /// Clean rows to calibrate the thresholds on, instead of a held-out share.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// The feature columns of a table (comma-separated), in order.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// The label column of a table, left out of the features.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// The false-positive rate on clean rows, the detectors together.
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    pub fpr: f64,
    /// The share of the reference held out to calibrate on (without --calibration).
    #[arg(long, value_name = "SHARE", default_value_t = 0.25)]
    pub calibration_share: f64,
    /// Seed of the split and the forest (the same seed, the same detector).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Trees in the forest.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub trees: usize,
    /// Rows each tree grows on.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub subsample: usize,
    /// The squeezers (comma-separated): bits:B, median:HxW, round:D, bins:N.
    #[arg(long, value_name = "LIST", value_delimiter = ',', requires = "model")]
    pub squeeze: Option<Vec<String>>,
    /// The shape of an image row, channels last: HxW or HxWxC.
    #[arg(long, value_name = "HxW")]
    pub image: Option<String>,
    /// The value range of the bit-depth squeezer, LO,HI [default: the reference's].
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true)]
    pub range: Option<String>,
    /// Leave out the isolation forest (the ood detector). The mahalanobis distance clips
    /// each value at 4 standard deviations: without the forest, how far a value lies
    /// outside the reference's range is not seen.
    #[arg(long)]
    pub no_ood: bool,
    /// Fit the mahalanobis detector whatever the number of features (up to 4096).
    #[arg(long, conflicts_with = "no_mahalanobis")]
    pub mahalanobis: bool,
    /// Leave out the mahalanobis detector.
    #[arg(long)]
    pub no_mahalanobis: bool,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `aigis monitor …`.
#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Compare a table with its reference, feature by feature, and say whether it drifted.
    ///
    /// Each column is read whole from both files. A numeric column (99% of the
    /// reference's values are numbers) is tested with the two-sample Kolmogorov–Smirnov
    /// test, two-sided: the exact p-value when neither sample has more than 10,000
    /// values, else the asymptotic one, both as scipy.stats.ks_2samp computes them; its
    /// PSI (10 bins at the reference's deciles) and Wasserstein distance are shown too. Any
    /// other column with at most 1,000 distinct values is tested with the chi-square test
    /// of homogeneity (scipy.stats.chi2_contingency, Yates' correction at one degree of
    /// freedom), with its PSI over categories; a column with more is text and not tested.
    ///
    /// Each feature also gets the chi-square test of its share of missing values (when
    /// anything is missing) and, when numeric, an exact test of the current values
    /// beyond the reference's range (a few extreme values that KS misses). A feature
    /// drifts when the smallest of its tests' p-values times their number (Bonferroni)
    /// is below --alpha: that is the p-value shown, each test's own is in --json. The
    /// dataset drifts when at least --drift-share of the tested features drift. NaN, infinities and, in a numeric
    /// column, values that are not numbers are left out and counted. A feature with no
    /// value left on either side is "insufficient data", never "stable".
    ///
    /// The reference may be a profile (`aigis data profile`) instead of the table: where
    /// its sketches still hold every value (a few hundred rows) the result is the
    /// table's; where they summarize, the KS statistic is computed against the quantile
    /// sketch and carries its rank error (about 1.3% at 99% confidence), with the
    /// p-values at both ends; a feature whose ends fall on both sides of --alpha is
    /// "inconclusive", which gives no verdict. Categories are compared when the profile
    /// counted them exactly.
    ///
    /// With --stream (implied for NumPy `.npy` arrays), the current table is read a chunk
    /// of rows at a time and never held: memory is the reference's, whatever the current
    /// table's size. Each numeric feature's values are counted on a grid of at most
    /// --grid points of the reference (every distinct value when there are no more, else
    /// the values at evenly spaced ranks, and the PSI's cut points). When the grid holds
    /// every reference value the KS statistic and p-value are the ones without --stream;
    /// otherwise the statistic is known within the grid's error, shown with the
    /// p-values at both ends ("inconclusive" when they fall on both sides of --alpha). The
    /// PSI and the range test stay exact; the Wasserstein distance is not computed. A
    /// categorical feature's values are counted (up to 1,000 distinct ones) and tested
    /// as without --stream. Parquet number columns are read from their Arrow arrays. The
    /// reference must then be a table, not a profile.
    ///
    /// In a project, a profile must be one the project recorded (`data-profile` evidence
    /// with the file's digest), unless --unrecorded-profile; and the comparison is
    /// recorded as signed `monitor-drift` evidence: the two files' digests and the
    /// statistics, never a value of the data.
    ///
    /// Exits 1 when the dataset drifts, or when a feature could not be tested and the
    /// others do not show drift (no verdict is not a pass: leave such a feature out with
    /// --columns); 2 when a file cannot be read or the two files' columns differ (name
    /// the ones to compare with --columns).
    #[command(after_help = examples!(
        "aigis monitor drift train.csv last-week.csv",
        "aigis monitor drift ref.parquet cur.parquet --columns age,income",
        "aigis monitor drift ref.csv cur.csv --alpha 0.01 --drift-share 0.25",
        "aigis monitor drift train.profile.json today.csv",
        "aigis monitor drift train.npy three-million-rows.npy --stream",
        "aigis --json monitor drift ref.csv cur.csv"
    ))]
    Drift(MonitorDriftArgs),
    /// Report what the gateway saw over a time range, from the project's evidence.
    ///
    /// Reads the signed evidence `aigis serve` recorded in the project's ledger, and only
    /// that: the drift windows and KPI windows (`monitor-window`), the calls with what
    /// the detectors flagged (`gateway-call`), the alerts (`gateway-alert`) and the
    /// shadow periods (`shadow-period`). An entry not signed by a project key is left
    /// out and named, never counted (`aigis ledger verify` checks the log as a whole).
    ///
    /// Writes a self-contained HTML page (no script, no external file; plots as inline
    /// SVG): per model, the share of drifted features per window and each feature's KS
    /// statistic per window, the KPIs from delayed labels per window and version, the
    /// calls, refusals and each detector's flag rate over time, the shadow periods and
    /// the alerts. A window is in the range when it overlaps it; a KPI window recorded
    /// more than once (labels arrive late) is shown with the most labels, a drift window
    /// recorded open and again ended as ended, whatever order the records are in.
    ///
    /// Exits 2 when the range or the project cannot be read.
    #[command(after_help = examples!(
        "aigis monitor report --from 7d",
        "aigis monitor report --from 2026-11-01 --to 2026-12-01 -o november.html",
        "aigis monitor report --from 24h --model digits --bucket 5m",
        "aigis --json monitor report --from 24h"
    ))]
    Report(MonitorReportArgs),
}

#[derive(Debug, Args)]
pub struct MonitorReportArgs {
    /// The range's start: RFC 3339, a date (midnight UTC) or an age (`24h`, `7d`).
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// The range's end [default: now].
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only this served model (by its name in the gateway); repeat for more.
    #[arg(long, value_name = "NAME")]
    pub model: Vec<String>,
    /// The width of the time buckets of the call and flag plots, e.g. `5m`, `1h`
    /// [default: the range in about 48 buckets].
    #[arg(long, value_name = "DURATION")]
    pub bucket: Option<String>,
    /// Where to write the HTML page [default: `monitor-report.html`; with --json, none].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How a command reaches its model, beyond naming it.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// With a remote model: the environment variable that holds the bearer token (an
    /// API key of the aigis gateway, or the server's token). Never on the command line,
    /// where other users of the machine can read it.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// With an https model: CA certificates (PEM) to trust its server with [default: the
    /// system's].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// With a remote model: rows per request.
    #[arg(long, value_name = "ROWS", default_value_t = 256)]
    pub batch: usize,
    /// With a remote model: seconds to wait for each answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Ask the model about at most this many rows in all (each row of a request is a
    /// query); work that would ask more is not done, and said so. Gradients computed
    /// from the model's own graph are not queries.
    #[arg(long, value_name = "ROWS")]
    pub query_budget: Option<u64>,
    /// With a registry version: which of its files is the model (its path as
    /// registered) [default: its one `.onnx` file].
    #[arg(long, value_name = "PATH")]
    pub model_file: Option<String>,
}

impl Default for TargetArgs {
    fn default() -> Self {
        Self {
            token_env: None,
            ca: None,
            batch: 256,
            timeout: 30,
            query_budget: None,
            model_file: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The model: an ONNX file (one floating-point input), a registry version
    /// (`NAME@VERSION`, or `NAME@STAGE`), or a served model's Open Inference Protocol URL
    /// (`https://host/v2/models/NAME`, the aigis gateway's included).
    pub model: String,
    /// The rows (CSV, JSON Lines, Parquet or `.npy`): their numeric columns, the label's
    /// left out, are the model's input in order.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The label column: adds permutation importance over every row (a classifier's
    /// labels are class indices 0, 1, …).
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// The rows to explain (0-based, comma-separated) [default: the first five].
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub rows: Option<Vec<usize>>,
    /// The background rows [default: the data].
    #[arg(long, value_name = "FILE")]
    pub background: Option<PathBuf>,
    /// Summarize the background to this many k-means centres (0: every row).
    #[arg(long, value_name = "K", default_value_t = 50)]
    pub background_size: usize,
    /// Coalitions drawn per row beyond ten features [default: 2 × features + 2048].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Explain this class's probability [default: the class the model gives each row].
    #[arg(long, value_name = "K")]
    pub class: Option<usize>,
    /// The output to explain [default: the class probabilities, else the first numeric
    /// output].
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// Shuffles per feature for permutation importance.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub repeats: usize,
    /// The seed of the summary, the sample and the shuffles.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Features listed per row (by absolute value); with --lime, the features LIME's
    /// local model keeps.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Also LIME, as the `lime` package's LimeTabularExplainer runs it by default: each
    /// row's neighbours drawn within the background's quartile bins, weighted by their
    /// closeness, a ridge fit of the model's answer on "in the row's bin" per feature.
    #[arg(long)]
    pub lime: bool,
    /// LIME's neighbours per row.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub lime_samples: usize,
    /// Also write a self-contained HTML report: each row's attributions as bars (its
    /// Shapley values, and with --lime its LIME weights), the mean absolute Shapley value
    /// over the rows, and permutation importance with its spread.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub access: TargetArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// An evasion attack of `aigis redteam`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AttackKind {
    /// The fast gradient sign method: one step of ε.
    Fgsm,
    /// Projected gradient descent: --steps steps of --step, kept within ε.
    Pgd,
    /// HopSkipJump: decision-based (the model's top class only), --iterations
    /// iterations; a row counts as fooled at ε when its point is within ε.
    Hsj,
    /// The Square attack: score-based (the model's class scores, no gradient),
    /// --iterations random square windows, each kept when it lowers the margin: in L∞
    /// set to ±ε, in L2 (--norm 2) moving the change of length ε between windows.
    Square,
    /// No evasion attack (with --extract or --members alone).
    None,
}

/// The norm of a perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NormArg {
    /// The largest change of any feature (L∞).
    Inf,
    /// The Euclidean length of the change (L2).
    #[value(name = "2")]
    L2,
}

/// Where the attacks' gradients come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GradientsArg {
    /// Exact when the graph is differentiated here, else estimated.
    Auto,
    /// The graph differentiated; refuse a model whose graph is not.
    Exact,
    /// Central differences of the model's answers (two queries per feature).
    Estimated,
}

#[derive(Debug, Args)]
pub struct RedteamArgs {
    /// The model (one floating-point input, a class-score output): an ONNX file, a
    /// registry version (`NAME@VERSION`, or `NAME@STAGE`), or a served model's Open
    /// Inference Protocol URL (`https://host/v2/models/NAME`, the aigis gateway's
    /// included; gradients are then estimated from its answers).
    pub model: String,
    /// The labelled rows to attack (CSV, JSON Lines, Parquet or `.npy`): the evasion
    /// attacks run on them.
    #[arg(long, value_name = "FILE", required_unless_present = "members")]
    pub data: Option<PathBuf>,
    /// The label column (class indices 0, 1, …), in every table.
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// Rows the model was trained on: with --non-members, membership inference runs
    /// (loss and confidence attacks; with --reference, calibrated ones too).
    #[arg(long, value_name = "FILE", requires = "non_members")]
    pub members: Option<PathBuf>,
    /// Rows the model was not trained on (held out), as many as the members or near.
    #[arg(long, value_name = "FILE", requires = "members")]
    pub non_members: Option<PathBuf>,
    /// Reference models: trained as the model was, on data without the members and
    /// non-members (comma-separated or repeated). They calibrate each row's difficulty.
    #[arg(
        long,
        value_name = "MODEL",
        value_delimiter = ',',
        requires = "members"
    )]
    pub reference: Vec<PathBuf>,
    /// The attacks (comma-separated).
    #[arg(long, value_name = "ATTACK", value_delimiter = ',', default_values = ["fgsm", "pgd"])]
    pub attacks: Vec<AttackKind>,
    /// The largest perturbation, in the units of the features (comma-separated: each
    /// attack runs at each).
    #[arg(long, value_name = "EPS", value_delimiter = ',', default_values = ["0.1"])]
    pub eps: Vec<f64>,
    /// The norm of the perturbation.
    #[arg(long, value_enum, default_value = "inf")]
    pub norm: NormArg,
    /// PGD's steps.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub steps: usize,
    /// PGD's step size [default: 2.5 × ε / steps].
    #[arg(long, value_name = "SIZE")]
    pub step: Option<f64>,
    /// PGD runs from random starts in the ε-ball; a row keeps the first that fools the
    /// model (0: one run from the clean row).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub restarts: usize,
    /// The iterations of HopSkipJump [default: 50] and of the Square attack [default:
    /// 1000] (one query per row each for Square).
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// Model extraction: train a copy on the model's answers to this many queries
    /// (comma-separated: one copy per budget, each on the first queries of the same
    /// draw), and measure on the --data rows how often it gives the model's class
    /// (fidelity) and the true label (accuracy), e.g. `--extract 100,1000,10000`.
    #[arg(long, value_name = "N,...", value_delimiter = ',', requires = "data")]
    pub extract: Vec<usize>,
    /// Where the extraction's queries come from: `profile` (a normal per feature with the
    /// --data rows' mean and deviation, in their range), `random` (uniform in each
    /// feature's range: --clip, else the rows'), or a table of the attacker's own rows
    /// (taken in order; its label column, if any, is left out).
    #[arg(long, value_name = "SOURCE", default_value = "profile")]
    pub extract_from: String,
    /// The copy's hidden units (one ReLU layer, trained as scikit-learn's MLPClassifier
    /// trains; 0: logistic regression).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub surrogate_hidden: usize,
    /// Poisoning: the training rows (labelled by --label). A model is retrained on them
    /// by aigis (one ReLU layer of --surrogate-hidden units, as scikit-learn's
    /// MLPClassifier trains), clean and once per --poison, each measured on the --data
    /// rows: not the model's own training pipeline, but what the same share of poison
    /// does to such a model on this data.
    #[arg(long, value_name = "TABLE", requires_all = ["data", "poison"])]
    pub train: Option<PathBuf>,
    /// The poisonings with --train, each `KIND=RATE` (a share of the training rows):
    /// `label-flip` (labels changed to another class at random) or `backdoor` (a trigger
    /// stamped, the label set to --poison-target; the trigger is the image's
    /// bottom-right corner, or the last three features, set to the top of their range),
    /// e.g. `--poison label-flip=0.1,backdoor=0.01`.
    #[arg(
        long,
        value_name = "KIND=RATE,...",
        value_delimiter = ',',
        requires = "train"
    )]
    pub poison: Vec<String>,
    /// The backdoor's target class.
    #[arg(long, value_name = "CLASS", default_value_t = 0)]
    pub poison_target: usize,
    /// The Square attack's first window, as a share of the image (it halves on IBM
    /// ART's schedule).
    #[arg(long, value_name = "SHARE", default_value_t = 0.8)]
    pub p_init: f64,
    /// HopSkipJump's and the Square attack's model queries per row (they stop there)
    /// [default: no limit].
    #[arg(long, value_name = "N")]
    pub max_queries: Option<usize>,
    /// Push every row to this class (targeted); rows of that class are not attacked.
    #[arg(long, value_name = "CLASS")]
    pub target: Option<usize>,
    /// The valid range of every feature, e.g. `0,1` for scaled pixels.
    #[arg(long, value_name = "LO,HI", value_parser = parse_range, allow_hyphen_values = true)]
    pub clip: Option<(f64, f64)>,
    /// Where the gradients come from.
    #[arg(long, value_enum, default_value = "auto")]
    pub gradients: GradientsArg,
    /// The output attacked [default: the class probabilities, else the first numeric
    /// output].
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// Attack only the first N rows.
    #[arg(long, value_name = "N")]
    pub rows: Option<usize>,
    /// The seed of the random starts.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Fail (exit 1) when a measure is below this: `robust-accuracy` (the lowest over
    /// the attacks) or `clean-accuracy`, e.g. `robust-accuracy=0.6`.
    #[arg(long, value_name = "METRIC=VALUE", value_delimiter = ',')]
    pub fail_under: Vec<String>,
    /// Fail (exit 1) when a measure is above this: `success-rate` (the highest over the
    /// attacks), `mia-auc`, `mia-tpr-at-0.001` or `mia-tpr-at-0.01` (the true-positive
    /// rate at that false-positive rate; the highest over the membership attacks), or
    /// `fidelity-at-N` (the extracted copy's fidelity after N queries; N joins the
    /// --extract budgets), e.g. `mia-auc=0.6,fidelity-at-1000=0.8`.
    #[arg(long, value_name = "METRIC=VALUE", value_delimiter = ',')]
    pub fail_over: Vec<String>,
    /// Stop starting attacks, extraction copies and poisoned models after this many
    /// seconds from the start; those not run are reported as skipped, and the run fails
    /// (exit 1): its verdict was not reached.
    #[arg(long, value_name = "SECONDS")]
    pub time_budget: Option<f64>,
    /// Also write a self-contained HTML report: success rate against ε, the membership
    /// attacks' ROC curves (log-log), the tables and the thresholds.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the thresholds not met as SARIF 2.1.0 (for code-scanning dashboards).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    #[command(flatten)]
    pub access: TargetArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `LO,HI`: a range of two finite numbers, LO below HI.
fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("`{s}` is not LO,HI"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("`{v}` is not a finite number"))
    };
    let (lo, hi) = (parse(lo)?, parse(hi)?);
    if lo >= hi {
        return Err(format!("the range {lo},{hi} is empty"));
    }
    Ok((lo, hi))
}

#[derive(Debug, Args)]
pub struct FairnessArgs {
    /// The table of decisions (CSV, JSON Lines or Parquet): one row per person.
    pub data: PathBuf,
    /// The true outcome's column.
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// The model's decision's column (the same two outcomes as the label).
    #[arg(long, value_name = "COL")]
    pub prediction: String,
    /// The sensitive columns (comma-separated or repeated); a missing value is a group
    /// of its own, `(missing)`.
    #[arg(long, value_name = "COL", value_delimiter = ',', required = true)]
    pub sensitive: Vec<String>,
    /// The model's score for the positive outcome (a probability in [0, 1]): adds each
    /// group's mean score, Brier score and expected calibration error.
    #[arg(long, value_name = "COL")]
    pub score: Option<String>,
    /// The positive (favourable) outcome as the columns write it [default: 1 for 0/1 or
    /// -1/1 values, true for booleans; other values must be named].
    #[arg(long, value_name = "VALUE")]
    pub positive: Option<String>,
    /// Leave groups with fewer rows out of the disparities (they are still listed).
    #[arg(long, value_name = "ROWS", default_value_t = 0)]
    pub min_group: u64,
    /// Bootstrap resamples for the intervals (0: none).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub bootstrap: usize,
    /// The intervals' confidence.
    #[arg(long, value_name = "SHARE", default_value_t = 0.95)]
    pub confidence: f64,
    /// The bootstrap's seed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Equal-width score bins of the expected calibration error.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub calibration_bins: usize,
    /// Fail (exit 1) when a disparity is above this, e.g.
    /// `demographic-parity-difference=0.1` (comma-separated or repeated).
    #[arg(long, value_name = "METRIC=VALUE", value_delimiter = ',')]
    pub fail_over: Vec<String>,
    /// Fail (exit 1) when a disparity is below this, e.g. `disparate-impact=0.8`.
    #[arg(long, value_name = "METRIC=VALUE", value_delimiter = ',')]
    pub fail_under: Vec<String>,
    /// The model whose decisions these are: its digest goes into the evidence, so the
    /// gate and the model card can find this run.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Also write a self-contained HTML report: each group's rates with their intervals
    /// as a chart, the disparities and the thresholds.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the thresholds not met as SARIF 2.1.0 (for code-scanning dashboards).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct MonitorDriftArgs {
    /// The reference: a table (the training data, or a window known to be good; CSV, JSON
    /// Lines or Parquet), or its profile (`aigis data profile`, a `.json` file).
    pub reference: PathBuf,
    /// The table to compare with it.
    pub current: PathBuf,
    /// A feature drifts when its test's p-value is below this.
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    pub alpha: f64,
    /// The dataset drifts when at least this share of the tested features drift.
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    pub drift_share: f64,
    /// Bins of a numeric feature's PSI, cut at the reference's quantiles.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub psi_bins: usize,
    /// Only these columns (comma-separated; each must be in both files).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// In a project, compare against a profile that is not `data-profile` evidence in its
    /// ledger (by default refused: an edited profile could hide drift).
    #[arg(long)]
    pub unrecorded_profile: bool,
    /// Read the current table a chunk at a time, counting each numeric feature on a grid
    /// of the reference and each categorical one's values (for tables too large to hold;
    /// implied for `.npy` arrays).
    #[arg(long)]
    pub stream: bool,
    /// With --stream: the most grid points per feature.
    #[arg(long, value_name = "N", default_value_t = aigis_monitor::stream::GRID)]
    pub grid: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct DataProfileArgs {
    /// The table (CSV, JSON Lines or Parquet), or a folder of them.
    pub file: PathBuf,
    /// Where to write the profile [default: `<FILE>.profile.json`].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub table: TableArgs,
}

#[derive(Debug, Args)]
pub struct DataScanArgs {
    /// The table (CSV, JSON Lines or Parquet), or a folder of them.
    pub file: PathBuf,
    /// The reference profile (`aigis data profile`) to validate against.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity (none: never fail).
    #[arg(long, value_enum, ignore_case = true, value_name = "SEVERITY", default_value_t = FailOnSeverity::High)]
    pub fail_on: FailOnSeverity,
    /// Also write the findings as SARIF 2.1.0 (for code-scanning dashboards).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Also write a self-contained HTML report with plots.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// The label column: screen the rows for poisoning, using the numeric columns as
    /// features.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// Screen for outliers and duplicates even without a label column.
    #[arg(long)]
    pub poison: bool,
    /// Seed of the poisoning detectors' random choices (the same seed, the same result).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Do not look for personal data.
    #[arg(long)]
    pub no_pii: bool,
    /// Report personal data found with at least this confidence (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.5)]
    pub pii_min_confidence: f32,
    /// Findings kept in detail per rule and column (all are counted).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_details: usize,
    /// Split the table into DIR: `<name>.clean.<ext>` with the rows that have no finding
    /// at or above --quarantine-on, and `<name>.quarantined.<ext>` with the others, each
    /// with its input row number and the rules that flagged it. The input is not touched.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
    /// The severity that sends a row to the quarantine.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_name = "SEVERITY",
        default_value_t = SeverityLevel::Medium,
        requires = "quarantine"
    )]
    pub quarantine_on: SeverityLevel,
    #[command(flatten)]
    pub table: TableArgs,
}

#[derive(Debug, Args)]
pub struct DataReleaseArgs {
    /// The quarantine folder (`data scan --quarantine DIR`).
    pub dir: PathBuf,
    /// The input row numbers to move back, reviewed (comma-separated, repeatable).
    #[arg(long, value_name = "ROWS", value_delimiter = ',', required = true)]
    pub rows: Vec<u64>,
    /// Why they are released: recorded, signed, in the ledger.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct DataIngestArgs {
    /// The file or folder to take in (under an approved source's path).
    pub src: PathBuf,
    /// The source's signed manifest [default: `<SRC>.aigis-manifest.json`].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Scan against this profile [default: the source's `profile` in aigis.toml].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Screen for poisoning with this label column [default: the source's `label`].
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// Refuse the data when a finding is at or above this severity (or none).
    #[arg(long, value_enum, ignore_case = true, value_name = "SEVERITY", default_value_t = FailOnSeverity::High)]
    pub fail_on: FailOnSeverity,
    /// Where to write the project's signed manifest of the data
    /// [default: `.aigis/ingested/<source>-<root>.aigis-manifest.json`].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DataEncryptArgs {
    /// The file to encrypt.
    pub file: PathBuf,
    /// A recipient: `aigis-recipient-v1:...`, or a file that holds one (repeatable).
    #[arg(long = "to", value_name = "RECIPIENT")]
    pub to: Vec<String>,
    /// Also encrypt to the project's own recipient key (the default without --to).
    #[arg(long)]
    pub to_self: bool,
    /// Where to write the encrypted file [default: `<FILE>.aigis-enc`].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Plaintext bytes per chunk: a power of two from 4096 to 16777216.
    #[arg(long, value_name = "BYTES", default_value_t = aigis_crypto::crypt::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u32,
}

#[derive(Debug, Args)]
pub struct DataDecryptArgs {
    /// The encrypted file.
    pub file: PathBuf,
    /// Where to write the plaintext [default: FILE without `.aigis-enc`].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// A recipient key file to decrypt with (repeatable) [default: the project's].
    #[arg(long, value_name = "KEYFILE")]
    pub identity: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DataSignArgs {
    /// The file or folder to sign.
    pub path: PathBuf,
    /// Where to write the signed manifest [default: `<PATH>.aigis-manifest.json`].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Bytes per chunk: a power of two from 4096 to 1073741824.
    #[arg(long, value_name = "BYTES", default_value_t = aigis_data::manifest::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u64,
}

#[derive(Debug, Args)]
pub struct DataVerifyArgs {
    /// The file or folder to check.
    pub path: PathBuf,
    /// The signed manifest [default: `<PATH>.aigis-manifest.json`].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Trust only these verifier keys, not the project keyring (repeatable).
    #[arg(long = "key", value_name = "VERIFIER_KEY")]
    pub keys: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Scan model files (or folders of them) for what they would do when loaded: pickles
    /// (protocols 0-5, in raw, joblib and PyTorch zip or tar form, and inside NumPy object
    /// arrays) are emulated, not run, and judged allowlist-first; Keras configs (`.keras`,
    /// HDF5 `.h5`: Lambda bytecode, custom objects), ONNX graphs (external data leaving
    /// the folder, custom-op domains), SavedModel graphs (Python, file and network ops),
    /// TensorFlow checkpoints (the index table and the data files it names), zip archives
    /// (nested too), safetensors and GGUF headers (and GGUF chat templates) are checked.
    /// Formats are recognised by content. Each file gets a verdict — safe, suspicious
    /// (not known to be safe), inconclusive (could not be fully analysed: never clean) or
    /// dangerous — with its findings (the import, the opcode offset, the member inside
    /// the archive). Inside a project, its reviewed allowlist (`[[model.allow]]` in
    /// aigis.toml) applies and the scan is recorded as evidence in the ledger.
    ///
    /// Exits 1 when a file's verdict reaches --fail-on (default: suspicious).
    #[command(after_help = examples!(
        "aigis model scan model.pt",
        "aigis model scan models/ --sarif models.sarif --json"
    ))]
    Scan(ModelScanArgs),
    /// Encrypt a model file to one or more recipients, exactly as `aigis data encrypt`
    /// does datasets (X-Wing key wrap, ChaCha20-Poly1305 in authenticated chunks), and
    /// record signed evidence naming the plaintext's and the ciphertext's digests.
    ///
    /// Without --to, the model is encrypted to the project's own recipient key. One file
    /// per encryption: a model folder is refused (pack it first, for example with
    /// `tar -cf model.tar model/`).
    #[command(after_help = examples!(
        "aigis model encrypt model.onnx --to serving.recipient"
    ))]
    Encrypt(DataEncryptArgs),
    /// Decrypt a model made by `aigis model encrypt`. The output appears only once every
    /// chunk has authenticated; a modified, truncated or reordered file leaves no output.
    ///
    /// Exits 1 if the file fails authentication, 2 if it is not for your keys.
    #[command(after_help = examples!(
        "aigis model decrypt model.onnx.aigis-enc -o model.onnx"
    ))]
    Decrypt(DataDecryptArgs),
    /// Register a model file or folder as the next version of NAME: its files are copied
    /// into the project's content-addressed store (`.aigis/registry/`), scanned (the scan
    /// is recorded as evidence), and its signature bundle, if there is one, is verified
    /// and kept. Registration itself is recorded as evidence.
    ///
    /// The scan applies the project's reviewed allowlist (`[[model.allow]]` in
    /// aigis.toml). A version that is unsigned, fails verification or does not scan
    /// safe (suspicious, inconclusive or dangerous) is still registered (to be looked
    /// at), but `model promote` refuses it.
    #[command(after_help = examples!(
        "aigis model sign fraud/ && aigis model register fraud/ --name fraud",
        "aigis model register model.onnx --name fraud --signature model.onnx.sig"
    ))]
    Register(ModelRegisterArgs),
    /// List the registered models: their latest version and which version holds each
    /// stage.
    #[command(after_help = examples!(
        "aigis model list --json"
    ))]
    List,
    /// Show a model's versions and stages, or one version in full (files, digests, and
    /// the evidence of its scan, signature and registration).
    #[command(after_help = examples!(
        "aigis model show fraud",
        "aigis model show fraud 3 --json"
    ))]
    Show(ModelShowArgs),
    /// Write a version's model card (Markdown, or JSON with --json), built only from the
    /// ledger's signed evidence about it: its files and digests, scans and signatures,
    /// red-team, fairness and explanation results on its file, promotions and shadow
    /// periods, each statement with the ledger index that proves it and its age, then
    /// what is missing and the command that records it. An entry about the version that
    /// is not signed by a key of the project's keyring is listed as not counted.
    #[command(after_help = examples!(
        "aigis model card fraud 3 > MODEL_CARD.md",
        "aigis model card fraud 3 -o card.md",
        "aigis --json model card fraud 3"
    ))]
    Card(ModelCardArgs),
    /// Move a version to a stage, after the promotion gate (`aigis gate --help`): Cedar
    /// policies over what the signed evidence says about the version. The built-in policy
    /// requires stored bytes that still match their digests, scan evidence that covers
    /// every file and judges each one safe (suspicious, inconclusive and dangerous are
    /// refused), a signature that verifies over the stored files with a trusted key, and
    /// the shadow and detector checks aigis.toml asks for; `[model.gate] policy` replaces
    /// it. The gate reads the evidence in the ledger, not the registry's own notes. If the
    /// project's allowlist changed since the version was scanned, the stored bytes are
    /// scanned again with the current one first (recorded as new scan evidence), so a
    /// removed entry stops working at once.
    ///
    /// Exits 1 when the gate refuses. The decision is recorded as evidence either way,
    /// with the policy's digest, each policy's verdict, the attributes it read and the
    /// ledger entries they came from.
    #[command(after_help = examples!(
        "aigis model promote fraud 3 --stage production"
    ))]
    Promote(ModelPromoteArgs),
    /// Return a stage to the version it held before (or to --to VERSION, one of the
    /// versions it held), after the same gate as `promote`. Recorded as evidence.
    #[command(after_help = examples!(
        "aigis model rollback fraud --stage production"
    ))]
    Rollback(ModelRollbackArgs),
    /// Sign a model folder (or one model file) in the OpenSSF model-signing format: a
    /// Sigstore bundle of a DSSE-signed in-toto statement that lists every file's
    /// SHA-256 (or, with --method shards, every shard's), the files hashed in parallel.
    /// `python -m model_signing verify key` checks it when signed with an EC key.
    ///
    /// Signs with the project's Ed25519 key, or with --signing-key (a PKCS#8 or SEC1 PEM private
    /// key: ECDSA P-256, P-384 or Ed25519). Git files (`.git`, `.gitignore`, ...) and the
    /// signature file itself are left out; symbolic links are refused unless
    /// --allow-symlinks. Recorded as evidence in the ledger (subject: the model's root
    /// digest).
    #[command(after_help = examples!(
        "aigis model sign models/fraud-v3/",
        "aigis model sign models/fraud-v3/ --signing-key release.pem \\",
        "    --signature v3.sig",
        "aigis model sign llama.gguf --method shards --shard-size 500000000"
    ))]
    Sign(ModelSignArgs),
    /// Verify a model against its OpenSSF model-signing signature (made by aigis or by
    /// `python -m model_signing sign key`): the signature under a trusted key, then every
    /// file, hashed again as the signature says (files or shards). Names each file added,
    /// removed or modified. Recorded as evidence in the ledger.
    ///
    /// Trusts the project's keys, or only the --key public keys (SPKI PEM: ECDSA P-256,
    /// P-384 or Ed25519). Exits 1 when the signature does not verify or anything
    /// differs, 2 when the signature file is unreadable or malformed.
    #[command(after_help = examples!(
        "aigis model verify models/fraud-v3/",
        "aigis model verify models/fraud-v3/ --signature v3.sig --key release.pub"
    ))]
    Verify(ModelVerifyArgs),
    /// A keyed watermark in an ONNX model's weights: embed it, then show it is there.
    ///
    /// The key (32 random bytes in a key file, sealed with AIGIS_KEY_PASSPHRASE when set)
    /// picks a ±1 pattern for every weight of the carrier tensors; embedding moves each
    /// weight a few percent of its tensor's RMS along it. Verifying correlates the weights
    /// with the pattern (no original model needed): a z-score, standard normal for a model
    /// without this key's mark, and its p-value. The mark survives small weight noise and
    /// 8-bit quantization (onnxruntime `quantize_dynamic` output verifies as it is).
    #[command(
        subcommand,
        after_help = examples!(
            "aigis model watermark keygen -o wm.key",
            "aigis model watermark embed model.onnx -o marked.onnx --watermark-key wm.key",
            "aigis model watermark verify marked.onnx --watermark-key wm.key"
        )
    )]
    Watermark(ModelWatermarkCommand),
}

/// How `aigis model sign` turns a model into digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignMethod {
    /// One SHA-256 per file (model-signing's default).
    Files,
    /// One SHA-256 per --shard-size piece of each file.
    Shards,
}

#[derive(Debug, Args)]
pub struct ModelSignArgs {
    /// The model folder, or one model file.
    pub path: PathBuf,
    /// Where to write the signature [default: `model.sig` in the folder, `<FILE>.sig`
    /// beside a file].
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// Sign with this PEM private key (ECDSA P-256 / P-384 or Ed25519) instead of the
    /// project's key.
    #[arg(long = "signing-key", value_name = "KEY.pem")]
    pub key: Option<PathBuf>,
    /// files: a digest per file; shards: a digest per piece of --shard-size bytes
    /// [default: files, or shards when --shard-size is given].
    #[arg(long, value_enum, value_name = "METHOD")]
    pub method: Option<SignMethod>,
    /// Bytes per shard for --method shards [default: 1000000000, as model-signing].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub shard_size: Option<u64>,
    /// Leave this path (a file or folder inside the model) out of the signature
    /// (repeatable); recorded in the signature, so verification leaves it out too.
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<PathBuf>,
    /// Sign git files too (`.git`, `.gitattributes`, `.github`, `.gitignore`).
    #[arg(long)]
    pub no_ignore_git_paths: bool,
    /// Follow symbolic links to files (a link to a folder is not entered).
    #[arg(long)]
    pub allow_symlinks: bool,
}

#[derive(Debug, Args)]
pub struct ModelVerifyArgs {
    /// The model folder, or one model file.
    pub path: PathBuf,
    /// The signature [default: `model.sig` in the folder, `<FILE>.sig` beside a file].
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// Trust only this PEM public key, not the project's keys (repeatable).
    #[arg(long = "key", value_name = "PUB.pem")]
    pub keys: Vec<PathBuf>,
    /// Also leave this path inside the model out of the check (repeatable).
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<PathBuf>,
    /// Check git files too (`.git`, `.gitattributes`, `.github`, `.gitignore`).
    #[arg(long)]
    pub no_ignore_git_paths: bool,
    /// Do not report files on disk that the signature does not list.
    #[arg(long)]
    pub ignore_unsigned_files: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelWatermarkCommand {
    /// Create a watermark key file (32 random bytes, mode 0600) and print its key id.
    ///
    /// Never replaces an existing file: a lost key means the mark can no longer be shown.
    /// Set AIGIS_KEY_PASSPHRASE to seal the key (argon2id + XChaCha20-Poly1305). Whoever
    /// holds the key can verify the mark, and also find and remove it: share it only with
    /// those who must verify.
    #[command(after_help = examples!(
        "aigis model watermark keygen -o wm.key"
    ))]
    Keygen(ModelWatermarkKeygenArgs),
    /// Write a watermarked copy of an ONNX model.
    ///
    /// Carriers: every float32 initializer of rank 2 or more with at least --min-elements
    /// elements (weight matrices; biases and small tensors are left alone), or the tensors
    /// named with --tensor. Each weight w becomes w + (α − p)·s, s = ±1 from the key, p
    /// the weights' projection on the pattern (removed so the score does not depend on the
    /// weights), α solved so the marked model scores --target-score (or a fixed
    /// --strength, a fraction of each tensor's RMS; at most 0.25). Only the carriers'
    /// float32 values change: every other byte of the file is kept. Tensors whose data is
    /// in an external file are refused. The output is written atomically, and not at all
    /// if the marked model would score below --threshold. Recorded as evidence in the
    /// ledger (the key id, never the key).
    #[command(after_help = examples!(
        "aigis model watermark embed model.onnx -o marked.onnx --watermark-key wm.key",
        "aigis model watermark embed model.onnx -o marked.onnx \\",
        "    --watermark-key wm.key --tensor fc1.weight --strength 0.05"
    ))]
    Embed(ModelWatermarkEmbedArgs),
    /// Check an ONNX model for a key's watermark: per-tensor and combined z-scores, the
    /// p-value (the chance that a model without this key's mark scores as high), and the
    /// verdict. Give it the same --tensor / --min-elements as `embed`. Weights quantized by
    /// onnxruntime (`W_quantized` int8/uint8 with `W_zero_point`) are read as they are.
    /// Recorded as evidence in the ledger.
    ///
    /// Exits 0 when the mark is present (score at or above --threshold), 1 when absent.
    #[command(after_help = examples!(
        "aigis model watermark verify marked.onnx --watermark-key wm.key \\",
        "    --threshold 5"
    ))]
    Verify(ModelWatermarkVerifyArgs),
}

#[derive(Debug, Args)]
pub struct ModelWatermarkKeygenArgs {
    /// Where to write the key file (must not exist).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Which tensors carry the mark: `embed` and `verify` must be given the same.
#[derive(Debug, Args)]
pub struct WatermarkTensorArgs {
    /// A tensor (initializer) to carry the mark, by name (repeatable); replaces the
    /// default choice by shape and size.
    #[arg(long = "tensor", value_name = "NAME")]
    pub tensors: Vec<String>,
    /// Without --tensor, the smallest initializer (in elements) that carries the mark.
    #[arg(long, value_name = "N", default_value_t = aigis_model::watermark::DEFAULT_MIN_ELEMENTS)]
    pub min_elements: u64,
}

#[derive(Debug, Args)]
pub struct ModelWatermarkEmbedArgs {
    /// The ONNX model to watermark.
    pub model: PathBuf,
    /// Where to write the watermarked model.
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// The watermark key file (`aigis model watermark keygen`).
    #[arg(long = "watermark-key", value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub tensors: WatermarkTensorArgs,
    /// The combined z-score the marked model should reach: the change per weight is
    /// solved for it (smaller for larger models).
    #[arg(long, value_name = "Z", default_value_t = aigis_model::watermark::DEFAULT_TARGET_SCORE)]
    pub target_score: f64,
    /// Instead of --target-score: move every weight by this fraction of its tensor's
    /// RMS (at most 0.25).
    #[arg(long, value_name = "FRACTION", conflicts_with = "target_score")]
    pub strength: Option<f64>,
    /// Refuse to write a marked model that would score below this.
    #[arg(long, value_name = "Z", default_value_t = aigis_model::watermark::DEFAULT_THRESHOLD)]
    pub threshold: f64,
}

#[derive(Debug, Args)]
pub struct ModelWatermarkVerifyArgs {
    /// The ONNX model to check.
    pub model: PathBuf,
    /// The watermark key file.
    #[arg(long = "watermark-key", value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub tensors: WatermarkTensorArgs,
    /// The combined z-score from which the mark counts as present (4: a model without
    /// the mark reaches it with probability 3.2e-5; 5: 2.9e-7).
    #[arg(long, value_name = "Z", default_value_t = aigis_model::watermark::DEFAULT_THRESHOLD)]
    pub threshold: f64,
}

#[derive(Debug, Args)]
pub struct ModelScanArgs {
    /// A known-bad feed (a file of `sha256:HEX SOURCE` lines), beside the project's
    /// `[model] known_bad` (repeatable): a file whose bytes hash to one is dangerous.
    #[arg(long = "known-bad", value_name = "FILE")]
    pub known_bad: Vec<PathBuf>,
    /// Model files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Exit 1 when a file's verdict is at or above this: suspicious, inconclusive,
    /// dangerous, or none. The default fails on anything not known to be safe; a
    /// project's own pickled classes belong in its reviewed allowlist
    /// (`[[model.allow]]` in aigis.toml), not in a weaker --fail-on.
    #[arg(long, value_enum, ignore_case = true, value_name = "VERDICT", default_value_t = FailOnVerdict::Suspicious)]
    pub fail_on: FailOnVerdict,
    /// Also write the evidence as SARIF 2.1.0.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelRegisterArgs {
    /// The model file or folder.
    pub path: PathBuf,
    /// The model's name in the registry (letters, digits, `.`, `_`, `-`).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// The signature bundle [default: `model.sig` in a model folder, `<FILE>.sig` beside
    /// a model file, if present].
    #[arg(long, value_name = "BUNDLE")]
    pub signature: Option<PathBuf>,
    /// Also trust this public key (PEM) to have signed the model, beside the project's
    /// keys (repeatable). (`--key`, elsewhere, trusts only the keys given.)
    #[arg(long = "also-trust", value_name = "PUBLIC_KEY")]
    pub keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelShowArgs {
    /// The model's name.
    pub name: String,
    /// One version to show in full [default: a summary of every version].
    pub version: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ModelCardArgs {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u32,
    /// Write the card here instead of to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModelPromoteArgs {
    /// The model's name.
    pub name: String,
    /// The version to promote.
    pub version: u32,
    /// The stage (letters, digits, `.`, `_`, `-`).
    #[arg(long, value_name = "STAGE", default_value = "production")]
    pub stage: String,
    /// Also trust this public key (PEM) to have signed the model, beside the project's
    /// keys (repeatable). (`--key`, elsewhere, trusts only the keys given.)
    #[arg(long = "also-trust", value_name = "PUBLIC_KEY")]
    pub keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BomArgs {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u32,
    /// A lockfile of the training or serving code, whose packages the BOM lists
    /// (repeatable): Cargo.lock, requirements*.txt, poetry.lock, uv.lock,
    /// package-lock.json.
    #[arg(long, value_name = "FILE")]
    pub lockfile: Vec<PathBuf>,
    /// Write the BOM here instead of to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DataProtectArgs {
    /// The table: CSV, TSV, JSON Lines or Parquet.
    pub input: PathBuf,
    /// The column holding the data subject's id.
    #[arg(long, value_name = "COLUMN")]
    pub subject: String,
    /// The other columns to encrypt (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// The protected table to write (`.csv`, `.tsv` or `.jsonl`; without one of these
    /// extensions, the input's format; Parquet is read, not written).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct DataRevealArgs {
    /// The protected table: CSV, TSV, JSON Lines or Parquet.
    pub input: PathBuf,
    /// Where to write it decrypted (`.csv`, `.tsv` or `.jsonl`).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct DataMinimiseArgs {
    /// The table: CSV, TSV, JSON Lines or Parquet.
    pub input: PathBuf,
    /// The registered version trained on it (`NAME@VERSION`): its training evidence names
    /// the features and the label.
    #[arg(
        long,
        value_name = "NAME@VERSION",
        required_unless_present = "features"
    )]
    pub model: Option<String>,
    /// The features the model uses, instead of --model (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "COLUMNS",
        conflicts_with = "model"
    )]
    pub features: Vec<String>,
    /// The label's column, with --features.
    #[arg(long, value_name = "COLUMN", requires = "features")]
    pub label: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct DataEraseArgs {
    /// The data subject's id, as in the subject column.
    #[arg(long, value_name = "ID")]
    pub subject: String,
    /// Why (recorded in the evidence).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum DepsCommand {
    /// Match the packages pinned by lockfiles against an OSV database on disk, with each
    /// ecosystem's version order: PEP 440 for PyPI (requirements*.txt pinned with `==`,
    /// poetry.lock, uv.lock), SemVer 2.0 for crates.io (Cargo.lock) and npm
    /// (package-lock.json, npm-shrinkwrap.json).
    ///
    /// The database is OSV JSON records in a folder, as osv.dev publishes them for offline
    /// use: download `https://osv-vulnerabilities.storage.googleapis.com/<ECOSYSTEM>/all.zip`
    /// for crates.io, PyPI and npm and unzip them into one folder. A version is affected
    /// when a record lists it or one of its ranges holds it (the OSV schema's
    /// evaluation); a record whose ranges cannot be read in the ecosystem's order is
    /// reported as possibly affecting the version, never passed. Withdrawn records are
    /// passed over. What cannot be checked (a requirement not pinned to one version, a
    /// package from git or a path) is listed. In a project, the scan is signed
    /// `dependency-scan` evidence.
    ///
    /// Exits 1 when a package is affected by a record rated at or above --fail-on (a
    /// record with no rating counts as critical), 2 when a file cannot be read.
    #[command(after_help = examples!(
        "aigis deps scan Cargo.lock --osv osv/",
        "aigis deps scan requirements.txt poetry.lock --osv osv/ \\",
        "    --fail-on critical",
        "aigis --json deps scan package-lock.json --osv osv/ \\",
        "    --sarif deps.sarif"
    ))]
    Scan(DepsScanArgs),
}

#[derive(Debug, Args)]
pub struct DepsScanArgs {
    /// The lockfiles.
    #[arg(required = true, value_name = "LOCKFILE")]
    pub files: Vec<PathBuf>,
    /// The folder of OSV records.
    #[arg(long, value_name = "DIR")]
    pub osv: PathBuf,
    /// Fail at a record rated this or worse.
    #[arg(long, value_enum, ignore_case = true, value_name = "SEVERITY", default_value_t = FailOnSeverity::Low)]
    pub fail_on: FailOnSeverity,
    /// Also write the findings as SARIF 2.1.0.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Start the project's roles: the project's key becomes its first admin.
    #[command(after_help = examples!("aigis roles init", "aigis roles init --no-separation-of-duties"))]
    Init {
        /// Let the key that trained a model promote it.
        #[arg(long)]
        no_separation_of_duties: bool,
    },
    /// Give a person roles (they become a member if they were not). Needs an admin and
    /// their one-time password.
    #[command(after_help = examples!(
        "aigis roles grant releaser --key alice.vkey --name alice --otp 123456",
        "aigis roles grant trainer data-steward --key bob.vkey --otp 123456"
    ))]
    Grant(RolesGrantArgs),
    /// Take roles from a person (no roles left: they are no longer a member). The last
    /// admin cannot be removed.
    #[command(after_help = examples!("aigis roles revoke releaser --key alice.vkey --otp 123456"))]
    Revoke(RolesGrantArgs),
    /// List the members, their roles and whether they have a second factor.
    #[command(after_help = examples!("aigis roles list", "aigis --json roles list"))]
    List,
    /// The acting person's second factor: a TOTP secret for an authenticator app, and
    /// recovery codes, each shown once.
    #[command(subcommand, name = "2fa", after_help = examples!(
        "aigis roles 2fa enroll --identity alice.key",
        "aigis roles 2fa check --identity alice.key --otp 123456"
    ))]
    TwoFactor(TwoFactorCommand),
}

#[derive(Debug, Subcommand)]
pub enum TwoFactorCommand {
    /// Enrol: prints the secret (as an otpauth URI and in base32) and ten recovery codes,
    /// once. A first right code (`roles 2fa check --otp CODE`) confirms it.
    #[command(after_help = examples!("aigis roles 2fa enroll --identity alice.key"))]
    Enroll,
    /// Check a code (or a recovery code, which is then spent). Five wrong codes lock the
    /// second factor for fifteen minutes; a code is never accepted twice.
    #[command(after_help = examples!("aigis roles 2fa check --identity alice.key --otp 123456"))]
    Check,
}

#[derive(Debug, Args)]
pub struct RolesGrantArgs {
    /// The roles.
    #[arg(required = true, value_name = "ROLE")]
    pub roles: Vec<String>,
    /// The person's verifier key (`aigis keys identity` prints it), or a file holding it.
    #[arg(long, value_name = "VKEY|FILE")]
    pub key: String,
    /// A name for people (for a new member).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Judge every control of a framework from the ledger's signed evidence: met (every
    /// requirement satisfied), partial or missing, each requirement with the ledger entry
    /// that proves it (`aigis evidence show N`), its age, and what to do about a gap.
    ///
    /// The mapping from controls to kinds of evidence is data (`aigis report frameworks`
    /// lists them; `--mapping FILE` reads an edited one). A requirement is read from the
    /// newest entry of its kind signed by a project key; another key's entry is listed as
    /// not counted. The report is bound to a checkpoint signed for it, carries every entry
    /// it cites with its inclusion proof, is signed by the project key (a DSSE envelope,
    /// written to -o), and is recorded as `compliance-report` evidence. Prints a summary,
    /// or the report with --json; --html writes a page with a summary chart.
    ///
    /// Exits 0 whether controls are met or not (a report is not a check); 2 when it cannot
    /// be made.
    #[command(after_help = examples!(
        "aigis report compliance --framework nist-ai-rmf",
        "aigis report compliance --framework iso-42001 -o iso.json \\",
        "    --html iso.html",
        "aigis report compliance --mapping our-controls.toml --json"
    ))]
    Compliance(ReportComplianceArgs),
    /// Check a signed compliance report offline: its signature by the project key, the
    /// checkpoint it is bound to, every cited entry's inclusion proof and signature, and
    /// every control's status judged again from the cited entries under the mapping the
    /// report carries. What an offline check cannot see (that each entry was the newest
    /// of its kind, that nothing reported absent was there) is checked against a project's
    /// ledger with --ledger.
    ///
    /// Exits 1 when the report does not check, 2 when the file is not a signed report.
    #[command(after_help = examples!(
        "aigis report verify compliance-eu-ai-act.json --key project.vkey",
        r#"aigis report verify report.json --key "$(cat project.vkey)""#,
        "aigis report verify report.json --key project.vkey --ledger"
    ))]
    Verify(ReportVerifyArgs),
    /// Record a person's signed statement that a control is in place (a policy adopted,
    /// an assessment done), pointing to its documents by digest: the evidence for the
    /// controls no tool can measure.
    #[command(after_help = examples!(
        "aigis report attest --framework eu-ai-act --control 'Article 14' \\",
        "    --statement 'Operators can stop the model from the console' \\",
        "    --document oversight-procedure.pdf"
    ))]
    Attest(ReportAttestArgs),
    /// List the frameworks aigis maps, with their controls.
    #[command(after_help = examples!("aigis report frameworks", "aigis --json report frameworks"))]
    Frameworks,
}

#[derive(Debug, Args)]
pub struct ReportComplianceArgs {
    /// The framework: nist-ai-rmf, eu-ai-act, iso-42001, owasp-ml-top10, mitre-atlas,
    /// gdpr or hipaa.
    #[arg(long, value_name = "ID", required_unless_present = "mapping")]
    pub framework: Option<String>,
    /// Read the mapping from this TOML file instead of the built-in one.
    #[arg(long, value_name = "FILE", conflicts_with = "framework")]
    pub mapping: Option<PathBuf>,
    /// Write the signed report here [default: compliance-<ID>.json].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the report as an HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportVerifyArgs {
    /// The signed report (`aigis report compliance -o`).
    pub report: PathBuf,
    /// The project's verifier key (`aigis keys show`), or a file holding it (repeatable).
    #[arg(long = "key", value_name = "VKEY|FILE", required = true)]
    pub keys: Vec<String>,
    /// Also judge every control again from the project's ledger, as of the report's time.
    #[arg(long)]
    pub ledger: bool,
}

#[derive(Debug, Args)]
pub struct ReportAttestArgs {
    /// The framework's id.
    #[arg(long, value_name = "ID")]
    pub framework: String,
    /// The control's id, as the framework writes it.
    #[arg(long, value_name = "ID")]
    pub control: String,
    /// What is in place.
    #[arg(long, value_name = "TEXT")]
    pub statement: String,
    /// A document it points to, recorded by digest (repeatable).
    #[arg(long, value_name = "FILE")]
    pub document: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The model's name.
    #[arg(required_unless_present_any = ["schema", "default_policy"])]
    pub name: Option<String>,
    /// The version.
    #[arg(required_unless_present_any = ["schema", "default_policy"])]
    pub version: Option<u32>,
    /// The stage it would move to (letters, digits, `.`, `_`, `-`).
    #[arg(long, value_name = "STAGE", default_value = "production")]
    pub stage: String,
    /// Decide with these Cedar policies instead of the project's.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also trust this public key (PEM) to have signed the model, beside the project's
    /// keys (repeatable).
    #[arg(long = "also-trust", value_name = "PUBLIC_KEY")]
    pub keys: Vec<PathBuf>,
    /// Print the gate's Cedar schema (the attributes a policy may read) and exit.
    #[arg(long, conflicts_with_all = ["name", "version", "default_policy"])]
    pub schema: bool,
    /// Print the built-in policy and exit.
    #[arg(long, conflicts_with_all = ["name", "version"])]
    pub default_policy: bool,
}

#[derive(Debug, Args)]
pub struct ModelRollbackArgs {
    /// The model's name.
    pub name: String,
    /// The stage to roll back.
    #[arg(long, value_name = "STAGE", default_value = "production")]
    pub stage: String,
    /// Return to this version (one the stage held before) [default: the last one].
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u32>,
    /// Also trust this public key (PEM) to have signed the model, beside the project's
    /// keys (repeatable). (`--key`, elsewhere, trusts only the keys given.)
    #[arg(long = "also-trust", value_name = "PUBLIC_KEY")]
    pub keys: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run in this folder (created; must be empty) instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the folder afterwards to look around.
    #[arg(long)]
    pub keep: bool,
}

#[cfg(test)]
mod tests;

/// Implements `Display` with the name clap accepts for each value.
macro_rules! value_names {
    ($($t:ty),+) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match clap::ValueEnum::to_possible_value(self) {
                    Some(v) => f.write_str(v.get_name()),
                    None => Ok(()),
                }
            }
        }
    )+};
}

/// `--fail-on` of `data scan` and `data ingest`: a severity, or none to never fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOnSeverity {
    Info,
    Low,
    Medium,
    High,
    Critical,
    None,
}

impl FailOnSeverity {
    /// The severity, or `None` for never.
    pub fn severity(self) -> Option<aigis_core::Severity> {
        use aigis_core::Severity;
        match self {
            Self::Info => Some(Severity::Info),
            Self::Low => Some(Severity::Low),
            Self::Medium => Some(Severity::Medium),
            Self::High => Some(Severity::High),
            Self::Critical => Some(Severity::Critical),
            Self::None => None,
        }
    }
}

/// `--quarantine-on`: the severity that sends a row to the quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeverityLevel {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLevel {
    /// The severity.
    pub fn severity(self) -> aigis_core::Severity {
        use aigis_core::Severity;
        match self {
            Self::Info => Severity::Info,
            Self::Low => Severity::Low,
            Self::Medium => Severity::Medium,
            Self::High => Severity::High,
            Self::Critical => Severity::Critical,
        }
    }
}

/// `--fail-on` of `model scan`: a verdict, or none to never fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOnVerdict {
    Suspicious,
    Inconclusive,
    Dangerous,
    None,
}

impl FailOnVerdict {
    /// The verdict, or `None` for never.
    pub fn verdict(self) -> Option<aigis_scan::Verdict> {
        use aigis_scan::Verdict;
        match self {
            Self::Suspicious => Some(Verdict::Suspicious),
            Self::Inconclusive => Some(Verdict::Inconclusive),
            Self::Dangerous => Some(Verdict::Dangerous),
            Self::None => None,
        }
    }
}

/// `--format` of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl TableFormat {
    /// The reader's format.
    pub fn format(self) -> aigis_data::table::Format {
        use aigis_data::table::Format;
        match self {
            Self::Csv => Format::Csv,
            Self::Jsonl => Format::Jsonl,
            Self::Parquet => Format::Parquet,
        }
    }
}

value_names!(FailOnSeverity, SeverityLevel, FailOnVerdict, TableFormat);

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// The ε a DP-SGD run spends at δ: its sampling rate, noise multiplier and steps.
    #[command(after_help = examples!(
        "aigis privacy epsilon --sampling-rate 0.004267 --noise-multiplier 1.1 \\",
        "    --steps 14062 --delta 1e-5",
        "aigis --json privacy epsilon --batch-size 256 --dataset-size 60000 \\",
        "    --epochs 60 --noise-multiplier 1.1 --delta 1e-5"
    ))]
    Epsilon(PrivacyEpsilonArgs),
    /// The least noise multiplier that keeps a DP-SGD run within ε at δ.
    #[command(after_help = examples!(
        "aigis privacy noise --sampling-rate 0.01 --steps 5000 \\",
        "    --epsilon 1 --delta 1e-5"
    ))]
    Noise(PrivacyNoiseArgs),
}

/// A DP-SGD run's sampling rate and length.
#[derive(Debug, Args)]
pub struct PrivacyRunArgs {
    /// The probability with which each step takes each example (for Poisson sampling,
    /// the expected batch size over the dataset's size).
    #[arg(long, value_name = "Q", conflicts_with_all = ["batch_size", "dataset_size"])]
    pub sampling_rate: Option<f64>,
    /// The expected batch size (with --dataset-size, instead of --sampling-rate).
    #[arg(long, value_name = "N", requires = "dataset_size")]
    pub batch_size: Option<u64>,
    /// The number of examples (with --batch-size).
    #[arg(long, value_name = "N", requires = "batch_size")]
    pub dataset_size: Option<u64>,
    /// The steps the run took.
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub steps: Option<u64>,
    /// The epochs the run took, each 1 / sampling rate steps (rounded up over all
    /// epochs), instead of --steps.
    #[arg(long, value_name = "E")]
    pub epochs: Option<f64>,
    /// The δ of the guarantee (at most one over the dataset's size is the usual choice).
    #[arg(long, value_name = "DELTA")]
    pub delta: f64,
    /// The accountants: `pld` (the privacy loss distribution, composed exactly on a grid:
    /// the tighter), `rdp` (Rényi DP), or `both` (each reported; the smaller ε, or noise,
    /// is the answer, as both are upper bounds).
    #[arg(long, value_enum, default_value_t = Accountant::Both)]
    pub accountant: Accountant,
    /// The RDP orders to try (comma-separated, each above 1) [default: 1.1 to 10.9 by
    /// tenths, 11 to 63, 128, 256, 512, 1024: dp_accounting's].
    #[arg(long, value_name = "ALPHA,...", value_delimiter = ',')]
    pub orders: Vec<f64>,
    /// The PLD grid's interval in units of privacy loss (doubled when a run's loss would
    /// not fit in 2^23 points; the interval used is reported).
    #[arg(long, value_name = "STEP", default_value_t = 1e-4)]
    pub pld_interval: f64,
}

/// Which privacy accountants to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Accountant {
    Pld,
    Rdp,
    Both,
}

#[derive(Debug, Args)]
pub struct PrivacyEpsilonArgs {
    #[command(flatten)]
    pub run: PrivacyRunArgs,
    /// The noise's standard deviation over the clipping norm.
    #[arg(long, value_name = "SIGMA")]
    pub noise_multiplier: f64,
}

#[derive(Debug, Args)]
pub struct PrivacyNoiseArgs {
    #[command(flatten)]
    pub run: PrivacyRunArgs,
    /// The ε the run may spend.
    #[arg(long, value_name = "EPSILON")]
    pub epsilon: f64,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The training table (CSV, JSON Lines or Parquet): numeric features and the label.
    pub data: PathBuf,
    /// The label's column (numbers: each distinct value a class).
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// The model.
    #[arg(long, value_enum, default_value_t = TrainModel::Mlp)]
    pub model: TrainModel,
    /// Hidden units of `mlp` [default: 100].
    #[arg(long, value_name = "N")]
    pub hidden: Option<usize>,
    /// The most epochs (training stops earlier when the loss stops improving) [default:
    /// 200]; with --dp, the epochs run, in expectation (steps = epochs / q, rounded up)
    /// [default: 30].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Adam's learning rate [default: 0.001; with --dp, 0.01].
    #[arg(long, value_name = "RATE")]
    pub learning_rate: Option<f64>,
    /// Hold out this share of the rows (stratified by class) and stop when their accuracy
    /// stops improving, keeping the best epoch's model (scikit-learn's early_stopping;
    /// not with --dp, whose steps are fixed in advance).
    #[arg(long, value_name = "F", conflicts_with = "dp")]
    pub validation_fraction: Option<f64>,
    /// Defensive distillation (Papernot et al.) at this temperature: a teacher trained
    /// with its softmax at T, a student trained at T on the teacher's answers, the student
    /// written (it runs at temperature 1). Its softmax saturates and hides its gradient;
    /// Carlini and Wagner showed the adversarial examples remain: measure it with
    /// `aigis redteam --attacks hsj,square`, not only gradient attacks. High temperatures
    /// need a larger --learning-rate (0.01). Not with --dp, --partitions or
    /// --adversarial-eps.
    #[arg(long, value_name = "T", conflicts_with_all = ["dp", "partitions", "adversarial_eps"])]
    pub distill_temperature: Option<f64>,
    /// Train K models, each on the rows a hash of the row puts in its partition, and write
    /// their majority vote (deep partition aggregation): every prediction then carries the
    /// number of training rows an attacker could add or remove without changing it, which
    /// `aigis certify` reports. Not with --dp.
    #[arg(long, value_name = "K", conflicts_with = "dp")]
    pub partitions: Option<usize>,
    /// Adversarial training (Madry et al.'s PGD): each minibatch is replaced by its L∞
    /// PGD adversarial examples of this radius, in the features' units (as `aigis redteam
    /// --eps`), before the network learns from them. Not with --dp.
    #[arg(long, value_name = "EPS", conflicts_with = "dp")]
    pub adversarial_eps: Option<f64>,
    /// Train by TRADES (Zhang et al.) with this β instead of Madry's objective: the clean
    /// rows' cross-entropy plus β times the divergence of the answers on their adversarial
    /// examples (6 is the paper's choice; larger trades clean accuracy for robustness).
    /// It converges more slowly than Madry's: give it a larger --learning-rate (0.01) or
    /// more --epochs.
    #[arg(long, value_name = "BETA", requires = "adversarial_eps")]
    pub trades_beta: Option<f64>,
    /// PGD steps per minibatch in adversarial training.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        requires = "adversarial_eps"
    )]
    pub adversarial_steps: usize,
    /// Each PGD step's size [default: the radius over 4].
    #[arg(long, value_name = "SIZE", requires = "adversarial_eps")]
    pub adversarial_step_size: Option<f64>,
    /// The features' valid range, which adversarial examples are clipped into (`0,1` for
    /// pixels in 0..1), as `aigis redteam --clip`.
    #[arg(
        long,
        value_name = "LO,HI",
        value_parser = parse_range,
        allow_hyphen_values = true,
        requires = "adversarial_eps"
    )]
    pub clip: Option<(f64, f64)>,
    /// The L2 penalty.
    #[arg(long, value_name = "ALPHA", default_value_t = 1e-4)]
    pub alpha: f64,
    /// The seed of the initialisation and the shuffles (the same seed, the same model;
    /// with --dp, of the initial weights only).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// The label's classes, comma-separated [default: its distinct values in the table;
    /// with --dp they must be given, since classes read from the rows are outside the
    /// guarantee].
    #[arg(
        long,
        value_name = "V,...",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub classes: Option<Vec<f64>>,
    /// Train by DP-SGD: a differentially private model (give --epsilon or
    /// --noise-multiplier, --bounds and --classes).
    #[arg(long)]
    pub dp: bool,
    /// The ε the run may spend at --delta: the noise is the least that keeps it there.
    #[arg(
        long,
        value_name = "EPSILON",
        requires = "dp",
        conflicts_with = "noise_multiplier"
    )]
    pub epsilon: Option<f64>,
    /// The noise's standard deviation over the clipping norm (instead of --epsilon).
    #[arg(long, value_name = "SIGMA", requires = "dp")]
    pub noise_multiplier: Option<f64>,
    /// The δ of the guarantee (well below one over the number of rows).
    #[arg(long, value_name = "DELTA", default_value_t = 1e-5, requires = "dp")]
    pub delta: f64,
    /// Each row's gradient is clipped to this L2 norm.
    #[arg(long, value_name = "C", default_value_t = 1.0, requires = "dp")]
    pub max_grad_norm: f64,
    /// The expected batch size: each step takes each row with probability N over the
    /// number of rows [default: 64, at most the rows].
    #[arg(
        long,
        value_name = "N",
        requires = "dp",
        conflicts_with = "sampling_rate"
    )]
    pub batch_size: Option<u64>,
    /// Each row's probability of joining a step's batch (instead of --batch-size).
    #[arg(long, value_name = "Q", requires = "dp")]
    pub sampling_rate: Option<f64>,
    /// Public bounds of the features: `LO:HI` for every feature, `COLUMN=LO:HI` for one
    /// (later ones win). Rows are clamped into them, in training and in the model written.
    #[arg(
        long,
        value_name = "[COLUMN=]LO:HI",
        allow_hyphen_values = true,
        requires = "dp"
    )]
    pub bounds: Vec<String>,
    /// The table's signed manifest (`aigis data sign`) [default: `<DATA>.aigis-manifest.json`
    /// when it exists]: the table must match it, and the evidence names it. Required by
    /// `[train] require_signed_data = true` in aigis.toml.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where to write the ONNX model.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// The partition ensemble (ONNX, from `aigis train --partitions`).
    pub model: PathBuf,
    /// The rows to predict (CSV, JSON Lines or Parquet): the model's features, in order.
    #[arg(long, value_name = "TABLE")]
    pub data: PathBuf,
    /// The true class's column (the model's class indices, from 0), left out of the
    /// features: the certified accuracy is measured against it.
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Subcommand)]
pub enum FederateCommand {
    /// Coordinate a federation: wait for the clients, run the rounds, write the model.
    /// Prints the address it listens on, then one line a round.
    #[command(after_help = examples!(
        "aigis federate serve --listen 0.0.0.0:7443 --client a.vkey \\",
        "    --client b.vkey --client c.vkey --bounds 0:16 \\",
        "    --classes 0,1,2 --rounds 20 -o federated.onnx",
        "aigis federate serve --client a.vkey --client b.vkey \\",
        "    --client c.vkey --client d.vkey --client e.vkey --bounds 0:16 \\",
        "    --classes 0,1 --aggregate krum --byzantine 1 --clip-norm 5 \\",
        "    -o robust.onnx"
    ))]
    Serve(Box<FederateServeArgs>),
    /// Join a federation as a client with a table: train each round's model on it and
    /// send back the change, signed with the project's key. The rows never leave.
    #[command(after_help = examples!(
        "aigis federate join coordinator.example:7443 clinic.csv \\",
        "    --label outcome --coordinator coordinator.vkey",
        "aigis federate join 10.0.0.5:7443 clinic.csv --label outcome \\",
        "    --coordinator coord.vkey --dp --clip-norm 1 \\",
        "    --noise-multiplier 1.5 --epsilon 8 -o federated.onnx"
    ))]
    Join(Box<FederateJoinArgs>),
    /// Check a federated model's lineage in the coordinator's ledger: the federation that
    /// wrote it, every round from the first model to the last, chained, and every
    /// client's update signed by that client's key. Exit 1 if any of it does not hold.
    #[command(after_help = examples!(
        "aigis federate verify federated.onnx --client a.vkey \\",
        "    --client b.vkey --client c.vkey"
    ))]
    Verify(FederateVerifyArgs),
}

#[derive(Debug, Args)]
pub struct FederateVerifyArgs {
    /// The model `aigis federate serve` wrote.
    pub model: PathBuf,
    /// A client's verifier key file; every client whose update is in a round must be
    /// given. Repeat for each.
    #[arg(long = "client", value_name = "VKEY", required = true)]
    pub clients: Vec<PathBuf>,
}

/// `aigis federate serve --aggregate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AggregateRule {
    /// Federated averaging: the mean weighted by each update's rows.
    Mean,
    /// Each parameter's median across the updates.
    Median,
    /// Each parameter's mean without the --trim share at each end.
    TrimmedMean,
    /// The one update nearest its neighbours (tolerates --byzantine poisoning clients).
    Krum,
    /// The mean of the --select updates nearest their neighbours.
    MultiKrum,
}

#[derive(Debug, Args)]
pub struct FederateServeArgs {
    /// Where to listen (host:port; port 0 picks a free one, printed).
    #[arg(long, default_value = "127.0.0.1:7443", value_name = "ADDR")]
    pub listen: String,
    /// A client allowed to join: its verifier key file (`aigis keys show` in its
    /// project). Repeat for each client.
    #[arg(long = "client", value_name = "VKEY", required = true)]
    pub clients: Vec<PathBuf>,
    /// The federation's name, in every signed update and in the evidence [default: a
    /// random one].
    #[arg(long, value_name = "NAME")]
    pub federation: Option<String>,
    /// Where to write the model (ONNX).
    #[arg(long, short, value_name = "OUT")]
    pub output: PathBuf,
    /// The features' public bounds: `LO:HI` for all, `COLUMN=LO:HI` for one (repeat).
    /// Every party scales by them, so the model needs nothing from anyone's rows.
    #[arg(
        long,
        value_name = "LO:HI",
        required = true,
        allow_hyphen_values = true
    )]
    pub bounds: Vec<String>,
    /// The label's values, comma-separated: every client's labels must be among them.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_hyphen_values = true
    )]
    pub classes: Vec<f64>,
    /// The features, comma-separated, in order [default: the first client's].
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// `mlp` (one ReLU hidden layer) or `softmax` (none).
    #[arg(long, value_enum, default_value_t = TrainModel::Mlp)]
    pub model: TrainModel,
    /// Hidden units of the mlp [default: 32].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Rounds.
    #[arg(long, default_value_t = 10)]
    pub rounds: u64,
    /// Clients sampled a round, at random [default: all].
    #[arg(long, value_name = "K")]
    pub per_round: Option<usize>,
    /// The fewest updates a round goes on with; fewer (stragglers, dropouts) stops the
    /// federation [default: what the rule needs, at least half the sampled].
    #[arg(long, value_name = "N")]
    pub min_updates: Option<usize>,
    /// Clients that must join before the first round [default: all].
    #[arg(long, value_name = "N")]
    pub min_clients: Option<usize>,
    /// How long to wait for --min-clients clients to join (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub join_timeout: std::time::Duration,
    /// How long a round (each of its exchanges, under secure aggregation) waits for
    /// updates; later ones are stragglers, left out.
    #[arg(long, default_value = "2m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub round_timeout: std::time::Duration,
    /// The clients' passes over their rows a round.
    #[arg(long, default_value_t = 1)]
    pub local_epochs: u64,
    /// The clients' SGD step.
    #[arg(long, default_value_t = 0.1)]
    pub learning_rate: f64,
    /// The clients' batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: u64,
    /// The L2 penalty.
    #[arg(long, default_value_t = 1e-4)]
    pub alpha: f64,
    /// How a round's updates are combined.
    #[arg(long, value_enum, default_value_t = AggregateRule::Mean)]
    pub aggregate: AggregateRule,
    /// The share trimmed at each end (trimmed-mean).
    #[arg(long, default_value_t = 0.1)]
    pub trim: f64,
    /// The poisoning clients tolerated (krum, multi-krum; a round needs 2f + 3 updates).
    #[arg(long, default_value_t = 1)]
    pub byzantine: usize,
    /// The updates averaged (multi-krum) [default: the updates less --byzantine].
    #[arg(long, value_name = "M")]
    pub select: Option<usize>,
    /// Bound each update's L2 norm before combining (limits what one client can move).
    /// With --secure-aggregation each client bounds its own.
    #[arg(long, value_name = "C")]
    pub clip_norm: Option<f64>,
    /// Secure aggregation (Bonawitz et al.): each client masks its update so that only
    /// the round's sum can be unmasked, even when clients drop mid-round; more than half
    /// of a round's clients must stay. Only with the mean.
    #[arg(long)]
    pub secure_aggregation: bool,
    /// The seed of the first model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct FederateJoinArgs {
    /// The coordinator's address (host:port).
    pub address: String,
    /// This party's table (CSV, JSON Lines or Parquet). Its rows never leave.
    pub data: PathBuf,
    /// The label's column.
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// The coordinator's verifier key file (`aigis keys show` in its project): no other
    /// key is accepted at the other end.
    #[arg(long, value_name = "VKEY")]
    pub coordinator: PathBuf,
    /// Also write the federation's final model here (ONNX).
    #[arg(long, short, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Clip and noise each update before it leaves (this client's own differential
    /// privacy; give --clip-norm and --noise-multiplier).
    #[arg(long)]
    pub dp: bool,
    /// With --dp: each update's L2 norm bound.
    #[arg(long, value_name = "C", requires = "dp")]
    pub clip_norm: Option<f64>,
    /// With --dp: the noise's deviation over the bound.
    #[arg(long, value_name = "SIGMA", requires = "dp")]
    pub noise_multiplier: Option<f64>,
    /// With --dp: the guarantee's δ.
    #[arg(long, default_value_t = 1e-5, requires = "dp")]
    pub delta: f64,
    /// With --dp: the most ε to spend; rounds beyond it are declined.
    #[arg(long, value_name = "E", requires = "dp")]
    pub epsilon: Option<f64>,
    /// Take part only in securely aggregated rounds: leave rather than send an update
    /// the coordinator could read.
    #[arg(long)]
    pub require_secure_aggregation: bool,
    /// How long to keep trying to reach the coordinator.
    #[arg(long, default_value = "2m", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// The seed of the local shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `aigis train --model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainModel {
    /// One ReLU hidden layer and a softmax.
    Mlp,
    /// A linear model and a softmax, any number of classes.
    Softmax,
    /// A linear model of two classes.
    Logistic,
}
