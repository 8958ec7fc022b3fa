//! The SDK's compact OCR pipeline, `no_std`: detect -> boxes -> classify -> recognise -> text.
//!
//! It runs the same models and the same preprocessing ([`ocr_core::pixels`]) and CTC decoding
//! ([`ocr_core::ctc`]) as the full engine. Detection post-processing is simpler than the
//! engine's (which fits rotated rectangles to contours with an image library): text regions
//! are the 4-connected components of the thresholded probability map, boxed axis-aligned and
//! grown by the DB unclip distance. That suits horizontal text, which is what camera scanning
//! apps feed it; rotated pages need the full engine.

use crate::message::Message;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ocr_charset::Charset;
use ocr_core::pixels::{self, Normalize, detector_input_size, resize_rgb};
use ocr_core::runtime::{Model, Session, Tensor};

/// Why a call failed; mapped to a status code and a message at the C boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum SdkError {
    /// A null pointer, a zero size, or another bad argument.
    Argument(String),
    /// A model file that is malformed, encrypted without a key, or lacks metadata.
    Model(String),
    /// An image the pipeline refuses (too large, too small).
    Input(String),
    /// A resource limit was hit while running.
    Limit(String),
    /// The request needs something this build does not have.
    Unsupported(String),
}

impl From<ocr_core::runtime::Error> for SdkError {
    fn from(e: ocr_core::runtime::Error) -> Self {
        use ocr_core::runtime::Error as E;
        let text = Message::new(e.kind()).text(": ").text(e.detail()).done();
        match e {
            E::Limit(_) => SdkError::Limit(text),
            E::Input(_) | E::Shape(_) => SdkError::Input(text),
            E::Unsupported(_) => SdkError::Unsupported(text),
            _ => SdkError::Model(text),
        }
    }
}

/// Result alias of the pipeline.
pub type Result<T> = core::result::Result<T, SdkError>;

/// Largest image side accepted, and the largest pixel count.
pub const MAX_SIDE: usize = 16_384;
/// Largest pixel count accepted (64 megapixels).
pub const MAX_PIXELS: usize = 1 << 26;
/// The detector's longest input side.
const DET_MAX_SIDE: u32 = 960;
/// Detector probability threshold for text pixels, and the least mean probability of a region.
const DET_THRESHOLD: f32 = 0.3;
const DET_BOX_THRESHOLD: f32 = 0.6;
/// DB unclip ratio: regions grow by area x ratio / perimeter on every side.
const UNCLIP_RATIO: f32 = 1.5;
/// Recogniser and classifier input height; widest recogniser input.
const LINE_H: usize = 48;
const MAX_LINE_W: usize = 3200;
/// Classifier input width, and the probability of "turned" above which a line is turned back.
const CLS_W: usize = 192;
const CLS_THRESHOLD: f32 = 0.9;
/// Bound on any session's working memory, in floats (1 GiB).
const MAX_ARENA_FLOATS: usize = 1 << 28;

/// A tightly packed RGB image owned by the pipeline.
#[derive(Clone)]
pub struct Rgb {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes, rows top to bottom.
    pub data: Vec<u8>,
}

impl Rgb {
    /// Copies a caller's buffer (`stride` bytes per row) after checking its size.
    pub fn from_rows(rows: &[u8], width: usize, height: usize, stride: usize) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(SdkError::Input("the image is empty".into()));
        }
        if width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS {
            return Err(SdkError::Input(
                Message::new("")
                    .num(width as i64)
                    .text("x")
                    .num(height as i64)
                    .text(" is larger than ")
                    .num(MAX_SIDE as i64)
                    .text(" per side or ")
                    .num(MAX_PIXELS as i64)
                    .text(" pixels")
                    .done(),
            ));
        }
        if stride < width * 3 {
            return Err(SdkError::Argument(
                Message::new("stride ")
                    .num(stride as i64)
                    .text(" is less than 3 x width ")
                    .num(width as i64)
                    .done(),
            ));
        }
        let needed = stride * (height - 1) + width * 3;
        if rows.len() < needed {
            return Err(SdkError::Argument(
                "the buffer is shorter than the image".into(),
            ));
        }
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            data.extend_from_slice(&rows[y * stride..y * stride + width * 3]);
        }
        Ok(Rgb {
            width,
            height,
            data,
        })
    }

    /// The pixels inside `[x0, x1) x [y0, y1)` (clamped to the image; at least 1x1).
    fn crop(&self, b: &LineBox) -> Rgb {
        let x0 = (b.x0.max(0) as usize).min(self.width - 1);
        let y0 = (b.y0.max(0) as usize).min(self.height - 1);
        let x1 = (b.x1.max(0) as usize).clamp(x0 + 1, self.width);
        let y1 = (b.y1.max(0) as usize).clamp(y0 + 1, self.height);
        let mut data = Vec::with_capacity((x1 - x0) * (y1 - y0) * 3);
        for y in y0..y1 {
            data.extend_from_slice(
                &self.data[(y * self.width + x0) * 3..(y * self.width + x1) * 3],
            );
        }
        Rgb {
            width: x1 - x0,
            height: y1 - y0,
            data,
        }
    }

    /// The image turned 180 degrees.
    fn turned(&self) -> Rgb {
        let mut data = Vec::with_capacity(self.data.len());
        for px in self.data.chunks_exact(3).rev() {
            data.extend_from_slice(px);
        }
        Rgb { data, ..*self }
    }
}

/// An axis-aligned text box in image pixels, `[x0, x1) x [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineBox {
    /// Left edge.
    pub x0: i32,
    /// Top edge.
    pub y0: i32,
    /// Right edge (exclusive).
    pub x1: i32,
    /// Bottom edge (exclusive).
    pub y1: i32,
    /// Mean detector probability inside the region.
    pub score: f32,
}

/// One read line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Where it is.
    pub bbox: LineBox,
    /// The text, UTF-8.
    pub text: String,
    /// Mean character probability (0 for an empty line).
    pub confidence: f32,
    /// 0, or 180 when the classifier turned the line.
    pub angle: i32,
}

/// A model with its session and normalisation.
struct Stage {
    session: Session,
    norm: Normalize,
}

impl Stage {
    fn new(model: Model) -> Result<Self> {
        let norm = Normalize::from_model_meta(&model).map_err(SdkError::Model)?;
        let mut session = Session::new(model);
        session.set_max_arena_floats(MAX_ARENA_FLOATS);
        Ok(Stage { session, norm })
    }

    fn run(&mut self, input: Tensor) -> Result<Tensor> {
        let mut out = self.session.run(&[&input])?;
        if out.is_empty() {
            return Err(SdkError::Model("the model has no output".into()));
        }
        Ok(out.swap_remove(0))
    }
}

/// The pipeline: detector, recogniser with its charset, optional classifier.
pub struct Pipeline {
    det: Stage,
    rec: Stage,
    cls: Option<Stage>,
    charset: Charset,
    min_width: usize,
}

impl Pipeline {
    /// Builds the pipeline from loaded models; the recogniser must carry its `charset`.
    pub fn new(det: Model, rec: Model, cls: Option<Model>) -> Result<Self> {
        for (m, want) in [
            (Some(&det), "det"),
            (Some(&rec), "rec"),
            (cls.as_ref(), "cls"),
        ] {
            if let Some(m) = m
                && m.meta("kestrel.kind").is_some_and(|k| k != want)
            {
                return Err(SdkError::Model(
                    Message::new("expected a ")
                        .text(want)
                        .text(" model, got ")
                        .text(m.meta("kestrel.kind").unwrap_or("?"))
                        .done(),
                ));
            }
        }
        let charset = rec
            .meta("charset")
            .ok_or_else(|| SdkError::Model("the recogniser has no charset".into()))
            .and_then(|c| {
                Charset::from_dictionary(c).map_err(|e| {
                    SdkError::Model(Message::new("bad dictionary: ").text(&e.0).done())
                })
            })?;
        let min_width = rec
            .meta("preprocess.min_width")
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|w| (1..=MAX_LINE_W).contains(w))
            })
            .unwrap_or(Some(320))
            .ok_or_else(|| SdkError::Model("bad preprocess.min_width".into()))?;
        Ok(Pipeline {
            det: Stage::new(det)?,
            rec: Stage::new(rec)?,
            cls: cls.map(Stage::new).transpose()?,
            charset,
            min_width,
        })
    }

    /// Detects, classifies and recognises every line, top to bottom.
    pub fn read(&mut self, img: &Rgb) -> Result<Vec<Line>> {
        let boxes = self.detect(img)?;
        let mut lines = Vec::with_capacity(boxes.len());
        for b in boxes {
            let mut line = self.recognize(&img.crop(&b))?;
            line.bbox = b;
            lines.push(line);
        }
        Ok(lines)
    }

    /// Text boxes, top to bottom then left to right.
    pub fn detect(&mut self, img: &Rgb) -> Result<Vec<LineBox>> {
        // Longest side at most DET_MAX_SIDE, both sides multiples of 32 (as the engine does).
        let (w, h) = detector_input_size(img.width as u32, img.height as u32, DET_MAX_SIDE);
        let (w, h) = (w as usize, h as usize);
        let resized = resize_rgb(&img.data, img.width, img.height, w, h);
        let mut data = vec![0f32; 3 * w * h];
        self.det.norm.write_rgb(&resized, w, h, &mut data, w);
        let map = self.det.run(Tensor::new(vec![1, 3, h, w], data)?)?;
        if map.shape() != [1, 1, h, w] {
            return Err(SdkError::Model(
                Message::new("detector output ")
                    .dims(map.shape())
                    .text(" for input ")
                    .num(h as i64)
                    .text("x")
                    .num(w as i64)
                    .done(),
            ));
        }
        let sx = img.width as f32 / w as f32;
        let sy = img.height as f32 / h as f32;
        let mut boxes: Vec<LineBox> = regions(map.data(), w, h)
            .into_iter()
            .map(|r| LineBox {
                x0: libm::floorf(r.x0 * sx).max(0.0) as i32,
                y0: libm::floorf(r.y0 * sy).max(0.0) as i32,
                x1: (libm::ceilf(r.x1 * sx) as i32).min(img.width as i32),
                y1: (libm::ceilf(r.y1 * sy) as i32).min(img.height as i32),
                score: r.score,
            })
            .filter(|b| b.x1 > b.x0 && b.y1 > b.y0)
            .collect();
        // Reading order: by top edge, lines whose tops are within half a line height count as
        // one row and go left to right.
        sort_by_key(&mut boxes, |b| (b.y0, b.x0));
        let mut i = 0;
        while i < boxes.len() {
            let row_h = (boxes[i].y1 - boxes[i].y0).max(1);
            let mut j = i + 1;
            while j < boxes.len() && boxes[j].y0 - boxes[i].y0 < row_h / 2 {
                j += 1;
            }
            sort_by_key(&mut boxes[i..j], |b| b.x0);
            i = j;
        }
        Ok(boxes)
    }

    /// Reads a whole image as one text line. With a classifier, a line it finds upside down
    /// is read both ways and keeps the more confident reading: the classifier is sometimes
    /// sure an upright card number or plate is upside down (the engine's
    /// `ReadOptions::verify_turns`).
    pub fn recognize(&mut self, img: &Rgb) -> Result<Line> {
        let (mut text, mut confidence) = self.recognize_upright(img)?;
        let mut angle = 0;
        if self.cls.is_some() && self.is_turned(img)? {
            let (t_text, t_confidence) = self.recognize_upright(&img.turned())?;
            if t_confidence > confidence {
                (text, confidence, angle) = (t_text, t_confidence, 180);
            }
        }
        Ok(Line {
            bbox: LineBox {
                x0: 0,
                y0: 0,
                x1: img.width as i32,
                y1: img.height as i32,
                score: 1.0,
            },
            text,
            confidence,
            angle,
        })
    }

    /// True when the classifier is confident the line is upside down.
    fn is_turned(&mut self, img: &Rgb) -> Result<bool> {
        let Some(cls) = self.cls.as_mut() else {
            return Ok(false);
        };
        let lw = line_width(img).min(CLS_W);
        let resized = resize_rgb(&img.data, img.width, img.height, lw, LINE_H);
        let mut data = vec![0f32; 3 * LINE_H * CLS_W];
        cls.norm.write_rgb(&resized, lw, LINE_H, &mut data, CLS_W);
        let out = cls.run(Tensor::new(vec![1, 3, LINE_H, CLS_W], data)?)?;
        match out.data() {
            [_, turned] => Ok(*turned > CLS_THRESHOLD),
            _ => Err(SdkError::Model(
                Message::new("classifier output ").dims(out.shape()).done(),
            )),
        }
    }

    fn recognize_upright(&mut self, img: &Rgb) -> Result<(String, f32)> {
        let ratio = img.width as f64 / img.height as f64;
        let input_w = ((LINE_H as f64 * ratio) as usize).clamp(self.min_width, MAX_LINE_W);
        let lw = line_width(img).min(input_w);
        let resized = resize_rgb(&img.data, img.width, img.height, lw, LINE_H);
        let mut data = vec![0f32; 3 * LINE_H * input_w];
        self.rec
            .norm
            .write_rgb(&resized, lw, LINE_H, &mut data, input_w);
        let out = self
            .rec
            .run(Tensor::new(vec![1, 3, LINE_H, input_w], data)?)?;
        let shape = out.shape();
        if shape.len() != 3 || shape[0] != 1 || shape[2] != self.charset.num_classes() {
            return Err(SdkError::Model(
                Message::new("recogniser output ")
                    .dims(shape)
                    .text(" for ")
                    .num(self.charset.num_classes() as i64)
                    .text(" classes")
                    .done(),
            ));
        }
        let chars = ocr_core::ctc::greedy(out.data(), shape[1], shape[2], None);
        let mut text = String::new();
        for c in &chars {
            text.push_str(self.charset.symbol(c.class).unwrap_or(""));
        }
        let confidence = if chars.is_empty() {
            0.0
        } else {
            chars.iter().map(|c| c.confidence).sum::<f32>() / chars.len() as f32
        };
        Ok((String::from(text.trim()), confidence))
    }
}

/// Line width at the recogniser's height, keeping the aspect ratio.
fn line_width(img: &Rgb) -> usize {
    let (w, h) = (img.width as u32, img.height as u32);
    pixels::line_width(w, h, LINE_H as u32, MAX_LINE_W as u32) as usize
}

/// A text region in probability-map pixels (edges may be fractional after unclipping).
struct Region {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    score: f32,
}

/// The 4-connected components of `map > DET_THRESHOLD` whose mean probability reaches
/// `DET_BOX_THRESHOLD`, as bounding boxes grown by the unclip distance.
fn regions(map: &[f32], w: usize, h: usize) -> Vec<Region> {
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for start in 0..w * h {
        if seen[start] || map[start] <= DET_THRESHOLD {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        let (mut sum, mut count) = (0f32, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            sum += map[i];
            count += 1;
            let mut visit = |j: usize| {
                if !seen[j] && map[j] > DET_THRESHOLD {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let score = sum / count as f32;
        if bw.min(bh) < 3.0 || score < DET_BOX_THRESHOLD {
            continue;
        }
        // The detector shrinks text regions by this distance during training; grow them back.
        let d = bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh));
        out.push(Region {
            x0: x0 as f32 - d,
            y0: y0 as f32 - d,
            x1: (x1 + 1) as f32 + d,
            y1: (y1 + 1) as f32 + d,
            score,
        });
    }
    out
}

/// Sorts `v` by `key`, stably, by insertion: detection yields at most a few hundred boxes, and
/// the standard library's sorts would add kilobytes of code to the library.
fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_find_separate_blobs_and_skip_faint_or_thin_ones() {
        let (w, h) = (40, 20);
        let mut map = vec![0f32; w * h];
        for y in 2..8 {
            for x in 2..30 {
                map[y * w + x] = 0.9;
            }
        }
        for y in 12..18 {
            for x in 5..15 {
                map[y * w + x] = 0.5; // above the pixel threshold, below the region one
            }
        }
        for x in 0..40 {
            map[10 * w + x] = 0.95; // one pixel high
        }
        let r = regions(&map, w, h);
        assert_eq!(r.len(), 1);
        let d = 28.0 * 6.0 * 1.5 / (2.0 * 34.0);
        assert!((r[0].x0 - (2.0 - d)).abs() < 1e-4 && (r[0].y1 - (8.0 + d)).abs() < 1e-4);
    }

    #[test]
    fn insertion_sort_orders_by_key_and_keeps_ties_in_order() {
        let mut v = alloc::vec![(3, 'a'), (1, 'b'), (3, 'c'), (0, 'd'), (1, 'e')];
        super::sort_by_key(&mut v, |p| p.0);
        assert_eq!(
            v,
            alloc::vec![(0, 'd'), (1, 'b'), (1, 'e'), (3, 'a'), (3, 'c')]
        );
    }
}
