//! `kestrel`: the Kestrel OCR command-line tool.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ocr_core::runtime::{Model, Session, Threads};
use ocr_models::{ConvertOptions, ModelKind};
use ocr_services::npy;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kestrel",
    version,
    about = "Kestrel OCR: text detection and recognition on a compact runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an ONNX model into a Kestrel model file.
    Convert {
        /// The ONNX model.
        input: PathBuf,
        /// Where to write the Kestrel model.
        #[arg(short, long)]
        output: PathBuf,
        /// The model's role (det, rec or cls): sets its preprocessing metadata.
        #[arg(long)]
        kind: Option<String>,
        /// A dictionary file to embed (rec models carry theirs in the ONNX metadata).
        #[arg(long)]
        charset: Option<PathBuf>,
        /// Extra metadata, KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        /// A named split point, NAME=ONNX_VALUE (repeatable).
        #[arg(long = "split-point", value_name = "NAME=VALUE")]
        split_points: Vec<String>,
    },
    /// Run a model on raw tensors: .npy in, .npy out.
    Infer {
        /// The Kestrel model file.
        model: PathBuf,
        /// Input tensors in the model's input order (repeatable).
        #[arg(long, required = true)]
        input: Vec<PathBuf>,
        /// Output files in the model's output order (repeatable).
        #[arg(long, required = true)]
        output: Vec<PathBuf>,
        /// Worker threads (0 = one per core).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Describe a model file: inputs, outputs, metadata, size.
    Info {
        /// The Kestrel model file.
        model: PathBuf,
    },
}

fn key_value(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("expected KEY=VALUE, got '{s}'"),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Convert {
            input,
            output,
            kind,
            charset,
            meta,
            split_points,
        } => {
            let onnx = std::fs::read(&input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            let kind = match kind.as_deref() {
                None => None,
                Some(k) => Some(
                    ModelKind::parse(k)
                        .with_context(|| format!("unknown model kind '{k}' (det, rec, cls)"))?,
                ),
            };
            let charset = match charset {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                ),
                None => None,
            };
            let opts = ConvertOptions {
                kind,
                charset,
                metadata: meta.iter().map(|m| key_value(m)).collect::<Result<_>>()?,
                split_points: split_points
                    .iter()
                    .map(|m| key_value(m))
                    .collect::<Result<_>>()?,
            };
            let (bytes, report) = ocr_models::convert(&onnx, &opts)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cannot convert {}", input.display()))?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!("{}: {} bytes; {report:?}", output.display(), bytes.len());
        }
        Command::Infer {
            model,
            input,
            output,
            threads,
        } => {
            let m = Model::load(&model)?;
            if input.len() != m.inputs().len() || output.len() != m.outputs().len() {
                bail!(
                    "{} takes {} inputs and gives {} outputs; got {} --input and {} --output",
                    model.display(),
                    m.inputs().len(),
                    m.outputs().len(),
                    input.len(),
                    output.len()
                );
            }
            let tensors = input
                .iter()
                .map(|p| npy::read(p))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<_> = tensors.iter().collect();
            let mut session = Session::with_threads(&m, Threads::new(threads)?);
            let outs = session.run(&refs)?;
            for (t, p) in outs.iter().zip(&output) {
                npy::write(p, t)?;
            }
        }
        Command::Info { model } => {
            let bytes = std::fs::read(&model)
                .with_context(|| format!("cannot read {}", model.display()))?;
            let m = Model::from_bytes(&bytes)?;
            println!(
                "{}: {} bytes, {} nodes, kernels {}",
                model.display(),
                bytes.len(),
                m.node_count(),
                m.kernels().name
            );
            for i in m.inputs() {
                println!("input  {} {:?}", i.name, i.dims);
            }
            for o in m.outputs() {
                println!("output {} {:?}", o.name, o.dims);
            }
            for (k, v) in m.metadata() {
                let short: String = v.chars().take(60).collect::<String>().replace('\n', "\\n");
                println!(
                    "meta   {k} = {short}{}",
                    if v.chars().count() > 60 { "..." } else { "" }
                );
            }
            for (name, v) in m.split_points() {
                println!("split  {name} at {}", m.value_name(*v));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kestrel: {e:#}");
            ExitCode::FAILURE
        }
    }
}
