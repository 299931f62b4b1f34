//! `airlock policy replay`: the recorded decisions of a time range, decided again by a
//! candidate bundle, and every one that would change.

use anyhow::Context;
use std::{path::Path, path::PathBuf, process::ExitCode};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The candidate bundle: a directory or a .tar.gz archive.
    #[arg(long)]
    pub bundle: PathBuf,
    /// From this time (RFC 3339); default: seven days before `until`.
    #[arg(long)]
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive); default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// `table` (Markdown) or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
}

fn time_ms(raw: Option<&str>, default: time::OffsetDateTime) -> anyhow::Result<i64> {
    let t = match raw {
        None => default,
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("{s:?} is not an RFC 3339 time"))?,
    };
    Ok(airlock_gateway_domain::unix_ms(t))
}

fn candidate(path: &Path) -> anyhow::Result<airlock_policy::RegoPolicy> {
    if path.is_dir() {
        return Ok(airlock_policy::RegoPolicy::new(
            &airlock_policy::Bundle::from_dir(path)?,
        )?);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(from_archive(&bytes)?)
}

/// A candidate bundle archive loaded, never activated (the CLI's and the API's).
fn from_archive(archive: &[u8]) -> Result<airlock_policy::RegoPolicy, airlock_policy::LoadError> {
    airlock_policy::RegoPolicy::new(&airlock_policy::Bundle::from_raw(
        airlock_policy::read_tar_gz(archive)?,
    )?)
}

pub fn policy_replay(config: Option<&Path>, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::commands::load_config(config)?;
    let engine = candidate(&args.bundle)?;
    let now = airlock_gateway_domain::Clock::now(&airlock_gateway_domain::SystemClock);
    let until = time_ms(args.until.as_deref(), now)?;
    let since = time_ms(args.since.as_deref(), now - time::Duration::days(7))?.min(until);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let events = rt.block_on(async {
        let store = airlock_gateway_store::SqlStore::connect(&cfg.database_url(), false).await?;
        let events = airlock_gateway_audit::decisions_in(&store, since, until, usize::MAX).await;
        store.close().await;
        anyhow::Ok(events?)
    })?;
    let report = airlock_gateway_domain::replay::replay(&engine, &events);
    match args.format.as_str() {
        "json" => crate::commands::print_json(&serde_json::to_value(&report)?),
        "table" => {
            print!("{}", report.table());
            Ok(ExitCode::SUCCESS)
        }
        other => anyhow::bail!("--format {other:?}: use table or json"),
    }
}

/// Candidate bundles for replay through the API: archives, loaded but never activated.
pub struct Compiler;

impl airlock_gateway_domain::ports::BundleCompiler for Compiler {
    fn compile(
        &self,
        archive: &[u8],
    ) -> Result<
        Box<dyn airlock_gateway_domain::ports::PolicyEngine>,
        airlock_gateway_domain::ports::PolicyError,
    > {
        from_archive(archive)
            .map(|e| Box::new(e) as Box<dyn airlock_gateway_domain::ports::PolicyEngine>)
            .map_err(|e| airlock_gateway_domain::ports::PolicyError::Load(e.to_string()))
    }
}
