//! The engine: the models, loaded once, and the pipeline that reads an image.

use super::boxes::{self, TextBox};
use super::cancel::{self, Cancel};
use super::ctc;
use super::decode::{self, DecodeLimits};
use super::detect::{self, DetOptions};
use super::preprocess::Normalize;
use super::rectify::{self, Crop};
use super::result::{Alternative, Char, Line, Page};
use super::{OcrError, classify, order, recognize};
use crate::runtime::{Model, Session, Threads};
use image::RgbImage;
use ocr_charset::Charset;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Classifier windows per batch.
const CLS_BATCH: usize = 6;

/// Which of the committed models an engine built without model files uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// The calibrated int8 models (mixed precision where the converter kept layers fp32).
    #[default]
    Int8,
    /// The fp32 models the int8 ones were quantised from.
    Fp32,
    /// The compact int8 models: GPTQ-rounded weights with fewer bits, arithmetic-coded (about
    /// a third of the int8 set's size, decoded at load; `models/README.md`).
    Compact,
}

impl Precision {
    /// Parses `int8`, `fp32` or `compact`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "int8" => Some(Precision::Int8),
            "fp32" => Some(Precision::Fp32),
            "compact" => Some(Precision::Compact),
            _ => None,
        }
    }
}

/// How an engine is built.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Worker threads for the kernels (0 = one per core, 1 = the calling thread only).
    pub threads: usize,
    /// Which committed models [`Engine::with_config`] loads (int8 by default).
    pub precision: Precision,
    /// Image decoding limits.
    pub limits: DecodeLimits,
    /// Re-read the lines whose least confident character is under this probability with the
    /// committed fp32 recogniser ([`Engine::with_refiner`]; never with [`Precision::Fp32`]).
    /// `None` (the default) takes the precision's default: [`DEFAULT_REFINE_BELOW`] for
    /// [`Precision::Int8`], no refinement for [`Precision::Compact`] (whose point is a small
    /// package); `Some(0.0)` turns refinement off.
    pub refine_below: Option<f32>,
}

/// The int8 engine's default refinement threshold ([`EngineConfig::refine_below`]): lines with
/// a character the int8 recogniser gives less than even odds are re-read by the fp32 one
/// (`models/README.md`, "Refinement").
pub const DEFAULT_REFINE_BELOW: f32 = 0.5;

impl EngineConfig {
    /// The refinement threshold this configuration asks for, after the precision's default
    /// and the "off" value: `None` when no line is to be re-read.
    pub fn effective_refine_below(&self) -> Option<f32> {
        match (self.refine_below, self.precision) {
            (_, Precision::Fp32) => None,
            (Some(p), _) => Some(p),
            (None, Precision::Int8) => Some(DEFAULT_REFINE_BELOW),
            (None, Precision::Compact) => None,
        }
        .filter(|&p| p > 0.0)
    }
}

/// Per-call options.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Detection settings.
    pub det: DetOptions,
    /// Run the 0/180 classifier on each line.
    pub classify: bool,
    /// Classifier confidence needed to turn a line (see [`classify::DEFAULT_THRESH`]).
    pub cls_thresh: f32,
    /// Verify turns: a line the classifier turns is read both ways and keeps the reading the
    /// recogniser is more confident of (one more recognition per turned line). Verification
    /// only undoes turns, so it never loses an upside-down line the classifier finds.
    pub verify_turns: bool,
    /// Lines per recogniser batch.
    pub rec_batch: usize,
    /// Restrict recognition to these characters (constrained decoding).
    pub allowed_chars: Option<String>,
    /// Stop early, with [`OcrError::Cancelled`], once this flag is set.
    pub cancel: Option<Cancel>,
    /// Let the engine's refiner, if it has one ([`Engine::with_refiner`]), re-read the lines
    /// its recogniser is unsure of (on by default; the document pipelines, which check their
    /// fields their own way, turn it off).
    pub refine: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            det: DetOptions::default(),
            classify: true,
            cls_thresh: classify::DEFAULT_THRESH,
            verify_turns: true,
            rec_batch: 6,
            allowed_chars: None,
            cancel: None,
            refine: true,
        }
    }
}

/// Wall time of each stage of one read, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimings {
    /// Image decoding.
    pub decode: f64,
    /// Detector preprocessing and inference.
    pub detect: f64,
    /// DB post-processing and reading order.
    pub postprocess: f64,
    /// Perspective crops.
    pub rectify: f64,
    /// 0/180 classification.
    pub classify: f64,
    /// Recognition and CTC decoding.
    pub recognize: f64,
}

/// One model with its preprocessing and a pool of sessions (plans and arenas are reused
/// across calls; concurrent calls each take their own session).
struct Stage {
    model: Arc<Model>,
    norm: Normalize,
    pool: Mutex<Vec<Session>>,
    /// Sessions on one thread, for work that runs whole calls in parallel.
    single: Mutex<Vec<Session>>,
    threads: Threads,
}

impl Stage {
    fn new(model: Model, threads: &Threads) -> Result<Self, OcrError> {
        Ok(Stage {
            norm: Normalize::from_model(&model)?,
            model: Arc::new(model),
            pool: Mutex::new(Vec::new()),
            single: Mutex::new(Vec::new()),
            threads: threads.clone(),
        })
    }

    /// Runs `f` on a pooled session that spreads each operator over the engine's threads.
    fn with_session<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        Self::pooled(&self.pool, &self.model, &self.threads, f)
    }

    /// Runs `f` on a pooled one-thread session.
    fn with_single_session<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        Self::pooled(&self.single, &self.model, &Threads::single(), f)
    }

    /// Runs `batches` independent batches (`run(session, index)`), results in index order.
    /// With several threads and batches, whole batches run in parallel, one worker per thread
    /// (interleaved indices), each on a one-thread session: a batch's output depends only on
    /// its inputs, so the results are the same as one batch after another, and the threads
    /// split coarse work instead of each operator.
    fn run_batches<T: Send>(
        &self,
        batches: usize,
        run: impl Fn(&mut Session, usize) -> Result<T, OcrError> + Sync + Send,
    ) -> Result<Vec<T>, OcrError> {
        let workers = self.threads.count().min(batches);
        if workers <= 1 {
            return self.with_session(|s| (0..batches).map(|b| run(s, b)).collect());
        }
        type Done<T> = Result<Vec<(usize, T)>, OcrError>;
        let mut results: Vec<Done<T>> = (0..workers).map(|_| Ok(Vec::new())).collect();
        self.threads.for_each_chunk_mut(&mut results, 1, |w, slot| {
            slot[0] = self.with_single_session(|s| {
                (w..batches)
                    .step_by(workers)
                    .map(|b| Ok((b, run(s, b)?)))
                    .collect()
            });
        });
        let mut out: Vec<Option<T>> = (0..batches).map(|_| None).collect();
        for r in results {
            for (b, t) in r? {
                out[b] = Some(t);
            }
        }
        Ok(out
            .into_iter()
            .map(|t| t.expect("every batch run"))
            .collect())
    }

    fn pooled<R>(
        pool: &Mutex<Vec<Session>>,
        model: &Arc<Model>,
        threads: &Threads,
        f: impl FnOnce(&mut Session) -> R,
    ) -> R {
        let taken = pool.lock().map(|mut p| p.pop()).unwrap_or(None);
        let mut s = taken.unwrap_or_else(|| Session::with_threads(model.clone(), threads.clone()));
        let r = f(&mut s);
        if let Ok(mut p) = pool.lock() {
            p.push(s);
        }
        r
    }
}

/// The OCR engine: detector, recogniser (with its charset) and optional classifier. Build it
/// once and share it (`Send + Sync`); each call uses its own sessions.
pub struct Engine {
    det: Stage,
    rec: LineRecognizer,
    cls: Option<Stage>,
    refiner: Option<Refiner>,
    threads: Threads,
    limits: DecodeLimits,
}

/// A second recogniser for the lines the first is unsure of (see [`Engine::with_refiner`]).
struct Refiner {
    rec: LineRecognizer,
    below: f32,
}

impl Refiner {
    /// Whether `line` has a character read with less than the refiner's probability.
    fn doubts(&self, line: &Line) -> bool {
        line.chars.iter().any(|c| c.confidence < self.below)
    }
}

/// A CTC line recogniser with its own dictionary: the engine's general one, or a specialised
/// model (the bank-card number recogniser) loaded beside it with [`Engine::load_recognizer`].
/// `Send + Sync`; each call uses its own session.
pub struct LineRecognizer {
    stage: Stage,
    charset: Charset,
    /// Narrowest input width: lines are padded to it (`preprocess.min_width`, default 320,
    /// PP-OCR's 48x320).
    min_width: u32,
}

impl LineRecognizer {
    fn new(model: Model, threads: &Threads) -> Result<Self, OcrError> {
        check_role(&model, "rec")?;
        let charset_text = model
            .meta("charset")
            .ok_or_else(|| OcrError::Model("the recogniser has no charset".into()))?;
        let charset =
            Charset::from_dictionary(charset_text).map_err(|e| OcrError::Model(e.to_string()))?;
        let min_width = match model.meta("preprocess.min_width") {
            None => recognize::MIN_W,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|w| (1..=recognize::MAX_W).contains(w))
                .ok_or_else(|| OcrError::Model(format!("bad preprocess.min_width '{v}'")))?,
        };
        Ok(LineRecognizer {
            stage: Stage::new(model, threads)?,
            charset,
            min_width,
        })
    }

    /// The recogniser's class map.
    pub fn charset(&self) -> &Charset {
        &self.charset
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.stage.model
    }

    /// Recognises upright line crops (no 0/180 classification), in input order. A line too
    /// long for the recogniser's widest input is read in pieces cut between characters
    /// ([`recognize::long_line_cuts`]) and joined, instead of being squeezed.
    pub fn recognize(
        &self,
        crops: &[Crop],
        allowed_chars: Option<&str>,
        batch: usize,
        cancel: Option<&Cancel>,
    ) -> Result<Vec<Line>, OcrError> {
        let mask = allowed_chars.map(|a| ctc::allowed_mask(&self.charset, a));
        if mask.as_ref().is_some_and(|m| !m.contains(&true)) {
            return Err(OcrError::Options(format!(
                "none of the allowed characters {:?} is in the recogniser's dictionary",
                allowed_chars.unwrap_or_default()
            )));
        }
        // Pieces to read: whole crops, or the pieces of long ones, with their owner and
        // whether a word gap precedes them.
        let mut pieces: Vec<Crop> = Vec::with_capacity(crops.len());
        let mut owners: Vec<(usize, bool)> = Vec::with_capacity(crops.len());
        for (i, crop) in crops.iter().enumerate() {
            let cuts = recognize::long_line_cuts(&crop.image);
            if cuts.is_empty() {
                pieces.push(crop.clone());
                owners.push((i, false));
                continue;
            }
            let h = crop.image.height();
            let mut x0 = 0;
            let mut gap = false;
            for (x1, blank) in cuts
                .into_iter()
                .chain(std::iter::once((crop.image.width(), false)))
            {
                pieces.push(Crop {
                    image: image::imageops::crop_imm(&crop.image, x0, 0, x1 - x0, h).to_image(),
                    quad: crop.span_quad(x0 as f32, x1 as f32),
                });
                owners.push((i, gap));
                (x0, gap) = (x1, blank);
            }
        }
        let images: Vec<&RgbImage> = pieces.iter().map(|c| &c.image).collect();
        let outputs = self.run(&images, batch, cancel)?;
        let mut lines: Vec<Option<Line>> = vec![None; crops.len()];
        for ((piece, out), &(owner, gap)) in pieces.iter().zip(&outputs).zip(&owners) {
            let read = self.decode(piece, out, mask.as_deref())?;
            match &mut lines[owner] {
                None => {
                    lines[owner] = Some(Line {
                        quad: crops[owner].quad,
                        ..read
                    })
                }
                Some(line) => {
                    if gap && !line.text.ends_with(' ') && self.charset.class_of(" ").is_some() {
                        // The word gap the cut fell in, as a character of no width at the
                        // piece's start, so that the text stays its characters joined.
                        let q = piece.quad;
                        line.chars.push(Char {
                            text: " ".into(),
                            confidence: line.chars.last().map_or(1.0, |c| c.confidence),
                            quad: [q[0], q[0], q[3], q[3]],
                            alternative: None,
                        });
                        line.text.push(' ');
                    }
                    line.text.push_str(&read.text);
                    line.chars.extend(read.chars);
                    line.confidence = mean_confidence(&line.chars);
                }
            }
        }
        Ok(lines
            .into_iter()
            .map(|l| l.expect("every crop has a piece"))
            .collect())
    }

    /// One crop's recogniser output decoded into a line (boxes in the crop's source image).
    fn decode(
        &self,
        crop: &Crop,
        out: &recognize::RecOutput,
        mask: Option<&[bool]>,
    ) -> Result<Line, OcrError> {
        if out.classes != self.charset.num_classes() {
            return Err(OcrError::Model(format!(
                "recogniser has {} classes, charset {}",
                out.classes,
                self.charset.num_classes()
            )));
        }
        let decoded = ctc::greedy(&out.probs, out.steps, out.classes, mask);
        let chars: Vec<Char> = decoded
            .iter()
            .map(|d| {
                let (x0, x1) = out.span_in_crop(d.first, d.last, crop.image.width());
                Char {
                    text: self.charset.symbol(d.class).unwrap_or("").to_string(),
                    confidence: d.confidence,
                    quad: crop.span_quad(x0, x1),
                    alternative: d.runner_up.and_then(|(c, p)| {
                        Some(Alternative {
                            text: self.charset.symbol(c)?.to_string(),
                            confidence: p,
                        })
                    }),
                }
            })
            .collect();
        Ok(Line {
            text: chars.iter().map(|c| c.text.as_str()).collect(),
            confidence: mean_confidence(&chars),
            quad: crop.quad,
            angle: 0,
            chars,
        })
    }

    /// Runs the recogniser over `images` in batches of similar widths (in parallel where
    /// there are threads, see [`Stage::run_batches`]), outputs in input order.
    fn run(
        &self,
        images: &[&RgbImage],
        batch: usize,
        cancel: Option<&Cancel>,
    ) -> Result<Vec<recognize::RecOutput>, OcrError> {
        let stage = &self.stage;
        let groups = recognize::batches(images, batch);
        let outputs = stage.run_batches(groups.len(), |s, b| {
            cancel::check(cancel)?;
            recognize::recognize_batch(s, &stage.norm, images, &groups[b], self.min_width)
        })?;
        let mut out: Vec<Option<recognize::RecOutput>> = vec![None; images.len()];
        for (group, outs) in groups.iter().zip(outputs) {
            for (&i, o) in group.iter().zip(outs) {
                out[i] = Some(o);
            }
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every crop recognised"))
            .collect())
    }

    /// Recognises an image that is one text line (a scanning app's crop), upright.
    pub fn recognize_line(
        &self,
        img: &RgbImage,
        allowed_chars: Option<&str>,
    ) -> Result<Line, OcrError> {
        let crop = line_crop(img)?;
        Ok(self.recognize(&[crop], allowed_chars, 1, None)?.remove(0))
    }
}

/// The mean confidence of a line's characters (0 for none).
fn mean_confidence(chars: &[Char]) -> f32 {
    if chars.is_empty() {
        0.0
    } else {
        chars.iter().map(|c| c.confidence).sum::<f32>() / chars.len() as f32
    }
}

/// An image that is one text line as a crop; a tall one (vertical text) is turned.
fn line_crop(img: &RgbImage) -> Result<Crop, OcrError> {
    if img.width() == 0 || img.height() == 0 {
        return Err(OcrError::Empty(format!("{}x{}", img.width(), img.height())));
    }
    Ok(
        if img.height() as f32 >= rectify::VERTICAL_RATIO * img.width() as f32 {
            let (w, h) = (img.width() as f32, img.height() as f32);
            use super::result::Point;
            rectify::crop(
                img,
                &[
                    Point::new(0.0, 0.0),
                    Point::new(w, 0.0),
                    Point::new(w, h),
                    Point::new(0.0, h),
                ],
            )
        } else {
            rectify::whole(img)
        },
    )
}

/// A model converted for another role (a detector given as the recogniser) fails here, by
/// its `kestrel.kind` metadata, instead of deep in its graph. Files without it pass.
fn check_role(model: &Model, role: &str) -> Result<(), OcrError> {
    match model.meta("kestrel.kind") {
        Some(kind) if kind != role => Err(OcrError::Model(format!(
            "a '{kind}' model was given as the '{role}' model"
        ))),
        _ => Ok(()),
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Engine {
    /// The engine on the committed int8 models, embedded in the binary, with the committed
    /// fp32 recogniser re-reading the lines the int8 one is unsure of
    /// ([`DEFAULT_REFINE_BELOW`]).
    #[cfg(feature = "default-models")]
    pub fn new_default() -> Result<Self, OcrError> {
        Self::with_config(EngineConfig::default())
    }

    /// The engine on the committed models with a configuration.
    #[cfg(feature = "default-models")]
    pub fn with_config(config: EngineConfig) -> Result<Self, OcrError> {
        let [det, rec, cls] = super::zoo::models(config.precision);
        let refine_below = config.effective_refine_below();
        let engine = Self::from_models(
            Model::from_bytes(det)?,
            Model::from_bytes(rec)?,
            Some(Model::from_bytes(cls)?),
            config,
        )?;
        match refine_below {
            Some(below) => {
                let [_, fp32_rec, _] = super::zoo::models(Precision::Fp32);
                engine.with_refiner(Model::from_bytes(fp32_rec)?, below)
            }
            None => Ok(engine),
        }
    }

    /// An engine on given models. The recogniser must carry its dictionary (`charset`
    /// metadata) and all models their preprocessing metadata. `config.refine_below` is not
    /// used here: give the second recogniser with [`Engine::with_refiner`].
    pub fn from_models(
        det: Model,
        rec: Model,
        cls: Option<Model>,
        config: EngineConfig,
    ) -> Result<Self, OcrError> {
        // The recogniser's role is checked where every recogniser is built.
        check_role(&det, "det")?;
        if let Some(cls) = &cls {
            check_role(cls, "cls")?;
        }
        let threads = Threads::new(config.threads)?;
        Ok(Engine {
            det: Stage::new(det, &threads)?,
            rec: LineRecognizer::new(rec, &threads)?,
            cls: cls.map(|c| Stage::new(c, &threads)).transpose()?,
            refiner: None,
            threads,
            limits: config.limits,
        })
    }

    /// The engine with a second recogniser, `model`, that re-reads every line whose least
    /// confident character the engine's recogniser read with a probability under `below`
    /// (in (0, 1]); its reading replaces the first. With the fp32 recogniser beside the int8
    /// one, the lines where int8 rounding can tip a near tie are read as fp32 reads them, at
    /// the cost of a second recognition for those lines only (`benches/README.md` has the
    /// measurements). `model` must have the engine recogniser's dictionary.
    pub fn with_refiner(mut self, model: Model, below: f32) -> Result<Self, OcrError> {
        if !(below > 0.0 && below <= 1.0) {
            return Err(OcrError::Model(format!(
                "the refining threshold must be in (0, 1], got {below}"
            )));
        }
        let rec = LineRecognizer::new(model, &self.threads)?;
        if rec.model().meta("charset") != self.rec.model().meta("charset") {
            return Err(OcrError::Model(
                "the refining recogniser's dictionary differs from the engine recogniser's".into(),
            ));
        }
        self.refiner = Some(Refiner { rec, below });
        Ok(self)
    }

    /// Loads another recogniser (e.g. the bank-card number model) that runs on this engine's
    /// threads. It must carry its dictionary (`charset`) and preprocessing metadata.
    pub fn load_recognizer(&self, model: Model) -> Result<LineRecognizer, OcrError> {
        LineRecognizer::new(model, &self.threads)
    }

    /// The engine's general recogniser.
    pub fn recognizer(&self) -> &LineRecognizer {
        &self.rec
    }

    /// The detector, recogniser or classifier model, by kind (`det`, `rec`, `cls`).
    pub fn model(&self, kind: &str) -> Option<&Arc<Model>> {
        match kind {
            "det" => Some(&self.det.model),
            "rec" => Some(self.rec.model()),
            "cls" => self.cls.as_ref().map(|c| &c.model),
            _ => None,
        }
    }

    /// The recogniser's class map.
    pub fn charset(&self) -> &Charset {
        self.rec.charset()
    }

    /// The name of the kernel set the models run with.
    pub fn kernels(&self) -> &'static str {
        self.det.model.kernels().name
    }

    /// Decodes image bytes with this engine's limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, OcrError> {
        decode::decode(bytes, &self.limits)
    }

    /// Reads image bytes: decode, then [`Engine::read`].
    pub fn read_bytes(&self, bytes: &[u8], opts: &ReadOptions) -> Result<Page, OcrError> {
        Ok(self.read_bytes_timed(bytes, opts)?.0)
    }

    /// [`Engine::read_bytes`] with the time spent in each stage.
    pub fn read_bytes_timed(
        &self,
        bytes: &[u8],
        opts: &ReadOptions,
    ) -> Result<(Page, StageTimings), OcrError> {
        let t = Instant::now();
        let img = self.decode(bytes)?;
        let decode_ms = ms(t);
        cancel::check(opts.cancel.as_ref())?;
        let (page, mut timings) = self.read_timed(&img, opts)?;
        timings.decode = decode_ms;
        Ok((page, timings))
    }

    /// Reads all text in an image, lines in reading order.
    pub fn read(&self, img: &RgbImage, opts: &ReadOptions) -> Result<Page, OcrError> {
        Ok(self.read_timed(img, opts)?.0)
    }

    /// Detects text boxes (image coordinates), in reading order.
    pub fn detect(&self, img: &RgbImage, opts: &DetOptions) -> Result<Vec<TextBox>, OcrError> {
        Ok(self.detect_timed(img, opts)?.0)
    }

    fn detect_timed(
        &self,
        img: &RgbImage,
        opts: &DetOptions,
    ) -> Result<(Vec<TextBox>, f64, f64), OcrError> {
        if img.width() == 0 || img.height() == 0 {
            return Err(OcrError::Empty(format!("{}x{}", img.width(), img.height())));
        }
        if opts.max_side < detect::MIN_SIDE {
            return Err(OcrError::Options(format!(
                "a detector side of {} pixels holds no text; at least {}",
                opts.max_side,
                detect::MIN_SIDE
            )));
        }
        let t = Instant::now();
        let map = self
            .det
            .with_session(|s| detect::detect(s, &self.det.norm, img, opts))?;
        let detect_ms = ms(t);
        let t = Instant::now();
        let found = boxes::find_boxes(&map, opts, img.width(), img.height());
        let quads: Vec<_> = found.iter().map(|b| b.quad).collect();
        let ordered = order::reading_order(&quads)
            .into_iter()
            .map(|i| found[i])
            .collect();
        Ok((ordered, detect_ms, ms(t)))
    }

    /// [`Engine::read`] with the time spent in each stage (decode is 0: the image is given).
    pub fn read_timed(
        &self,
        img: &RgbImage,
        opts: &ReadOptions,
    ) -> Result<(Page, StageTimings), OcrError> {
        let mut timings = StageTimings::default();
        let (found, det_ms, post_ms) = self.detect_timed(img, &opts.det)?;
        cancel::check(opts.cancel.as_ref())?;
        timings.detect = det_ms;
        timings.postprocess = post_ms;
        let t = Instant::now();
        let crops: Vec<Crop> = found.iter().map(|b| rectify::crop(img, &b.quad)).collect();
        timings.rectify = ms(t);
        let lines = self.recognize_crops(crops, opts, &mut timings)?;
        Ok((
            Page {
                width: img.width(),
                height: img.height(),
                lines,
            },
            timings,
        ))
    }

    /// Recognises an image that is already one text line (a scanning app's crop).
    pub fn recognize_line(&self, img: &RgbImage, opts: &ReadOptions) -> Result<Line, OcrError> {
        let crop = line_crop(img)?;
        let mut lines = self.recognize_crops(vec![crop], opts, &mut StageTimings::default())?;
        Ok(lines.remove(0))
    }

    /// Recognises a batch of line crops (classified first when enabled).
    pub fn recognize_crops(
        &self,
        mut crops: Vec<Crop>,
        opts: &ReadOptions,
        timings: &mut StageTimings,
    ) -> Result<Vec<Line>, OcrError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let t = Instant::now();
        let mut angles = match (&self.cls, opts.classify) {
            (Some(cls), true) => {
                let windows = classify::windows_of(&crops);
                let batches: Vec<&[(usize, RgbImage)]> = windows.chunks(CLS_BATCH).collect();
                let p180 = cls.run_batches(batches.len(), |s, b| {
                    classify::classify_batch(s, &cls.norm, batches[b])
                })?;
                classify::turn(&mut crops, &windows, &p180.concat(), opts.cls_thresh)
            }
            _ => vec![0; crops.len()],
        };
        timings.classify = ms(t);
        cancel::check(opts.cancel.as_ref())?;
        let t = Instant::now();
        let recognize = |crops: &[Crop]| {
            self.rec.recognize(
                crops,
                opts.allowed_chars.as_deref(),
                opts.rec_batch,
                opts.cancel.as_ref(),
            )
        };
        let mut lines = recognize(&crops)?;
        // The classifier is sometimes sure of a turn the text does not need (card digits,
        // plates: short lines of near-symmetric glyphs). A turned line is read both ways and
        // keeps the reading the recogniser is more confident of.
        let turned: Vec<usize> = (0..crops.len()).filter(|&i| angles[i] == 180).collect();
        if opts.verify_turns && !turned.is_empty() {
            let unturned: Vec<Crop> = turned
                .iter()
                .map(|&i| {
                    let mut c = crops[i].clone();
                    c.rotate180();
                    c
                })
                .collect();
            let upright = recognize(&unturned)?;
            for ((line, crop), &i) in upright.into_iter().zip(unturned).zip(&turned) {
                if line.confidence > lines[i].confidence {
                    lines[i] = line;
                    crops[i] = crop;
                    angles[i] = 0;
                }
            }
        }
        // `crops[i]` is now the crop `lines[i]` was read from, turned as it was read.
        if let Some(refiner) = self.refiner.as_ref().filter(|_| opts.refine) {
            let doubted: Vec<usize> = (0..lines.len())
                .filter(|&i| refiner.doubts(&lines[i]))
                .collect();
            if !doubted.is_empty() {
                let again: Vec<Crop> = doubted.iter().map(|&i| crops[i].clone()).collect();
                // Each doubtful line alone, at its own width: the few there are spread over
                // the threads, and a line reads the same whatever the thread count and
                // whichever other lines are doubted (a batch is as wide as its widest line,
                // and the width moves the readings slightly).
                let refined = refiner.rec.recognize(
                    &again,
                    opts.allowed_chars.as_deref(),
                    1,
                    opts.cancel.as_ref(),
                )?;
                for (line, &i) in refined.into_iter().zip(&doubted) {
                    lines[i] = line;
                }
            }
        }
        for (line, angle) in lines.iter_mut().zip(angles) {
            line.angle = angle;
        }
        timings.recognize = ms(t);
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
    }
}
