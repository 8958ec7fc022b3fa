//! Running the engine over records (or reading another engine's predictions) and scoring.

use super::manifest::Record;
use super::metrics::{self, DetCounts};
use crate::doc::bank_card::BankCardReader;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ocr_core::ocr::result::Point;
use ocr_core::ocr::{Engine, ReadOptions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// What one engine said about one record: the interchange format of `--predictions` and
/// `--save-predictions` (one JSON object per line).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Prediction {
    /// `source/image`, as [`Record::key`].
    pub key: String,
    /// Recognised lines (one for line/plate records).
    #[serde(default)]
    pub lines: Vec<String>,
    /// Detected boxes, four `[x, y]` corners each.
    #[serde(default)]
    pub boxes: Vec<[[f32; 2]; 4]>,
    /// Extracted document fields by standard name (document records).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Why the record failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds spent on the record.
    #[serde(default)]
    pub ms: f64,
}

/// The score of one record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordResult {
    /// Source folder.
    pub source: String,
    /// Task.
    pub task: String,
    /// `source/image`.
    pub key: String,
    /// Image path.
    pub path: String,
    /// Expected text (lines joined by newlines).
    pub expected: String,
    /// Recognised text.
    pub got: String,
    /// Edit distance after normalisation (text tasks).
    pub edits: usize,
    /// Reference length after normalisation (text tasks; 0 for partial pages).
    pub ref_len: usize,
    /// Exact match after normalisation (line and plate tasks).
    pub exact: Option<bool>,
    /// Labelled lines found exactly (page tasks).
    pub lines_found: usize,
    /// Labelled lines (page tasks).
    pub lines_labelled: usize,
    /// Detection counts (detect tasks).
    pub det: Option<DetCounts>,
    /// Per labelled field: (name, right after normalisation) (document tasks).
    pub fields: Vec<(String, bool)>,
    /// Not scored: a task the engine does not handle yet.
    pub skipped: bool,
    /// The engine failed on this record.
    pub error: Option<String>,
    /// Milliseconds spent.
    pub ms: f64,
}

impl RecordResult {
    /// Character error rate of this record, when it has a reference text.
    pub fn cer(&self) -> Option<f64> {
        (self.ref_len > 0).then(|| self.edits as f64 / self.ref_len as f64)
    }
}

/// How to run an evaluation.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Engine options.
    pub read: ReadOptions,
    /// `(i, n)`: only records whose index is `i` modulo `n`.
    pub shard: Option<(usize, usize)>,
    /// Show a progress bar.
    pub progress: bool,
}

fn is_text_task(task: &str) -> bool {
    matches!(task, "line" | "plate")
}

fn scene_photo(r: &Record) -> bool {
    r.entry
        .note
        .as_deref()
        .is_some_and(|n| n.contains("scene photo"))
}

/// Decodes a record's image and lets `fill` write the prediction, timing the whole; a failure
/// becomes the prediction's error.
fn predict_with(
    engine: &Engine,
    r: &Record,
    fill: impl FnOnce(&image::RgbImage, &mut Prediction) -> Result<()>,
) -> Prediction {
    let t = Instant::now();
    let mut p = Prediction {
        key: r.key.clone(),
        ..Default::default()
    };
    let outcome: Result<()> = (|| {
        let bytes = crate::files::read_bounded(&r.path, crate::files::MAX_IMAGE_FILE)
            .with_context(|| format!("cannot read {}", r.path.display()))?;
        let img = engine.decode(&bytes)?;
        fill(&img, &mut p)
    })();
    if let Err(e) = outcome {
        p.error = Some(format!("{e:#}"));
    }
    p.ms = t.elapsed().as_secs_f64() * 1e3;
    p
}

/// Runs the engine on one record.
pub fn predict(engine: &Engine, r: &Record, opts: &ReadOptions) -> Prediction {
    predict_with(engine, r, |img, p| {
        match r.entry.task.as_str() {
            "line" | "plate" if !scene_photo(r) => {
                p.lines = vec![engine.recognize_line(img, opts)?.text];
            }
            "detect" => {
                p.boxes = engine
                    .detect(img, &opts.det)?
                    .iter()
                    .map(|b| b.quad.map(|q| [q.x, q.y]))
                    .collect();
            }
            "line" | "plate" => {
                // A scene photo: read it all and keep the line that best passes as a plate
                // (the plate pipeline's choice, as `kestrel doc plate` makes it).
                let page = engine.read(img, opts)?;
                p.lines = crate::doc::vehicle::best_plate(&page.lines)
                    .map(|f| f.text)
                    .into_iter()
                    .collect();
            }
            _ => {
                let page = engine.read(img, opts)?;
                p.boxes = page
                    .lines
                    .iter()
                    .map(|l| l.quad.map(|q| [q.x, q.y]))
                    .collect();
                p.lines = page.lines.into_iter().map(|l| l.text).collect();
            }
        }
        Ok(())
    })
}

/// Runs a document pipeline on a document record.
fn predict_document(engine: &Engine, bank_card: &BankCardReader, r: &Record) -> Prediction {
    predict_with(engine, r, |img, p| {
        let fields: Vec<(&str, String)> = match r.entry.task.as_str() {
            "id_card" => {
                let cards = crate::doc::id_card::read(engine, img, false)?;
                let want = r.entry.side.as_deref();
                let card = cards
                    .iter()
                    .find(|c| want.is_none_or(|s| c.side.name() == s))
                    .or(cards.first());
                card.map(|c| c.field_texts()).unwrap_or_default()
            }
            "waybill" => crate::doc::waybill::read(engine, img, false)?
                .fields()
                .into_iter()
                .map(|(k, f)| (k, f.text.clone()))
                .collect(),
            "business_license" => crate::doc::business_license::read(engine, img, false)?
                .fields()
                .into_iter()
                .map(|(k, f)| (k, f.text.clone()))
                .collect(),
            _ => bank_card
                .read_card(engine, img)?
                .fields()
                .into_iter()
                .map(|(k, f)| (k, f.text.clone()))
                .collect(),
        };
        p.fields = fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Ok(())
    })
}

/// Reads a line record as a bank-card number crop.
fn predict_card_number(engine: &Engine, reader: &BankCardReader, r: &Record) -> Prediction {
    predict_with(engine, r, |img, p| {
        p.lines = vec![reader.read_number(engine, img)?.text];
        Ok(())
    })
}

/// Scores a prediction against its record.
pub fn score(r: &Record, p: &Prediction) -> RecordResult {
    let e = &r.entry;
    let mut res = RecordResult {
        source: r.source.clone(),
        task: e.task.clone(),
        key: r.key.clone(),
        path: r.path.display().to_string(),
        expected: String::new(),
        got: p.lines.join("\n"),
        edits: 0,
        ref_len: 0,
        exact: None,
        lines_found: 0,
        lines_labelled: 0,
        det: None,
        fields: Vec::new(),
        skipped: false,
        error: p.error.clone(),
        ms: p.ms,
    };
    match e.task.as_str() {
        t if is_text_task(t) => {
            let norm = if t == "plate" {
                metrics::normalize_plate
            } else {
                metrics::normalize
            };
            let want = e.text.clone().unwrap_or_default();
            let (a, b) = (norm(&want), norm(&res.got));
            res.edits = metrics::edit_distance(&b, &a);
            res.ref_len = a.len();
            res.exact = Some(a == b);
            res.expected = want;
        }
        "page" => {
            let want = e.lines.clone().unwrap_or_default();
            let labelled: Vec<Vec<char>> = want.iter().map(|l| metrics::normalize(l)).collect();
            let mut pool: Vec<Vec<char>> = p.lines.iter().map(|l| metrics::normalize(l)).collect();
            for l in &labelled {
                if let Some(i) = pool.iter().position(|g| g == l) {
                    pool.remove(i);
                    res.lines_found += 1;
                }
            }
            res.lines_labelled = labelled.len();
            if !e.partial {
                let a: Vec<char> = labelled.concat();
                let b: Vec<char> = p.lines.iter().flat_map(|l| metrics::normalize(l)).collect();
                res.edits = metrics::edit_distance(&b, &a);
                res.ref_len = a.len();
            }
            res.expected = want.join("\n");
        }
        "id_card" | "bank_card" | "waybill" | "business_license" => {
            let want = e.fields.clone().unwrap_or_default();
            for (name, value) in &want {
                let got = p.fields.get(name).map(String::as_str).unwrap_or("");
                let norm = |s: &str| -> Vec<char> {
                    let n = metrics::normalize(s);
                    if name == "card_number" {
                        n.into_iter().filter(char::is_ascii_digit).collect()
                    } else {
                        n
                    }
                };
                res.fields.push((name.clone(), norm(value) == norm(got)));
            }
            res.expected = want
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n");
            res.got = want
                .keys()
                .map(|k| format!("{k}: {}", p.fields.get(k).map_or("", String::as_str)))
                .collect::<Vec<_>>()
                .join("\n");
        }
        "detect" => {
            let to_quad = |pts: &[[f32; 2]]| -> Option<[Point; 4]> {
                (pts.len() == 4).then(|| [0, 1, 2, 3].map(|i| Point::new(pts[i][0], pts[i][1])))
            };
            let labels: Vec<([Point; 4], bool)> = e
                .boxes
                .iter()
                .flatten()
                .filter_map(|b| to_quad(&b.points).map(|q| (q, b.ignore)))
                .collect();
            let preds: Vec<[Point; 4]> = p.boxes.iter().filter_map(|b| to_quad(b)).collect();
            res.det = Some(if p.error.is_some() {
                DetCounts {
                    matched: 0,
                    predicted: 0,
                    labelled: labels.iter().filter(|l| !l.1).count(),
                }
            } else {
                metrics::match_boxes(&preds, &labels)
            });
            res.got = format!("{} boxes", p.boxes.len());
        }
        _ => res.skipped = true,
    }
    res
}

/// Where predictions come from.
pub enum Predictor<'a> {
    /// Run this engine.
    Engine(&'a Engine),
    /// Look predictions up by key (another engine's output).
    Saved(HashMap<String, Prediction>),
    /// Run the engine, and the document pipelines on document records.
    Documents {
        /// The engine.
        engine: &'a Engine,
        /// The bank-card reader (its specialised number recognisers).
        bank_card: &'a BankCardReader,
        /// Read `line` records as bank-card number crops (the specialised recognisers with
        /// the general one consulted when unsure) instead of general lines.
        card_number_lines: bool,
    },
}

/// Scores every record (in the shard); returns results and the predictions made.
pub fn evaluate(
    records: &[Record],
    predictor: &Predictor,
    opts: &EvalOptions,
) -> (Vec<RecordResult>, Vec<Prediction>) {
    let chosen: Vec<&Record> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| opts.shard.is_none_or(|(k, n)| i % n == k))
        .map(|(_, r)| r)
        .collect();
    let bar = if opts.progress {
        ProgressBar::new(chosen.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results = Vec::with_capacity(chosen.len());
    let mut preds = Vec::with_capacity(chosen.len());
    for r in chosen {
        bar.set_message(r.source.clone());
        let p = match predictor {
            Predictor::Engine(engine) => {
                if matches!(r.entry.task.as_str(), "line" | "plate" | "page" | "detect") {
                    predict(engine, r, &opts.read)
                } else {
                    Prediction {
                        key: r.key.clone(),
                        ..Default::default()
                    }
                }
            }
            Predictor::Documents {
                engine,
                bank_card,
                card_number_lines,
            } => match r.entry.task.as_str() {
                "line" if *card_number_lines => predict_card_number(engine, bank_card, r),
                "id_card" | "bank_card" | "waybill" | "business_license" => {
                    predict_document(engine, bank_card, r)
                }
                "line" | "plate" | "page" | "detect" => predict(engine, r, &opts.read),
                // No pipeline yet: the record is reported as skipped.
                _ => Prediction {
                    key: r.key.clone(),
                    ..Default::default()
                },
            },
            Predictor::Saved(map) => map.get(&r.key).cloned().unwrap_or_else(|| Prediction {
                key: r.key.clone(),
                error: Some("no prediction for this record".into()),
                ..Default::default()
            }),
        };
        results.push(score(r, &p));
        preds.push(p);
        bar.inc(1);
    }
    bar.finish_and_clear();
    (results, preds)
}
