//! `--draw`: the image with its boxes, beside a white panel with the recognised text written
//! where each line was found.

use ab_glyph::FontVec;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_hollow_polygon_mut, draw_text_mut};
use imageproc::point::Point as IpPoint;
use ocr_core::ocr::{Page, Quad};
use std::path::{Path, PathBuf};

/// Fonts tried when none is given (CJK-capable first).
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
];

/// Loads a font: the given path, else `$KESTREL_FONT`, else the first system font found
/// (`Ok(None)` when there is none). A font asked for by path or variable that cannot be read
/// or parsed is an error, not a silent fallback.
pub fn load_font(explicit: Option<&Path>) -> anyhow::Result<Option<FontVec>> {
    use anyhow::Context;
    let asked = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("KESTREL_FONT").map(PathBuf::from));
    if let Some(path) = asked {
        let bytes = crate::files::read_bounded(&path, crate::files::MAX_MODEL_FILE)
            .with_context(|| format!("cannot read the font {}", path.display()))?;
        let font = FontVec::try_from_vec(bytes)
            .with_context(|| format!("{} is not a font", path.display()))?;
        return Ok(Some(font));
    }
    Ok(FONT_CANDIDATES.iter().find_map(|path| {
        let bytes = std::fs::read(path).ok()?;
        FontVec::try_from_vec(bytes).ok()
    }))
}

const COLORS: [[u8; 3]; 6] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [0, 128, 128],
];

fn outline(img: &mut RgbImage, q: &Quad, color: Rgb<u8>) {
    // Two nested outlines make the box visible on busy photos.
    for grow in [0.0f32, 1.0] {
        let cx = q.iter().map(|p| p.x).sum::<f32>() / 4.0;
        let cy = q.iter().map(|p| p.y).sum::<f32>() / 4.0;
        let poly: Vec<IpPoint<f32>> = q
            .iter()
            .map(|p| {
                let (dx, dy) = (p.x - cx, p.y - cy);
                let n = (dx * dx + dy * dy).sqrt().max(1e-3);
                IpPoint::new(p.x + grow * dx / n, p.y + grow * dy / n)
            })
            .collect();
        draw_hollow_polygon_mut(img, &poly, color);
    }
}

/// Renders the picture. Without a font only the boxes are drawn.
pub fn render(img: &RgbImage, page: &Page, font: Option<&FontVec>) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = RgbImage::from_pixel(w * 2, h, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, img, 0, 0);
    for (i, line) in page.lines.iter().enumerate() {
        let color = Rgb(COLORS[i % COLORS.len()]);
        outline(&mut out, &line.quad, color);
        let shifted = line
            .quad
            .map(|p| ocr_core::ocr::Point::new(p.x + w as f32, p.y));
        outline(&mut out, &shifted, color);
        if let Some(font) = font {
            let box_h = line.quad[0].dist(line.quad[3]).max(8.0);
            let box_w = line.quad[0].dist(line.quad[1]).max(8.0);
            let n = line.text.chars().count().max(1) as f32;
            // Fit the text inside the box: bounded by its height and by its width per glyph.
            let scale = (box_h * 0.8).min(box_w / n * 1.6).max(8.0);
            let x = shifted.iter().map(|p| p.x).fold(f32::MAX, f32::min) as i32 + 2;
            let y = shifted.iter().map(|p| p.y).fold(f32::MAX, f32::min) as i32
                + ((box_h - scale) / 2.0).max(0.0) as i32;
            draw_text_mut(&mut out, Rgb([0, 0, 0]), x, y, scale, font, &line.text);
        }
    }
    out
}
