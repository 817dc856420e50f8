//! An [`Evaluation`] as one JSON object (`--json`) or as aligned text tables for a person.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use super::metrics::Metrics;
use super::Evaluation;
use crate::formats::FileFormat;
use crate::provenance::Provenance;

/// The report as one JSON object:
/// `{"model", "data", "format", "rows", "skipped_rows", "accuracy", "macro_f1", "labels",
/// "per_label": [{"label", "precision", "recall", "f1", "support", "predicted"}], "confusion",
/// "languages"?: [{"language", "rows", "accuracy", "macro_f1"}], "languages_detected_rows"?,
/// "seconds", "texts_per_second", "options", "provenance": {"model_id", "revision",
/// "weights_file", "weights_sha256", "precision", "kernels", "version"}}`.
///
/// `confusion[gold][predicted]` counts texts, both indices in `labels` order. `languages` is
/// present only when some row had a language: from the data or, when the data has none at all,
/// detected from the text (`languages_detected_rows` counts the rows detected); rows without
/// one are under `"language": null`, last.
pub fn json(evaluation: &Evaluation, model: &Path, provenance: &Provenance) -> Value {
    let overall = evaluation.tally.overall.metrics();
    let per_label: Vec<Value> = evaluation
        .labels
        .iter()
        .zip(&overall.per_label)
        .map(|(label, m)| {
            json!({
                "label": label,
                "precision": m.precision,
                "recall": m.recall,
                "f1": m.f1,
                "support": m.support,
                "predicted": m.predicted,
            })
        })
        .collect();
    let mut report = json!({
        "model": model.display().to_string(),
        "data": evaluation.data.display().to_string(),
        "format": evaluation.format.name(),
        "rows": overall.rows,
        "skipped_rows": evaluation.skipped,
        "accuracy": overall.accuracy,
        "macro_f1": overall.macro_f1,
        "labels": evaluation.labels,
        "per_label": per_label,
        "confusion": evaluation.tally.overall.rows(),
    });
    if evaluation.tally.has_languages() {
        let languages: Vec<Value> = evaluation
            .tally
            .languages()
            .into_iter()
            .map(|(language, confusion)| {
                let m = confusion.metrics();
                json!({
                    "language": language,
                    "rows": m.rows,
                    "accuracy": m.accuracy,
                    "macro_f1": m.macro_f1,
                })
            })
            .collect();
        report["languages"] = json!(languages);
        report["languages_detected_rows"] = json!(evaluation.detected_languages);
    }
    let options = &evaluation.options;
    report["seconds"] = json!(evaluation.classify_time.as_secs_f64());
    report["texts_per_second"] = json!(evaluation.texts_per_second());
    report["options"] = json!({
        "preprocess": options.preprocess,
        "max_length": options.max_length,
        "batch_size": options.batch_size,
    });
    report["provenance"] = json!(provenance);
    report
}

/// The report as text: a summary, per-label scores, the confusion matrix (rows gold, columns
/// predicted), per-language scores when the data has languages, and the speed.
pub fn human(
    evaluation: &Evaluation,
    model: &Path,
    provenance: &Provenance,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let overall = evaluation.tally.overall.metrics();
    let labels = &evaluation.labels;
    writeln!(out, "model     {}", model.display())?;
    let origin = match (&provenance.model_id, &provenance.revision) {
        (Some(id), Some(revision)) => format!("{id} at {revision}"),
        (Some(id), None) => id.clone(),
        _ => "origin not recorded".to_string(),
    };
    writeln!(out, "          {origin}, {}", provenance.precision)?;
    writeln!(
        out,
        "weights   {} (SHA-256 {})",
        provenance.weights_file, provenance.weights_sha256
    )?;
    writeln!(
        out,
        "run       xlmr-sentiment {}; kernels {}",
        provenance.version, provenance.kernels
    )?;
    let skipped = match evaluation.skipped {
        0 => String::new(),
        n => format!(", {} skipped", count(n, "bad row")),
    };
    writeln!(
        out,
        "data      {} ({}): {} evaluated{skipped}",
        evaluation.data.display(),
        evaluation.format.name(),
        count(overall.rows, "row"),
    )?;
    writeln!(out, "accuracy  {:.4}", overall.accuracy)?;
    writeln!(
        out,
        "macro-F1  {:.4} (unweighted mean of the F1 of all {} labels)",
        overall.macro_f1,
        labels.len()
    )?;

    writeln!(out)?;
    let label_width = width(labels.iter().map(String::as_str).chain(["label"]));
    writeln!(
        out,
        "{:<label_width$}  precision  recall      F1  support  predicted",
        "label"
    )?;
    for (label, m) in labels.iter().zip(&overall.per_label) {
        writeln!(
            out,
            "{label:<label_width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}  {:>9}",
            m.precision, m.recall, m.f1, m.support, m.predicted
        )?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "confusion matrix (rows: gold label, columns: predicted label)"
    )?;
    let corner = "gold \\ predicted";
    let row_width = width(labels.iter().map(String::as_str).chain([corner]));
    let rows = evaluation.tally.overall.rows();
    let column_widths: Vec<usize> = labels
        .iter()
        .enumerate()
        .map(|(j, label)| {
            let widest = rows.iter().map(|r| r[j].to_string().len()).max();
            label.chars().count().max(widest.unwrap_or(0))
        })
        .collect();
    write!(out, "{corner:<row_width$}")?;
    for (label, w) in labels.iter().zip(&column_widths) {
        write!(out, "  {label:>w$}")?;
    }
    writeln!(out)?;
    for (label, row) in labels.iter().zip(&rows) {
        write!(out, "{label:<row_width$}")?;
        for (count, w) in row.iter().zip(&column_widths) {
            write!(out, "  {count:>w$}")?;
        }
        writeln!(out)?;
    }

    let languages = evaluation.tally.languages();
    if !languages.is_empty() {
        writeln!(out)?;
        if evaluation.detected_languages > 0 {
            writeln!(
                out,
                "no languages in the data: detected from the text for {} (\"(none)\": \
                 too short, emoji only or mixed scripts to tell)",
                count(evaluation.detected_languages, "row")
            )?;
        }
        let named: Vec<(&str, Metrics)> = languages
            .iter()
            .map(|(l, c)| (l.unwrap_or("(none)"), c.metrics()))
            .collect();
        let lw = width(named.iter().map(|(l, _)| *l).chain(["language"]));
        writeln!(
            out,
            "{:<lw$}  {:>6}  accuracy  macro-F1",
            "language", "rows"
        )?;
        for (language, m) in &named {
            writeln!(
                out,
                "{language:<lw$}  {:>6}  {:>8.4}  {:>8.4}",
                m.rows, m.accuracy, m.macro_f1
            )?;
        }
    }

    writeln!(out)?;
    writeln!(
        out,
        "speed     {} in {:.3} s: {:.1} texts/s (classification only: tokenizing and the \
         model, not loading the model or reading the data)",
        count(overall.rows, "text"),
        evaluation.classify_time.as_secs_f64(),
        evaluation.texts_per_second()
    )?;
    Ok(())
}

/// `n` and `noun`, plural unless `n` is 1.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The widest of `items`, in characters (what `{:<w$}` pads by).
fn width<'a>(items: impl Iterator<Item = &'a str>) -> usize {
    items.map(|s| s.chars().count()).max().unwrap_or(0)
}

/// The report as one self-contained HTML page: the summary, per-label scores, per-language
/// accuracy bars, the confusion matrix and the provenance.
pub fn html(evaluation: &Evaluation, model: &Path, provenance: &Provenance) -> String {
    use crate::html::{bar, confusion, escape, page, table};
    let overall = evaluation.tally.overall.metrics();
    let mut body = format!(
        "<p>{} on {} ({}): <b>{}</b> rows, accuracy <b>{:.4}</b>, macro-F1 <b>{:.4}</b> (the \
         unweighted mean of the F1 of all {} labels).</p>\n",
        escape(&model.display().to_string()),
        escape(&evaluation.data.display().to_string()),
        evaluation.format.name(),
        overall.rows,
        overall.accuracy,
        overall.macro_f1,
        evaluation.labels.len()
    );
    body += "<h2>Per label</h2>\n";
    let header = ["label", "precision", "recall", "F1", "support", "predicted"].map(String::from);
    let rows: Vec<Vec<String>> = evaluation
        .labels
        .iter()
        .zip(&overall.per_label)
        .map(|(label, m)| {
            vec![
                escape(label),
                format!("{:.4}", m.precision),
                format!("{:.4}", m.recall),
                bar(m.f1, false),
                m.support.to_string(),
                m.predicted.to_string(),
            ]
        })
        .collect();
    body += &table("bars", &header, &rows);
    if evaluation.tally.has_languages() {
        body += "<h2>Per language</h2>\n";
        let rows: Vec<Vec<String>> = evaluation
            .tally
            .languages()
            .into_iter()
            .map(|(language, confusion)| {
                let m = confusion.metrics();
                vec![
                    escape(language.unwrap_or("(none)")),
                    m.rows.to_string(),
                    bar(m.accuracy, false),
                    format!("{:.4}", m.macro_f1),
                ]
            })
            .collect();
        let header = ["language", "rows", "accuracy", "macro-F1"].map(String::from);
        body += &table("bars", &header, &rows);
    }
    body += "<h2>Confusion matrix</h2>\n";
    body += &confusion(&evaluation.labels, &evaluation.tally.overall.rows());
    body += &format!(
        "<h2>Provenance</h2>\n<p class=\"trace\">model id {}, revision {}, weights {} SHA-256 \
         {}, precision {}, kernels {}, xlmr-sentiment {}</p>\n",
        escape(provenance.model_id.as_deref().unwrap_or("not recorded")),
        escape(provenance.revision.as_deref().unwrap_or("not recorded")),
        escape(&provenance.weights_file),
        provenance.weights_sha256,
        escape(&provenance.precision),
        escape(&provenance.kernels),
        provenance.version
    );
    page("Evaluation", &body)
}
