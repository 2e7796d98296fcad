//! The commands behind the `aurora` subcommands.

use std::io::Read;

use anyhow::Context;
use aurora_db::{AsyncPgConnection, integrations, users};
use aurora_domain::SourceType;
use aurora_settings::Settings;
use aurora_vendors::{Headers, WebhookRequest};
use secrecy::ExposeSecret;

use crate::Failure;

pub(crate) async fn connect() -> Result<(Settings, AsyncPgConnection), Failure> {
    let settings = Settings::load().map_err(|err| Failure::Usage(err.to_string()))?;
    let conn = aurora_db::pool::connect(settings.database.url.expose_secret())
        .await
        .context("cannot connect to PostgreSQL (database.url)")?;
    Ok((settings, conn))
}

/// `aurora migrate`.
pub(crate) async fn migrate() -> Result<(), Failure> {
    let (_, conn) = connect().await?;
    let applied = aurora_db::migrate::run_pending(conn)
        .map_err(|err| anyhow::anyhow!("migration failed: {err}"))?;
    println!("{applied} migration(s) applied; the database is up to date.");
    Ok(())
}

/// `aurora user create NAME`.
pub(crate) async fn create_user(name: &str, json: bool) -> Result<(), Failure> {
    if name.trim().is_empty() {
        return Err(Failure::Usage("the user name must not be empty".into()));
    }
    let (_, mut conn) = connect().await?;
    if users::find_by_name(&mut conn, name)
        .await
        .context("looking up the user")?
        .is_some()
    {
        return Err(Failure::Usage(format!(
            "a user named `{name}` already exists"
        )));
    }
    let created = users::create(&mut conn, name)
        .await
        .context("creating the user")?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "user": name, "user_id": created.user.id, "api_token": created.api_token })
        );
    } else {
        println!("Created user {name} ({}).", created.user.id);
        println!(
            "API token (shown once, keep it safe): {}",
            created.api_token
        );
    }
    Ok(())
}

/// `aurora user rotate-token NAME`.
pub(crate) async fn rotate_token(name: &str, json: bool) -> Result<(), Failure> {
    let (_, mut conn) = connect().await?;
    let api_token = users::rotate_api_token(&mut conn, name)
        .await
        .context("rotating the API token")?
        .ok_or_else(|| Failure::Usage(format!("no user named `{name}`")))?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "user": name, "api_token": api_token })
        );
    } else {
        println!("{name}'s old API token no longer works.");
        println!("New API token (shown once, keep it safe): {api_token}");
    }
    Ok(())
}

/// `aurora user revoke-token NAME`.
pub(crate) async fn revoke_token(name: &str) -> Result<(), Failure> {
    let (_, mut conn) = connect().await?;
    if !users::revoke_api_token(&mut conn, name)
        .await
        .context("revoking the API token")?
    {
        return Err(Failure::Usage(format!("no user named `{name}`")));
    }
    println!(
        "{name}'s API token no longer works; `aurora user rotate-token {name}` issues a new one."
    );
    Ok(())
}

/// `aurora secrets rotate-key`.
pub(crate) async fn rotate_key() -> Result<(), Failure> {
    let (settings, mut conn) = connect().await?;
    let (key, previous_keys) = settings.secrets.keys();
    let secret_box = aurora_db::secret_box::SecretBox::from_settings(key, previous_keys)
        .map_err(|err| Failure::Usage(format!("secrets: {err}")))?
        .ok_or_else(|| {
            Failure::Usage(
                "secrets.encryption_key is not set: set AURORA__SECRETS__ENCRYPTION_KEY to the new key and AURORA__SECRETS__PREVIOUS_ENCRYPTION_KEYS to the old one".into(),
            )
        })?;
    let changed = integrations::reseal_all(&mut conn, &secret_box)
        .await
        .map_err(|err| match err {
            integrations::ResealError::CannotOpen(_) => Failure::Usage(err.to_string()),
            integrations::ResealError::Query(err) => {
                Failure::Other(anyhow::Error::new(err).context("sealing the secrets again"))
            }
        })?;
    println!(
        "Sealed the signing secrets of {changed} integration(s) again under key {}; the previous keys are no longer needed.",
        secret_box.key_id()
    );
    Ok(())
}

/// The secrets in `file` (`-`: standard input), one per line; none when no file is given.
fn read_signing_secrets(file: Option<&str>) -> Result<Vec<String>, Failure> {
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| Failure::Usage(format!("cannot read standard input: {err}")))?;
        text
    } else {
        std::fs::read_to_string(file)
            .map_err(|err| Failure::Usage(format!("cannot read {file}: {err}")))?
    };
    let secrets: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if secrets.is_empty() {
        return Err(Failure::Usage(format!("{file} holds no signing secret")));
    }
    Ok(secrets)
}

/// `aurora integration create --user NAME --source SOURCE`.
pub(crate) async fn create_integration(
    user: &str,
    source: &str,
    signing_secret_file: Option<&str>,
    signature_timestamp: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let source = match signature_timestamp {
        Some(_) => timestamped_source(source)?,
        None => parse_source(source)?,
    };
    let signing_secrets = read_signing_secrets(signing_secret_file)?;
    let (settings, mut conn) = connect().await?;
    let owner = users::find_by_name(&mut conn, user)
        .await
        .context("looking up the user")?
        .ok_or_else(|| {
            Failure::Usage(format!(
                "no user named `{user}`; create it with `aurora user create {user}`"
            ))
        })?;
    let secret_box = secret_box_for(&settings, &signing_secrets)?;
    let created = integrations::create(
        &mut conn,
        &owner.id,
        source,
        &signing_secrets,
        secret_box.as_ref(),
    )
    .await
    .map_err(|err| match err {
        aurora_db::QueryError::DatabaseError(aurora_db::DatabaseErrorKind::UniqueViolation, _) => {
            Failure::Usage(format!(
                "user `{user}` already has a live {source} integration"
            ))
        }
        other => Failure::Other(anyhow::Error::new(other).context("creating the integration")),
    })?;
    if signature_timestamp.is_some() {
        integrations::set_signature_timestamp(&mut conn, &owner.id, source, signature_timestamp)
            .await
            .context("setting the signature timestamp policy")?;
    }
    let url = format!(
        "{}{}",
        settings.ingress.public_url.trim_end_matches('/'),
        aurora_vendors::route_path(source)
    );
    if json {
        println!(
            "{}",
            serde_json::json!({ "source": source, "url": url, "token": created.token })
        );
    } else {
        println!("Created {} integration for {user}.", source.display_name());
        println!("Webhook URL: {url}");
        println!(
            "Token (shown once; send as `Authorization: Bearer <token>`): {}",
            created.token
        );
    }
    Ok(())
}

/// `aurora normalize --source SOURCE FILE`.
pub(crate) fn normalize(source: &str, file: &str) -> Result<(), Failure> {
    let source: SourceType = source
        .parse()
        .map_err(|err: aurora_domain::ParseEnumError| Failure::Usage(err.to_string()))?;
    let vendor = aurora_vendors::for_source(source)
        .ok_or_else(|| Failure::Usage(format!("no normalizer for source {source} yet")))?;
    let mut body = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut body)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut body))
    };
    read.map_err(|err| Failure::Usage(format!("cannot read {file}: {err}")))?;
    let headers = Headers::default();
    let normalized = vendor
        .normalize(WebhookRequest {
            headers: &headers,
            body: &body,
            received_at: chrono::Utc::now(),
        })
        .map_err(|err| Failure::Usage(err.to_string()))?;
    println!(
        "{}",
        serde_json::to_string(&normalized).expect("normalized alerts always serialize")
    );
    Ok(())
}

/// `aurora dead-letters list`.
pub(crate) async fn list_dead_letters(json: bool) -> Result<(), Failure> {
    let (_, mut conn) = connect().await?;
    let letters = aurora_db::dead_letters::list(&mut conn, 100)
        .await
        .context("listing dead letters")?;
    if json {
        println!("{}", serde_json::json!({ "dead_letters": letters }));
        return Ok(());
    }
    if letters.is_empty() {
        println!("No dead letters.");
    }
    for letter in letters {
        let replayed = letter
            .replayed_at
            .map(|at| format!(", replayed {at}"))
            .unwrap_or_default();
        println!(
            "{}  {}  {} (consumer {}, {} deliveries{replayed}): {}",
            letter.id,
            letter.created_at,
            letter.subject,
            letter.consumer,
            letter.deliveries,
            letter.reason
        );
    }
    Ok(())
}

/// `aurora notifications failed`.
pub(crate) async fn failed_notifications(json: bool) -> Result<(), Failure> {
    let (_, mut conn) = connect().await?;
    let failed = aurora_db::notifications::dead_deliveries(&mut conn, 100)
        .await
        .context("listing failed notifications")?;
    if json {
        println!("{}", serde_json::json!({ "failed": failed }));
        return Ok(());
    }
    if failed.is_empty() {
        println!("No failed notifications.");
    }
    for delivery in failed {
        println!(
            "{}  {}  {} {} of incident {} ({} attempts): {}",
            delivery.id,
            delivery.finished_at,
            delivery.target,
            delivery.event_type,
            delivery.incident_id,
            delivery.attempts,
            delivery
                .last_error
                .as_deref()
                .unwrap_or("no reason recorded")
        );
    }
    Ok(())
}

/// `aurora notifications retry ID`.
pub(crate) async fn retry_notification(id: i64) -> Result<(), Failure> {
    let (_, mut conn) = connect().await?;
    if !aurora_db::notifications::revive(&mut conn, id)
        .await
        .context("retrying the notification")?
    {
        return Err(Failure::Usage(format!("no failed notification {id}")));
    }
    println!("Notification {id} is due again; a notifier sends it within seconds.");
    Ok(())
}

/// `aurora dead-letters replay ID`.
pub(crate) async fn replay_dead_letter(id: i64) -> Result<(), Failure> {
    let (settings, mut conn) = connect().await?;
    let letter = aurora_db::dead_letters::get(&mut conn, id)
        .await
        .context("reading the dead letter")?
        .ok_or_else(|| Failure::Usage(format!("no dead letter {id}")))?;
    let topology = aurora_bus::Topology::new(Some(&settings.nats.prefix))
        .map_err(|err| Failure::Usage(err.to_string()))?;
    let bus = aurora_bus::Bus::connect(&settings.nats.url, topology)
        .await
        .context("connecting to NATS (nats.url)")?;
    // A fresh message id: the original one may still be in the duplicate window.
    let message_id = format!("replay:{id}:{}", chrono::Utc::now().timestamp_micros());
    let receipt = bus
        .publish_raw(letter.subject.clone(), &message_id, letter.payload)
        .await
        .context("publishing")?;
    aurora_db::dead_letters::mark_replayed(&mut conn, id)
        .await
        .context("marking the dead letter replayed")?;
    println!(
        "Replayed dead letter {id} on {} (stream sequence {}).",
        letter.subject, receipt.sequence
    );
    Ok(())
}

/// The key sealing signing secrets; an error when secrets are given and no key is set.
fn secret_box_for(
    settings: &Settings,
    signing_secrets: &[String],
) -> Result<Option<aurora_db::secret_box::SecretBox>, Failure> {
    let (key, previous_keys) = settings.secrets.keys();
    let secret_box = aurora_db::secret_box::SecretBox::from_settings(key, previous_keys)
        .map_err(|err| Failure::Usage(format!("secrets.encryption_key: {err}")))?;
    if !signing_secrets.is_empty() && secret_box.is_none() {
        return Err(Failure::Usage(
            "signing secrets need an encryption key: set AURORA__SECRETS__ENCRYPTION_KEY (32 bytes, base64)".into(),
        ));
    }
    Ok(secret_box)
}

/// The user named `name`; a usage error when there is none.
pub(crate) async fn owner(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> Result<users::User, Failure> {
    users::find_by_name(conn, name)
        .await
        .context("looking up the user")?
        .ok_or_else(|| Failure::Usage(format!("no user named `{name}`")))
}

/// Tells every ingress that an integration changed, so none keeps accepting what it cached.
async fn announce(settings: &Settings, integration_id: uuid::Uuid) -> Result<(), Failure> {
    let announced = async {
        let topology = aurora_bus::Topology::new(Some(&settings.nats.prefix))?;
        let bus = aurora_bus::Bus::connect(&settings.nats.url, topology).await?;
        bus.announce_integration_change(&aurora_domain::IntegrationChanged { integration_id })
            .await?;
        Ok::<_, anyhow::Error>(())
    };
    tokio::time::timeout(ANNOUNCE_TIMEOUT, announced)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer from NATS")))
        .map_err(|err| {
            Failure::Other(err.context(format!(
                "the change is stored, but the ingresses could not be told (nats.url); they \
                 apply it within ingress.auth_cache_secs ({} s)",
                settings.ingress.auth_cache_secs
            )))
        })
}

/// How long telling the ingresses may take.
const ANNOUNCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `aurora integration revoke --user NAME --source SOURCE`.
pub(crate) async fn revoke_integration(user: &str, source: &str) -> Result<(), Failure> {
    let source = parse_source(source)?;
    let (settings, mut conn) = connect().await?;
    let owner = owner(&mut conn, user).await?;
    let revoked = integrations::revoke(&mut conn, &owner.id, source)
        .await
        .context("revoking")?
        .ok_or_else(|| Failure::Usage(format!("user `{user}` has no live {source} integration")))?;
    announce(&settings, revoked).await?;
    println!(
        "Revoked {user}'s {} integration; its token no longer works.",
        source.display_name()
    );
    Ok(())
}

/// `aurora integration signature-timestamp --user NAME --source SOURCE POLICY`.
pub(crate) async fn set_signature_timestamp(
    user: &str,
    source: &str,
    policy: Option<&str>,
) -> Result<(), Failure> {
    let source = timestamped_source(source)?;
    let (settings, mut conn) = connect().await?;
    let owner = owner(&mut conn, user).await?;
    let changed = integrations::set_signature_timestamp(&mut conn, &owner.id, source, policy)
        .await
        .context("setting the signature timestamp policy")?
        .ok_or_else(|| Failure::Usage(format!("user `{user}` has no live {source} integration")))?;
    announce(&settings, changed).await?;
    println!(
        "{user}'s {} integration: signature timestamps {}.",
        source.display_name(),
        policy.unwrap_or("as the vendor's default")
    );
    Ok(())
}

/// `aurora integration secrets --user NAME --source SOURCE --signing-secret-file FILE`.
pub(crate) async fn replace_signing_secrets(
    user: &str,
    source: &str,
    signing_secret_file: Option<&str>,
) -> Result<(), Failure> {
    let source = parse_source(source)?;
    let signing_secrets = read_signing_secrets(signing_secret_file)?;
    let (settings, mut conn) = connect().await?;
    let secret_box = secret_box_for(&settings, &signing_secrets)?;
    let owner = owner(&mut conn, user).await?;
    let changed = integrations::replace_signing_secrets(
        &mut conn,
        &owner.id,
        source,
        &signing_secrets,
        secret_box.as_ref(),
    )
    .await
    .context("replacing the signing secrets")?
    .ok_or_else(|| Failure::Usage(format!("user `{user}` has no live {source} integration")))?;
    announce(&settings, changed).await?;
    println!(
        "{user}'s {} integration now accepts {} signing secret(s); any other stopped working.",
        source.display_name(),
        signing_secrets.len()
    );
    Ok(())
}

/// A source whose signatures can cover a timestamp (Aurora's CI scheme, Grafana's); for the
/// others a timestamp policy would protect nothing.
fn timestamped_source(source: &str) -> Result<SourceType, Failure> {
    use aurora_vendors::SignatureScheme;
    let source = parse_source(source)?;
    match aurora_vendors::for_source(source).and_then(|vendor| vendor.signature_scheme()) {
        Some(SignatureScheme::Aurora | SignatureScheme::Grafana) => Ok(source),
        _ => Err(Failure::Usage(format!(
            "{source} signatures carry no timestamp Aurora checks: a timestamp policy applies to grafana, jenkins and cloudbees"
        ))),
    }
}

pub(crate) fn parse_source(source: &str) -> Result<SourceType, Failure> {
    source
        .parse()
        .map_err(|err: aurora_domain::ParseEnumError| Failure::Usage(err.to_string()))
}

/// `aurora retention run [--dry-run] [--json]`.
pub(crate) async fn run_retention(dry_run: bool, json: bool) -> Result<(), Failure> {
    let (settings, mut conn) = connect().await?;
    let policy = aurora_db::retention::Policy::at(&settings.retention, aurora_db::time::now());
    let counts = if dry_run {
        aurora_db::retention::due(&mut conn, &policy).await
    } else {
        aurora_db::retention::run(&mut conn, &policy).await
    }
    .context("applying the retention settings")?;
    if json {
        let mut answer = serde_json::to_value(counts).expect("counts serialize");
        answer["dry_run"] = dry_run.into();
        println!("{answer}");
        return Ok(());
    }
    let days = |days: u32| {
        if days == 0 {
            "kept for ever".to_owned()
        } else {
            format!("after {days} days")
        }
    };
    let r = &settings.retention;
    println!(
        "{} {} resolved or merged incident(s) ({}), {} resolved alert(s) ({}), \
         {} raw webhook bod(ies) ({}), {} hourly noise figure(s).",
        if dry_run { "Would delete" } else { "Deleted" },
        counts.incidents,
        days(r.resolved_incidents_days),
        counts.alerts,
        days(r.alerts_days),
        counts.raw_payloads,
        days(r.raw_payloads_days),
        counts.noise_counts
    );
    Ok(())
}
