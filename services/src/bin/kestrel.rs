//! `kestrel`: the Kestrel OCR command-line tool.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ocr_core::ocr::{Engine, EngineConfig, Page, Precision, ReadOptions};
use ocr_core::runtime::{Model, Session, Threads};
use ocr_models::{ConvertOptions, ModelKind};
use ocr_services::files::{
    MAX_IMAGE_FILE, MAX_MODEL_FILE, MAX_TEXT_FILE, read_bounded, read_text_bounded,
};
use ocr_services::npy;
use std::path::PathBuf;
use std::process::ExitCode;

/// `print!` to stdout that ends the process quietly when stdout is a pipe its reader closed
/// (`kestrel read ... | head`), where `print!` would panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($arg)*) {
            stdout_failed(e);
        }
    }};
}

/// `println!` as [`out!`] does it.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            stdout_failed(e);
        }
    }};
}

/// Ends the process after a failed write to stdout: quietly when the reader went away.
fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("kestrel: cannot write to stdout: {e}");
    std::process::exit(1);
}

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

/// Which models to use: the committed ones (int8 by default), or files.
#[derive(clap::Args, Clone, Default)]
struct ModelArgs {
    /// Which committed models: int8 (calibrated, the default), fp32, or compact (int8 with
    /// fewer-bit GPTQ weights, a pruned detector, coded: 2.4 MB instead of 4.8 MB).
    #[arg(long, default_value = "int8", value_parser = ["int8", "fp32", "compact"])]
    precision: String,
    /// Detector model file (instead of the committed detector).
    #[arg(long, value_name = "FILE")]
    det_model: Option<PathBuf>,
    /// Recogniser model file.
    #[arg(long, value_name = "FILE")]
    rec_model: Option<PathBuf>,
    /// Classifier model file.
    #[arg(long, value_name = "FILE")]
    cls_model: Option<PathBuf>,
    /// A file holding the key (64 hexadecimal digits) of encrypted model files (`kestrel
    /// seal`); plain model files load as usual.
    #[arg(long, value_name = "FILE", env = "KESTREL_MODEL_KEY_FILE")]
    model_key_file: Option<PathBuf>,
    /// Re-read every line whose least confident character is under P with the fp32
    /// recogniser (or --refine-model), in [0, 1): int8 speed on confident lines, fp32's
    /// readings where int8 rounding could tip a near tie. Default with the committed int8
    /// recogniser: 0.5 (a character the recogniser gives less than even odds); 0 turns it
    /// off. The document pipelines (`doc`, documents in `eval`) do not refine.
    #[arg(long, value_name = "P", value_parser = refine_threshold)]
    refine_below: Option<f32>,
    /// The recogniser that re-reads unsure lines (default: the committed fp32 recogniser),
    /// below --refine-below or its default of 0.5; it must have the recogniser's dictionary.
    #[arg(long, value_name = "FILE")]
    refine_model: Option<PathBuf>,
}

/// The 0/180 classifier's settings of `read` and `eval`.
#[derive(clap::Args, Clone)]
struct ClassifyArgs {
    /// Skip the 0/180 line classifier.
    #[arg(long)]
    no_cls: bool,
    /// Trust the classifier's turns (by default a turned line is read both ways and keeps the
    /// more confident reading).
    #[arg(long)]
    no_verify_turns: bool,
    /// The classifier's probability of "upside down" above which a line is turned, in (0, 1);
    /// lower finds more upside-down lines at some cost to upright ones.
    #[arg(long, value_name = "P", default_value_t = ocr_core::ocr::classify::DEFAULT_THRESH, value_parser = probability)]
    cls_thresh: f32,
}

impl ClassifyArgs {
    /// Sets the read options' classifier fields.
    fn apply(&self, opts: &mut ReadOptions) {
        opts.classify = !self.no_cls;
        opts.verify_turns = !self.no_verify_turns;
        opts.cls_thresh = self.cls_thresh;
    }
}

/// Reads a model key file (64 hexadecimal digits).
fn read_key(path: &std::path::Path) -> Result<[u8; ocr_core::runtime::sealed::KEY_LEN]> {
    let text = read_text_bounded(path, MAX_TEXT_FILE)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    ocr_core::runtime::sealed::parse_hex_key(&text)
        .with_context(|| format!("bad key file {}", path.display()))
}

/// An image file's bytes (at most [`MAX_IMAGE_FILE`]).
fn read_image_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    read_bounded(path, MAX_IMAGE_FILE)
}

/// Loads a model file, decrypting it when a key is given.
fn load_model(path: &std::path::Path, key: Option<&[u8; 32]>) -> Result<Model> {
    // Mapping a directory or a device fails obscurely ("No such device"); say what it is.
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot load {}", path.display()))?;
    if !meta.is_file() || meta.len() > MAX_MODEL_FILE {
        bail!(
            "cannot load {}: not a regular file of at most {MAX_MODEL_FILE} bytes",
            path.display()
        );
    }
    let m = match key {
        Some(k) => Model::load_with_key(path, k),
        None => Model::load(path),
    };
    m.with_context(|| format!("cannot load {}", path.display()))
}

/// The bank-card reader with the given number recognisers, or the committed ones.
fn bank_card_reader(
    engine: &Engine,
    number_models: &[PathBuf],
    models: &ModelArgs,
) -> Result<ocr_services::doc::bank_card::BankCardReader> {
    use ocr_services::doc::bank_card::BankCardReader;
    if number_models.is_empty() {
        return Ok(BankCardReader::new(engine)?);
    }
    let key = models.model_key_file.as_deref().map(read_key).transpose()?;
    let loaded = number_models
        .iter()
        .map(|p| load_model(p, key.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    Ok(BankCardReader::with_models(engine, loaded)?)
}

impl ModelArgs {
    /// The engine, with the refiner when one is asked for or is the default.
    fn engine(&self, threads: usize) -> Result<Engine> {
        self.engine_with(threads, true)
    }

    /// The engine, without the refiner when `refine` is false (the document pipelines never
    /// use it: no need to load the fp32 recogniser for them).
    fn engine_with(&self, threads: usize, refine: bool) -> Result<Engine> {
        let precision = Precision::parse(&self.precision)
            .with_context(|| format!("unknown --precision '{}'", self.precision))?;
        let [det, rec, cls] = ocr_core::ocr::zoo::models(precision);
        let key = self.model_key_file.as_deref().map(read_key).transpose()?;
        let load = |p: &Option<PathBuf>, default: &[u8]| -> Result<Model> {
            Ok(match p {
                Some(p) => load_model(p, key.as_ref())?,
                None => Model::from_bytes(default)?,
            })
        };
        let engine = Engine::from_models(
            load(&self.det_model, det)?,
            load(&self.rec_model, rec)?,
            Some(load(&self.cls_model, cls)?),
            EngineConfig {
                threads,
                precision,
                ..Default::default()
            },
        )?;
        // The committed fp32 recogniser needs no fp32 refiner; another recogniser than the
        // committed int8 one is refined only when asked to (its dictionary may differ), and
        // the compact set not by default (its point is a small package).
        let fp32_rec = precision == Precision::Fp32 && self.rec_model.is_none();
        let refine_below = match self.refine_below {
            Some(p) => Some(p),
            None if self.refine_model.is_some()
                || (precision == Precision::Int8 && self.rec_model.is_none()) =>
            {
                Some(ocr_core::ocr::DEFAULT_REFINE_BELOW)
            }
            None => None,
        };
        Ok(
            match refine_below.filter(|&p| refine && p > 0.0 && !fp32_rec) {
                Some(below) => {
                    let [_, fp32_rec, _] = ocr_core::ocr::zoo::models(Precision::Fp32);
                    engine.with_refiner(load(&self.refine_model, fp32_rec)?, below)?
                }
                None => engine,
            },
        )
    }
}

#[derive(Subcommand)]
enum Command {
    /// Read the text in images (plain text, or JSON with boxes and characters).
    Read {
        /// Image files (JPEG, PNG, WebP, BMP).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Print JSON (schema in docs/json-schema.md) instead of plain text.
        #[arg(long)]
        json: bool,
        /// Each image is one already-cropped text line: recognise it without detection.
        #[arg(long)]
        line: bool,
        /// Worker threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Write the image with its boxes and text drawn beside it (one image only).
        #[arg(long, value_name = "OUT.png")]
        draw: Option<PathBuf>,
        /// Font for --draw (default: $KESTREL_FONT or a system CJK font).
        #[arg(long)]
        font: Option<PathBuf>,
        /// Longest side of the detector input.
        #[arg(long, default_value_t = 960)]
        max_side: u32,
        #[command(flatten)]
        classify: ClassifyArgs,
        /// Only recognise these characters (e.g. "0123456789").
        #[arg(long, value_name = "CHARS")]
        allowed_chars: Option<String>,
        /// A Kestrel server (host:port) to re-recognise the lines this device is unsure of.
        #[arg(long, value_name = "HOST:PORT")]
        remote: Option<String>,
        /// With --remote: lines below this confidence go to the server.
        #[arg(long, default_value_t = 0.9, value_parser = non_negative)]
        offload_below: f32,
        /// With --remote: seconds to wait for the server to connect and to answer each call.
        #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        remote_timeout: u64,
        /// With --remote: bearer token for the server.
        #[arg(long, env = "KESTREL_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Serve the engine over gRPC (kestrel.v1.Ocr, health checking, reflection).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "KESTREL_ADDR", default_value = "127.0.0.1:50051")]
        addr: String,
        /// Kernel threads per call (0 = one per core).
        #[arg(long, env = "KESTREL_THREADS", default_value_t = 1)]
        threads: usize,
        /// Calls running inference at once (0 = one per core).
        #[arg(long, env = "KESTREL_MAX_CONCURRENCY", default_value_t = 0)]
        max_concurrency: usize,
        /// Calls allowed to wait beyond those; more are refused with RESOURCE_EXHAUSTED.
        #[arg(long, env = "KESTREL_QUEUE", default_value_t = 16)]
        queue: usize,
        /// Largest request, in MiB.
        #[arg(long, env = "KESTREL_MAX_MESSAGE_MB", default_value_t = 16,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
        max_message_mb: usize,
        /// Most working memory one `Finish` call's features may make the model tail plan, in
        /// MiB (the default fits a batch of 12 of the longest lines the engine reads).
        #[arg(long, env = "KESTREL_MAX_FINISH_MB", default_value_t = 512,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
        max_finish_mb: usize,
        /// Require `authorization: Bearer TOKEN` on OCR calls (prefer the environment variable).
        #[arg(long, env = "KESTREL_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics.
        #[arg(long, env = "KESTREL_METRICS_ADDR", value_name = "ADDR")]
        metrics_addr: Option<String>,
        /// TLS certificate chain (PEM); with --tls-key the server speaks TLS only.
        #[arg(
            long,
            env = "KESTREL_TLS_CERT",
            value_name = "PEM",
            requires = "tls_key"
        )]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(
            long,
            env = "KESTREL_TLS_KEY",
            value_name = "PEM",
            requires = "tls_cert"
        )]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Score the engine on labelled manifests (the ../shared/eval/dev format).
    Eval {
        /// Manifests, or folders searched for manifest.jsonl.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the full report as JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Write an HTML page of the worst cases (and their images) into this folder.
        #[arg(long, value_name = "DIR")]
        failures: Option<PathBuf>,
        /// Worker threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Evaluate shard I of N (records whose index is I modulo N), e.g. 0/4.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Score predictions from a file (JSON lines, as --save-predictions writes) instead of
        /// running the engine: compares another engine with the same metrics.
        #[arg(long, value_name = "FILE")]
        predictions: Option<PathBuf>,
        /// Save the engine's predictions (JSON lines).
        #[arg(long, value_name = "FILE")]
        save_predictions: Option<PathBuf>,
        /// Longest side of the detector input.
        #[arg(long, default_value_t = 960)]
        max_side: u32,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        /// Restrict recognition to these characters (constrained decoding), e.g. "0123456789 ".
        #[arg(long, value_name = "CHARS")]
        allowed_chars: Option<String>,
        #[command(flatten)]
        classify: ClassifyArgs,
        /// Read line crops as bank-card numbers: the specialised bank-card recognisers, with
        /// the general one (digits only) consulted when they are unsure.
        #[arg(long)]
        bank_card_numbers: bool,
        /// Bank-card number recogniser file for `--bank-card-numbers` and the bank-card
        /// documents (default: the committed ones); repeat it for an ensemble.
        #[arg(long, value_name = "FILE")]
        number_model: Vec<PathBuf>,
        /// Also score the development images that calibrated the int8 models or trained the
        /// bank-card recogniser (left out by default: models/calib/dev-calibration.txt,
        /// models/train/bankcard/dev-train-split.txt).
        #[arg(long)]
        include_calibration: bool,
        #[command(flatten)]
        models: ModelArgs,
    },
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
        /// Quantise convolutions to int8 (needs --kind and --calib).
        #[arg(long)]
        int8: bool,
        /// Calibration images or folders (never images you score on); several may follow one
        /// `--calib`.
        #[arg(long, value_name = "PATH", num_args = 1..)]
        calib: Vec<PathBuf>,
        /// Activation range method: minmax, percentile, mse or entropy.
        #[arg(long, default_value = "percentile")]
        calib_method: String,
        /// Also quantise depthwise convolutions (the int8 depthwise kernel); without it they
        /// stay fp32.
        #[arg(long, requires = "int8")]
        int8_depthwise: bool,
        /// Also quantise matrix products with constant weights (the recogniser's attention
        /// projections, MLP and CTC head: the int8 GEMM, weights per output column); without
        /// it they stay fp32.
        #[arg(long, requires = "int8")]
        int8_matmul: bool,
        /// A convolution or matrix product (node name) to keep in fp32 (repeatable).
        #[arg(long, value_name = "NODE")]
        keep_fp32: Vec<String>,
        /// Mixed precision: keep the most sensitive layers fp32 until at most this share of
        /// decoded outputs changes on the calibration inputs (recognised lines, classifier
        /// decisions, detector pixels), e.g. 0.01. Prints the per-layer sensitivity table.
        #[arg(long, value_name = "SHARE")]
        max_changed: Option<f32>,
        /// Run the sensitivity analyses (mixed precision, channel pruning) on at most this many
        /// calibration inputs (spread over the set); ranges still use all of them.
        #[arg(long, value_name = "N")]
        sensitivity_inputs: Option<usize>,
        /// Rounds of empirical bias correction after quantisation: the int8 convolutions'
        /// biases absorb the mean shift of their outputs against fp32 on the calibration
        /// inputs (0: off).
        #[arg(long, value_name = "ROUNDS", default_value_t = 0)]
        bias_correction: usize,
        /// Round int8 weights with GPTQ (error compensation over the calibration inputs'
        /// second moments) instead of to nearest.
        #[arg(long, requires = "int8")]
        gptq: bool,
        /// With --gptq: weight levels of every int8 convolution, in bits (2-8; e.g. 4: codes
        /// -7..7, which compress to about half).
        #[arg(long, value_name = "BITS", default_value_t = 8, requires = "gptq")]
        weight_bits: u32,
        /// With --gptq: also round the constant weights of MatMuls to codes of this many bits
        /// (2-8): int8 ones (--int8-matmul) keep them as their codes; for those that compute
        /// in fp32, `kestrel compress --fp32-weight-bits` at the same bits stores them exactly.
        #[arg(long, value_name = "BITS", requires = "gptq")]
        matmul_bits: Option<u32>,
        /// With --gptq: choose each layer's bits, the fewest from --gptq-min-bits up to its
        /// default (--weight-bits, --matmul-bits) whose relative output error on the
        /// calibration inputs is at most this (e.g. 3e-4; printed per layer).
        #[arg(long, value_name = "ERROR", requires = "gptq")]
        gptq_max_error: Option<f64>,
        /// With --gptq-max-error: the fewest bits it may choose.
        #[arg(long, value_name = "BITS", default_value_t = 3, requires = "gptq")]
        gptq_min_bits: u32,
        /// With --gptq: prune this share of the weights of layers with 128 or more inputs per
        /// output (those cheapest to remove, their error compensated), e.g. 0.3.
        #[arg(long, value_name = "SHARE", default_value_t = 0.0, requires = "gptq")]
        gptq_sparsity: f64,
        /// With --gptq: dampening of the second-moment matrix, as a share of its mean diagonal.
        #[arg(long, value_name = "SHARE", default_value_t = 0.1, requires = "gptq")]
        gptq_damp: f64,
        /// With --gptq: one layer's weight bits, NODE=BITS (repeatable).
        #[arg(long, value_name = "NODE=BITS", requires = "gptq")]
        layer_bits: Vec<String>,
        /// Structured pruning before quantising: remove this share of the output channels of
        /// every convolution whose channels only convolutions read (e.g. 0.25), the least
        /// important first; the ranges are calibrated on the pruned model. Prints each
        /// group's effect (see models/README.md).
        #[arg(long, value_name = "SHARE", requires = "int8")]
        prune_channels: Option<f32>,
        /// With --prune-channels: prune only the least sensitive groups, as many as keep the
        /// share of decoded outputs that change on the calibration inputs at most this (e.g.
        /// 0.002 for a detector).
        #[arg(long, value_name = "SHARE", requires = "prune_channels")]
        prune_max_changed: Option<f32>,
    },
    /// Compress a Kestrel model file: arithmetic-code its int8 weights (lossless) and
    /// optionally store weights with fewer bits (lossy; see models/README.md).
    Compress {
        /// The Kestrel model file.
        input: PathBuf,
        /// Where to write the compressed model.
        #[arg(short, long)]
        output: PathBuf,
        /// Store the weights of layers that compute in fp32 (depthwise, MatMul, layers kept
        /// fp32) as per-channel codes of this many bits (2-8), dequantised at load.
        #[arg(long, value_name = "BITS")]
        fp32_weight_bits: Option<u32>,
        /// Re-quantise int8 convolutions' weights to this many bits (2-7).
        #[arg(long, value_name = "BITS")]
        int8_weight_bits: Option<u32>,
        /// A layer (node name) whose weights stay exact (repeatable).
        #[arg(long, value_name = "NODE")]
        keep_exact: Vec<String>,
    },
    /// Encrypt a model file with AES-256-GCM (a fresh random nonce per file). Load it with
    /// `--model-key-file` (or `Model::from_sealed_bytes` in the library). Make a key with e.g.
    /// `openssl rand -hex 32 > model.key`.
    Seal {
        /// The model file.
        input: PathBuf,
        /// Where to write the encrypted model.
        #[arg(short, long)]
        output: PathBuf,
        /// The key file: 64 hexadecimal digits.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
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
    /// Render synthetic text images with a manifest (the dev-set format).
    Synth {
        /// What to render: `lines` (line crops), `pages`, `card-numbers` (bank-card number
        /// crops: one group or a whole number; embossed, printed, flat-metal and foil),
        /// `id-cards` (ID card photos, fronts and backs), `bank-cards` (bank card photos),
        /// `waybills` (express waybill photos) or `business-licenses`.
        kind: String,
        /// Output folder (images and manifest.jsonl).
        #[arg(short, long)]
        output: PathBuf,
        /// How many images.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Random seed (the same seed and font give the same images).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Font file (default: `$KESTREL_FONT` or the first CJK system font found); for
        /// `card-numbers`, repeat it to give several (default: the installed DejaVu and
        /// WenQuanYi fonts, beside the built-in embossing typeface).
        #[arg(long)]
        font: Vec<PathBuf>,
    },
    /// Extract a document's fields, one JSON object per image on stdout (schema: each field
    /// has text, confidence, box, valid, corrected, recognizer).
    Doc {
        /// Document type: `bank-card`, `id-card`, `waybill`, `business-license`, `plate`,
        /// `vin`, or `quality` (the
        /// capture-quality check of a card photo: hint codes for blur, exposure, glare, too
        /// small, cut off).
        kind: String,
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Each image is already the field's own crop (a bank card's number line or one digit
        /// group): skip localisation.
        #[arg(long)]
        crop: bool,
        /// Bank-card number recogniser file (default: the committed ones); repeat it for an
        /// ensemble: all read every number, in the order given.
        #[arg(long, value_name = "FILE")]
        number_model: Vec<PathBuf>,
        /// Worker threads (0 = one per core).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Describe a model file: inputs, outputs, metadata, size.
    Info {
        /// The Kestrel model file.
        model: PathBuf,
        /// Print this metadata value in full and nothing else (e.g. `kestrel.sensitivity`, the
        /// int8 plan's per-layer table).
        #[arg(long, value_name = "KEY")]
        meta: Option<String>,
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
        Command::Read {
            images,
            json,
            line,
            threads,
            draw,
            font,
            max_side,
            classify,
            allowed_chars,
            remote,
            offload_below,
            remote_timeout,
            token,
            models,
        } => {
            if draw.is_some() && images.len() != 1 {
                bail!("--draw takes exactly one image");
            }
            let engine = models.engine(threads)?;
            // Line-level split computation: a client for the server, when given.
            let rt = tokio::runtime::Runtime::new()?;
            if remote.is_some() && line {
                bail!("--remote offloads the lines of pages; with --line there are none");
            }
            let mut client = match &remote {
                Some(addr) => {
                    // A server that accepts the connection and never answers must not hang
                    // the read: every call has a deadline.
                    let wait = std::time::Duration::from_secs(remote_timeout);
                    let endpoint =
                        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                            .with_context(|| format!("bad server address {addr}"))?
                            .connect_timeout(wait)
                            .timeout(wait);
                    // Connected at the first call: a server that is down is then one more
                    // failed call, and the lines keep this device's readings.
                    let channel = {
                        let _runtime = rt.enter();
                        endpoint.connect_lazy()
                    };
                    Some(ocr_proto::v1::ocr_client::OcrClient::new(channel))
                }
                None => None,
            };
            let mut totals = ocr_services::offload::OffloadStats::default();
            let mut opts = ReadOptions {
                allowed_chars,
                ..Default::default()
            };
            classify.apply(&mut opts);
            opts.det.max_side = max_side;
            let mut failed = 0;
            let mut results = Vec::new();
            for path in &images {
                let outcome = read_image_file(path)
                    .with_context(|| format!("cannot read {}", path.display()))
                    .and_then(|bytes| Ok((engine.decode(&bytes)?, bytes.len())))
                    .and_then(|(img, image_bytes)| {
                        let page = if line {
                            let l = engine.recognize_line(&img, &opts)?;
                            Page {
                                width: img.width(),
                                height: img.height(),
                                lines: vec![l],
                            }
                        } else if let Some(c) = client.as_mut() {
                            let (page, stats) =
                                rt.block_on(ocr_services::offload::read_with_offload(
                                    &engine,
                                    c,
                                    token.as_deref(),
                                    (&img, image_bytes),
                                    &opts,
                                    offload_below,
                                ))?;
                            if let Some(e) = &stats.remote_error {
                                eprintln!(
                                    "kestrel: {}: the server did not answer ({e}): its {} unsure lines keep this device's readings",
                                    path.display(),
                                    stats.kept_after_failure
                                );
                            }
                            totals.lines += stats.lines;
                            totals.offloaded += stats.offloaded;
                            totals.bytes_sent += stats.bytes_sent;
                            totals.image_bytes += stats.image_bytes;
                            page
                        } else {
                            engine.read(&img, &opts)?
                        };
                        Ok((img, page))
                    });
                match outcome {
                    Ok((img, page)) => {
                        if let Some(out) = &draw {
                            let f = ocr_services::draw::load_font(font.as_deref())?;
                            if f.is_none() {
                                eprintln!(
                                    "kestrel: no font found (use --font): drawing boxes only"
                                );
                            }
                            ocr_services::draw::render(&img, &page, f.as_ref())
                                .save(out)
                                .with_context(|| format!("cannot write {}", out.display()))?;
                        }
                        if !json {
                            if images.len() > 1 {
                                outln!("==> {} <==", path.display());
                            }
                            for l in &page.lines {
                                outln!("{}", l.text);
                            }
                        }
                        results.push(serde_json::json!({ "image": path.display().to_string(), "page": page }));
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("kestrel: {}: {e:#}", path.display());
                        results.push(serde_json::json!({ "image": path.display().to_string(), "error": format!("{e:#}") }));
                    }
                }
            }
            if remote.is_some() {
                eprintln!(
                    "kestrel: offloaded {} of {} lines ({:.0}% settled on this device); sent {} bytes of line images, the images themselves are {} bytes",
                    totals.offloaded,
                    totals.lines,
                    100.0 * totals.kept_on_device(),
                    totals.bytes_sent,
                    totals.image_bytes
                );
            }
            if json {
                let doc = serde_json::json!({ "schema_version": ocr_core::ocr::result::SCHEMA_VERSION, "results": results });
                outln!("{}", serde_json::to_string_pretty(&doc)?);
            }
            if failed > 0 {
                bail!("{failed} of {} images failed", images.len());
            }
        }
        Command::Serve {
            addr,
            threads,
            max_concurrency,
            queue,
            max_message_mb,
            max_finish_mb,
            token,
            metrics_addr,
            tls_cert,
            tls_key,
            models,
        } => {
            let tls = match (&tls_cert, &tls_key) {
                (Some(c), Some(k)) => Some(tonic::transport::Identity::from_pem(
                    read_bounded(c, MAX_TEXT_FILE)
                        .with_context(|| format!("cannot read {}", c.display()))?,
                    read_bounded(k, MAX_TEXT_FILE)
                        .with_context(|| format!("cannot read {}", k.display()))?,
                )),
                _ => None,
            };
            // A certificate or key that is not usable fails here, before the server
            // announces itself, rather than after.
            if let Some(identity) = &tls {
                tonic::transport::Server::builder()
                    .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity.clone()))
                    .context("the TLS certificate and key cannot be used")?;
            }
            let engine = std::sync::Arc::new(models.engine(threads)?);
            let mut config = ocr_services::server::ServerConfig::default();
            if max_concurrency > 0 {
                config.max_concurrency = max_concurrency;
            }
            config.queue = queue;
            config.max_message_bytes = max_message_mb.saturating_mul(1 << 20);
            config.max_finish_bytes = max_finish_mb.saturating_mul(1 << 20);
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("KESTREL_LOG")
                        .unwrap_or_else(|_| "info".into()),
                )
                .init();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                // The SIGTERM handler is in place before the address is announced, so a
                // supervisor that stops the server as soon as it starts still gets a clean stop.
                #[cfg(unix)]
                let mut term_signal =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                // Every address is bound before the server says it is serving.
                let metrics_listener = match &metrics_addr {
                    Some(maddr) => Some(
                        tokio::net::TcpListener::bind(maddr)
                            .await
                            .with_context(|| format!("cannot listen on {maddr}"))?,
                    ),
                    None => None,
                };
                eprintln!(
                    "kestrel: serving kestrel.v1.Ocr on {}",
                    listener.local_addr()?
                );
                let shutdown = async move {
                    let term = async {
                        #[cfg(unix)]
                        if let Some(s) = term_signal.as_mut() {
                            s.recv().await;
                            return;
                        }
                        std::future::pending::<()>().await
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term => {}
                    }
                    eprintln!("kestrel: shutting down after in-flight calls");
                };
                let auth = ocr_services::server::BearerAuth::new(token);
                let metrics = ocr_services::metrics::Metrics::new();
                let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
                if let Some(ml) = metrics_listener {
                    eprintln!("kestrel: metrics at http://{}/metrics", ml.local_addr()?);
                    tokio::spawn(ocr_services::metrics::serve_metrics(
                        metrics.clone(),
                        ml,
                        async {
                            let _ = metrics_stopped.await;
                        },
                    ));
                }
                let served = ocr_services::server::serve(
                    engine, listener, config, auth, metrics, tls, shutdown,
                )
                .await;
                let _ = stop_metrics.send(());
                served.map_err(|e| anyhow::anyhow!(e))
            })?;
        }
        Command::Eval {
            paths,
            json,
            failures,
            threads,
            shard,
            predictions,
            save_predictions,
            max_side,
            quiet,
            allowed_chars,
            classify,
            bank_card_numbers,
            number_model,
            include_calibration,
            models,
        } => {
            use ocr_services::eval::{self, EvalOptions, Predictor, report};
            let shard = match shard.as_deref() {
                None => None,
                Some(s) => {
                    let (i, n) = s
                        .split_once('/')
                        .with_context(|| format!("--shard wants I/N, got '{s}'"))?;
                    let number = |v: &str| {
                        v.trim().parse::<usize>().with_context(|| {
                            format!("--shard wants I/N in whole numbers, got '{s}'")
                        })
                    };
                    let (i, n) = (number(i)?, number(n)?);
                    if n == 0 || i >= n {
                        bail!("--shard {s}: need 0 <= I < N");
                    }
                    Some((i, n))
                }
            };
            let mut records = eval::load_manifests(&paths)?;
            if !include_calibration {
                let n = eval::manifest::hold_out_calibration(&mut records);
                if n > 0 && !quiet {
                    eprintln!(
                        "{n} records left out: int8 calibration and model training images (--include-calibration scores them)"
                    );
                }
            }
            let mut opts = EvalOptions {
                shard,
                progress: !quiet && !json,
                ..Default::default()
            };
            opts.read.det.max_side = max_side;
            opts.read.allowed_chars = allowed_chars;
            classify.apply(&mut opts.read);
            let engine;
            let reader;
            let predictor = match &predictions {
                Some(p) => {
                    let text = read_text_bounded(p, MAX_TEXT_FILE)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    let mut map = std::collections::HashMap::new();
                    for (i, line) in text
                        .lines()
                        .enumerate()
                        .filter(|(_, l)| !l.trim().is_empty())
                    {
                        let pred: eval::Prediction = serde_json::from_str(line)
                            .with_context(|| format!("{}:{}", p.display(), i + 1))?;
                        map.insert(pred.key.clone(), pred);
                    }
                    Predictor::Saved(map)
                }
                None => {
                    engine = models.engine(threads)?;
                    reader = bank_card_reader(&engine, &number_model, &models)?;
                    Predictor::Documents {
                        engine: &engine,
                        bank_card: &reader,
                        card_number_lines: bank_card_numbers,
                    }
                }
            };
            let (results, preds) = eval::evaluate(&records, &predictor, &opts);
            if let Some(p) = &save_predictions {
                let body: Vec<String> = preds
                    .iter()
                    .map(serde_json::to_string)
                    .collect::<Result<_, _>>()?;
                std::fs::write(p, body.join("\n") + "\n")
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            let sums = report::summaries(&results);
            if json {
                let doc = serde_json::json!({ "schema_version": 1, "summaries": sums, "records": results });
                outln!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                out!("{}", report::table(&sums));
                // The table counts records that could not be read; say why for the first few.
                let errors: Vec<_> = results
                    .iter()
                    .filter_map(|r| Some((&r.key, r.error.as_ref()?)))
                    .collect();
                for (key, e) in errors.iter().take(5) {
                    eprintln!("kestrel: {key}: {e}");
                }
                if errors.len() > 5 {
                    eprintln!(
                        "kestrel: ... {} more errors (--json lists them)",
                        errors.len() - 5
                    );
                }
            }
            if let Some(dir) = &failures {
                let n = report::write_failures(&results, dir, 200)?;
                eprintln!(
                    "{n} worst cases written to {}",
                    dir.join("index.html").display()
                );
            }
        }
        Command::Convert {
            input,
            output,
            kind,
            charset,
            meta,
            split_points,
            int8,
            calib,
            calib_method,
            int8_depthwise,
            int8_matmul,
            keep_fp32,
            max_changed,
            sensitivity_inputs,
            bias_correction,
            gptq,
            weight_bits,
            matmul_bits,
            gptq_max_error,
            gptq_min_bits,
            gptq_sparsity,
            gptq_damp,
            layer_bits,
            prune_channels,
            prune_max_changed,
        } => {
            let onnx = read_bounded(&input, MAX_MODEL_FILE)
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
            let int8 = if int8 {
                let k = kind.context(
                    "--int8 needs --kind (it decides how calibration images are preprocessed)",
                )?;
                let method =
                    ocr_models::quantize::CalibMethod::parse(&calib_method).with_context(|| {
                        format!("unknown --calib-method '{calib_method}' (minmax, percentile, mse, entropy)")
                    })?;
                let files = ocr_services::calib::image_files(&calib)?;
                eprintln!("calibrating on {} images", files.len());
                Some(ocr_models::Int8Options {
                    calibration: ocr_services::calib::inputs(k, &files)?,
                    method,
                    depthwise: int8_depthwise,
                    matmul: int8_matmul,
                    keep_fp32,
                    max_changed,
                    sensitivity_inputs,
                    bias_correction,
                    gptq: gptq
                        .then(|| -> Result<_> {
                            let layer_bits = layer_bits
                                .iter()
                                .map(|m| {
                                    let (node, bits) = key_value(m)?;
                                    let bits = bits.parse().with_context(|| {
                                        format!("--layer-bits {m}: bits must be a number")
                                    })?;
                                    Ok((node, bits))
                                })
                                .collect::<Result<_>>()?;
                            Ok(ocr_models::gptq::GptqOptions {
                                bits: weight_bits,
                                layer_bits,
                                matmul_bits,
                                max_error: gptq_max_error,
                                min_bits: gptq_min_bits,
                                sparsity: gptq_sparsity,
                                damp: gptq_damp,
                            })
                        })
                        .transpose()?,
                    pruning: prune_channels.map(|share| ocr_models::prune::PruneOptions {
                        share,
                        max_changed: prune_max_changed,
                    }),
                })
            } else {
                None
            };
            let opts = ConvertOptions {
                int8,
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
        Command::Compress {
            input,
            output,
            fp32_weight_bits,
            int8_weight_bits,
            keep_exact,
        } => {
            let bytes = read_bounded(&input, MAX_MODEL_FILE)
                .with_context(|| format!("cannot read {}", input.display()))?;
            if ocr_core::runtime::sealed::is_sealed(&bytes) {
                bail!(
                    "{} is encrypted: compress the plain model, then seal the result",
                    input.display()
                );
            }
            let opts = ocr_models::compress::CompressOptions {
                fp32_weight_bits,
                int8_weight_bits,
                keep_exact,
            };
            let (out, r) = ocr_models::compress::compress(&bytes, &opts)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("cannot compress {}", input.display()))?;
            std::fs::write(&output, &out)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "{}: {} -> {} bytes ({:.1}%); {} int8 elements coded, {} fp32 weight tensors \
                 ({} elements) stored as codes, {} int8 weight tensors ({} elements) re-quantised",
                output.display(),
                r.input_bytes,
                r.output_bytes,
                100.0 * r.output_bytes as f64 / r.input_bytes as f64,
                r.int8_elements,
                r.rounded_fp32.0,
                r.rounded_fp32.1,
                r.requantised_int8.0,
                r.requantised_int8.1,
            );
            if r.output_bytes > r.input_bytes {
                eprintln!(
                    "kestrel: warning: the result is larger than {}: a file compressed before \
                     loses its stored weight codes when compressed again without the same \
                     options; keep the input",
                    input.display()
                );
            }
        }
        Command::Seal {
            input,
            output,
            key_file,
        } => {
            let key = read_key(&key_file)?;
            let bytes = read_bounded(&input, MAX_MODEL_FILE)
                .with_context(|| format!("cannot read {}", input.display()))?;
            // Refuse to encrypt something that is not a loadable model.
            Model::from_bytes(&bytes)
                .with_context(|| format!("{} is not a model", input.display()))?;
            let mut nonce = [0u8; ocr_core::runtime::sealed::NONCE_LEN];
            getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no random nonce: {e}"))?;
            let sealed = ocr_core::runtime::sealed::seal(&bytes, &key, &nonce)?;
            std::fs::write(&output, &sealed)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!("{}: {} bytes, encrypted", output.display(), sealed.len());
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
            let mut session = Session::with_threads(m, Threads::new(threads)?);
            let outs = session.run(&refs)?;
            for (t, p) in outs.iter().zip(&output) {
                npy::write(p, t)?;
            }
        }
        Command::Synth {
            kind,
            output,
            count,
            seed,
            font,
        } => {
            use ocr_services::synth::{self, SynthKind, TextSource};
            let kind = match kind.as_str() {
                "lines" => SynthKind::Lines,
                "pages" => SynthKind::Pages,
                "card-numbers" => {
                    let fonts = synth::card_number::CardFonts::load(&font)?;
                    synth::write_card_numbers(&output, count, seed, &fonts)?;
                    eprintln!(
                        "{count} card-number crops ({} fonts) written to {}",
                        fonts.len(),
                        output.display()
                    );
                    return Ok(());
                }
                "id-cards" | "bank-cards" | "waybills" | "business-licenses" => {
                    let doc_kind = match kind.as_str() {
                        "id-cards" => synth::DocumentKind::IdCards,
                        "bank-cards" => synth::DocumentKind::BankCards,
                        "waybills" => synth::DocumentKind::Waybills,
                        _ => synth::DocumentKind::BusinessLicenses,
                    };
                    let cjk = ocr_services::draw::load_font(None)?
                        .context("no usable CJK font: install fonts-wqy-zenhei")?;
                    let fonts = synth::card_number::CardFonts::load(&font)?;
                    synth::write_documents(&output, doc_kind, count, seed, &cjk, &fonts)?;
                    eprintln!("{count} documents written to {}", output.display());
                    return Ok(());
                }
                k => bail!(
                    "unknown synth kind '{k}' (lines, pages, card-numbers, id-cards, bank-cards, \
                     waybills, business-licenses)"
                ),
            };
            let font = match font.first() {
                Some(p) => ab_glyph::FontVec::try_from_vec(
                    read_bounded(p, MAX_MODEL_FILE)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                )
                .with_context(|| format!("{} is not a font", p.display()))?,
                None => ocr_services::draw::load_font(None)?
                    .context("no usable font: pass --font or install fonts-wqy-zenhei")?,
            };
            // Labels must match the pixels: a font without Chinese glyphs would draw boxes.
            if ab_glyph::Font::glyph_id(&font, '中').0 == 0 {
                bail!(
                    "the font has no Chinese glyphs: pass a CJK font with --font (e.g. fonts-wqy-zenhei)"
                );
            }
            let rec = Model::from_bytes(ocr_core::ocr::zoo::REC)?;
            let charset = ocr_charset::Charset::from_dictionary(
                rec.meta("charset")
                    .context("the recogniser has no charset")?,
            )?;
            synth::write_set(
                &output,
                kind,
                count,
                seed,
                &font,
                &TextSource::new(&charset),
            )?;
            eprintln!("{count} images written to {}", output.display());
        }
        Command::Doc {
            kind,
            images,
            crop,
            number_model,
            threads,
            models,
        } => {
            use ocr_services::doc::{id_card, locate, quality, vehicle};
            const KINDS: [&str; 7] = [
                "bank-card",
                "id-card",
                "waybill",
                "business-license",
                "plate",
                "vin",
                "quality",
            ];
            if !KINDS.contains(&kind.as_str()) {
                bail!("unknown document type '{kind}' ({})", KINDS.join(", "));
            }
            let engine = models.engine_with(threads, false)?;
            let reader = bank_card_reader(&engine, &number_model, &models)?;
            let mut failed = 0;
            for path in &images {
                let result = read_image_file(path)
                    .with_context(|| format!("cannot read {}", path.display()))
                    .and_then(|bytes| Ok(engine.decode(&bytes)?))
                    .and_then(|img| {
                        Ok(match (kind.as_str(), crop) {
                            ("bank-card", true) => serde_json::json!({
                                "card_number": reader.read_number(&engine, &img)?
                            }),
                            ("bank-card", false) => {
                                serde_json::to_value(reader.read_card(&engine, &img)?)?
                            }
                            ("id-card", _) => {
                                serde_json::to_value(id_card::read(&engine, &img, crop)?)?
                            }
                            ("waybill", _) => serde_json::to_value(
                                ocr_services::doc::waybill::read(&engine, &img, crop)?,
                            )?,
                            ("business-license", _) => serde_json::to_value(
                                ocr_services::doc::business_license::read(&engine, &img, crop)?,
                            )?,
                            ("plate", _) => serde_json::json!({
                                "plate": vehicle::read_plate(&engine, &img, crop)?
                            }),
                            ("vin", _) => serde_json::json!({
                                "vin": vehicle::read_vin(&engine, &img, crop)?
                            }),
                            _ => serde_json::to_value(quality::check(
                                &img,
                                Some(locate::ID1_ASPECT),
                            ))?,
                        })
                    });
                match result {
                    Ok(fields) => outln!(
                        "{}",
                        serde_json::json!({
                            "image": path.display().to_string(),
                            "document": kind.replace('-', "_"),
                            "result": fields,
                        })
                    ),
                    Err(e) => {
                        // One line per image either way, so a consumer of the stream can tell
                        // which image failed (as `read --json` does).
                        failed += 1;
                        eprintln!("kestrel: {}: {e:#}", path.display());
                        outln!(
                            "{}",
                            serde_json::json!({
                                "image": path.display().to_string(),
                                "document": kind.replace('-', "_"),
                                "error": format!("{e:#}"),
                            })
                        );
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} images failed", images.len());
            }
        }
        Command::Info { model, meta } => {
            let bytes = read_bounded(&model, MAX_MODEL_FILE)
                .with_context(|| format!("cannot read {}", model.display()))?;
            let m = Model::from_bytes(&bytes)?;
            if let Some(key) = meta {
                let v = m
                    .meta(&key)
                    .with_context(|| format!("{} has no metadata '{key}'", model.display()))?;
                outln!("{}", v.trim_end());
                return Ok(());
            }
            outln!(
                "{}: {} bytes, {} nodes, kernels {}",
                model.display(),
                bytes.len(),
                m.node_count(),
                m.kernels().name
            );
            for i in m.inputs() {
                outln!("input  {} {:?}", i.name, i.dims);
            }
            for o in m.outputs() {
                outln!("output {} {:?}", o.name, o.dims);
            }
            for (k, v) in m.metadata() {
                let short: String = v.chars().take(60).collect::<String>().replace('\n', "\\n");
                outln!(
                    "meta   {k} = {short}{}",
                    if v.chars().count() > 60 { "..." } else { "" }
                );
            }
            for (name, v) in m.split_points() {
                outln!("split  {name} at {}", m.value_name(*v));
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

/// Parses a finite number of at least 0 (a clap value parser): a confidence threshold that
/// lines fall under, where 0 selects no line and anything above 1 every line.
fn non_negative(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        Ok(p) => Err(format!("{p} is not a finite number of at least 0")),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses a refinement threshold: a probability in (0, 1), or 0 (no refinement).
fn refine_threshold(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(p) if p == 0.0 || ocr_core::ocr::classify::is_threshold(p) => Ok(p),
        Ok(p) => Err(format!("{p} is not 0 or in (0, 1)")),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses a probability strictly between 0 and 1 (a clap value parser).
fn probability(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(p) if ocr_core::ocr::classify::is_threshold(p) => Ok(p),
        Ok(p) => Err(format!("{p} is not in (0, 1)")),
        Err(e) => Err(e.to_string()),
    }
}
