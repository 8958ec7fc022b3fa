//! The manifest format of `../shared/eval/dev` (see its README): one JSON object per line.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A labelled box of a `detect` record.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelBox {
    /// Four `[x, y]` corners.
    pub points: Vec<[f32; 2]>,
    /// Transcription, if any.
    pub text: Option<String>,
    /// A "don't care" region.
    #[serde(default)]
    pub ignore: bool,
}

/// One manifest line.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// Image path relative to the manifest.
    pub image: String,
    /// `line`, `plate`, `page`, `detect` or a document type.
    pub task: String,
    /// Text of a line or plate.
    pub text: Option<String>,
    /// Lines of a page, in reading order.
    pub lines: Option<Vec<String>>,
    /// Boxes of a detect record.
    pub boxes: Option<Vec<LabelBox>>,
    /// Only some lines are labelled.
    #[serde(default)]
    pub partial: bool,
    /// Document fields.
    pub fields: Option<BTreeMap<String, String>>,
    /// Which side of an ID card the fields belong to (`front` / `back`).
    pub side: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
}

/// A manifest entry with where it came from.
#[derive(Debug, Clone)]
pub struct Record {
    /// The source: the manifest's folder name.
    pub source: String,
    /// Absolute image path.
    pub path: PathBuf,
    /// `source/image`: a key that names the record across runs.
    pub key: String,
    /// The entry.
    pub entry: Entry,
}

/// Finds `manifest.jsonl` files: a path may be a manifest or a folder searched recursively.
fn manifests_under(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if !path.is_dir() {
        bail!("{} is neither a manifest nor a folder", path.display());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            manifests_under(&p, out)?;
        } else if p.file_name().is_some_and(|n| n == "manifest.jsonl") {
            out.push(p);
        }
    }
    Ok(())
}

/// Loads every record of the manifests found under `paths`, in a stable order.
pub fn load_manifests(paths: &[PathBuf]) -> Result<Vec<Record>> {
    let mut files = Vec::new();
    for p in paths {
        manifests_under(p, &mut files)?;
    }
    if files.is_empty() {
        bail!("no manifest.jsonl found");
    }
    let mut records = Vec::new();
    for f in files {
        let dir = f.parent().unwrap_or(Path::new(".")).to_path_buf();
        let source = dir
            .file_name()
            .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned());
        let text = crate::files::read_text_bounded(&f, crate::files::MAX_TEXT_FILE)
            .with_context(|| format!("cannot read {}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // A byte-order mark before the first record is not part of it.
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let entry: Entry = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: bad record", f.display(), i + 1))?;
            // Images lie beside their manifest: a path that leaves its folder (absolute, or
            // through `..`) would let a manifest have other files read and, with
            // `--failures`, copied.
            let inside = Path::new(&entry.image).components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
            if entry.image.is_empty() || !inside {
                bail!(
                    "{}:{}: image path '{}' is not a path inside the manifest's folder",
                    f.display(),
                    i + 1,
                    entry.image
                );
            }
            records.push(Record {
                key: format!("{source}/{}", entry.image),
                path: dir.join(&entry.image),
                source: source.clone(),
                entry,
            });
        }
    }
    Ok(records)
}

/// The development-set images used to calibrate the committed int8 models
/// (`models/calib/dev-calibration.txt`): `(model kind, source/image)`.
pub fn calibration_split() -> Vec<(&'static str, &'static str)> {
    parse_split(include_str!("../../../models/calib/dev-calibration.txt"))
}

/// The development-set images the committed bank-card recognisers trained on
/// (`models/train/bankcard/dev-train-split.txt`): `(model kind, source/image)`.
pub fn training_split() -> Vec<(&'static str, &'static str)> {
    parse_split(include_str!(
        "../../../models/train/bankcard/dev-train-split.txt"
    ))
}

fn parse_split(text: &'static str) -> Vec<(&'static str, &'static str)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .collect()
}

/// Drops the records whose images calibrated the int8 models or trained a committed model, so
/// no score is measured on an image a model was fitted to. Returns how many were dropped.
pub fn hold_out_calibration(records: &mut Vec<Record>) -> usize {
    let split: std::collections::HashSet<&str> = calibration_split()
        .into_iter()
        .chain(training_split())
        .map(|(_, k)| k)
        .collect();
    let before = records.len();
    records.retain(|r| !split.contains(r.key.as_str()));
    before - records.len()
}
