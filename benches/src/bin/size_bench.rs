//! Model compression report: per model, the int8 weight bytes and what each coder makes of the
//! same bytes (our adaptive context-modelled arithmetic coder, a static Huffman code, zstd -19
//! and gzip -9), the file sizes, and the load time of the raw and the coded files (medians over
//! alternating rounds in one run).
//!
//! `cargo run --release -p ocr-benches --bin size_bench [-- MODEL.kmod ...]` (default: the
//! committed int8 models).

use anyhow::{Context, Result};
use clap::Parser;
use ocr_benches::median;
use ocr_core::runtime::Model;
use ocr_core::runtime::entropy;
use ocr_core::runtime::format::{self, ConstData};
use ocr_models::compress::{CompressOptions, compress};
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Model files (default: the committed int8 models).
    models: Vec<PathBuf>,
    /// Load-time rounds.
    #[arg(long, default_value_t = 15)]
    rounds: usize,
}

/// Bits of a static Huffman code for these bytes, plus its table (256 code lengths of 5 bits).
fn huffman_bytes(data: &[u8]) -> usize {
    let mut counts = [0u64; 256];
    data.iter().for_each(|&b| counts[b as usize] += 1);
    // Merge the two lightest nodes until one is left; the code's total length is the sum of
    // the merged weights (each merge adds one bit to every symbol below it).
    let mut heap: BinaryHeap<std::cmp::Reverse<u64>> = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| std::cmp::Reverse(c))
        .collect();
    let mut bits = 0u64;
    if heap.len() == 1 {
        bits = data.len() as u64;
    }
    while heap.len() > 1 {
        let a = heap.pop().unwrap().0;
        let b = heap.pop().unwrap().0;
        bits += a + b;
        heap.push(std::cmp::Reverse(a + b));
    }
    bits.div_ceil(8) as usize + 256 * 5 / 8
}

/// Threads the decoder's pool has (`RAYON_NUM_THREADS`, else the CPU count).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn gzip(data: &[u8]) -> Result<usize> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data)?;
    Ok(e.finish()?.len())
}

fn main() -> Result<()> {
    let a = Args::parse();
    let zoo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/zoo");
    let models = if a.models.is_empty() {
        [
            "ppocrv4-det-int8.kmod",
            "ppocrv4-rec-int8.kmod",
            "ppocr-mobile-v2-cls-int8.kmod",
            "bankcard-rec-int8.kmod",
            "bankcard-rec-int8-pen.kmod",
        ]
        .iter()
        .map(|f| zoo.join(f))
        .collect()
    } else {
        a.models.clone()
    };
    println!(
        "| model | int8 weights | ours (arith.) | static Huffman | zstd -19 | gzip -9 | ours vs Huffman | file raw | file coded |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut files = Vec::new();
    for path in &models {
        let raw = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let def = format::decode(&raw)?;
        let tensors: Vec<Vec<u8>> = def
            .constants
            .iter()
            .filter_map(|c| match &c.data {
                ConstData::I8(v) => Some(v.iter().map(|&x| x as u8).collect()),
                _ => None,
            })
            .collect();
        let all: Vec<u8> = tensors.concat();
        let ours: usize = tensors
            .iter()
            .map(|t| entropy::encode_i8(&t.iter().map(|&b| b as i8).collect::<Vec<_>>()).len())
            .sum();
        let huff: usize = tensors.iter().map(|t| huffman_bytes(t)).sum();
        let zstd = zstd::bulk::compress(&all, 19)?.len();
        let gz = gzip(&all)?;
        let (coded, _) = compress(&raw, &CompressOptions::default()).map_err(anyhow::Error::msg)?;
        println!(
            "| {} | {} | {} ({:.1}%) | {} ({:.1}%) | {} ({:.1}%) | {} ({:.1}%) | {:+.1}% | {} | {} |",
            path.file_name().unwrap().to_string_lossy(),
            all.len(),
            ours,
            100.0 * ours as f64 / all.len() as f64,
            huff,
            100.0 * huff as f64 / all.len() as f64,
            zstd,
            100.0 * zstd as f64 / all.len() as f64,
            gz,
            100.0 * gz as f64 / all.len() as f64,
            100.0 * (ours as f64 / huff as f64 - 1.0),
            raw.len(),
            coded.len(),
        );
        files.push((raw, coded));
    }
    // Load time per model, raw and coded alternating, every round.
    let mut times = vec![(Vec::new(), Vec::new()); files.len()];
    for _ in 0..a.rounds {
        for ((raw, coded), (t_raw, t_coded)) in files.iter().zip(&mut times) {
            for (bytes, out) in [(raw, &mut *t_raw), (coded, &mut *t_coded)] {
                let t = Instant::now();
                std::hint::black_box(Model::from_bytes(bytes)?);
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    println!("\n| model | load raw (ms) | load coded (ms) |\n|---|---|---|");
    let (mut sum_raw, mut sum_coded) = (0.0, 0.0);
    // The general PP-OCR models (det + rec + cls), the set the 50 ms aim is about.
    let (mut general_raw, mut general_coded) = (0.0, 0.0);
    for (path, (t_raw, t_coded)) in models.iter().zip(&mut times) {
        t_raw.sort_by(f64::total_cmp);
        t_coded.sort_by(f64::total_cmp);
        let (r, c) = (median(t_raw), median(t_coded));
        sum_raw += r;
        sum_coded += c;
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("ppocr") {
            general_raw += r;
            general_coded += c;
        }
        println!("| {name} | {r:.1} | {c:.1} |");
    }
    println!("| general det + rec + cls | {general_raw:.1} | {general_coded:.1} |");
    println!(
        "| all (sum of medians, {} rounds, {} rayon threads) | {sum_raw:.1} | {sum_coded:.1} |",
        a.rounds,
        rayon_threads()
    );
    Ok(())
}
