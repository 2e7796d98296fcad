//! The Markdown summary: what happened, likely root cause, evidence, next steps.

use std::fmt::Write;

use crate::facts::{utc, vendor_name};
use crate::knowledge::Pattern;
use crate::{Hypothesis, IncidentContext, Suggestion};

/// The description is quoted up to this many lines …
const QUOTED_LINES: usize = 3;
/// … and characters.
const QUOTED_CHARS: usize = 300;

pub(crate) fn render(
    context: &IncidentContext,
    hypotheses: &[Hypothesis],
    suggestions: &[Suggestion],
    patterns: &[&Pattern],
) -> String {
    let alert = &context.alert;
    let mut out = String::from("## What happened\n\n");
    let place = match (&alert.service, &alert.environment) {
        (Some(s), Some(e)) => format!(" on `{s}` in `{e}`"),
        (Some(s), None) => format!(" on `{s}`"),
        (None, Some(e)) => format!(" in `{e}`"),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "{} reported **{}** ({}){place}, firing since {}.",
        vendor_name(&alert.source_type),
        alert.title,
        alert.severity,
        utc(alert.started_at)
    );
    if let Some(description) = &alert.description {
        // A few lines at most: the summary is read in chat, where the root cause must come
        // early; the whole description is on the alert.
        let mut quoted = 0;
        for line in description.lines().take(QUOTED_LINES) {
            let room = QUOTED_CHARS.saturating_sub(quoted);
            if room == 0 {
                break;
            }
            let shown: String = line.chars().take(room).collect();
            quoted += shown.chars().count();
            let cut = if shown.len() < line.len() { "…" } else { "" };
            let _ = writeln!(out, "> {shown}{cut}");
        }
        out.push('\n');
    }
    if let Some(runbook) = &alert.runbook_url {
        let _ = writeln!(out, "Runbook: <{runbook}>\n");
    }
    if !context.correlated.is_empty() {
        let _ = writeln!(
            out,
            "{} more alert(s) correlated with it.",
            context.correlated.len()
        );
    }

    out.push_str("\n## Likely root cause\n\n");
    if hypotheses.is_empty() {
        out.push_str(
            "Unknown. No known failure pattern matches this alert and no deployment of its service \
             or dependencies preceded it; Aurora does not guess.\n",
        );
    }
    for (rank, hypothesis) in hypotheses.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} — confidence {:.0}%",
            rank + 1,
            hypothesis.cause,
            hypothesis.confidence * 100.0
        );
    }

    out.push_str("\n## Evidence\n\n");
    let _ = writeln!(
        out,
        "- alert {}: \"{}\", severity {}, started {}",
        alert.id,
        alert.title,
        alert.severity,
        utc(alert.started_at)
    );
    for hypothesis in hypotheses {
        for line in &hypothesis.evidence {
            let _ = writeln!(out, "- {line}");
        }
    }
    let cited: std::collections::HashSet<&str> = patterns.iter().map(|p| p.id.as_str()).collect();
    for command in context
        .commands
        .iter()
        .filter(|c| !c.pattern.as_deref().is_some_and(|p| cited.contains(p)))
    {
        let _ = writeln!(out, "- {}", command.cite());
    }
    for past in &context.similar {
        let _ = writeln!(
            out,
            "- past incident {}: \"{}\" ({}, {})",
            past.id,
            past.title,
            utc(past.started_at),
            past.status
        );
    }

    out.push_str("\n## Next steps\n\n");
    for (rank, suggestion) in suggestions.iter().take(5).enumerate() {
        let _ = writeln!(
            out,
            "{}. {} (risk: {})",
            rank + 1,
            suggestion.title,
            suggestion.risk
        );
    }
    for pattern in patterns {
        for check in &pattern.checks {
            let _ = writeln!(out, "- Check: {check}");
        }
    }
    if suggestions.is_empty() && patterns.is_empty() {
        out.push_str(
            "- Look at the alert in its source and at the service's recent changes and logs.\n",
        );
    }
    out
}
