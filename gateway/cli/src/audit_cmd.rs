//! `airlock audit verify` (a file or a Kafka topic) and `airlock audit key`.

use airlock_gateway_audit::{TrustedKeys, VerifyOptions};
use airlock_gateway_domain::audit::{Checkpoint, VerifyReport};
use anyhow::Context;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A JSON-lines audit file (leave out with --kafka).
    #[arg(required_unless_present = "kafka", conflicts_with = "kafka")]
    file: Option<PathBuf>,
    /// Read the topic from these brokers (host:port,...) instead of a file.
    #[arg(long, value_name = "BROKERS", requires = "topic")]
    kafka: Option<String>,
    #[arg(long)]
    topic: Option<String>,
    /// A librdkafka property for the reader (security.protocol, sasl.*, ssl.*): KEY=VALUE.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE")]
    kafka_property: Vec<String>,
    /// Seconds to wait for the broker on each step.
    #[arg(long, default_value_t = 10)]
    kafka_timeout_seconds: u64,
    /// Trusted audit keys (the JWK set `airlock audit key` prints): checkpoint signatures
    /// are verified with them.
    #[arg(long, value_name = "JWKS_FILE")]
    key: Vec<PathBuf>,
    /// A checkpoint kept outside the log (`GET /v1/audit/checkpoint`): the log must reach its
    /// head with the same hash, or its tail was truncated or rewritten. Needs --key.
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// Every chain must end with a checkpoint (the log of a gateway that stopped cleanly).
    #[arg(long)]
    require_sealed: bool,
    /// The input is a window of a longer log (chains need not start at seq 1).
    #[arg(long)]
    partial: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn options(args: &VerifyArgs) -> anyhow::Result<VerifyOptions> {
    let mut keys: Option<TrustedKeys> = None;
    for path in &args.key {
        let k = TrustedKeys::from_jwk_file(path)?;
        keys = Some(match keys {
            Some(mut all) => {
                all.extend(k);
                all
            }
            None => k,
        });
    }
    let mut expect = Vec::new();
    for path in &args.checkpoint {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cp: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a checkpoint", path.display()))?;
        expect.push(cp);
    }
    Ok(VerifyOptions {
        allow_partial: args.partial,
        keys,
        expect,
        require_sealed: args.require_sealed,
    })
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let opts = options(args)?;
    let (report, unit) = match (&args.kafka, &args.file) {
        (Some(brokers), _) => (verify_kafka(args, brokers, &opts)?, "message"),
        (None, Some(file)) => (verify_file(file, &opts)?, "line"),
        (None, None) => anyhow::bail!("give a file or --kafka BROKERS --topic TOPIC"),
    };
    print_report(&report, unit, args.json)?;
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn verify_file(file: &Path, opts: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    airlock_gateway_audit::verify_reader_with(f, opts)
        .with_context(|| format!("reading {}", file.display()))?
        .map_err(anyhow::Error::msg)
}

fn verify_kafka(
    args: &VerifyArgs,
    brokers: &str,
    opts: &VerifyOptions,
) -> anyhow::Result<VerifyReport> {
    let topic = args.topic.as_deref().context("--kafka needs --topic")?;
    let mut props = BTreeMap::new();
    for p in &args.kafka_property {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--kafka-property {p:?} is not KEY=VALUE"))?;
        props.insert(k.to_owned(), v.to_owned());
    }
    let mut v = opts.verifier().map_err(anyhow::Error::msg)?;
    airlock_gateway_audit_kafka::read_topic(
        brokers,
        topic,
        &props,
        Duration::from_secs(args.kafka_timeout_seconds),
        |payload| v.push_line(&String::from_utf8_lossy(payload)),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(opts.finish(v))
}

fn print_report(report: &VerifyReport, unit: &str, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!("events read:          {}", report.events_read);
    println!("duplicates dropped:   {}", report.duplicates_dropped);
    for (chain, n) in &report.chains {
        println!("chain {chain}: {n} events verified");
    }
    println!(
        "checkpoints verified: {} (unverified, no --key: {})",
        report.checkpoints_verified, report.checkpoints_unverified
    );
    if report.external_checkpoints_matched > 0 {
        println!(
            "independent checkpoints matched: {}",
            report.external_checkpoints_matched
        );
    }
    match &report.broken {
        None => println!("result: OK, every chain intact"),
        Some(b) => println!(
            "result: BROKEN at {unit} {} (chain {:?}, seq {:?}): {:?}: {}",
            b.position, b.chainid, b.seq, b.kind, b.message
        ),
    }
    Ok(())
}

/// Prints the public half of the audit signing key, creating the key when missing.
pub fn key(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cfg = crate::commands::load_config(config)?;
    let key = airlock_gateway_audit::AuditSigningKey::load_or_create(&cfg.audit_signing_key())?;
    crate::commands::print_json(&key.public_jwks())
}
