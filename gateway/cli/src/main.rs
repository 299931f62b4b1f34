//! `airlock`: the gateway binary. Subcommands: serve, migrate, audit verify, token mint,
//! policy test|eval|schema, openapi, config check.

mod audit_cmd;
mod audit_wiring;
mod commands;
mod connector_wiring;
mod kubernetes_wiring;
mod replay_cmd;
mod review_wiring;
mod serve;
mod telemetry;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: policy evaluation (regorus) allocates per path step and
/// per value, and glibc's malloc/free was a quarter of each decision's instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Airlock: governance gateway for LLM code interpreters"
)]
struct Cli {
    /// Configuration file (TOML); AIRLOCK_* variables override it.
    #[arg(long, global = true, env = "AIRLOCK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Development issuer tokens (only when [auth.dev_issuer] is enabled).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify an audit log, a JSON-lines file or a Kafka topic: hashes, links, order,
    /// checkpoints. Duplicates (same id and hash) are dropped. Exits 1 on the first problem.
    Verify(audit_cmd::VerifyArgs),
    /// Print the public key (a JWK set) that verifies this gateway's checkpoints.
    Key,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint an access token from the development issuer.
    Mint {
        #[arg(long)]
        sub: String,
        /// Comma-separated groups.
        #[arg(long, default_value = "", value_delimiter = ',')]
        groups: Vec<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: u64,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run the test_* rules of *_test.rego files, like `opa test`.
    Test {
        /// Bundle directory (default: the embedded bundle).
        dir: Option<PathBuf>,
    },
    /// Evaluate a policy input (JSON file) and print the decision.
    Eval {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        bundle: Option<PathBuf>,
    },
    /// Print the JSON schema of the policy input.
    Schema,
    /// Decide the recorded decisions of a time range (the state DB's `policy.decided` events)
    /// again with a candidate bundle and report every one that would change.
    Replay(replay_cmd::ReplayArgs),
    /// Build a bundle archive (.tar.gz) from a directory, optionally signed.
    Build {
        dir: PathBuf,
        #[arg(long, short)]
        output: PathBuf,
        /// Sign with this key (PEM private key, or the shared secret for HS256).
        #[arg(long)]
        signing_key: Option<PathBuf>,
        #[arg(long, default_value = "default")]
        key_id: String,
        #[arg(long, default_value = "RS256")]
        algorithm: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values.
    Check,
}

fn main() -> std::process::ExitCode {
    // regorus reports conditions it expects during evaluation (an index into a literal, say) as
    // `anyhow` errors and discards them; with RUST_BACKTRACE set, each one captures a backtrace
    // (measured: ~100k instructions each, as much as a whole small decision). Library backtraces
    // stay off unless RUST_LIB_BACKTRACE asks for them; panics still print theirs. Set here,
    // before any thread exists.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => serve::run(cli.config.as_deref()),
        Command::Migrate => commands::migrate(cli.config.as_deref()),
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => audit_cmd::verify(&args),
        Command::Audit {
            command: AuditCommand::Key,
        } => audit_cmd::key(cli.config.as_deref()),
        Command::Token {
            command:
                TokenCommand::Mint {
                    sub,
                    groups,
                    tenant,
                    email,
                    ttl_seconds,
                },
        } => commands::token_mint(
            cli.config.as_deref(),
            &sub,
            &groups,
            tenant.as_deref(),
            email.as_deref(),
            ttl_seconds,
        ),
        Command::Policy {
            command: PolicyCommand::Test { dir },
        } => commands::policy_test(dir.as_deref()),
        Command::Policy {
            command: PolicyCommand::Eval { input, bundle },
        } => commands::policy_eval(&input, bundle.as_deref()),
        Command::Policy {
            command: PolicyCommand::Replay(args),
        } => replay_cmd::policy_replay(cli.config.as_deref(), &args),
        Command::Policy {
            command: PolicyCommand::Schema,
        } => commands::print_json(&airlock_policy::input_schema()),
        Command::Policy {
            command:
                PolicyCommand::Build {
                    dir,
                    output,
                    signing_key,
                    key_id,
                    algorithm,
                },
        } => commands::policy_build(&dir, &output, signing_key.as_deref(), &key_id, &algorithm),
        Command::Openapi => commands::print_json(
            &serde_json::to_value(<airlock_gateway_http::ApiDoc as utoipa::OpenApi>::openapi())
                .unwrap_or_default(),
        ),
        Command::Config {
            command: ConfigCommand::Check,
        } => commands::config_check(cli.config.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airlock: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
