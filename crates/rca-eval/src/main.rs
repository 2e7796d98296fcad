//! `make eval`: runs the scenarios through the built-in analyst, prints top-1 and top-3
//! accuracy, the unknown-when-unknown rate and every miss, and writes a JSON report.
//!
//! Usage: `aurora-rca-eval [--report FILE]` (default `target/eval-report.json`), or
//! `aurora-rca-eval --explain ID` for one scenario's thoughts and ranked hypotheses. The
//! held-out scenarios (`holdout/`) are scored on a line of their own, without their misses.

use std::process::ExitCode;

use aurora_rca::KnowledgeBase;
use aurora_rca_eval::{floor, holdout_dir, load, run, scenarios_dir};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = scenarios_dir();
    let report_path = match args.as_slice() {
        [] => "target/eval-report.json".to_owned(),
        [flag, path] if flag == "--report" => path.clone(),
        [flag, id] if flag == "--explain" => return explain(dir, id),
        _ => {
            eprintln!("usage: aurora-rca-eval [--report FILE | --explain ID]");
            return ExitCode::from(2);
        }
    };
    let (scenarios, floor) = match (load(dir), floor(dir)) {
        (Ok(scenarios), Ok(floor)) => (scenarios, floor),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("eval: {err}");
            return ExitCode::FAILURE;
        }
    };
    let knowledge = KnowledgeBase::builtin();
    let report = run(&scenarios, &knowledge);
    for miss in report.outcomes.iter().filter(|o| !o.top1()) {
        println!(
            "miss: {} expected {} got {}{}",
            miss.id,
            miss.expected,
            miss.ranked.join(" > "),
            if miss.distracting {
                " (distracting)"
            } else {
                ""
            }
        );
    }
    println!("{}", report.line("eval"));
    match load(holdout_dir()) {
        Ok(held_out) if !held_out.is_empty() => {
            println!("{}", run(&held_out, &knowledge).line("eval held-out"));
        }
        Ok(_) => {}
        Err(err) => {
            eprintln!("eval: {err}");
            return ExitCode::FAILURE;
        }
    }
    let json = serde_json::to_string_pretty(&report).expect("the report serializes");
    if let Err(err) = std::fs::write(&report_path, json) {
        eprintln!("eval: cannot write {report_path}: {err}");
        return ExitCode::FAILURE;
    }
    println!("eval: report written to {report_path}");
    let below = report.top1 < floor.top1
        || report.top3 < floor.top3
        || report.wrong_on_unknown > floor.wrong_on_unknown;
    if below {
        eprintln!(
            "eval: below the committed floor (top1 >= {:.1}%, top3 >= {:.1}%, wrong_on_unknown <= {})",
            floor.top1 * 100.0,
            floor.top3 * 100.0,
            floor.wrong_on_unknown
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Prints what the analyst thought of one scenario.
fn explain(dir: &std::path::Path, id: &str) -> ExitCode {
    let scenarios = match load(dir) {
        Ok(scenarios) => scenarios,
        Err(err) => {
            eprintln!("eval: {err}");
            return ExitCode::FAILURE;
        }
    };
    let Some(scenario) = scenarios.iter().find(|s| s.id == id) else {
        eprintln!("eval: no scenario `{id}`");
        return ExitCode::FAILURE;
    };
    let analysis = scenario.analyse(&KnowledgeBase::builtin());
    println!("expected: {}", scenario.expected);
    for (kind, thought) in &analysis.thoughts {
        println!("{kind}: {thought}");
    }
    for hypothesis in &analysis.hypotheses {
        println!(
            "{:.2} {:?} {}",
            hypothesis.confidence, hypothesis.basis, hypothesis.cause
        );
        for line in &hypothesis.evidence {
            println!("    {line}");
        }
    }
    ExitCode::SUCCESS
}
