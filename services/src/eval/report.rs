//! Summaries: per source and task, as a table, as JSON, and an HTML page of the worst cases.

use super::metrics::DetCounts;
use super::run::RecordResult;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Aggregate scores of one (source, task) group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Source folder ("all" for the totals of a task).
    pub source: String,
    /// Task.
    pub task: String,
    /// Records.
    pub records: usize,
    /// Records the engine failed on.
    pub errors: usize,
    /// Records not scored (task not handled).
    pub skipped: usize,
    /// Exact-line accuracy (line, plate).
    pub line_accuracy: Option<f64>,
    /// Character error rate: total edits / total reference characters.
    pub cer: Option<f64>,
    /// Labelled lines found exactly / labelled lines (page).
    pub line_recall: Option<f64>,
    /// Detection precision (detect).
    pub precision: Option<f64>,
    /// Detection recall (detect).
    pub recall: Option<f64>,
    /// Detection hmean (detect).
    pub hmean: Option<f64>,
    /// Document fields right after normalisation / labelled fields (document tasks).
    pub field_accuracy: Option<f64>,
    /// Documents with every labelled field right / documents (document tasks).
    pub document_accuracy: Option<f64>,
    /// Accuracy of each field by standard name (document tasks).
    pub by_field: BTreeMap<String, f64>,
    /// Median milliseconds per record.
    pub median_ms: f64,
}

fn summarise(source: &str, task: &str, rs: &[&RecordResult]) -> Summary {
    let scored: Vec<&&RecordResult> = rs.iter().filter(|r| !r.skipped).collect();
    let mut s = Summary {
        source: source.into(),
        task: task.into(),
        records: rs.len(),
        ..Default::default()
    };
    s.errors = rs.iter().filter(|r| r.error.is_some()).count();
    s.skipped = rs.len() - scored.len();
    let exact: Vec<bool> = scored.iter().filter_map(|r| r.exact).collect();
    if !exact.is_empty() {
        s.line_accuracy = Some(exact.iter().filter(|&&e| e).count() as f64 / exact.len() as f64);
    }
    let (edits, len): (usize, usize) = scored
        .iter()
        .map(|r| (r.edits, r.ref_len))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if len > 0 {
        s.cer = Some(edits as f64 / len as f64);
    }
    let labelled: usize = scored.iter().map(|r| r.lines_labelled).sum();
    if labelled > 0 {
        s.line_recall =
            Some(scored.iter().map(|r| r.lines_found).sum::<usize>() as f64 / labelled as f64);
    }
    let mut det = DetCounts::default();
    let mut any_det = false;
    for r in &scored {
        if let Some(d) = &r.det {
            det.add(d);
            any_det = true;
        }
    }
    if any_det {
        let (p, r, h) = det.prh();
        (s.precision, s.recall, s.hmean) = (Some(p), Some(r), Some(h));
    }
    let docs: Vec<&&RecordResult> = scored
        .iter()
        .copied()
        .filter(|r| !r.fields.is_empty())
        .collect();
    if !docs.is_empty() {
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &docs {
            for (name, right) in &r.fields {
                let c = counts.entry(name.clone()).or_default();
                c.0 += usize::from(*right);
                c.1 += 1;
            }
        }
        let (right, total) = counts.values().fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
        s.field_accuracy = Some(right as f64 / total as f64);
        s.by_field = counts
            .into_iter()
            .map(|(k, (r, t))| (k, r as f64 / t as f64))
            .collect();
        let all_right = docs
            .iter()
            .filter(|r| r.fields.iter().all(|(_, ok)| *ok))
            .count();
        s.document_accuracy = Some(all_right as f64 / docs.len() as f64);
    }
    let mut ms: Vec<f64> = scored.iter().map(|r| r.ms).collect();
    ms.sort_by(f64::total_cmp);
    s.median_ms = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    s
}

/// Per (source, task) summaries, then per-task totals over all sources.
pub fn summaries(results: &[RecordResult]) -> Vec<Summary> {
    let mut groups: BTreeMap<(String, String), Vec<&RecordResult>> = BTreeMap::new();
    let mut tasks: BTreeMap<String, Vec<&RecordResult>> = BTreeMap::new();
    for r in results {
        groups
            .entry((r.source.clone(), r.task.clone()))
            .or_default()
            .push(r);
        tasks.entry(r.task.clone()).or_default().push(r);
    }
    let mut out: Vec<Summary> = groups
        .iter()
        .map(|((s, t), rs)| summarise(s, t, rs))
        .collect();
    out.extend(tasks.iter().map(|(t, rs)| summarise("all", t, rs)));
    out
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.2}", 100.0 * x))
}

/// A Markdown table of the summaries (percentages).
pub fn table(sums: &[Summary]) -> String {
    let mut t = String::from(
        "| source | task | records | errors | skipped | line acc % | CER % | line recall % | P % | R % | hmean % | field acc % | doc acc % | median ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in sums {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            s.source,
            s.task,
            s.records,
            s.errors,
            s.skipped,
            pct(s.line_accuracy),
            pct(s.cer),
            pct(s.line_recall),
            pct(s.precision),
            pct(s.recall),
            pct(s.hmean),
            pct(s.field_accuracy),
            pct(s.document_accuracy),
            s.median_ms
        );
    }
    let docs: Vec<&Summary> = sums.iter().filter(|s| !s.by_field.is_empty()).collect();
    if !docs.is_empty() {
        t.push_str("\n| source | task | field | accuracy % |\n|---|---|---|---|\n");
        for s in docs {
            for (field, acc) in &s.by_field {
                let _ = writeln!(
                    t,
                    "| {} | {} | {} | {} |",
                    s.source,
                    s.task,
                    field,
                    pct(Some(*acc))
                );
            }
        }
    }
    t
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br>")
}

/// Writes `DIR/index.html` with the worst text records (highest CER, errors first) and copies
/// their images into `DIR/img/`.
pub fn write_failures(results: &[RecordResult], dir: &Path, limit: usize) -> Result<usize> {
    std::fs::create_dir_all(dir.join("img"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut bad: Vec<&RecordResult> = results
        .iter()
        .filter(|r| r.error.is_some() || r.cer().is_some_and(|c| c > 0.0))
        .collect();
    bad.sort_by(|a, b| {
        let key = |r: &RecordResult| {
            if r.error.is_some() {
                f64::INFINITY
            } else {
                r.cer().unwrap_or(0.0)
            }
        };
        key(b).total_cmp(&key(a))
    });
    bad.truncate(limit);
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>Kestrel eval failures</title>\
         <style>body{font-family:sans-serif}td{border-top:1px solid #ccc;padding:6px;vertical-align:top}img{max-width:480px;max-height:320px}</style>\
         <h1>Worst cases</h1><table><tr><th>#</th><th>image</th><th>expected</th><th>got</th><th>CER</th></tr>",
    );
    for (i, r) in bad.iter().enumerate() {
        let ext = Path::new(&r.path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("img");
        let name = format!("img/{i:04}.{ext}");
        let _ = std::fs::copy(&r.path, dir.join(&name));
        let cer = r.error.as_ref().map_or_else(
            || format!("{:.1}%", 100.0 * r.cer().unwrap_or(0.0)),
            |e| format!("error: {}", escape(e)),
        );
        let _ = write!(
            html,
            "<tr><td>{}</td><td><img src=\"{name}\"><br><small>{}</small></td><td>{}</td><td>{}</td><td>{cer}</td></tr>",
            i + 1,
            escape(&r.key),
            escape(&r.expected),
            escape(&r.got)
        );
    }
    html.push_str("</table>");
    std::fs::write(dir.join("index.html"), html)
        .with_context(|| format!("cannot write {}", dir.display()))?;
    Ok(bad.len())
}
