//! Document pipelines (bank card, ID card, waybill, business license, plate, VIN): shared
//! parts (field validators, normalisers, the field result type) and one module per document.

/// Lists a document's fields once, as `"standard name" => field`, and derives from that list
/// `slots` (every field by name, found or not), `fields` (the found ones) and `slots_mut`
/// (every field, mutably: boxes moved into the photo, for instance).
macro_rules! field_list {
    ($ty:ty { $($name:literal => $field:ident),+ $(,)? }) => {
        impl $ty {
            /// Every field by its standard name (the dev manifests' names), found or not.
            pub fn slots(&self) -> Vec<(&'static str, &Option<Field>)> {
                vec![$(($name, &self.$field)),+]
            }

            /// Every field, mutably, in the order of `slots`.
            pub fn slots_mut(&mut self) -> Vec<&mut Option<Field>> {
                vec![$(&mut self.$field),+]
            }

            /// The fields that were found, by standard name.
            pub fn fields(&self) -> Vec<(&'static str, &Field)> {
                self.slots()
                    .into_iter()
                    .filter_map(|(k, f)| f.as_ref().map(|f| (k, f)))
                    .collect()
            }
        }
    };
}

pub mod anchor;
pub mod bank_card;
pub mod business_license;
pub mod check;
pub mod id_card;
pub mod locate;
pub mod normalize;
pub mod quality;
pub mod vehicle;
pub mod waybill;

use ocr_core::ocr::{Char, Engine, Line, OcrError, Page, Quad, ReadOptions};
use serde::Serialize;

/// One extracted field: what a caller can trust, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The value, normalised to the field's format (e.g. card number digits with the printed
    /// grouping kept).
    pub text: String,
    /// Mean character confidence of the reading (0..1).
    pub confidence: f32,
    /// Where the field is in the image, if it was read from a region of it.
    #[serde(rename = "box")]
    pub quad: Option<Quad>,
    /// Whether the value passes the field's checks (check digit, format); `None` where the
    /// field has no check.
    pub valid: Option<bool>,
    /// Whether a failed check digit was repaired from the recogniser's second choices.
    pub corrected: bool,
    /// Which recogniser read it: `bankcard` (the specialised model) or `general`.
    pub recognizer: &'static str,
}

impl Field {
    /// A field from a recognised line, with a validity verdict.
    pub fn from_line(line: &Line, valid: Option<bool>, recognizer: &'static str) -> Self {
        Field {
            text: line.text.clone(),
            confidence: line.confidence,
            quad: Some(line.quad),
            valid,
            corrected: false,
            recognizer,
        }
    }
}

/// The engine options every document pipeline starts from: the engine's defaults without
/// refinement. Documents check their fields with their own rules (alphabets, check digits,
/// layouts), and re-reading doubtful lines with the fp32 recogniser measured no better on
/// them (`models/README.md`, "Refinement").
pub fn read_options() -> ReadOptions {
    ReadOptions {
        refine: false,
        ..ReadOptions::default()
    }
}

/// Reads a rectified document; when most of its characters run top to bottom it turns it a
/// quarter, and when most read upside down (weighed by confidence) it turns it over, reading
/// again each time.
pub fn read_upright(engine: &Engine, doc: &mut locate::Rectified) -> Result<Page, OcrError> {
    let mut page = engine.read(&doc.image, &read_options())?;
    // Text running top to bottom: the outline's corners were a quarter turn off. Turn it a
    // quarter (the 180-degree check below settles which way is up).
    let vertical: usize = page
        .lines
        .iter()
        .filter(|l| l.chars.len() >= 3)
        .map(|l| {
            // The reading direction is the box's top edge.
            let (dx, dy) = (l.quad[1].x - l.quad[0].x, l.quad[1].y - l.quad[0].y);
            let n = l.chars.len() as isize;
            if dy.abs() > 1.5 * dx.abs() { n } else { -n }
        })
        .sum::<isize>()
        .max(0) as usize;
    if vertical > 0 {
        doc.turn_quarter();
        page = engine.read(&doc.image, &read_options())?;
    }
    // Each line votes with its characters, weighed by how surely they were read: an
    // upside-down line the classifier took as upright reads as confident nonsense less often
    // than as unsure nonsense (a card's number upside down, read as `110 7705 929 9719` at
    // 36%, must not outvote the name and date above it turned and read at 97%).
    let weight = |l: &Line| l.chars.len().max(1) as f32 * l.confidence;
    let flipped: f32 = page
        .lines
        .iter()
        .filter(|l| l.angle == 180)
        .map(weight)
        .sum();
    let total: f32 = page.lines.iter().map(weight).sum();
    if total > 0.0 && flipped * 2.0 > total {
        doc.turn();
        page = engine.read(&doc.image, &read_options())?;
    }
    // Boxes the recogniser found nothing in are not lines.
    page.lines.retain(|l| !l.text.trim().is_empty());
    Ok(page)
}

/// Reads a rectified document the way it stands (a second look after [`read_upright`] chose
/// an orientation and the caller wants to see the other one).
pub fn read_as_is(engine: &Engine, doc: &locate::Rectified) -> Result<Page, OcrError> {
    let mut page = engine.read(&doc.image, &read_options())?;
    page.lines.retain(|l| !l.text.trim().is_empty());
    Ok(page)
}

/// Moves a field's box from the rectified document into the photo.
pub fn to_photo(field: &mut Option<Field>, doc: &locate::Rectified) {
    if let Some(f) = field
        && let Some(q) = &mut f.quad
    {
        *q = doc.quad_to_photo(q);
    }
}

/// Check-digit repair: the reading that passes `valid` when one of the `k` least confident
/// characters takes the recogniser's second choice (second choices outside `alphabet`, or
/// less likely than `min_alternative`, are not tried): the only one, or, among several, the
/// one whose change is `dominance` times likelier than any other passing change's (each
/// change weighed by its second choice's probability over the first's; `f32::INFINITY`: the
/// only one). `None` when no single change passes, or when passing changes are about as
/// likely.
pub fn repair_with_alternatives(
    chars: &[Char],
    alphabet: &str,
    k: usize,
    min_alternative: f32,
    dominance: f32,
    valid: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut order: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].text.trim() != "")
        .collect();
    order.sort_by(|&a, &b| chars[a].confidence.total_cmp(&chars[b].confidence));
    let mut found: Vec<(String, f32)> = Vec::new();
    for &i in order.iter().take(k) {
        let Some(alt) = &chars[i].alternative else {
            continue;
        };
        if alt.text.is_empty()
            || alt.confidence < min_alternative
            || !alt.text.chars().all(|c| alphabet.contains(c))
        {
            continue;
        }
        let candidate: String = chars
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if j == i {
                    alt.text.as_str()
                } else {
                    c.text.as_str()
                }
            })
            .collect();
        let odds = alt.confidence / chars[i].confidence.max(f32::MIN_POSITIVE);
        if valid(&candidate) && !found.iter().any(|f| f.0 == candidate) {
            found.push((candidate, odds));
        }
    }
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    match found.as_slice() {
        [(only, _)] => Some(only.clone()),
        [(best, a), (_, b), ..] if *a >= dominance * b => Some(best.clone()),
        _ => None,
    }
}

/// Locates one paper document of about `aspect` (width / height) in a photo and warps it
/// upright to `size`; with `crop` (or when no outline is found) the whole image is the
/// document.
pub fn locate_document(
    img: &image::RgbImage,
    aspect: f32,
    size: (u32, u32),
    crop: bool,
) -> locate::Rectified {
    if crop {
        return locate::Rectified::whole(img);
    }
    let found = locate::readable_documents(img, Some(aspect));
    match found.first().filter(|l| l.outlined) {
        Some(l) => locate::Rectified::new(img, &l.quad, Some(size)),
        None => locate::Rectified::whole(img),
    }
}

/// Re-reads characters `start..start + len` of a line from the document image with only the
/// characters of `alphabet` allowed (constrained decoding for codes with a known alphabet).
pub fn reread_span(
    engine: &Engine,
    doc: &image::RgbImage,
    line: &Line,
    start: usize,
    len: usize,
    alphabet: &str,
) -> Result<(Line, Quad), OcrError> {
    let quad = anchor::span_quad(line, start, len);
    Ok((reread_quad(engine, doc, &quad, alphabet)?, quad))
}

/// Reads the region `quad` of a document as one line whose characters are restricted to
/// `alphabet`.
pub fn reread_quad(
    engine: &Engine,
    doc: &image::RgbImage,
    quad: &Quad,
    alphabet: &str,
) -> Result<Line, OcrError> {
    let crop = ocr_core::ocr::rectify::crop(doc, quad);
    let opts = ReadOptions {
        classify: false,
        allowed_chars: Some(alphabet.into()),
        ..read_options()
    };
    Ok(engine
        .recognize_crops(
            vec![crop],
            &opts,
            &mut ocr_core::ocr::StageTimings::default(),
        )?
        .remove(0))
}

/// Reads a paper document (a waybill, a license): its outline located and warped upright to
/// `size`, read the right way up, parsed by `parse` (which maps its boxes back to the photo).
/// An outline that was not the document (a barcode's edge, a table frame) reads as little:
/// when `count` finds fewer than four fields, the whole photo is read too and the reading
/// with more fields kept.
pub fn read_paper<T>(
    engine: &Engine,
    img: &image::RgbImage,
    crop: bool,
    size: (u32, u32),
    parse: impl Fn(&locate::Rectified, &[Line]) -> Result<T, OcrError>,
    count: impl Fn(&T) -> usize,
) -> Result<T, OcrError> {
    let read = |mut doc: locate::Rectified| -> Result<T, OcrError> {
        let page = read_upright(engine, &mut doc)?;
        parse(&doc, &page.lines)
    };
    let aspect = size.0 as f32 / size.1 as f32;
    let out = read(locate_document(img, aspect, size, crop))?;
    if crop || count(&out) >= 4 {
        return Ok(out);
    }
    let whole = read(locate::Rectified::whole(img))?;
    Ok(if count(&whole) > count(&out) {
        whole
    } else {
        out
    })
}
