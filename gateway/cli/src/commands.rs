//! The subcommands other than `serve`.

use airlock_gateway_config::Config;
use airlock_gateway_domain::ports::PolicyEngine;
use anyhow::Context;
use std::{path::Path, process::ExitCode};

pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(Config::load(path, std::env::vars())?)
}

pub fn print_json(v: &serde_json::Value) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

pub fn config_check(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cfg = load_config(path)?;
    print_json(&serde_json::to_value(&cfg)?)
}

pub fn migrate(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cfg = load_config(path)?;
    std::fs::create_dir_all(&cfg.state.dir)
        .with_context(|| format!("creating {}", cfg.state.dir.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = airlock_gateway_store::SqlStore::connect(&cfg.database_url(), true).await?;
        store.close().await;
        eprintln!("migrations applied ({:?})", store.backend());
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn token_mint(
    path: Option<&Path>,
    sub: &str,
    groups: &[String],
    tenant: Option<&str>,
    email: Option<&str>,
    ttl: u64,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(path)?;
    if !cfg.auth.dev_issuer.enabled {
        anyhow::bail!("the development issuer is not enabled ([auth.dev_issuer] enabled = true)");
    }
    let dev = airlock_gateway_auth::DevIssuer::load_or_create(&cfg.state.dir)?;
    let groups: Vec<String> = groups.iter().filter(|g| !g.is_empty()).cloned().collect();
    println!(
        "{}",
        dev.mint(
            &cfg.auth.dev_issuer.audience,
            sub,
            &groups,
            tenant,
            email,
            std::time::Duration::from_secs(ttl)
        )?
    );
    Ok(ExitCode::SUCCESS)
}

/// A bundle from a directory or a `.tar.gz`, or the embedded one.
fn bundle(path: Option<&Path>) -> anyhow::Result<airlock_policy::Bundle> {
    Ok(match path {
        Some(p) if p.is_file() => {
            airlock_policy::Bundle::from_raw(airlock_policy::read_tar_gz(&std::fs::read(p)?)?)?
        }
        Some(d) => airlock_policy::Bundle::from_dir(d)?,
        None => airlock_policy::Bundle::embedded()?,
    })
}

pub fn policy_build(
    dir: &Path,
    output: &Path,
    key: Option<&Path>,
    key_id: &str,
    algorithm: &str,
) -> anyhow::Result<ExitCode> {
    let mut files = airlock_policy::read_dir_raw(dir)?;
    files.retain(|(n, _)| n != airlock_policy::signing::SIGNATURES_FILE);
    // Refuse to package a bundle that would not load.
    airlock_policy::RegoPolicy::new(&airlock_policy::Bundle::from_raw(files.clone())?)?;
    if let Some(key) = key {
        let alg: jsonwebtoken::Algorithm = algorithm
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown algorithm {algorithm}"))?;
        let pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
        let enc = match alg {
            jsonwebtoken::Algorithm::HS256
            | jsonwebtoken::Algorithm::HS384
            | jsonwebtoken::Algorithm::HS512 => jsonwebtoken::EncodingKey::from_secret(&pem),
            jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384 => {
                jsonwebtoken::EncodingKey::from_ec_pem(&pem)?
            }
            jsonwebtoken::Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(&pem)?,
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(&pem)?,
        };
        let sig = airlock_policy::signing::sign(&files, key_id, alg, &enc)?;
        files.push((airlock_policy::signing::SIGNATURES_FILE.into(), sig));
    }
    std::fs::write(output, airlock_policy::write_tar_gz(&files)?)
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "wrote {} ({} files{})",
        output.display(),
        files.len(),
        if key.is_some() { ", signed" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

pub fn policy_test(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let outcomes = airlock_policy::run_tests(&bundle(dir)?)?;
    let mut failed = 0;
    for o in &outcomes {
        if o.passed {
            println!("PASS {}", o.name);
        } else {
            failed += 1;
            println!(
                "FAIL {}{}",
                o.name,
                o.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    println!("{} passed, {} failed", outcomes.len() - failed, failed);
    Ok(if failed == 0 && !outcomes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn policy_eval(input: &Path, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let policy = airlock_policy::RegoPolicy::new(&bundle(dir)?)?;
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let input = serde_json::from_str(&text)
        .context("the input does not match the policy input schema (airlock policy schema)")?;
    let mut d = policy.decide(&input)?;
    d.decision_id =
        airlock_gateway_domain::IdGenerator::event_id(&airlock_gateway_domain::SystemIds);
    print_json(&serde_json::to_value(&d)?)
}
