//! Direct int8 depthwise convolution: u8 activations, i8 weights, i32 sums, fp32 out.
//!
//! ## Layout: tap quads
//!
//! Each input plane is quantised once (by [`quantize_one`]), one zero-point padded row at a
//! time (padding quantises to the zero point exactly, so padded taps cost nothing extra), and
//! each row is expanded into *tap quads*: for padded row `r`, quad `q` and output column `i`,
//! the four bytes that kernel taps `kx = 4q..4q + 4` of that row read for column `i`, padded
//! columns `i * sw + kx * dw` (taps past `kw` read what lies there: their weights are zero).
//! The plane is stored `[row][quad][column][4]`, [`DwGeom::tile_cols`] columns. Weights are
//! packed the same way, by kernel row in quads, so an output's sum is one 4-byte dot product
//! per kernel row and quad: one 32-bit lane of `vpdpbusd`, with plain 64-byte loads. A 5x5
//! convolution takes 10 `vpdpbusd` per 16 outputs where the fp32 kernel takes 25 fused
//! multiply-adds. Each input row is expanded once, not once per output row that reads it;
//! the VNNI set expands with one dword permute and one in-lane byte shuffle per 16 columns
//! and quad (stride 1 or 2 along W without dilation: every depthwise layer of the PP-OCR
//! models; other geometries gather byte by byte).
//!
//! ## Exactness
//!
//! Products are at most `255 * 127` and an output sums `4 * kh * ceil(kw / 4)` of them: exact
//! in i32 up to [`super::qgemm::MAX_PRODUCTS`], which loading checks. The fp32 output is
//! `(acc - zp * sum(w)) as f32 * (x_scale * w_scale) + bias`: one integer subtraction, one
//! conversion, one multiply and one add, in that order in every kernel set, so every set gives
//! the scalar reference's bits.

use super::depthwise::{DwGeom, over_planes};
use super::qgemm::quantize_one;
use crate::runtime::op::{ActQuant, Epilogue};
use crate::runtime::parallel::Threads;
use alloc::vec;
use alloc::vec::Vec;

/// Output columns one vector tile computes (16 lanes of i32 in a 512-bit register).
pub const QDW_TILE: usize = 16;

/// Bytes one vector load of the VNNI expansion reads from a quantised row.
const LOAD_BYTES: usize = 64;

/// The per-channel constants that turn a channel's i32 sums into fp32 outputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct DwRequant {
    /// `zero_point * sum(weights)`, subtracted from every sum.
    pub zp_corr: i32,
    /// `x_scale * w_scale`.
    pub scale: f32,
    /// The channel's bias.
    pub bias: f32,
}

impl DwGeom {
    /// Weight quads per kernel row.
    pub fn tap_quads(&self) -> usize {
        self.kw.div_ceil(4)
    }

    /// Output columns stored per row and quad: `ow` rounded up to whole tiles (the columns
    /// past `ow` are computed and not stored).
    pub fn tile_cols(&self) -> usize {
        self.ow.div_ceil(QDW_TILE) * QDW_TILE
    }

    /// Bytes of one quantised padded input row: every byte a tap quad of a stored column
    /// reads, and every byte the VNNI expansion's 64-byte loads reach.
    pub fn qrow_len(&self) -> usize {
        let (cols, quads) = (self.tile_cols(), self.tap_quads());
        let taps = (cols - 1) * self.sw + (4 * quads - 1) * self.dw + 1;
        let loads = (cols - QDW_TILE) * self.sw + 4 * (quads - 1) * self.dw + LOAD_BYTES;
        taps.max(loads)
    }

    /// Bytes of one expanded row (all its quads).
    pub fn quad_row_len(&self) -> usize {
        self.tap_quads() * self.tile_cols() * 4
    }

    /// Bytes of one expanded plane.
    pub fn quad_plane_len(&self) -> usize {
        self.padded_rows() * self.quad_row_len()
    }
}

/// Quantises plane `x` (`h * w` fp32) and expands it into tap quads: `dst` takes
/// [`DwGeom::quad_plane_len`] bytes, every one written; `row` is scratch of
/// [`DwGeom::qrow_len`] bytes.
pub type QDwQuantizeKernel =
    fn(g: &DwGeom, q: &ActQuant, x: &[f32], row: &mut [u8], dst: &mut [u8]);

/// Computes one output plane (`oh * ow`, no activation) from an expanded plane and the
/// channel's weights (`kh * tap_quads * 4`, zero past `kw` in each kernel row).
pub type QDwPlaneKernel = fn(g: &DwGeom, x: &[u8], weights: &[i8], rq: &DwRequant, out: &mut [f32]);

/// The row loop of a [`QDwQuantizeKernel`]. For each padded row, `quantize_row(values,
/// 1 / scale, zero_point, bytes)` quantises its values as [`quantize_one`] does into the
/// zero-point padded row, and `expand_row(g, row, quads)` writes its tap quads (as
/// [`expand_row`] does); padding rows are the zero point throughout.
#[inline(always)]
pub fn quantize_plane_with(
    g: &DwGeom,
    q: &ActQuant,
    x: &[f32],
    row: &mut [u8],
    dst: &mut [u8],
    quantize_row: impl Fn(&[f32], f32, f32, &mut [u8]),
    expand: impl Fn(&DwGeom, &[u8], &mut [u8]),
) {
    let zp = q.zero_point as u8;
    let (inv, zpf) = (1.0 / q.scale, q.zero_point as f32);
    let row = &mut row[..g.qrow_len()];
    for (r, quads) in dst[..g.quad_plane_len()]
        .chunks_exact_mut(g.quad_row_len())
        .enumerate()
    {
        let Some(iy) = r.checked_sub(g.ph).filter(|&y| y < g.h) else {
            quads.fill(zp);
            continue;
        };
        // Columns beyond the row's end are not needed.
        let left = g.pw.min(row.len());
        let n = g.w.min(row.len() - left);
        row[..left].fill(zp);
        quantize_row(&x[iy * g.w..][..n], inv, zpf, &mut row[left..left + n]);
        row[left + n..].fill(zp);
        expand(g, row, quads);
    }
}

/// The reference expansion of one quantised padded row into its tap quads (see the module
/// notes).
#[inline(always)]
pub fn expand_row(g: &DwGeom, row: &[u8], quads: &mut [u8]) {
    let cols = g.tile_cols();
    for (qi, quad) in quads.chunks_exact_mut(cols * 4).enumerate() {
        let first = 4 * qi * g.dw;
        for (i, o) in quad.chunks_exact_mut(4).enumerate() {
            for (j, b) in o.iter_mut().enumerate() {
                *b = row[first + i * g.sw + j * g.dw];
            }
        }
    }
}

/// The reference [`QDwQuantizeKernel`].
#[inline(always)]
pub fn quantize_plane(g: &DwGeom, q: &ActQuant, x: &[f32], row: &mut [u8], dst: &mut [u8]) {
    let quantize_row = |src: &[f32], inv, zp, out: &mut [u8]| {
        for (o, &v) in out.iter_mut().zip(src) {
            *o = quantize_one(v, inv, zp);
        }
    };
    quantize_plane_with(g, q, x, row, dst, quantize_row, expand_row);
}

/// Scalar reference [`QDwPlaneKernel`].
#[inline(always)]
pub fn qdw_plane_scalar(g: &DwGeom, x: &[u8], weights: &[i8], rq: &DwRequant, out: &mut [f32]) {
    let (quads, cols, row_len) = (g.tap_quads(), g.tile_cols(), g.quad_row_len());
    for oy in 0..g.oh {
        for ox0 in (0..g.ow).step_by(QDW_TILE) {
            let mut acc = [0i32; QDW_TILE];
            for ky in 0..g.kh {
                let r = oy * g.sh + ky * g.dh;
                for qi in 0..quads {
                    let w = &weights[(ky * quads + qi) * 4..][..4];
                    let xs = &x[r * row_len + (qi * cols + ox0) * 4..][..QDW_TILE * 4];
                    for (a, px) in acc.iter_mut().zip(xs.chunks_exact(4)) {
                        *a += (0..4).map(|j| px[j] as i32 * w[j] as i32).sum::<i32>();
                    }
                }
            }
            let n = QDW_TILE.min(g.ow - ox0);
            for (o, &a) in out[oy * g.ow + ox0..][..n].iter_mut().zip(&acc) {
                *o = (a - rq.zp_corr) as f32 * rq.scale + rq.bias;
            }
        }
    }
}

/// Reorders one depthwise convolution's int8 weights (`[c][kh][kw]`) into kernel-row quads
/// (`[c][kh][tap_quads][4]`, zero past `kw`).
pub fn pack_weights(w: &[i8], c: usize, kh: usize, kw: usize) -> Vec<i8> {
    let quads = kw.div_ceil(4);
    let mut out = vec![0i8; c * kh * quads * 4];
    for ch in 0..c {
        for ky in 0..kh {
            for kx in 0..kw {
                out[(ch * kh + ky) * quads * 4 + kx] = w[(ch * kh + ky) * kw + kx];
            }
        }
    }
    out
}

/// Runs an int8 depthwise convolution over a batch: `input` is `[n, c, h, w]` fp32 quantised
/// by `q`, or by `per_channel[ch]` where given, `weights` packed by [`pack_weights`], `w_sums`
/// and `w_scales` per channel, `out` `[n, c, oh, ow]`. Planes run in parallel.
#[allow(clippy::too_many_arguments)]
pub fn qdepthwise(
    ks: &super::KernelSet,
    threads: &Threads,
    g: &DwGeom,
    q: &ActQuant,
    per_channel: &[ActQuant],
    input: &[f32],
    weights: &[i8],
    w_sums: &[i32],
    w_scales: &[f32],
    bias: Option<&[f32]>,
    epi: &Epilogue,
    out: &mut [f32],
) {
    let w_len = g.kh * g.tap_quads() * 4;
    let make_scratch = || (vec![0u8; g.qrow_len()], vec![0u8; g.quad_plane_len()]);
    over_planes(
        threads,
        g,
        input,
        out,
        make_scratch,
        |(row, plane), ch, x, op| {
            let q = per_channel.get(ch).unwrap_or(q);
            (ks.qdw_quantize)(g, q, x, row, plane);
            let rq = DwRequant {
                zp_corr: q.zero_point * w_sums[ch],
                scale: q.scale * w_scales[ch],
                bias: bias.map_or(0.0, |b| b[ch]),
            };
            let wk = &weights[ch * w_len..(ch + 1) * w_len];
            (ks.qdw_plane)(g, plane, wk, &rq, op);
            (ks.epilogue)(epi, op);
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernels::KernelSet;
    use crate::runtime::kernels::test_uniform;

    /// (c, h, w, (kh, kw), (sh, sw), (top, left, bottom, right) pads, (dh, dw)).
    type Case = (
        usize,
        usize,
        usize,
        (usize, usize),
        (usize, usize),
        [usize; 4],
        (usize, usize),
    );

    /// Strides, pads, dilations, kernel sizes (up to 2 quads a row), widths that are not
    /// multiples of the tile (width 1 and a 1x1 plane included), asymmetric pads.
    const CASES: [Case; 11] = [
        (3, 12, 80, (3, 3), (1, 1), [1; 4], (1, 1)),
        (2, 12, 37, (5, 5), (1, 1), [2; 4], (1, 1)),
        (2, 12, 40, (3, 3), (2, 1), [1; 4], (1, 1)),
        (2, 12, 41, (3, 3), (1, 2), [1; 4], (1, 1)),
        (2, 9, 17, (3, 3), (2, 2), [1; 4], (1, 1)),
        (2, 9, 19, (3, 3), (1, 1), [2; 4], (2, 2)),
        (1, 5, 1, (3, 3), (1, 1), [1; 4], (1, 1)),
        (1, 1, 1, (1, 1), (1, 1), [0; 4], (1, 1)),
        (2, 6, 33, (5, 5), (2, 2), [0; 4], (1, 1)),
        (2, 7, 50, (1, 7), (1, 1), [0, 3, 0, 3], (1, 1)),
        (2, 8, 21, (3, 9), (1, 3), [1, 0, 2, 5], (1, 1)),
    ];

    fn geom(&(c, h, w, (kh, kw), (sh, sw), pads, (dh, dw)): &Case) -> DwGeom {
        DwGeom {
            c,
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            ph: pads[0],
            pw: pads[1],
            dh,
            dw,
            oh: (h + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh + 1,
            ow: (w + pads[1] + pads[3] - dw * (kw - 1) - 1) / sw + 1,
        }
    }

    /// Every kernel set gives the same bits as the integer reference computed here directly
    /// from the definition (quantised input, zero point where the window leaves the plane), on
    /// one thread and two, with one quantisation per channel and with one for all, including
    /// the worst-case operands (inputs that quantise to 0 and 255 with weights of -127 and
    /// 127).
    #[test]
    fn every_kernel_set_matches_the_integer_definition() {
        let mut seed = 11u64;
        for (ci, case) in CASES.iter().enumerate() {
            let g = geom(case);
            let (c, kh, kw) = (g.c, g.kh, g.kw);
            let n = 2;
            for extreme in [false, true] {
                let mut rnd = || test_uniform(&mut seed);
                let q = ActQuant {
                    scale: 0.01,
                    zero_point: if extreme { 0 } else { 77 },
                };
                let per_channel: Vec<ActQuant> = match extreme {
                    true => Vec::new(),
                    false => (0..c)
                        .map(|i| ActQuant {
                            scale: 0.01 + 0.007 * i as f32,
                            zero_point: 40 + 50 * i as i32,
                        })
                        .collect(),
                };
                let x: Vec<f32> = (0..n * c * g.h * g.w)
                    .map(|i| match extreme {
                        true if i % 3 == 0 => -5.0,
                        true => 5.0,
                        false => rnd() * 4.0,
                    })
                    .collect();
                let w: Vec<i8> = (0..c * kh * kw)
                    .map(|i| match extreme {
                        true if i % 2 == 0 => 127,
                        true => -127,
                        false => (rnd() * 254.0) as i8,
                    })
                    .collect();
                let w_scales: Vec<f32> = (0..c).map(|_| 0.001 + rnd().abs() * 0.01).collect();
                let bias: Vec<f32> = (0..c).map(|_| rnd()).collect();
                let w_sums: Vec<i32> = w
                    .chunks_exact(kh * kw)
                    .map(|r| r.iter().map(|&v| v as i32).sum())
                    .collect();
                let mut want = vec![0f32; n * c * g.oh * g.ow];
                for p in 0..n * c {
                    let ch = p % c;
                    let q = per_channel.get(ch).unwrap_or(&q);
                    let (inv, zpf) = (1.0 / q.scale, q.zero_point as f32);
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let mut acc = 0i32;
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
                                    let ix = (ox * g.sw + kx * g.dw) as isize - g.pw as isize;
                                    let inside = (0..g.h as isize).contains(&iy)
                                        && (0..g.w as isize).contains(&ix);
                                    let xq = if inside {
                                        let v = x[p * g.h * g.w + iy as usize * g.w + ix as usize];
                                        quantize_one(v, inv, zpf) as i32
                                    } else {
                                        q.zero_point
                                    };
                                    acc += xq * w[(ch * kh + ky) * kw + kx] as i32;
                                }
                            }
                            want[(p * g.oh + oy) * g.ow + ox] =
                                (acc - q.zero_point * w_sums[ch]) as f32 * (q.scale * w_scales[ch])
                                    + bias[ch];
                        }
                    }
                }
                let packed = pack_weights(&w, c, kh, kw);
                for ks in KernelSet::available() {
                    for th in [Threads::single(), Threads::new(2).unwrap()] {
                        let mut out = vec![f32::NAN; want.len()];
                        qdepthwise(
                            &ks,
                            &th,
                            &g,
                            &q,
                            &per_channel,
                            &x,
                            &packed,
                            &w_sums,
                            &w_scales,
                            Some(&bias),
                            &Epilogue::identity(),
                            &mut out,
                        );
                        for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                            assert_eq!(
                                a.to_bits(),
                                b.to_bits(),
                                "{}: case {ci} extreme {extreme} output {i}: {a} vs {b}",
                                ks.name
                            );
                        }
                    }
                }
            }
        }
    }

    /// On every kernel set, the expanded plane holds at each tap quad byte the zero point
    /// where the tap lies in the padding and the quantised input otherwise, in every byte (the
    /// buffer is reused from plane to plane, so a byte left unwritten would leak the previous
    /// plane), with NaN (code 0) and both clamps among the values.
    #[test]
    fn expansion_writes_every_byte() {
        for case in &CASES {
            let g = geom(case);
            let q = ActQuant {
                scale: 0.5,
                zero_point: 3,
            };
            let x: Vec<f32> = (0..g.h * g.w)
                .map(|i| match i % 7 {
                    5 => f32::NAN,
                    6 => -1e9,
                    _ => (i % 300) as f32 * 0.5 - 2.0,
                })
                .collect();
            let (cols, quads) = (g.tile_cols(), g.tap_quads());
            for ks in KernelSet::available() {
                for fill in [0u8, 0xaa] {
                    let mut row = vec![fill; g.qrow_len()];
                    let mut plane = vec![fill; g.quad_plane_len()];
                    (ks.qdw_quantize)(&g, &q, &x, &mut row, &mut plane);
                    for (k, &b) in plane.iter().enumerate() {
                        let (r, qi, i, j) = (
                            k / g.quad_row_len(),
                            k / (cols * 4) % quads,
                            k / 4 % cols,
                            k % 4,
                        );
                        let iy = r as isize - g.ph as isize;
                        let ix = (i * g.sw + (4 * qi + j) * g.dw) as isize - g.pw as isize;
                        let inside =
                            (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix);
                        let want = if inside {
                            quantize_one(x[iy as usize * g.w + ix as usize], 2.0, 3.0)
                        } else {
                            3
                        };
                        assert_eq!(
                            b, want,
                            "{}: row {r} quad {qi} column {i} byte {j}",
                            ks.name
                        );
                    }
                }
            }
        }
    }
}
