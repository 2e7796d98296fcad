//! `aurora`: the operator's command line.
//!
//! ```text
//! aurora migrate
//! aurora user create NAME [--json]
//! aurora integration create --user NAME --source SOURCE [--signing-secret S]... [--json]
//! aurora integration secrets --user NAME --source SOURCE (--signing-secret S... | --unsigned)
//! aurora integration revoke --user NAME --source SOURCE
//! aurora normalize --source SOURCE FILE
//! aurora dead-letters list [--json]
//! aurora dead-letters replay ID
//! ```
//! Exit codes: 0 success, 1 failure (database unreachable …), 2 invalid input.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Aurora's operator tool.
#[derive(Debug, Parser)]
#[command(name = "aurora", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage webhook integrations.
    Integration {
        #[command(subcommand)]
        command: IntegrationCommand,
    },
    /// Bus messages that could not be processed.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Print what a webhook body normalizes to, as one JSON object.
    Normalize {
        /// The vendor that sent the body.
        #[arg(long)]
        source: String,
        /// The body, or `-` for standard input.
        file: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLetterCommand {
    /// The newest dead letters, with why each was set aside.
    List {
        /// Print one JSON object: {"dead_letters": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Publish a dead letter again on its subject (after the cause is fixed).
    Replay {
        /// Its id, from `list`.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user and print its API token (shown once).
    Create {
        /// A unique name.
        name: String,
        /// Print one JSON object: {"user": …, "api_token": …}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum IntegrationCommand {
    /// Create a webhook integration and print its URL and token (shown once).
    Create {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// The vendor: grafana, alertmanager, datadog, netdata, pagerduty, splunk, jenkins,
        /// cloudbees, dynatrace or bigpanda.
        #[arg(long)]
        source: String,
        /// A secret the vendor signs with; repeat to accept several during a rotation.
        #[arg(long = "signing-secret")]
        signing_secrets: Vec<String>,
        /// Print one JSON object: {"source": …, "url": …, "token": …}.
        #[arg(long)]
        json: bool,
    },
    /// Replace the signing secrets of a user's integration of a source (give the new one
    /// and, while the vendor switches, the old one); every ingress applies it at once.
    Secrets {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// The vendor.
        #[arg(long)]
        source: String,
        /// A secret the vendor signs with; repeat for several.
        #[arg(long = "signing-secret", required_unless_present = "unsigned")]
        signing_secrets: Vec<String>,
        /// Keep no secret: signatures are no longer checked.
        #[arg(long, conflicts_with = "signing_secrets")]
        unsigned: bool,
    },
    /// Revoke a user's integration of a source: its token stops working at once (every ingress
    /// is told over the bus; one that cannot be told stops within `ingress.auth_cache_secs`).
    Revoke {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// The vendor.
        #[arg(long)]
        source: String,
    },
}

/// A failure and the exit code it deserves.
enum Failure {
    /// Bad input: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Failure::Other(err)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate => commands::migrate().await,
        Command::User {
            command: UserCommand::Create { name, json },
        } => commands::create_user(&name, json).await,
        Command::Integration {
            command:
                IntegrationCommand::Create {
                    user,
                    source,
                    signing_secrets,
                    json,
                },
        } => commands::create_integration(&user, &source, signing_secrets, json).await,
        Command::Integration {
            command: IntegrationCommand::Revoke { user, source },
        } => commands::revoke_integration(&user, &source).await,
        Command::Integration {
            command:
                IntegrationCommand::Secrets {
                    user,
                    source,
                    signing_secrets,
                    unsigned: _,
                },
        } => commands::replace_signing_secrets(&user, &source, signing_secrets).await,
        Command::Normalize { source, file } => commands::normalize(&source, &file),
        Command::DeadLetters {
            command: DeadLetterCommand::List { json },
        } => commands::list_dead_letters(json).await,
        Command::DeadLetters {
            command: DeadLetterCommand::Replay { id },
        } => commands::replay_dead_letter(id).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("aurora: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Other(err)) => {
            eprintln!("aurora: {err:#}");
            ExitCode::FAILURE
        }
    }
}
