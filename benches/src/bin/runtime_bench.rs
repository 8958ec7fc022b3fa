//! Times Kestrel's runtime on one model and one input tensor; prints one JSON line.
//!
//! Used by `benches/compare_fp32.py`, which times onnxruntime on the same `.npy` input with the
//! same thread count in the same run and reports the ratios.

use anyhow::{Context, Result};
use clap::Parser;
use ocr_benches::{median, time_ms};
use ocr_core::runtime::kernels::KernelSet;
use ocr_core::runtime::{Model, Session, Threads};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// Kestrel model file.
    model: PathBuf,
    /// Input tensor (.npy).
    input: PathBuf,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Untimed warm-up iterations.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Print time per op kind (to stderr) after the timed runs.
    #[arg(long)]
    profile: bool,
    /// Like --profile, per node.
    #[arg(long)]
    profile_nodes: bool,
    /// Pass fp32 tensors between consecutive int8 convolutions instead of u8 codes (to
    /// measure what chaining them saves).
    #[arg(long)]
    no_int8_chaining: bool,
    /// Run on this kernel set instead of the best the CPU has (`scalar`, `avx2-fma`, ...: the
    /// names `KernelSet::available` lists), e.g. to time the AVX2 kernels on an AVX-512 host.
    #[arg(long, value_name = "NAME")]
    kernels: Option<String>,
    /// Run narrow-weight layers on the general int8 kernels too (to measure what the narrow
    /// kernels save; with --kernels).
    #[arg(long, requires = "kernels")]
    no_narrow_kernels: bool,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let model = match &a.kernels {
        None => Model::load(&a.model)?,
        Some(name) => {
            let available = KernelSet::available();
            let ks = available
                .iter()
                .find(|k| k.name == name.as_str())
                .with_context(|| {
                    let names: Vec<_> = available.iter().map(|k| k.name).collect();
                    format!("no kernel set '{name}' on this CPU (available: {names:?})")
                })?;
            let def = ocr_core::runtime::format::decode(&std::fs::read(&a.model)?)?;
            let ks = match a.no_narrow_kernels {
                true => KernelSet {
                    qgemm_narrow: None,
                    ..*ks
                },
                false => *ks,
            };
            Model::from_def_with_kernels(def, ks)?
        }
    };
    let x = ocr_services::npy::read(&a.input)?;
    let mut s = Session::with_threads(model, Threads::new(a.threads)?);
    s.set_int8_chaining(!a.no_int8_chaining);
    if a.profile_nodes {
        s.enable_node_profiling();
    } else if a.profile {
        s.enable_profiling();
    }
    let mut err = None;
    let t = time_ms(a.warmup, a.iters, || {
        if let Err(e) = s.run(&[&x]) {
            err = Some(e);
        }
    });
    if let Some(e) = err {
        return Err(e.into());
    }
    if a.profile || a.profile_nodes {
        let mut p = s.profile().to_vec();
        p.sort_by(|x, y| y.1.total_cmp(&x.1));
        let runs = (a.warmup + a.iters) as f64;
        for (k, ms) in p.into_iter().take(25) {
            eprintln!("{k:<48} {:8.2} ms/run", ms / runs);
        }
    }
    println!(
        "{{\"model\": \"{}\", \"shape\": {:?}, \"threads\": {}, \"kernels\": \"{}\", \"median_ms\": {:.3}, \"min_ms\": {:.3}, \"iters\": {}}}",
        a.model.display(),
        x.shape(),
        a.threads,
        s.model().kernels().name,
        median(&t),
        t[0],
        a.iters
    );
    Ok(())
}
