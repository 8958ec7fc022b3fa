//! End-to-end latency of `Engine::read_bytes` on page images, with the per-stage split.
//! Prints one JSON object; `benches/compare_pipeline.py` runs it beside the onnxruntime
//! reference pipeline on the same images and thread count.

use anyhow::{Context, Result};
use clap::Parser;
use ocr_benches::median;
use ocr_core::ocr::{Engine, EngineConfig, Precision, ReadOptions, StageTimings};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Page images.
    images: Vec<PathBuf>,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed passes over all images.
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Committed models to use: int8 (the default), fp32 or compact.
    #[arg(long, default_value = "int8")]
    precision: String,
    /// Re-read lines with a character under this probability with the fp32 recogniser
    /// (`EngineConfig::refine_below`; int8's default 0.5, 0 for none).
    #[arg(long)]
    refine_below: Option<f32>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let precision = Precision::parse(&a.precision).context("--precision: int8, fp32 or compact")?;
    let engine = Engine::with_config(EngineConfig {
        threads: a.threads,
        precision,
        refine_below: a.refine_below,
        ..Default::default()
    })?;
    let opts = ReadOptions::default();
    let bytes: Vec<Vec<u8>> = a
        .images
        .iter()
        .map(|p| std::fs::read(p).with_context(|| p.display().to_string()))
        .collect::<Result<_>>()?;
    // Warm-up: plans for every image size.
    for b in &bytes {
        engine.read_bytes(b, &opts)?;
    }
    let mut totals = Vec::new();
    let mut stages: Vec<StageTimings> = Vec::new();
    for _ in 0..a.iters {
        for b in &bytes {
            let t = Instant::now();
            let (_, st) = engine.read_bytes_timed(b, &opts)?;
            totals.push(t.elapsed().as_secs_f64() * 1e3);
            stages.push(st);
        }
    }
    let med = |f: fn(&StageTimings) -> f64| {
        let mut v: Vec<f64> = stages.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        median(&v)
    };
    totals.sort_by(f64::total_cmp);
    let doc = serde_json::json!({
        "threads": a.threads,
        "kernels": engine.kernels(),
        "images": a.images.len(),
        "median_ms": median(&totals),
        "stages_median_ms": {
            "decode": med(|s| s.decode),
            "detect": med(|s| s.detect),
            "postprocess": med(|s| s.postprocess),
            "rectify": med(|s| s.rectify),
            "classify": med(|s| s.classify),
            "recognize": med(|s| s.recognize),
        }
    });
    println!("{doc}");
    Ok(())
}
