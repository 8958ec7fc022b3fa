//! Per-crop recognition latency of the bank-card number recognisers (the committed ensemble,
//! every model reading each crop, as the bank-card reader runs them) against the general
//! PP-OCRv4 recogniser on the same crops, in one run: rounds alternate between the two, each
//! round times every crop once; prints medians and the ratio as one JSON object.

use anyhow::{Context, Result};
use clap::Parser;
use ocr_benches::median;
use ocr_core::ocr::{Engine, EngineConfig, LineRecognizer};
use ocr_services::doc::bank_card::{BankCardReader, NUMBER_MODELS};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Crop images (e.g. ../shared/eval/dev/bankcard_DevilExileSu/train/train_img/*.png).
    images: Vec<PathBuf>,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Rounds (each times every crop once with each recogniser).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Times every crop read by all of `recs` in turn (one sample per crop).
fn time_all(recs: &[LineRecognizer], crops: &[image::RgbImage], out: &mut Vec<f64>) -> Result<()> {
    for img in crops {
        let t = Instant::now();
        for rec in recs {
            rec.recognize_line(img, None)?;
        }
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.images.is_empty() {
        anyhow::bail!("give crop images");
    }
    let engine = Engine::with_config(EngineConfig {
        threads: a.threads,
        ..Default::default()
    })?;
    let reader = BankCardReader::new(&engine)?;
    let crops: Vec<image::RgbImage> = a
        .images
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).with_context(|| p.display().to_string())?;
            Ok(engine.decode(&bytes)?)
        })
        .collect::<Result<_>>()?;
    let (general, card) = (
        std::slice::from_ref(engine.recognizer()),
        reader.recognizers(),
    );
    // Warm-up: plans for every crop width.
    time_all(general, &crops, &mut Vec::new())?;
    time_all(card, &crops, &mut Vec::new())?;
    let (mut g, mut c) = (Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        time_all(general, &crops, &mut g)?;
        time_all(card, &crops, &mut c)?;
    }
    g.sort_by(f64::total_cmp);
    c.sort_by(f64::total_cmp);
    let (gm, cm) = (median(&g), median(&c));
    println!(
        "{}",
        serde_json::json!({
            "crops": crops.len(),
            "threads": a.threads,
            "rounds": a.rounds,
            "general_ms": gm,
            "bankcard_ms": cm,
            "ratio": cm / gm,
            "general_bytes": ocr_core::ocr::zoo::REC.len(),
            "bankcard_models": card.len(),
            "bankcard_bytes": NUMBER_MODELS.iter().map(|m| m.len()).sum::<usize>(),
        })
    );
    Ok(())
}
