//! Synthetic bank-card number crops: one 4-digit group (as a scanning app crops it) or a whole
//! number line (4-4-4-4, 4-6-5, 6-13 and 19-digit groupings), in the four ways card numbers are
//! put on cards:
//!
//! - embossed: raised digits in a narrow card typeface (our own stroke font shaped like
//!   Farrington 7B), lit from one side, with a cast shadow and often a foil top (bare plastic
//!   otherwise, whose edges catch a white gloss);
//! - printed: flat ink in a system font;
//! - flat metal: printed, coloured with a metallic gradient;
//! - foil: embossed with a strongly banded metallic top (hot-stamped foil).
//!
//! Every crop then gets a random card background (gradients, waves, speckle), a slight
//! rotation, shear and perspective, crop margins that sometimes cut into the first or last
//! digit (as real crops do), lighting, glare, blur, noise and JPEG. Deterministic for a seed and
//! the font files given. Used to train the bank-card recogniser (`models/train`).

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use image::{Rgb, RgbImage};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, warp};

/// How the digits are put on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardStyle {
    /// Raised digits with light and shadow.
    Embossed,
    /// Flat ink.
    Printed,
    /// Flat, in a metallic colour gradient.
    FlatMetal,
    /// Raised with a banded metallic foil top.
    Foil,
}

impl CardStyle {
    /// The style's name in manifests.
    pub fn name(self) -> &'static str {
        match self {
            CardStyle::Embossed => "embossed",
            CardStyle::Printed => "printed",
            CardStyle::FlatMetal => "flat-metal",
            CardStyle::Foil => "foil",
        }
    }
}

/// Strokes of each digit as polylines on a 6 x 10 grid (y down), in the spirit of the
/// Farrington 7B card typeface: narrow, squared, with cut corners.
const STROKES: [&[&[(f32, f32)]]; 10] = [
    &[&[
        (1.0, 0.0),
        (5.0, 0.0),
        (6.0, 1.2),
        (6.0, 8.8),
        (5.0, 10.0),
        (1.0, 10.0),
        (0.0, 8.8),
        (0.0, 1.2),
        (1.0, 0.0),
    ]],
    &[&[(1.2, 2.2), (3.6, 0.0), (3.6, 10.0)]],
    &[&[
        (0.0, 1.4),
        (1.1, 0.0),
        (4.9, 0.0),
        (6.0, 1.2),
        (6.0, 4.0),
        (0.0, 10.0),
        (6.0, 10.0),
    ]],
    &[&[
        (0.2, 0.0),
        (6.0, 0.0),
        (2.6, 4.4),
        (5.0, 4.4),
        (6.0, 5.6),
        (6.0, 8.8),
        (5.0, 10.0),
        (1.0, 10.0),
        (0.0, 8.8),
    ]],
    &[&[(4.6, 10.0), (4.6, 0.0), (0.0, 7.0), (6.0, 7.0)]],
    &[&[
        (5.8, 0.0),
        (0.2, 0.0),
        (0.2, 4.4),
        (5.0, 4.4),
        (6.0, 5.6),
        (6.0, 8.8),
        (5.0, 10.0),
        (0.0, 10.0),
    ]],
    &[&[
        (5.4, 0.0),
        (1.0, 0.0),
        (0.0, 1.2),
        (0.0, 8.8),
        (1.0, 10.0),
        (5.0, 10.0),
        (6.0, 8.8),
        (6.0, 6.0),
        (5.0, 4.8),
        (0.0, 4.8),
    ]],
    &[&[(0.0, 0.0), (6.0, 0.0), (6.0, 2.0), (2.4, 10.0)]],
    &[
        &[
            (1.0, 0.0),
            (5.0, 0.0),
            (6.0, 1.1),
            (6.0, 3.5),
            (5.0, 4.6),
            (1.0, 4.6),
            (0.0, 3.5),
            (0.0, 1.1),
            (1.0, 0.0),
        ],
        &[
            (1.0, 4.6),
            (5.0, 4.6),
            (6.0, 5.7),
            (6.0, 8.8),
            (5.0, 10.0),
            (1.0, 10.0),
            (0.0, 8.8),
            (0.0, 5.7),
            (1.0, 4.6),
        ],
    ],
    &[&[
        (6.0, 5.2),
        (1.0, 5.2),
        (0.0, 4.0),
        (0.0, 1.2),
        (1.0, 0.0),
        (5.0, 0.0),
        (6.0, 1.2),
        (6.0, 8.8),
        (5.0, 10.0),
        (0.6, 10.0),
    ]],
];

/// A random card number as printed: one 4-digit group (weight 3 in 5) or a whole number whose
/// last digit passes the Luhn check, grouped as cards print it.
pub fn random_number(rng: &mut fastrand::Rng) -> String {
    let digits = |rng: &mut fastrand::Rng, n: usize| -> String {
        (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
    };
    if rng.u8(0..5) < 3 {
        return digits(rng, 4);
    }
    // (prefix, length, group sizes): UnionPay 16/19, Visa 16, Mastercard 16, Amex 15.
    let (prefix, groups): (&str, &[usize]) = match rng.u8(0..6) {
        0 => ("62", &[4, 4, 4, 4]),
        1 => ("62", &[6, 13]),
        2 => ("62", &[4, 4, 4, 4, 3]),
        3 => ("4", &[4, 4, 4, 4]),
        4 => ("5", &[4, 4, 4, 4]),
        _ => ("37", &[4, 6, 5]),
    };
    let len: usize = groups.iter().sum();
    let mut body = String::from(prefix);
    body.push_str(&digits(rng, len - 1 - prefix.len()));
    body.push(crate::doc::check::luhn_check_digit(&body).unwrap_or('0'));
    let mut out = String::new();
    let mut at = 0;
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&body[at..at + g]);
        at += g;
    }
    out
}

/// A line segment between two pixel positions.
type Segment = ((f32, f32), (f32, f32));

/// A grey-level height field the size of the canvas: 0 is the card, 1 the top of a digit.
struct Relief {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Relief {
    fn new(w: usize, h: usize) -> Self {
        Relief {
            w,
            h,
            v: vec![0.0; w * h],
        }
    }

    fn at(&self, x: isize, y: isize) -> f32 {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            0.0
        } else {
            self.v[y as usize * self.w + x as usize]
        }
    }

    /// Draws strokes (pixel-space segments) as rounded ridges of half-width `r`.
    fn strokes(&mut self, segs: &[Segment], r: f32) {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &((ax, ay), (bx, by)) in segs {
            x0 = x0.min(ax.min(bx));
            y0 = y0.min(ay.min(by));
            x1 = x1.max(ax.max(bx));
            y1 = y1.max(ay.max(by));
        }
        let clampx = |v: f32| (v.max(0.0) as usize).min(self.w);
        let clampy = |v: f32| (v.max(0.0) as usize).min(self.h);
        for y in clampy(y0 - r - 2.0)..clampy(y1 + r + 2.0) {
            for x in clampx(x0 - r - 2.0)..clampx(x1 + r + 2.0) {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let d = segs
                    .iter()
                    .map(|&(a, b)| segment_distance((px, py), a, b))
                    .fold(f32::MAX, f32::min);
                if d < r + 0.5 {
                    let edge = (r + 0.5 - d).min(1.0);
                    let t = (d / r).min(1.0);
                    let height = edge * (1.0 - t * t).max(0.0).sqrt().max(0.35);
                    let cell = &mut self.v[y * self.w + x];
                    *cell = cell.max(height);
                }
            }
        }
    }

    /// Draws a font glyph's coverage.
    fn glyph(&mut self, font: &FontVec, c: char, scale: PxScale, x: f32, baseline: f32) {
        let glyph = font
            .glyph_id(c)
            .with_scale_and_position(scale, ab_glyph::point(x, baseline));
        if let Some(outlined) = font.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if px >= 0 && py >= 0 && (px as usize) < self.w && (py as usize) < self.h {
                    let cell = &mut self.v[py as usize * self.w + px as usize];
                    *cell = cell.max(cov);
                }
            });
        }
    }

    /// A 3x3 box blur, so font glyphs get a rounded edge to shade.
    fn soften(&mut self) {
        let mut out = vec![0.0; self.v.len()];
        for y in 0..self.h as isize {
            for x in 0..self.w as isize {
                let mut s = 0.0;
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        s += self.at(x + dx, y + dy);
                    }
                }
                out[y as usize * self.w + x as usize] = s / 9.0;
            }
        }
        self.v = out;
    }
}

fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn random_colour(rng: &mut fastrand::Rng, lo: u8, hi: u8) -> [f32; 3] {
    [
        rng.u8(lo..=hi) as f32,
        rng.u8(lo..=hi) as f32,
        rng.u8(lo..=hi) as f32,
    ]
}

/// A card background: a base colour with a gradient, waves and speckle.
fn background(w: usize, h: usize, rng: &mut fastrand::Rng) -> Vec<[f32; 3]> {
    let base = match rng.u8(0..6) {
        0 => [
            rng.f32() * 60.0 + 20.0,
            rng.f32() * 80.0 + 60.0,
            rng.f32() * 90.0 + 140.0,
        ],
        1 => [
            rng.f32() * 80.0 + 150.0,
            rng.f32() * 60.0 + 20.0,
            rng.f32() * 60.0 + 20.0,
        ],
        2 => [
            rng.f32() * 40.0 + 180.0,
            rng.f32() * 40.0 + 150.0,
            rng.f32() * 60.0 + 60.0,
        ],
        3 => {
            let v = rng.f32() * 60.0;
            [v, v, v + rng.f32() * 20.0]
        }
        4 => {
            let v = rng.f32() * 60.0 + 170.0;
            [v, v, v]
        }
        _ => random_colour(rng, 0, 255),
    };
    let other = mix(base, random_colour(rng, 0, 255), rng.f32() * 0.6);
    let angle = rng.f32() * std::f32::consts::TAU;
    let (ca, sa) = (angle.cos(), angle.sin());
    let waves: Vec<(f32, f32, f32, f32)> = (0..rng.usize(0..4))
        .map(|_| {
            (
                rng.f32() * 0.3 + 0.02,
                rng.f32() * std::f32::consts::TAU,
                rng.f32() * 30.0,
                rng.f32() * std::f32::consts::PI,
            )
        })
        .collect();
    let speckle = rng.f32() * 18.0;
    let scale = (w.max(h)) as f32;
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let t = (((fx * ca + fy * sa) / scale) * 0.5 + 0.5).clamp(0.0, 1.0);
            let mut c = mix(base, other, t);
            let mut wave = 0.0;
            for &(freq, phase, amp, dir) in &waves {
                wave += amp * ((fx * dir.cos() + fy * dir.sin()) * freq + phase).sin();
            }
            let n = (rng.f32() - 0.5) * speckle;
            for v in c.iter_mut() {
                *v += wave + n;
            }
            out.push(c);
        }
    }
    out
}

/// The fonts printed-style digits use.
pub struct CardFonts {
    fonts: Vec<FontVec>,
}

/// Fonts tried for printed digits (Debian's DejaVu and WenQuanYi packages); missing ones are
/// skipped and the stroke typeface is always available.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

impl CardFonts {
    /// The given font files, or the installed [`FONT_CANDIDATES`] when none are given.
    pub fn load(paths: &[std::path::PathBuf]) -> anyhow::Result<Self> {
        let mut fonts = Vec::new();
        if paths.is_empty() {
            for p in FONT_CANDIDATES {
                if let Ok(bytes) = std::fs::read(p)
                    && let Ok(f) = FontVec::try_from_vec(bytes)
                {
                    fonts.push(f);
                }
            }
        } else {
            for p in paths {
                let bytes = std::fs::read(p)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
                fonts.push(
                    FontVec::try_from_vec(bytes)
                        .map_err(|_| anyhow::anyhow!("{} is not a font", p.display()))?,
                );
            }
        }
        Ok(CardFonts { fonts })
    }

    /// How many font files are loaded (besides the built-in stroke typeface).
    pub fn len(&self) -> usize {
        self.fonts.len()
    }

    /// Whether only the stroke typeface is available.
    pub fn is_empty(&self) -> bool {
        self.fonts.is_empty()
    }
}

/// How the digits of one number are drawn.
struct DigitLayout<'a> {
    /// Glyph height in pixels.
    gh: f32,
    /// Our stroke typeface (else `font`).
    stroke_font: bool,
    font: Option<&'a FontVec>,
    /// Pitch of one digit.
    advance: f32,
    /// Extra space between groups.
    gap: f32,
    /// Italic shear (x shift per pixel of height).
    shear: f32,
    /// Stroke half-width.
    r: f32,
}

impl DigitLayout<'_> {
    fn width(&self, text: &str) -> f32 {
        text.chars().count() as f32 * self.advance + self.gap * text.matches(' ').count() as f32
    }

    /// Draws `text` into the relief with its glyph tops at `top`, starting at `x`.
    fn draw(&self, relief: &mut Relief, text: &str, x: f32, top: f32, rng: &mut fastrand::Rng) {
        let (gh, r, advance, shear) = (self.gh, self.r, self.advance, self.shear);
        let mut x = x;
        for c in text.chars() {
            if c == ' ' {
                x += advance + self.gap;
                continue;
            }
            let d = c.to_digit(10).unwrap_or(0) as usize;
            match (self.stroke_font, self.font) {
                (false, Some(font)) => {
                    let scale = PxScale::from(gh * 1.35);
                    let sf = font.as_scaled(scale);
                    let gw = sf.h_advance(font.glyph_id(c));
                    relief.glyph(font, c, scale, x + (advance - gw) / 2.0, top + gh);
                }
                _ => {
                    // Grid units to pixels, with a little jitter so no two glyphs are identical.
                    let (sx, sy) = ((advance - 2.0 * r - gh * 0.12) / 6.0, (gh - 2.0 * r) / 10.0);
                    let jitter = gh * 0.015;
                    let segs: Vec<_> = STROKES[d]
                        .iter()
                        .flat_map(|line| line.windows(2))
                        .map(|p| {
                            let map = |(gx, gy): (f32, f32)| {
                                let py = top + r + gy * sy;
                                (x + r + gh * 0.06 + gx * sx + shear * (top + gh - py), py)
                            };
                            let (a, b) = (map(p[0]), map(p[1]));
                            let j = |rng: &mut fastrand::Rng| (rng.f32() - 0.5) * jitter;
                            ((a.0 + j(rng), a.1 + j(rng)), (b.0 + j(rng), b.1 + j(rng)))
                        })
                        .collect();
                    relief.strokes(&segs, r);
                }
            }
            x += advance;
        }
    }
}

/// Renders `text` (digits and spaces) as a card-number crop in `style`.
pub fn render(
    text: &str,
    style: CardStyle,
    fonts: &CardFonts,
    rng: &mut fastrand::Rng,
) -> RgbImage {
    let gh = rng.f32() * 24.0 + 36.0; // glyph height on the canvas
    let stroke_font = fonts.is_empty()
        || matches!(style, CardStyle::Embossed | CardStyle::Foil) && rng.u8(0..5) > 0
        || rng.u8(0..4) == 0;
    let advance = gh * (0.62 + rng.f32() * 0.2);
    let gap = gh * (0.3 + rng.f32() * 0.6);
    let margin = gh * 1.2;
    let mut layout = DigitLayout {
        gh,
        stroke_font,
        font: None,
        advance,
        gap,
        shear: 0.0,
        r: 0.0,
    };
    let text_w = layout.width(text);
    let (w, h) = (
        (text_w + 2.0 * margin).ceil() as usize,
        (gh + 2.0 * margin).ceil() as usize,
    );
    let mut relief = Relief::new(w, h);
    layout.shear = (rng.f32() - 0.5) * 0.2;
    layout.r = gh * (0.045 + rng.f32() * 0.04);
    layout.font = (!fonts.is_empty()).then(|| &fonts.fonts[rng.usize(..fonts.fonts.len())]);
    layout.draw(&mut relief, text, margin, margin, rng);
    let raised = matches!(style, CardStyle::Embossed | CardStyle::Foil);
    if raised && !stroke_font {
        relief.soften();
    }
    let img = shade(&relief, style, rng);
    let img = warp_and_crop(img, (margin, margin, margin + text_w, margin + gh), rng);
    finish(img, rng)
}

/// A whole flat card (`size`) with the number across its middle in `style`, and a colour
/// for the card's other print that reads on its background.
pub fn render_card(
    text: &str,
    style: CardStyle,
    fonts: &CardFonts,
    size: (u32, u32),
    rng: &mut fastrand::Rng,
) -> (RgbImage, Rgb<u8>) {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let raised = matches!(style, CardStyle::Embossed | CardStyle::Foil);
    let mut layout = DigitLayout {
        gh: h as f32 * (0.085 + rng.f32() * 0.03),
        stroke_font: fonts.is_empty() || raised && rng.u8(0..5) > 0,
        font: (!fonts.is_empty()).then(|| &fonts.fonts[rng.usize(..fonts.fonts.len())]),
        advance: 0.0,
        gap: 0.0,
        shear: 0.0,
        r: 0.0,
    };
    layout.advance = layout.gh * (0.62 + rng.f32() * 0.15);
    layout.gap = layout.gh * (0.4 + rng.f32() * 0.4);
    layout.r = layout.gh * (0.05 + rng.f32() * 0.03);
    // Long numbers must fit the card.
    let room = w as f32 * 0.88;
    let text_w = layout.width(text);
    if text_w > room {
        let k = room / text_w;
        layout.gh *= k;
        layout.advance *= k;
        layout.gap *= k;
        layout.r *= k;
    }
    let text_w = layout.width(text);
    let mut relief = Relief::new(w, h);
    let x = (w as f32 - text_w) / 2.0;
    layout.draw(&mut relief, text, x, h as f32 * 0.53, rng);
    if raised && !layout.stroke_font {
        relief.soften();
    }
    let img = shade(&relief, style, rng);
    let mean: f32 = img
        .pixels()
        .step_by(97)
        .map(|p| p.0.iter().map(|&c| c as f32).sum::<f32>() / 3.0)
        .sum::<f32>()
        / (img.pixels().len() / 97).max(1) as f32;
    let ink = if mean > 140.0 {
        Rgb([20, 20, 30])
    } else {
        Rgb([240, 240, 235])
    };
    (img, ink)
}

/// Colours the relief over a card background.
fn shade(relief: &Relief, style: CardStyle, rng: &mut fastrand::Rng) -> RgbImage {
    let (w, h) = (relief.w, relief.h);
    let bg = background(w, h, rng);
    let ink = match rng.u8(0..5) {
        0 | 1 => random_colour(rng, 0, 60),
        2 => random_colour(rng, 200, 255),
        _ => random_colour(rng, 0, 255),
    };
    let metal = match rng.u8(0..4) {
        0 => [230.0, 195.0, 110.0], // gold
        1 => [210.0, 210.0, 215.0], // silver
        2 => [245.0, 245.0, 240.0], // white topping
        _ => random_colour(rng, 120, 255),
    };
    let light = rng.f32() * std::f32::consts::TAU;
    let (lx, ly) = (light.cos(), light.sin());
    let relief_gain = 1.5 + rng.f32() * 3.0;
    let shadow = (lx * -2.0, ly * -2.0);
    let band_freq = 0.05 + rng.f32() * 0.2;
    let band_phase = rng.f32() * 6.0;
    let unfoiled = style == CardStyle::Embossed && rng.u8(0..3) == 0;
    let mut img = RgbImage::new(w as u32, h as u32);
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (x as isize, y as isize);
            let hv = relief.at(xi, yi);
            let back = bg[y * w + x];
            let c = match style {
                CardStyle::Printed => mix(back, ink, hv),
                CardStyle::FlatMetal => {
                    let t = 0.75 + 0.35 * ((x as f32) * band_freq * 0.3 + band_phase).sin();
                    mix(back, metal.map(|v| v * t), hv)
                }
                CardStyle::Embossed | CardStyle::Foil => {
                    let gx = relief.at(xi + 1, yi) - relief.at(xi - 1, yi);
                    let gy = relief.at(xi, yi + 1) - relief.at(xi, yi - 1);
                    let lit = 1.0 + relief_gain * 0.5 * -(gx * lx + gy * ly);
                    let cast = relief.at(
                        xi + shadow.0.round() as isize,
                        yi + shadow.1.round() as isize,
                    );
                    let back = back.map(|v| v * (1.0 - 0.45 * cast * (1.0 - hv)));
                    let top = if style == CardStyle::Foil {
                        let band = 0.7 + 0.45 * ((x as f32) * band_freq + band_phase).sin();
                        metal.map(|v| v * band)
                    } else if unfoiled {
                        // Bare plastic: its own colour, plus the white gloss that the
                        // edges facing the light reflect whatever the colour (a dark card's
                        // raised digits still catch the light; without it they would vanish).
                        // Divided by `lit`, which multiplies the top below.
                        let gloss = 90.0 * (lit - 1.0).max(0.0);
                        back.map(|v| v + gloss / lit.max(0.05))
                    } else {
                        metal
                    };
                    mix(back, top.map(|v| v * lit), hv.min(1.0).sqrt())
                }
            };
            img.put_pixel(
                x as u32,
                y as u32,
                Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8)),
            );
        }
    }
    img
}

/// A slight rotation, shear and perspective, then a crop around the text box with margins that
/// sometimes cut into the outer digits, scaled to a crop's resolution.
fn warp_and_crop(img: RgbImage, text: (f32, f32, f32, f32), rng: &mut fastrand::Rng) -> RgbImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (x0, y0, x1, y1) = text;
    let gh = y1 - y0;
    let jitter = |rng: &mut fastrand::Rng, s: f32| (rng.f32() - 0.5) * s;
    let angle = jitter(rng, 0.08);
    let (ca, sa) = (angle.cos(), angle.sin());
    let (cx, cy) = (w / 2.0, h / 2.0);
    let rot = |p: (f32, f32)| {
        let (dx, dy) = (p.0 - cx, p.1 - cy);
        (cx + dx * ca - dy * sa, cy + dx * sa + dy * ca)
    };
    let corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let persp = gh * 0.08;
    let to: Vec<(f32, f32)> = corners
        .iter()
        .map(|&p| {
            let q = rot(p);
            (q.0 + jitter(rng, persp), q.1 + jitter(rng, persp))
        })
        .collect();
    let warped =
        Projection::from_control_points(corners, [to[0], to[1], to[2], to[3]]).map(|proj| {
            let out = warp(&img, proj, Interpolation::Bilinear, Border::Replicate);
            (out, proj)
        });
    let (img, (tx0, ty0, tx1, ty1)) = match warped {
        Some((out, proj)) => {
            let pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)].map(|p| proj * p);
            let bx0 = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min);
            let by0 = pts.iter().map(|p| p.1).fold(f32::MAX, f32::min);
            let bx1 = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max);
            let by1 = pts.iter().map(|p| p.1).fold(f32::MIN, f32::max);
            (out, (bx0, by0, bx1, by1))
        }
        None => (img, (x0, y0, x1, y1)),
    };
    // Margins in glyph heights; negative ones cut into the outer digits a little.
    let cut = |rng: &mut fastrand::Rng| {
        if rng.u8(0..5) == 0 {
            -rng.f32() * 0.12
        } else {
            rng.f32() * 0.5
        }
    };
    let left = (tx0 - cut(rng) * gh).max(0.0);
    let right = (tx1 + cut(rng) * gh).min(w);
    let top = (ty0 - (rng.f32() * 0.35 - 0.03) * gh).max(0.0);
    let bottom = (ty1 + (rng.f32() * 0.35 - 0.03) * gh).min(h);
    let (cw, ch) = (
        ((right - left) as u32).max(8),
        ((bottom - top) as u32).max(8),
    );
    let crop = image::imageops::crop_imm(&img, left as u32, top as u32, cw, ch).to_image();
    // Real crops are about 46 pixels high: render big, then scale down to 24..56.
    let target_h = rng.u32(24..57);
    let target_w = ((cw as f32 * target_h as f32 / ch as f32).round() as u32).max(8);
    image::imageops::resize(
        &crop,
        target_w,
        target_h,
        image::imageops::FilterType::Triangle,
    )
}

/// Uneven lighting and glare, then blur, noise and JPEG.
fn finish(mut img: RgbImage, rng: &mut fastrand::Rng) -> RgbImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let gain0 = 0.7 + rng.f32() * 0.5;
    let gain1 = 0.7 + rng.f32() * 0.5;
    let glare = (rng.u8(0..4) == 0).then(|| {
        (
            rng.f32() * w,
            rng.f32() * h,
            (rng.f32() * 0.5 + 0.2) * h,
            rng.f32() * 160.0 + 40.0,
        )
    });
    for (x, y, p) in img.enumerate_pixels_mut() {
        let t = x as f32 / w;
        let g = gain0 + (gain1 - gain0) * t;
        let mut add = 0.0;
        if let Some((gx, gy, r, amp)) = glare {
            let d2 = ((x as f32 - gx).powi(2) + (y as f32 - gy).powi(2)) / (r * r);
            add = amp * (-d2).exp();
        }
        for c in p.0.iter_mut() {
            *c = (*c as f32 * g + add).clamp(0.0, 255.0) as u8;
        }
    }
    super::degrade(img, rng)
}

/// One random crop: its text and style, and the image.
pub fn random_crop(fonts: &CardFonts, rng: &mut fastrand::Rng) -> (String, CardStyle, RgbImage) {
    let text = random_number(rng);
    let style = match rng.u8(0..10) {
        0..=4 => CardStyle::Embossed,
        5..=6 => CardStyle::Printed,
        7 => CardStyle::FlatMetal,
        _ => CardStyle::Foil,
    };
    let img = render(&text, style, fonts, rng);
    (text, style, img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_pass_luhn_and_groups_are_digits() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let t = random_number(&mut rng);
            assert!(t.chars().all(|c| c.is_ascii_digit() || c == ' '), "{t}");
            if t.len() > 4 {
                assert!(
                    crate::doc::check::bank_card_number(&t.replace(' ', "")),
                    "{t}"
                );
            } else {
                assert_eq!(t.len(), 4);
            }
        }
    }

    #[test]
    fn renders_are_deterministic_and_crop_sized() {
        let fonts = CardFonts::load(&[]).unwrap();
        for style in [
            CardStyle::Embossed,
            CardStyle::Printed,
            CardStyle::FlatMetal,
            CardStyle::Foil,
        ] {
            let a = render("0123 4567", style, &fonts, &mut fastrand::Rng::with_seed(3));
            let b = render("0123 4567", style, &fonts, &mut fastrand::Rng::with_seed(3));
            assert_eq!(a, b, "{}", style.name());
            assert!((24..=56).contains(&a.height()), "{}", a.height());
            assert!(a.width() > a.height() * 2, "{}x{}", a.width(), a.height());
        }
    }
}
