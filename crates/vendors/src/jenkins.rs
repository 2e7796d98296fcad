//! Jenkins and CloudBees CI: every finished build becomes a deployment, and a failed or
//! unstable one also raises an alert. Accepts the Notification plugin's body, the generic
//! deployment event a pipeline posts, and the flat shapes of other notification plugins
//! (job or project name, build number, result or status, URL).
//!
//! Docs: <https://plugins.jenkins.io/notification/>

use std::collections::BTreeMap;

use aurora_domain::{
    AlertStatus, DeploymentEvent, DeploymentResult, Normalized, Severity, SourceType,
};
use chrono::TimeDelta;

use crate::draft::{Draft, deployment_without_nul};
use crate::fields::Fields;
use crate::{SignatureScheme, Vendor, VendorError, WebhookRequest, invalid, parse_object};

/// Jenkins, or CloudBees CI, which sends the same bodies.
#[derive(Debug, Clone, Copy)]
pub struct Jenkins {
    source: SourceType,
}

impl Jenkins {
    /// Jenkins' route.
    pub const JENKINS: Jenkins = Jenkins {
        source: SourceType::Jenkins,
    };
    /// CloudBees CI's route.
    pub const CLOUDBEES: Jenkins = Jenkins {
        source: SourceType::Cloudbees,
    };
}

impl Vendor for Jenkins {
    fn source_type(&self) -> SourceType {
        self.source
    }

    fn signature_scheme(&self) -> Option<SignatureScheme> {
        Some(SignatureScheme::Aurora)
    }

    fn normalize(&self, request: WebhookRequest<'_>) -> Result<Normalized, VendorError> {
        let source = self.source;
        let body = parse_object(source, request.body)?;
        let top = Fields::of(&body).expect("parse_object answers an object");
        // The Notification plugin nests the build; flat shapes keep it at the top.
        let build = top.object("build").unwrap_or(top);
        // Folders and multibranch jobs repeat short names ("main"); the job URL has the path.
        let job_path = top.text(&["url"]).and_then(|url| job_path(&url));
        let named = top
            .text(&[
                "service",
                "job_name",
                "jobName",
                "project",
                "projectName",
                "display_name",
                "name",
                "job",
            ])
            .or_else(|| {
                top.object("job")
                    .and_then(|job| job.text(&["name", "display_name"]))
            });
        let service = match (top.text(&["service"]), job_path, named) {
            (Some(service), _, _) => service,
            (None, Some(path), _) if path.contains('/') => path,
            (None, _, Some(name)) => name,
            (None, Some(path), None) => path,
            (None, None, None) => {
                return Err(invalid(source, "missing field `name` (job) or `service`"));
            }
        };
        let Some(result) = outcome(source, build, top)? else {
            // No outcome yet (a queued, started or running build): nothing to record.
            return Ok(Normalized::default());
        };
        let scm = build
            .object("scm")
            .or_else(|| top.object("git"))
            .or_else(|| top.object("scm"));
        let parameters = build.object("parameters");
        let started_at = build
            .time(&["timestamp", "started_at", "start_time"])
            .or_else(|| top.time(&["timestamp", "started_at"]));
        let duration = build
            .text(&["duration"])
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|d| *d > 0);
        let finished_at = build
            .time(&["finished_at", "end_time"])
            // An absurd duration (past chrono's range) leaves the end unknown, not a crash.
            .or_else(|| started_at?.checked_add_signed(TimeDelta::try_milliseconds(duration?)?))
            .unwrap_or(request.received_at);
        let url = build
            .text(&["full_url", "build_url", "url"])
            .or_else(|| top.text(&["build_url", "url"]));
        let deployment = deployment_without_nul(DeploymentEvent {
            source_type: source,
            service: service.clone(),
            environment: top.text(&["environment", "env"]).or_else(|| {
                parameters.and_then(|p| p.text(&["ENVIRONMENT", "ENV", "DEPLOY_ENV", "TARGET_ENV"]))
            }),
            result,
            build: build
                .text(&["number", "build_number", "build_id", "buildName", "id"])
                .or_else(|| top.text(&["build_number", "number", "build", "buildName"]))
                .map(|build| build.trim_start_matches('#').to_owned())
                // Plugins that send no number still link the build: `…/job/web/32/`.
                .or_else(|| url.as_deref().and_then(build_number_in_url)),
            url,
            commit: scm
                .and_then(|s| s.text(&["commit", "commit_sha", "sha", "revision"]))
                .or_else(|| top.text(&["commit", "commit_sha", "git_commit"])),
            branch: scm
                .and_then(|s| s.text(&["branch"]))
                .or_else(|| top.text(&["branch", "git_branch"])),
            started_at,
            finished_at,
        });
        let alerts =
            failure_alert(&deployment).map(|draft| draft.finish(source, request.received_at));
        Ok(Normalized {
            alerts: alerts.into_iter().collect(),
            deployment: Some(deployment),
        })
    }
}

/// The build's outcome: the first field holding an outcome word wins, so a lifecycle word in
/// one field (`"status": "COMPLETED"`) does not hide `"result": "FAILURE"`. `None` while the
/// build runs; an error for a word that is neither.
fn outcome(
    source: SourceType,
    build: Fields<'_>,
    top: Fields<'_>,
) -> Result<Option<DeploymentResult>, VendorError> {
    const KEYS: &[&str] = &["result", "build_result", "status", "buildStatus", "event"];
    let words: Vec<String> = [build, top]
        .iter()
        .flat_map(|fields| KEYS.iter().filter_map(|key| fields.text(&[key])))
        .collect();
    if let Some(result) = words.iter().find_map(|word| deployment_result(word)) {
        return Ok(Some(result));
    }
    match words
        .iter()
        .find(|word| !in_progress(word) && !is_lifecycle(word))
    {
        Some(word) => Err(invalid(
            source,
            format!(
                "field `result`: unknown value `{word}`; expected SUCCESS, FAILURE, UNSTABLE or ABORTED"
            ),
        )),
        None => Ok(None),
    }
}

/// Phase words some plugins put where others put the outcome.
fn is_lifecycle(word: &str) -> bool {
    matches!(
        word.trim().to_ascii_uppercase().as_str(),
        "COMPLETED" | "COMPLETE" | "FINALIZED" | "FINISHED" | "DONE"
    )
}

/// `a/b` from a job URL `…job/a/job/b/` (with or without the host and a build number).
fn job_path(url: &str) -> Option<String> {
    let segments: Vec<&str> = url.split('/').collect();
    let names: Vec<&str> = segments
        .windows(2)
        .filter(|pair| pair[0] == "job" && !pair[1].is_empty())
        .map(|pair| pair[1])
        .collect();
    (!names.is_empty()).then(|| names.join("/"))
}

/// The build number at the end of a build URL (`…/job/web/32/`).
fn build_number_in_url(url: &str) -> Option<String> {
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())).then(|| last.to_owned())
}

/// Words of plugins that report a build before it has an outcome.
fn in_progress(word: &str) -> bool {
    matches!(
        word.trim().to_ascii_uppercase().as_str(),
        "QUEUED"
            | "START"
            | "STARTED"
            | "RUNNING"
            | "BUILDING"
            | "IN_PROGRESS"
            | "PENDING"
            | "INPROGRESS"
    )
}

/// SUCCESS, FAILURE, UNSTABLE, ABORTED (and NOT_BUILT as aborted), in any case.
fn deployment_result(word: &str) -> Option<DeploymentResult> {
    match word.trim().to_ascii_uppercase().as_str() {
        "SUCCESS" | "SUCCESSFUL" | "SUCCEEDED" | "PASSED" | "FIXED" | "OK" => {
            Some(DeploymentResult::Success)
        }
        "FAILURE" | "FAILED" | "ERROR" => Some(DeploymentResult::Failure),
        "UNSTABLE" => Some(DeploymentResult::Unstable),
        "ABORTED" | "NOT_BUILT" | "CANCELLED" | "CANCELED" => Some(DeploymentResult::Aborted),
        _ => None,
    }
}

/// A failed or unstable build is a problem in its own right: one alert per job and build.
fn failure_alert(deployment: &DeploymentEvent) -> Option<Draft> {
    let (severity, verb) = match deployment.result {
        DeploymentResult::Failure => (Severity::High, "failed"),
        DeploymentResult::Unstable => (Severity::Medium, "is unstable"),
        DeploymentResult::Success | DeploymentResult::Aborted => return None,
    };
    let build = deployment.build.clone().unwrap_or_default();
    let mut draft = Draft::new(vec![
        "build".into(),
        deployment.service.clone(),
        build.clone(),
    ]);
    draft.status = AlertStatus::Firing;
    draft.severity = severity;
    draft.title = Some(if build.is_empty() {
        format!("Build of {} {verb}", deployment.service)
    } else {
        format!("Build {build} of {} {verb}", deployment.service)
    });
    draft.service = Some(deployment.service.clone());
    draft.environment = deployment.environment.clone();
    draft.started_at = Some(deployment.finished_at);
    draft.url = deployment.url.clone();
    let mut labels = BTreeMap::from([
        ("job".to_owned(), deployment.service.clone()),
        ("result".to_owned(), deployment.result.to_string()),
    ]);
    for (key, value) in [
        ("build", deployment.build.clone()),
        ("commit", deployment.commit.clone()),
        ("branch", deployment.branch.clone()),
    ] {
        if let Some(value) = value {
            labels.insert(key.to_owned(), value);
        }
    }
    draft.labels = labels;
    Some(draft)
}
