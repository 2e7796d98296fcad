//! `aurora`: the operator's command line.
//!
//! ```text
//! aurora migrate
//! aurora user create NAME [--json]
//! aurora user rotate-token NAME [--json]
//! aurora user revoke-token NAME
//! aurora integration create --user NAME --source SOURCE [--signing-secret-file FILE|-]
//!     [--signature-timestamp required|optional] [--json]
//! aurora integration secrets --user NAME --source SOURCE (--signing-secret-file FILE|- | --unsigned)
//! aurora integration signature-timestamp --user NAME --source SOURCE required|optional|default
//! aurora integration revoke --user NAME --source SOURCE
//! aurora integration heartbeat --user NAME --source SOURCE --alert NAME (--every D | --off)
//! aurora secrets rotate-key
//! aurora normalize --source SOURCE FILE
//! aurora dead-letters list [--json]
//! aurora dead-letters replay ID
//! aurora notifications failed [--json]
//! aurora notifications retry ID
//! aurora correlation replay --user NAME --since D --config FILE [--json]
//! aurora retention run [--dry-run] [--json]
//! aurora silence create --user NAME --matcher M [--matcher M …] (--duration D | --ends-at T)
//!     [--starts-at T] --comment TEXT [--created-by WHO] [--on-expiry open|drop] [--json]
//! aurora silence list --user NAME [--include-expired] [--json]
//! aurora silence expire --user NAME ID
//! ```
//! Exit codes: 0 success, 1 failure (database unreachable …), 2 invalid input.

mod commands;
mod heartbeats;
mod replay;
mod silences;

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
    /// Signing secrets at rest.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Bus messages that could not be processed.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Notifications (Slack, PagerDuty, webhooks) that failed for good.
    Notifications {
        #[command(subcommand)]
        command: NotificationCommand,
    },
    /// Try correlation settings on recorded alerts before deploying them.
    Correlation {
        #[command(subcommand)]
        command: CorrelationCommand,
    },
    /// Delete what is older than the retention settings (`retention.*`), as the correlators
    /// do every `retention.interval_secs`.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Maintenance windows: alerts they match open no incident while they hold.
    Silence {
        #[command(subcommand)]
        command: SilenceCommand,
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
enum CorrelationCommand {
    /// Decide a user's recorded alerts again, in arrival order, with the `[correlation]` of
    /// another settings file — in memory, writing nothing — and print what would change:
    /// incidents that would merge or split, alerts that would move, alerts per incident.
    Replay {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// How far back: 7d, 24h.
        #[arg(long)]
        since: String,
        /// A settings file with the proposed `[correlation]` changes, laid over the settings
        /// in force (the rest is ignored).
        #[arg(long)]
        config: String,
        /// Print one JSON object: the whole report.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Delete what is due now, in batches.
    Run {
        /// Only count what would go.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON object: {"dry_run": …, "incidents": …, "alerts": …, …}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SilenceCommand {
    /// Silence a user's alerts that match every matcher, for a while.
    Create {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// `field=value`, `!=`, `=~` (whole-value regex) or `!~`; fields: source, service,
        /// environment, severity, title, labels.<name>. Repeat for more; all must match.
        #[arg(long = "matcher", value_name = "MATCHER", required = true)]
        matchers: Vec<String>,
        /// How long: 2h, 90m, 1d 12h.
        #[arg(long, conflicts_with = "ends_at")]
        duration: Option<String>,
        /// When it ends (RFC 3339).
        #[arg(long)]
        ends_at: Option<chrono::DateTime<chrono::Utc>>,
        /// When it starts (RFC 3339; now when not given).
        #[arg(long)]
        starts_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Why.
        #[arg(long)]
        comment: String,
        /// Who made it (the user's name when not given).
        #[arg(long)]
        created_by: Option<String>,
        /// open (default): what it kept quiet and still fires opens incidents when it ends;
        /// drop: stays quiet until it resolves.
        #[arg(long)]
        on_expiry: Option<String>,
        /// Print one JSON object: {"silence": …}.
        #[arg(long)]
        json: bool,
    },
    /// A user's silences that have not ended, with what each kept quiet.
    List {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// Also those that ended.
        #[arg(long)]
        include_expired: bool,
        /// Print one JSON object: {"silences": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Expire {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// Its id, from `list`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum NotificationCommand {
    /// The newest deliveries that failed for good, with why.
    Failed {
        /// Print one JSON object: {"failed": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed delivery again, now (after the cause is fixed).
    Retry {
        /// Its id, from `failed`.
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
    /// Give a user a new API token (shown once); the old one stops working at once.
    RotateToken {
        /// The user's name.
        name: String,
        /// Print one JSON object: {"user": …, "api_token": …}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's API token: none works until `rotate-token`.
    RevokeToken {
        /// The user's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Seal every stored signing secret again under `secrets.encryption_key`, opening them
    /// with it or one of `secrets.previous_encryption_keys`; afterwards the previous keys can
    /// be dropped.
    RotateKey,
}

/// Whether a signature must cover a timestamp, as `signature-timestamp` sets it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TimestampChoice {
    /// Refuse signatures without a fresh timestamp.
    Required,
    /// Accept signatures without one (the old, replayable form).
    Optional,
    /// The vendor's default: required for Jenkins and CloudBees, optional for Grafana.
    Default,
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
        /// A file with the secrets the vendor signs with, one per line (`-`: standard input),
        /// so no secret shows in the process list.
        #[arg(long = "signing-secret-file", value_name = "FILE")]
        signing_secret_file: Option<String>,
        /// Whether signatures must cover a timestamp (default: the vendor's).
        #[arg(long, value_enum)]
        signature_timestamp: Option<TimestampChoice>,
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
        /// A file with the secrets, one per line (`-`: standard input); list the new one and,
        /// while the vendor switches, the old one.
        #[arg(
            long = "signing-secret-file",
            value_name = "FILE",
            required_unless_present = "unsigned"
        )]
        signing_secret_file: Option<String>,
        /// Keep no secret: signatures are no longer checked.
        #[arg(long, conflicts_with = "signing_secret_file")]
        unsigned: bool,
    },
    /// Set whether a user's integration's signatures must cover a timestamp (replay
    /// protection); every ingress applies it at once.
    SignatureTimestamp {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// The vendor.
        #[arg(long)]
        source: String,
        /// required, optional, or default (the vendor's).
        #[arg(value_enum)]
        policy: TimestampChoice,
    },
    /// Expect an alert that always fires (Alertmanager's `Watchdog`, say) from a user's
    /// integration at least every so often; when it stops, Aurora opens an incident, and
    /// resolves it when it resumes.
    Heartbeat {
        /// The owner's name.
        #[arg(long)]
        user: String,
        /// The vendor.
        #[arg(long)]
        source: String,
        /// The alert that beats: its title or `alertname`.
        #[arg(long)]
        alert: String,
        /// The longest gap allowed: 5m, 90s, 1h.
        #[arg(long, required_unless_present = "off")]
        every: Option<String>,
        /// Stop expecting it (resolving Aurora's alert for it, if one fires).
        #[arg(long, conflicts_with = "every")]
        off: bool,
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

impl TimestampChoice {
    /// As the `integrations.signature_timestamp` column holds it.
    fn stored(self) -> Option<&'static str> {
        match self {
            TimestampChoice::Required => Some("required"),
            TimestampChoice::Optional => Some("optional"),
            TimestampChoice::Default => None,
        }
    }
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
        Command::User { command } => match command {
            UserCommand::Create { name, json } => commands::create_user(&name, json).await,
            UserCommand::RotateToken { name, json } => commands::rotate_token(&name, json).await,
            UserCommand::RevokeToken { name } => commands::revoke_token(&name).await,
        },
        Command::Secrets {
            command: SecretsCommand::RotateKey,
        } => commands::rotate_key().await,
        Command::Integration {
            command:
                IntegrationCommand::Create {
                    user,
                    source,
                    signing_secret_file,
                    signature_timestamp,
                    json,
                },
        } => {
            commands::create_integration(
                &user,
                &source,
                signing_secret_file.as_deref(),
                signature_timestamp.and_then(TimestampChoice::stored),
                json,
            )
            .await
        }
        Command::Integration {
            command:
                IntegrationCommand::SignatureTimestamp {
                    user,
                    source,
                    policy,
                },
        } => commands::set_signature_timestamp(&user, &source, policy.stored()).await,
        Command::Integration {
            command: IntegrationCommand::Revoke { user, source },
        } => commands::revoke_integration(&user, &source).await,
        Command::Integration {
            command:
                IntegrationCommand::Heartbeat {
                    user,
                    source,
                    alert,
                    every,
                    off: _,
                },
        } => heartbeats::set(&user, &source, &alert, every.as_deref()).await,
        Command::Integration {
            command:
                IntegrationCommand::Secrets {
                    user,
                    source,
                    signing_secret_file,
                    unsigned: _,
                },
        } => {
            commands::replace_signing_secrets(&user, &source, signing_secret_file.as_deref()).await
        }
        Command::Normalize { source, file } => commands::normalize(&source, &file),
        Command::Correlation {
            command:
                CorrelationCommand::Replay {
                    user,
                    since,
                    config,
                    json,
                },
        } => replay::run(&user, &since, &config, json).await,
        Command::Retention {
            command: RetentionCommand::Run { dry_run, json },
        } => commands::run_retention(dry_run, json).await,
        Command::Silence { command } => match command {
            SilenceCommand::Create {
                user,
                matchers,
                duration,
                ends_at,
                starts_at,
                comment,
                created_by,
                on_expiry,
                json,
            } => {
                silences::create(silences::Create {
                    user,
                    matchers,
                    starts_at,
                    ends_at,
                    duration,
                    comment,
                    created_by,
                    on_expiry,
                    json,
                })
                .await
            }
            SilenceCommand::List {
                user,
                include_expired,
                json,
            } => silences::list(&user, include_expired, json).await,
            SilenceCommand::Expire { user, id } => silences::expire(&user, &id).await,
        },
        Command::DeadLetters {
            command: DeadLetterCommand::List { json },
        } => commands::list_dead_letters(json).await,
        Command::DeadLetters {
            command: DeadLetterCommand::Replay { id },
        } => commands::replay_dead_letter(id).await,
        Command::Notifications {
            command: NotificationCommand::Failed { json },
        } => commands::failed_notifications(json).await,
        Command::Notifications {
            command: NotificationCommand::Retry { id },
        } => commands::retry_notification(id).await,
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
