//! Synthetic text images: single text lines and simple document pages, rendered with a system
//! font from random text, with the variation a camera or scanner adds (colours, size, blur,
//! noise, JPEG). Deterministic for a seed and a font file.
//!
//! Used for int8 calibration (no scored image is ever a calibration image) and written out by
//! `kestrel synth` in the `../shared/eval/dev` manifest format.

use ab_glyph::{FontVec, PxScale};
use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_text_mut, text_size};
use ocr_charset::Charset;
use std::io::Write;
use std::path::Path;

pub mod card_number;
pub mod documents;
pub mod forms;

/// Random text in the styles documents carry: Chinese phrases, mixed Chinese and ASCII,
/// numbers (dates, amounts, phone and card numbers) and Latin words.
pub struct TextSource {
    cjk: Vec<char>,
    ascii: Vec<char>,
}

const WORDS: &[&str] = &[
    "the", "total", "invoice", "date", "name", "address", "phone", "card", "bank", "number",
    "amount", "paid", "office", "road", "street", "China", "Beijing", "Shanghai", "OCR", "ID",
    "VISA", "Tel", "No.", "Ltd", "Co.", "express", "receipt", "order", "price", "item",
];

impl TextSource {
    /// Characters from a recogniser's dictionary, so every rendered character is readable.
    pub fn new(charset: &Charset) -> Self {
        let mut cjk = Vec::new();
        let mut ascii = Vec::new();
        for class in 1..charset.num_classes() {
            let Some(s) = charset.symbol(class) else {
                continue;
            };
            let mut it = s.chars();
            if let (Some(c), None) = (it.next(), it.next()) {
                if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                    cjk.push(c);
                } else if c.is_ascii_graphic() {
                    ascii.push(c);
                }
            }
        }
        TextSource { cjk, ascii }
    }

    fn digits(rng: &mut fastrand::Rng, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
    }

    /// One line of random text.
    pub fn line(&self, rng: &mut fastrand::Rng) -> String {
        match rng.u8(0..8) {
            0..=2 if !self.cjk.is_empty() => {
                let n = rng.usize(2..14);
                (0..n)
                    .map(|_| self.cjk[rng.usize(..self.cjk.len())])
                    .collect()
            }
            3 if !self.cjk.is_empty() => {
                let head: String = (0..rng.usize(2..6))
                    .map(|_| self.cjk[rng.usize(..self.cjk.len())])
                    .collect();
                let n = rng.usize(3..12);
                format!("{head}：{}", Self::digits(rng, n))
            }
            4 => format!(
                "{}-{:02}-{:02}",
                rng.u16(1990..2031),
                rng.u8(1..13),
                rng.u8(1..29)
            ),
            5 => {
                let groups: Vec<String> = (0..4).map(|_| Self::digits(rng, 4)).collect();
                groups.join(" ")
            }
            6 if !self.ascii.is_empty() => {
                let n = rng.usize(3..16);
                (0..n)
                    .map(|_| self.ascii[rng.usize(..self.ascii.len())])
                    .collect()
            }
            _ => {
                let n = rng.usize(1..6);
                let words: Vec<&str> = (0..n).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
                format!(
                    "{} {}.{:02}",
                    words.join(" "),
                    rng.u32(1..10000),
                    rng.u8(0..100)
                )
            }
        }
    }
}

fn pick_colours(rng: &mut fastrand::Rng) -> (Rgb<u8>, Rgb<u8>) {
    let paper = |rng: &mut fastrand::Rng| {
        let base = rng.u8(170..=255);
        Rgb([
            base,
            base.saturating_sub(rng.u8(0..20)),
            base.saturating_sub(rng.u8(0..30)),
        ])
    };
    let ink = |rng: &mut fastrand::Rng| {
        let v = rng.u8(0..90);
        match rng.u8(0..4) {
            0 => Rgb([v, v, v.saturating_add(rng.u8(0..120))]),
            1 => Rgb([v.saturating_add(rng.u8(0..120)), v, v]),
            _ => Rgb([v, v, v]),
        }
    };
    if rng.u8(0..8) == 0 {
        // Light text on a dark background (cards, signs).
        let (p, i) = (paper(rng), ink(rng));
        (i, p)
    } else {
        (paper(rng), ink(rng))
    }
}

/// Blur, sensor noise and JPEG artefacts, each with some probability.
pub(crate) fn degrade(img: RgbImage, rng: &mut fastrand::Rng) -> RgbImage {
    let mut img = img;
    if rng.u8(0..3) == 0 {
        img = imageproc::filter::gaussian_blur_f32(&img, 0.4 + rng.f32() * 0.8);
    }
    if rng.u8(0..2) == 0 {
        let amp = rng.u8(2..14) as i16;
        for p in img.pixels_mut() {
            for c in p.0.iter_mut() {
                *c = (*c as i16 + rng.i16(-amp..=amp)).clamp(0, 255) as u8;
            }
        }
    }
    if rng.u8(0..2) == 0 {
        let mut buf = Vec::new();
        let q = rng.u8(40..90);
        if image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q)
            .encode_image(&img)
            .is_ok()
            && let Ok(d) = image::load_from_memory(&buf)
        {
            img = d.to_rgb8();
        }
    }
    img
}

/// Renders one text line with margins, as a line crop looks.
pub fn render_line(font: &FontVec, text: &str, rng: &mut fastrand::Rng) -> RgbImage {
    let px = rng.f32() * 24.0 + 20.0;
    let scale = PxScale::from(px);
    let (tw, th) = text_size(scale, font, text);
    let (pad_x, pad_y) = (rng.u32(2..16), rng.u32(2..12));
    let (w, h) = (tw + 2 * pad_x, th.max(px as u32) + 2 * pad_y);
    let (paper, ink) = pick_colours(rng);
    let mut img = RgbImage::from_pixel(w.max(8), h.max(8), paper);
    draw_text_mut(&mut img, ink, pad_x as i32, pad_y as i32, scale, font, text);
    degrade(img, rng)
}

/// A rendered page and its lines: (text, axis-aligned box `[x0, y0, x1, y1]`).
pub struct SynthPage {
    /// The image.
    pub image: RgbImage,
    /// Every line written on it.
    pub lines: Vec<(String, [u32; 4])>,
}

/// Renders a document-like page: lines of random text in a few sizes on paper.
pub fn render_page(font: &FontVec, texts: &TextSource, rng: &mut fastrand::Rng) -> SynthPage {
    let (w, h) = (rng.u32(600..1100), rng.u32(500..1000));
    let (paper, ink) = pick_colours(rng);
    let mut img = RgbImage::from_pixel(w, h, paper);
    let mut lines = Vec::new();
    let mut y = rng.u32(10..60);
    while y + 40 < h {
        let px = rng.f32() * 26.0 + 16.0;
        let scale = PxScale::from(px);
        let text = texts.line(rng);
        let (tw, th) = text_size(scale, font, &text);
        let x = rng.u32(10..80);
        if x + tw < w && y + th < h {
            draw_text_mut(&mut img, ink, x as i32, y as i32, scale, font, &text);
            lines.push((text, [x, y, x + tw, y + th]));
        }
        y += th.max(px as u32) + rng.u32(8..40);
    }
    SynthPage {
        image: degrade(img, rng),
        lines,
    }
}

/// What `write_set` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthKind {
    /// Single-line crops (`line` records).
    Lines,
    /// Pages (`page` records, lines in reading order).
    Pages,
}

/// Writes `count` images and a `manifest.jsonl` (the dev-set format) into `dir`.
pub fn write_set(
    dir: &Path,
    kind: SynthKind,
    count: usize,
    seed: u64,
    font: &FontVec,
    texts: &TextSource,
) -> Result<()> {
    write_records(dir, count, seed, |rng, name| {
        Ok(match kind {
            SynthKind::Lines => {
                let text = texts.line(rng);
                render_line(font, &text, rng).save(dir.join(name))?;
                serde_json::json!({"image": name, "task": "line", "text": text})
            }
            SynthKind::Pages => {
                let page = render_page(font, texts, rng);
                page.image.save(dir.join(name))?;
                let lines: Vec<&str> = page.lines.iter().map(|(t, _)| t.as_str()).collect();
                serde_json::json!({"image": name, "task": "page", "lines": lines})
            }
        })
    })
}

/// Writes `count` bank-card number crops (`line` records whose `note` names the style) and a
/// `manifest.jsonl` into `dir`.
pub fn write_card_numbers(
    dir: &Path,
    count: usize,
    seed: u64,
    fonts: &card_number::CardFonts,
) -> Result<()> {
    write_records(dir, count, seed, |rng, name| {
        let (text, style, img) = card_number::random_crop(fonts, rng);
        img.save(dir.join(name))?;
        Ok(
            serde_json::json!({"image": name, "task": "line", "text": text,
            "note": format!("card number, {}", style.name())}),
        )
    })
}

/// Which synthetic documents [`write_documents`] renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// ID card photos, fronts and backs alternating (`id_card` records).
    IdCards,
    /// Bank card photos (`bank_card` records).
    BankCards,
    /// Express waybill photos (`waybill` records).
    Waybills,
    /// Business license photos (`business_license` records).
    BusinessLicenses,
}

/// Writes `count` document photos and a `manifest.jsonl` into `dir`.
pub fn write_documents(
    dir: &Path,
    kind: DocumentKind,
    count: usize,
    seed: u64,
    font: &FontVec,
    fonts: &card_number::CardFonts,
) -> Result<()> {
    let mut index = 0;
    write_records(dir, count, seed, |rng, name| {
        index += 1;
        Ok(match kind {
            DocumentKind::IdCards => {
                let front = index % 2 == 1;
                let (img, fields) = documents::id_card_record(font, rng, front);
                img.save(dir.join(name))?;
                serde_json::json!({"image": name, "task": "id_card", "fields": fields,
                    "side": if front { "front" } else { "back" }})
            }
            DocumentKind::BankCards => {
                let (img, fields) = documents::bank_card_record(font, fonts, rng);
                img.save(dir.join(name))?;
                serde_json::json!({"image": name, "task": "bank_card", "fields": fields})
            }
            DocumentKind::Waybills => {
                let (img, fields) = forms::waybill_record(font, rng);
                img.save(dir.join(name))?;
                serde_json::json!({"image": name, "task": "waybill", "fields": fields})
            }
            DocumentKind::BusinessLicenses => {
                let (img, fields) = forms::business_license_record(font, rng);
                img.save(dir.join(name))?;
                serde_json::json!({"image": name, "task": "business_license", "fields": fields})
            }
        })
    })
}

/// Creates `dir`, then writes `count` records: `render` saves image `name` and returns its
/// manifest record, to which the provenance fields are added.
fn write_records(
    dir: &Path,
    count: usize,
    seed: u64,
    mut render: impl FnMut(&mut fastrand::Rng, &str) -> Result<serde_json::Value>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let manifest_path = dir.join("manifest.jsonl");
    let mut manifest = std::io::BufWriter::new(
        std::fs::File::create(&manifest_path)
            .with_context(|| format!("cannot create {}", manifest_path.display()))?,
    );
    for i in 0..count {
        let name = format!("{i:05}.png");
        let mut record = render(&mut rng, &name)?;
        record["provenance"] = "official".into();
        record["source"] = format!("kestrel synth seed {seed}").into();
        record["license"] = "Apache-2.0".into();
        writeln!(manifest, "{record}")?;
    }
    manifest.flush()?;
    Ok(())
}
