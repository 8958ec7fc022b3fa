//! Capture-quality check for scanning apps: cheap enough for every camera frame (it works on a
//! copy scaled to at most 640 pixels), it says what is wrong with a capture as machine-readable
//! hint codes: blur, under/over exposure, glare, document too small or cut off.

use super::locate::{self, Located};
use image::RgbImage;
use ocr_core::ocr::{Point, Quad, geometry};
use serde::Serialize;

/// What is wrong with a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Hint {
    /// Out of focus or moving: too little fine detail.
    Blurry,
    /// Underexposed.
    TooDark,
    /// Overexposed.
    TooBright,
    /// A specular highlight washes out part of the document.
    Glare,
    /// The document fills too little of the frame: move closer.
    TooSmall,
    /// The document runs off the frame.
    CutOff,
    /// No document outline was found.
    NoDocument,
}

/// The measurements behind the hints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// Hints, empty when the capture is good.
    pub hints: Vec<Hint>,
    /// Variance of the Laplacian over the document (the frame when none is found), at the
    /// analysis scale; low is blurry.
    pub sharpness: f32,
    /// Mean luminance 0..255 over the document.
    pub brightness: f32,
    /// Share of the document's pixels that are saturated (luminance >= 250) and brighter than
    /// its own paper (10 above the 90th percentile).
    pub glare: f32,
    /// Share of the frame the document covers.
    pub coverage: f32,
    /// The document outline, if one was found.
    #[serde(rename = "box")]
    pub quad: Option<Quad>,
}

/// Below this Laplacian variance a capture is blurry.
pub const BLUR_LIMIT: f32 = 40.0;
/// Mean luminance limits.
pub const DARK_LIMIT: f32 = 60.0;
/// Mean luminance above which a capture is overexposed.
pub const BRIGHT_LIMIT: f32 = 225.0;
/// Saturated share above which glare is reported.
pub const GLARE_LIMIT: f32 = 0.015;
/// Coverage below which the document is too small.
pub const SMALL_LIMIT: f32 = 0.2;

/// Checks a capture of a document of the given aspect (width / height; e.g.
/// [`locate::ID1_ASPECT`] for cards).
pub fn check(img: &RgbImage, aspect: Option<f32>) -> Quality {
    let (w, h) = img.dimensions();
    let best: Option<Located> = locate::find_documents(img, aspect)
        .into_iter()
        .find(|l| l.outlined);
    let scale = (640.0 / w.max(h).max(1) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle);
    let gray = image::imageops::grayscale(&small);
    // The document region at the analysis scale (the whole frame when none was found).
    let region = best
        .as_ref()
        .map(|l| l.quad.map(|p| Point::new(p.x * scale, p.y * scale)));
    let in_region = |x: u32, y: u32| match &region {
        Some(q) => locate::inside(q, Point::new(x as f32 + 0.5, y as f32 + 0.5)),
        None => true,
    };
    let (mut n, mut sum) = (0u64, 0f64);
    let mut histogram = [0u64; 256];
    let (mut lap_sum, mut lap_sq, mut lap_n) = (0f64, 0f64, 0u64);
    for y in 0..sh {
        for x in 0..sw {
            if !in_region(x, y) {
                continue;
            }
            let v = gray.get_pixel(x, y).0[0] as f64;
            n += 1;
            sum += v;
            histogram[v as usize] += 1;
            if x > 0 && y > 0 && x + 1 < sw && y + 1 < sh {
                let g = |dx: i32, dy: i32| {
                    gray.get_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32)
                        .0[0] as f64
                };
                let lap = g(-1, 0) + g(1, 0) + g(0, -1) + g(0, 1) - 4.0 * v;
                lap_sum += lap;
                lap_sq += lap * lap;
                lap_n += 1;
            }
        }
    }
    let brightness = (sum / n.max(1) as f64) as f32;
    // Glare is saturation brighter than the document's own bright parts (the 90th percentile
    // of its luminance): white paper that is merely bright is not glare.
    let mut seen = 0u64;
    let p90 = (0..256usize)
        .find(|&v| {
            seen += histogram[v];
            seen * 10 >= n * 9
        })
        .unwrap_or(255) as u8;
    let glare_from = 250u8.max(p90.saturating_add(10));
    let saturated: u64 = histogram[glare_from as usize..].iter().sum();
    let glare = saturated as f32 / n.max(1) as f32;
    let mean_lap = lap_sum / lap_n.max(1) as f64;
    let sharpness = (lap_sq / lap_n.max(1) as f64 - mean_lap * mean_lap) as f32;
    let coverage = best.as_ref().map_or(0.0, |l| {
        geometry::area(&l.quad) / (w as f32 * h as f32).max(1.0)
    });
    let mut hints = Vec::new();
    if sharpness < BLUR_LIMIT {
        hints.push(Hint::Blurry);
    }
    if brightness < DARK_LIMIT {
        hints.push(Hint::TooDark);
    }
    if brightness > BRIGHT_LIMIT {
        hints.push(Hint::TooBright);
    }
    if glare > GLARE_LIMIT {
        hints.push(Hint::Glare);
    }
    match &best {
        None => hints.push(Hint::NoDocument),
        Some(l) => {
            if coverage < SMALL_LIMIT {
                hints.push(Hint::TooSmall);
            }
            let margin = 0.01 * w.max(h) as f32;
            if l.quad.iter().any(|p| {
                p.x < margin || p.y < margin || p.x > w as f32 - margin || p.y > h as f32 - margin
            }) {
                hints.push(Hint::CutOff);
            }
        }
    }
    Quality {
        hints,
        sharpness,
        brightness,
        glare,
        coverage,
        quad: best.map(|l| l.quad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A card with fine text-like detail on a desk; `card` is its rectangle.
    fn capture(card: (u32, u32, u32, u32), paper: u8) -> RgbImage {
        let (x0, y0, cw, ch) = card;
        RgbImage::from_fn(800, 600, |x, y| {
            if x >= x0 && x < x0 + cw && y >= y0 && y < y0 + ch {
                let ink = (x / 3 + y / 7) % 5 == 0 && (y - y0) % 30 < 14;
                if ink {
                    Rgb([20, 20, 20])
                } else {
                    Rgb([paper, paper, paper - 10])
                }
            } else {
                Rgb([70, 60, 50])
            }
        })
    }

    #[test]
    fn a_good_capture_has_no_hints() {
        let q = check(
            &capture((150, 120, 500, 315), 230),
            Some(locate::ID1_ASPECT),
        );
        assert!(q.hints.is_empty(), "{q:?}");
        assert!(q.coverage > 0.3);
    }

    #[test]
    fn each_fault_gives_its_hint() {
        let card = (150, 120, 500, 315);
        let blurred = imageproc::filter::gaussian_blur_f32(&capture(card, 230), 4.0);
        assert!(check(&blurred, None).hints.contains(&Hint::Blurry));
        let bright = capture(card, 230);
        let dark = RgbImage::from_fn(800, 600, |x, y| {
            Rgb(bright.get_pixel(x, y).0.map(|c| c / 6))
        });
        assert!(check(&dark, None).hints.contains(&Hint::TooDark));
        let mut glare = capture(card, 230);
        for y in 200..300 {
            for x in 300..420 {
                glare.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        assert!(check(&glare, None).hints.contains(&Hint::Glare));
        let small = check(&capture((350, 260, 120, 76), 230), None);
        assert!(small.hints.contains(&Hint::TooSmall), "{small:?}");
        let cut = check(&capture((400, 120, 400, 315), 230), None);
        assert!(cut.hints.contains(&Hint::CutOff), "{cut:?}");
    }
}
