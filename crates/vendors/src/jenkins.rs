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

use crate::draft::Draft;
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
        let service = top
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
            })
            .ok_or_else(|| invalid(source, "missing field `name` (job) or `service`"))?;
        const RESULT_KEYS: &[&str] = &["status", "result", "build_result", "buildStatus", "event"];
        // No outcome yet (a queued or started build): nothing to record.
        let Some(word) = build.text(RESULT_KEYS).or_else(|| top.text(RESULT_KEYS)) else {
            return Ok(Normalized::default());
        };
        let result = match deployment_result(&word) {
            Some(result) => result,
            None if in_progress(&word) => return Ok(Normalized::default()),
            None => {
                return Err(invalid(
                    source,
                    format!(
                        "field `result`: unknown value `{word}`; expected SUCCESS, FAILURE, UNSTABLE or ABORTED"
                    ),
                ));
            }
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
            .or_else(|| Some(started_at? + TimeDelta::milliseconds(duration?)))
            .unwrap_or(request.received_at);
        let deployment = DeploymentEvent {
            source_type: source,
            service: service.clone(),
            environment: top.text(&["environment", "env"]).or_else(|| {
                parameters.and_then(|p| p.text(&["ENVIRONMENT", "ENV", "DEPLOY_ENV", "TARGET_ENV"]))
            }),
            result,
            build: build
                .text(&["number", "build_number", "build_id", "buildName", "id"])
                .or_else(|| top.text(&["build_number", "number", "build", "buildName"]))
                .map(|build| build.trim_start_matches('#').to_owned()),
            url: build
                .text(&["full_url", "build_url", "url"])
                .or_else(|| top.text(&["build_url", "url"])),
            commit: scm
                .and_then(|s| s.text(&["commit", "commit_sha", "sha", "revision"]))
                .or_else(|| top.text(&["commit", "commit_sha", "git_commit"])),
            branch: scm
                .and_then(|s| s.text(&["branch"]))
                .or_else(|| top.text(&["branch", "git_branch"])),
            started_at,
            finished_at,
        };
        let alerts =
            failure_alert(&deployment).map(|draft| draft.finish(source, request.received_at));
        Ok(Normalized {
            alerts: alerts.into_iter().collect(),
            deployment: Some(deployment),
        })
    }
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
