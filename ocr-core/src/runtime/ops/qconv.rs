//! int8 convolution: fp32 or u8 codes in, fp32 or u8 codes out, int8 inside.
//!
//! ## Data flow
//!
//! 1. Each image's fp32 input is quantised once, in one vectorised pass, into *channel quads*:
//!    per group, `[ceil(cg / 4)][hp][wp][4]` bytes, the four channels of a quad side by side
//!    for each pixel of a zero-point padded plane (`hp x wp`, the convolution's padding
//!    included). Channels past the group's last fill the quad with any bytes: their weights are
//!    zero.
//! 2. The im2col matrix is never built. Its rows are ordered (quad, tap y, tap x, channel in
//!    quad), so the four bytes of one row block (`k4`) that meet one column are one pixel's
//!    quad: a B panel block of [`QNR`] columns is 64 contiguous bytes of the quantised input
//!    for unit stride, copied as is, or [`QNR`] strided 4-byte words otherwise. Weights are
//!    packed once at load in the same order ([`pack_weights`]).
//! 3. Panels are [`QNR`] output columns of one output row (so that a panel's taps are
//!    contiguous), or, for pointwise unpadded unit-stride convolutions, of the flattened
//!    output. The micro-kernel's i32 tile is turned into fp32 and through the activation in
//!    one kernel call while it is in L1:
//!    `y = act((acc - zp * row_sum) * x_scale * w_scale[m] + bias[m])`. Padding quantises to
//!    the zero point exactly, so padded taps cost nothing extra and stay exact.
//!
//! ## Chained int8 layers
//!
//! When every reader of a convolution's output is itself an int8 convolution with the same
//! activation quantisation (the planner decides, `plan::coded_values`), the output is stored
//! as u8 codes ([`QOutput::Codes`]): the epilogue quantises each tile row with the readers'
//! scale and zero point while the tile is in L1, and the readers ([`QInput::Codes`]) only
//! interleave those bytes into channel quads. No fp32 tensor is written or read between the
//! two layers (a quarter of the memory traffic), and the codes are the very bytes the reader
//! would have made from the fp32 output ([`quantize_one`], same operations in the same
//! order), so chaining changes no result.

use crate::runtime::kernels::KernelSet;
use crate::runtime::kernels::gemm::CPtr;
use crate::runtime::kernels::qgemm::{
    CacheAligned, QBLOCK as BLOCK, QMR, QNR, TileParams, interleave_quads, pack_a, quantize_one,
};
use crate::runtime::model::QWeights;
use crate::runtime::op::{ActQuant, ConvParams};
use crate::runtime::ops::conv::{image_groups, is_depthwise, over_image_groups};
use crate::runtime::parallel::Threads;
use alloc::vec::Vec;

/// Products below this many multiply-adds run on one thread.
const SMALL_MACS: usize = 1 << 21;

/// Packed B bytes a task holds at once: a run of B panels that stays in L2 while blocks of A
/// panels sweep it.
const B_RUN_BYTES: usize = 256 * 1024;

/// A panels (of [`QMR`] output channels) that sweep a run of B panels together. A tile row is
/// one 64-byte line of an output plane; sweeping every A panel per B panel would write to all
/// the output planes in turn (96 for det's neck), more streams than the hardware prefetchers
/// follow. 32 planes at a time, each written along a whole run, keep the writes prefetched.
const A_BLOCK: usize = 8;

/// B panels per run, for panels of `k4` row blocks and `per_task` panels per task.
fn run_panels(k4: usize, per_task: usize) -> usize {
    (B_RUN_BYTES / (k4 * BLOCK).max(1)).clamp(1, per_task.max(1))
}

/// The shapes of one int8 convolution and of its quantised input.
struct Geom {
    h: usize,
    w: usize,
    group: usize,
    /// Input channels per group, and channel quads per group.
    cg: usize,
    cg4: usize,
    /// Output channels per group.
    mg: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    strides: [usize; 2],
    dilations: [usize; 2],
    /// Top and left padding.
    pt: usize,
    pl: usize,
    /// Padded plane height and width.
    hp: usize,
    wp: usize,
    /// Pointwise, unit stride, unpadded: panels run over the flattened output.
    flat: bool,
}

impl Geom {
    fn new(p: &ConvParams, x_shape: &[usize], w_shape: &[usize], out_shape: &[usize]) -> Geom {
        let (h, w) = (x_shape[2], x_shape[3]);
        let (m, cg, kh, kw) = (w_shape[0], w_shape[1], w_shape[2], w_shape[3]);
        let flat = kh == 1 && kw == 1 && p.strides == [1, 1] && p.pads == [0; 4];
        Geom {
            h,
            w,
            group: p.group,
            cg,
            cg4: cg.div_ceil(4),
            mg: m / p.group,
            kh,
            kw,
            oh: out_shape[2],
            ow: out_shape[3],
            strides: p.strides,
            dilations: p.dilations,
            pt: p.pads[0],
            pl: p.pads[1],
            hp: h + p.pads[0] + p.pads[2],
            wp: w + p.pads[1] + p.pads[3],
            flat,
        }
    }

    /// Row blocks of four of the (padded) im2col matrix.
    fn k4(&self) -> usize {
        self.cg4 * self.kh * self.kw
    }

    /// Bytes of one quantised channel quad plane.
    fn plane(&self) -> usize {
        self.hp * self.wp * 4
    }

    /// Panels per output row (row panels only).
    fn row_panels(&self) -> usize {
        self.ow.div_ceil(QNR)
    }

    /// Panels per image and group.
    fn panels(&self) -> usize {
        if self.flat {
            (self.oh * self.ow).div_ceil(QNR)
        } else {
            self.oh * self.row_panels()
        }
    }

    /// A panel's first output column (offset in an output plane), its valid columns, and the
    /// byte offset of its first column's window origin in a quad plane.
    fn panel_at(&self, panel: usize) -> (usize, usize, usize) {
        if self.flat {
            let n0 = panel * QNR;
            (n0, QNR.min(self.oh * self.ow - n0), n0 * 4)
        } else {
            let (oy, ox0) = (panel / self.row_panels(), panel % self.row_panels() * QNR);
            let src = (oy * self.strides[0] * self.wp + ox0 * self.strides[1]) * 4;
            (oy * self.ow + ox0, QNR.min(self.ow - ox0), src)
        }
    }

    /// Byte offset of each row block's tap from a window origin, within a group's quads.
    fn taps(&self) -> Vec<usize> {
        let mut taps = Vec::with_capacity(self.k4());
        for c4 in 0..self.cg4 {
            for ky in 0..self.kh {
                for kx in 0..self.kw {
                    taps.push(self.tap(c4, ky, kx));
                }
            }
        }
        taps
    }

    /// Byte offset of tap `(ky, kx)` of channel quad `c4` from a window origin.
    fn tap(&self, c4: usize, ky: usize, kx: usize) -> usize {
        let (y, x) = (ky * self.dilations[0], kx * self.dilations[1]);
        ((c4 * self.hp + y) * self.wp + x) * 4
    }

    /// Bytes one quantised image takes, with the slack that the unused columns of a last,
    /// partial panel may read past the planes (their results are never stored), rounded up to
    /// whole 64-byte lines so that the B panels packed after it in the scratch start on one.
    fn image_len(&self) -> usize {
        let planes = self.group * self.cg4 * self.plane();
        if self.panels() == 0 {
            return planes.next_multiple_of(64);
        }
        let (_, _, last_src) = self.panel_at(self.panels() - 1);
        let last_tap = self.tap(
            self.cg4.saturating_sub(1),
            self.kh.saturating_sub(1),
            self.kw.saturating_sub(1),
        );
        let reach = (self.group - 1) * self.cg4 * self.plane()
            + last_src
            + last_tap
            + (QNR - 1) * self.strides[1] * 4
            + 4;
        planes.max(reach).next_multiple_of(64)
    }
}

/// Reorders one convolution's int8 weights (`[m][cg][kh][kw]`) into the row order of the
/// quantised input (channel quad, tap y, tap x, channel in quad; channels past `cg` zero) and
/// packs each group's block for the micro-kernel.
pub fn pack_weights(w: &[i8], w_shape: &[usize], group: usize) -> Vec<Vec<i8>> {
    let (m, cg, kh, kw) = (w_shape[0], w_shape[1], w_shape[2], w_shape[3]);
    let (mg, cg4, taps) = (m / group, cg.div_ceil(4), kh * kw);
    let k = cg4 * taps * 4;
    (0..group)
        .map(|g| {
            let mut rows = alloc::vec![0i8; mg * k];
            for r in 0..mg {
                let src = &w[(g * mg + r) * cg * taps..(g * mg + r + 1) * cg * taps];
                for ci in 0..cg {
                    for t in 0..taps {
                        rows[r * k + ((ci / 4) * taps + t) * 4 + ci % 4] = src[ci * taps + t];
                    }
                }
            }
            pack_a(&rows, mg, k)
        })
        .collect()
}

fn tasks(g: &Geom, threads: &Threads) -> usize {
    let t = threads.count();
    let macs = g.mg * g.oh * g.ow * g.cg * g.kh * g.kw;
    if t == 1 || macs < SMALL_MACS {
        1
    } else {
        g.panels().clamp(1, 4 * t)
    }
}

/// Bytes of u8 scratch [`qconv`] needs: one quantised image, then one B panel per task (per
/// image group when a batch runs whole images in parallel).
pub fn qconv_scratch_len(
    p: &ConvParams,
    x_shape: &[usize],
    w_shape: &[usize],
    out_shape: &[usize],
    threads: &Threads,
) -> usize {
    if is_depthwise(p, x_shape, w_shape) {
        return 0;
    }
    let g = Geom::new(p, x_shape, w_shape, out_shape);
    let run_bytes = |t: usize| run_panels(g.k4(), g.panels().div_ceil(t)) * g.k4() * BLOCK;
    match image_groups(x_shape[0], threads) {
        // Each image group runs on one thread: one image and one run of panels each.
        Some(groups) => groups * (g.image_len() + run_bytes(1)),
        None => {
            let t = tasks(&g, threads);
            g.image_len() + t * run_bytes(t)
        }
    }
}

/// The data input of an int8 convolution, NCHW.
#[derive(Debug, Clone, Copy)]
pub enum QInput<'a> {
    /// fp32 activations, quantised here with the convolution's own activation quantisation.
    F32(&'a [f32]),
    /// Codes already quantised with that same quantisation by a chained int8 producer.
    Codes(&'a [u8]),
}

impl<'a> QInput<'a> {
    /// Elements `range` (whole images of the batch).
    fn range(self, range: core::ops::Range<usize>) -> QInput<'a> {
        match self {
            QInput::F32(x) => QInput::F32(&x[range]),
            QInput::Codes(x) => QInput::Codes(&x[range]),
        }
    }
}

/// Where an int8 convolution writes its NCHW output.
#[derive(Debug)]
pub enum QOutput<'a> {
    /// fp32 values.
    F32(&'a mut [f32]),
    /// u8 codes with the given quantisation: that of every int8 convolution reading them.
    Codes(&'a mut [u8], ActQuant),
}

/// Quantises one image (`[c][h][w]`, fp32 or codes) into channel quads (`xq`,
/// [`Geom::image_len`] bytes), spreading the padded rows of all quad planes over `threads`.
fn quantize_image(
    ks: &KernelSet,
    threads: &Threads,
    g: &Geom,
    q: &ActQuant,
    x: QInput,
    xq: &mut [u8],
) {
    let (h, w, row_bytes) = (g.h, g.w, g.wp * 4);
    let zp = q.zero_point as u8;
    let (inv, zpf) = (1.0 / q.scale, q.zero_point as f32);
    let rows = g.group * g.cg4 * g.hp;
    // Rows per task: enough work to amortise a task, at least one row.
    let per_task = (1usize << 14).div_ceil(row_bytes).max(1);
    threads.for_each_chunk_mut(
        &mut xq[..rows * row_bytes],
        per_task * row_bytes,
        |ti, dst| {
            for (j, row) in dst.chunks_exact_mut(row_bytes).enumerate() {
                let r = ti * per_task + j;
                let (plane, y) = (r / g.hp, r % g.hp);
                let (gi, c4) = (plane / g.cg4, plane % g.cg4);
                // Padding rows and columns hold the zero point.
                let Some(y) = y.checked_sub(g.pt).filter(|&y| y < h) else {
                    row.fill(zp);
                    continue;
                };
                row[..g.pl * 4].fill(zp);
                row[(g.pl + w) * 4..].fill(zp);
                // Channels of this quad (past the group's last: the first again, weighted by zero).
                let row_at = |j: usize| {
                    let c = gi * g.cg
                        + if 4 * c4 + j < g.cg {
                            4 * c4 + j
                        } else {
                            4 * c4
                        };
                    (c * h + y) * w..(c * h + y + 1) * w
                };
                let dst = &mut row[g.pl * 4..(g.pl + w) * 4];
                match x {
                    QInput::F32(x) => {
                        let rows = [0, 1, 2, 3].map(|j| &x[row_at(j)]);
                        (ks.quantize_quads)(rows, inv, zpf, dst);
                    }
                    QInput::Codes(x) => interleave_quads([0, 1, 2, 3].map(|j| &x[row_at(j)]), dst),
                }
            }
        },
    );
}

/// Runs an int8 convolution: `x` NCHW, prepared weights `qw`, optional fp32 bias. Depthwise
/// convolutions take and give fp32 only (the planner chains no other kind).
#[allow(clippy::too_many_arguments)]
pub fn qconv(
    ks: &KernelSet,
    threads: &Threads,
    p: &ConvParams,
    qw: &QWeights,
    x: QInput,
    x_shape: &[usize],
    w_shape: &[usize],
    bias: Option<&[f32]>,
    out: QOutput,
    out_shape: &[usize],
    scratch: &mut [u8],
) {
    let q = p.act_quant.expect("qconv needs activation quantisation");
    if out_shape.contains(&0) {
        return;
    }
    // Loading refuses int8 depthwise weights in builds without the kernels.
    #[cfg(feature = "int8-depthwise")]
    if is_depthwise(p, x_shape, w_shape) {
        use crate::runtime::kernels::qdepthwise::qdepthwise;
        let (QInput::F32(x), QOutput::F32(out)) = (x, out) else {
            unreachable!("the planner chains no depthwise convolution");
        };
        let g = crate::runtime::ops::conv::dw_geom(p, x_shape, w_shape, out_shape);
        qdepthwise(
            ks,
            threads,
            &g,
            &q,
            &p.channel_quant,
            x,
            &qw.packed[0],
            &qw.row_sums,
            &qw.w_scales,
            bias,
            &p.epilogue,
            out,
        );
        return;
    }
    let g = Geom::new(p, x_shape, w_shape, out_shape);
    let (nb, img_in) = (x_shape[0], x_shape[1] * g.h * g.w);
    let (k4, panels, n) = (g.k4(), g.panels(), g.oh * g.ow);
    let img_out = w_shape[0] * n;
    let taps = g.taps();
    let (qgemm_single, qgemm_pair) = ks.qgemm_for(qw.narrow);
    let group_bytes = g.cg4 * g.plane();
    // Each group's weight panels' epilogue constants.
    let params: Vec<Vec<TileParams>> = (0..g.group)
        .map(|gi| {
            (0..g.mg.div_ceil(QMR))
                .map(|mp| {
                    let mut tp = TileParams::default();
                    for r in 0..QMR.min(g.mg - mp * QMR) {
                        let mc = gi * g.mg + mp * QMR + r;
                        tp.zp_corr[r] = q.zero_point * qw.row_sums[mc];
                        tp.scale[r] = q.scale * qw.w_scales[mc];
                        tp.bias[r] = bias.map_or(0.0, |b| b[mc]);
                    }
                    tp
                })
                .collect()
        })
        .collect();
    // The output rows of images `first..`: fp32, or codes with (1 / scale, zero point).
    enum Rows {
        F32(CPtr<f32>),
        Codes(CPtr<u8>, f32, f32),
    }
    // Runs `nb` images one after another, splitting each product over `threads`; `out` points
    // at their outputs.
    let run = |threads: &Threads, x: QInput, nb: usize, out: Rows, scratch: &mut [u8]| {
        let t = tasks(&g, threads);
        let per_task = panels.div_ceil(t);
        let (xq, scratch) = scratch.split_at_mut(g.image_len());
        for i in 0..nb {
            quantize_image(
                ks,
                threads,
                &g,
                &q,
                x.range(i * img_in..(i + 1) * img_in),
                xq,
            );
            for gi in 0..g.group {
                let xg = &xq[gi * group_bytes..];
                // This image's group's output planes start `base` elements into `out`.
                let base = i * img_out + gi * g.mg * n;
                let (a, params) = (&qw.packed[gi], &params[gi]);
                let run = run_panels(k4, per_task);
                let a_len = QMR * k4 * 4;
                let a_panels = a.len() / a_len;
                threads.for_each_chunk_mut(
                    &mut scratch[..t * run * k4 * BLOCK],
                    run * k4 * BLOCK,
                    |ti, bpanels| {
                        let mut accs = CacheAligned([[0i32; QMR * QNR]; 2]);
                        let mut tile = CacheAligned([0f32; QMR * QNR]);
                        let (accs, tile) = (&mut accs.0, &mut tile.0);
                        // Dequantises one tile of A panel `mp` x B panel `panel` and stores
                        // its rows into the output planes.
                        let mut store = |mp: usize, panel: usize, acc: &[i32; QMR * QNR]| {
                            let (o0, cols, _) = g.panel_at(panel);
                            (ks.qtile)(acc, &params[mp], &p.epilogue, tile);
                            for r in 0..QMR.min(g.mg - mp * QMR) {
                                let at = base + (mp * QMR + r) * n + o0;
                                let src = &tile[r * QNR..(r + 1) * QNR];
                                // SAFETY (both arms): `at + cols <= base + mg * n`, within the
                                // output of the images `run` was given, and a panel's columns
                                // belong to one task alone.
                                match &out {
                                    Rows::F32(cp) => {
                                        let dst = unsafe { cp.slice(at, cols) };
                                        // A fixed-size copy for whole panels compiles to a few
                                        // vector moves where a slice copy would call memmove.
                                        match <&mut [f32; QNR]>::try_from(&mut *dst) {
                                            Ok(d) => *d = src.try_into().expect("tile row"),
                                            Err(_) => dst.copy_from_slice(&src[..cols]),
                                        }
                                    }
                                    Rows::Codes(cp, inv, zpf) => {
                                        let dst = unsafe { cp.slice(at, cols) };
                                        let q = |v| quantize_one(v, *inv, *zpf);
                                        // Whole rows as fixed-size arrays: vectorised.
                                        match <&mut [u8; QNR]>::try_from(&mut *dst) {
                                            Ok(d) => *d = core::array::from_fn(|i| q(src[i])),
                                            Err(_) => dst
                                                .iter_mut()
                                                .zip(src)
                                                .for_each(|(d, &v)| *d = q(v)),
                                        }
                                    }
                                }
                            }
                        };
                        let task = ti * per_task..((ti + 1) * per_task).min(panels);
                        for first in task.clone().step_by(run) {
                            let run = first..(first + run).min(task.end);
                            for (panel, bpanel) in
                                run.clone().zip(bpanels.chunks_exact_mut(k4 * BLOCK))
                            {
                                (ks.pack_quads)(
                                    xg,
                                    &taps,
                                    g.panel_at(panel).2,
                                    g.strides[1],
                                    bpanel,
                                );
                            }
                            for a_block in (0..a_panels).step_by(A_BLOCK) {
                                let a_block = a_block..(a_block + A_BLOCK).min(a_panels);
                                // B panels two at a time (the pair kernel), the last one of an
                                // odd run alone.
                                for i in (0..run.len()).step_by(2) {
                                    let pair = i + 1 < run.len();
                                    let np = 1 + pair as usize;
                                    let b = &bpanels[i * k4 * BLOCK..(i + np) * k4 * BLOCK];
                                    for mp in a_block.clone() {
                                        let apanel = &a[mp * a_len..(mp + 1) * a_len];
                                        if pair {
                                            qgemm_pair(k4, apanel, b, accs);
                                        } else {
                                            qgemm_single(k4, apanel, b, &mut accs[0]);
                                        }
                                        for (j, acc) in accs[..np].iter().enumerate() {
                                            store(mp, run.start + i + j, acc);
                                        }
                                    }
                                }
                            }
                        }
                    },
                );
            }
        }
    };
    // Several images and threads: whole images in parallel, each on one thread.
    let images = |first: usize, count: usize| x.range(first * img_in..(first + count) * img_in);
    match out {
        QOutput::F32(out) => {
            over_image_groups(nb, img_out, threads, out, scratch, |th, i, o, s| {
                let count = o.len() / img_out;
                run(
                    th,
                    images(i, count),
                    count,
                    Rows::F32(CPtr(o.as_mut_ptr())),
                    s,
                );
            })
        }
        QOutput::Codes(out, oq) => {
            let (inv, zpf) = (1.0 / oq.scale, oq.zero_point as f32);
            over_image_groups(nb, img_out, threads, out, scratch, |th, i, o, s| {
                let count = o.len() / img_out;
                let rows = Rows::Codes(CPtr(o.as_mut_ptr()), inv, zpf);
                run(th, images(i, count), count, rows, s);
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernels::test_uniform as lcg;
    use crate::runtime::op::Epilogue;
    use alloc::vec;
    use alloc::vec::Vec;

    /// The int8 convolution equals the exact integer formula `sum (q_x - zp) * q_w * s_x *
    /// s_w + b` computed naively in f64, on every kernel set: pointwise, strided and padded
    /// (padding quantises to the zero point), grouped, several A blocks and B runs; and its
    /// chained forms (codes in, codes out) agree with it bit for bit.
    #[test]
    fn matches_the_integer_formula() {
        let mut seed = 5;
        // (c, h, w, m, k, stride, pad, group, dilation)
        for &(c, h, w, m, k, s, pad, group, d) in &[
            (8, 5, 19, 6, 1, 1, 0, 1, 1),
            (7, 4, 16, 5, 1, 1, 0, 1, 1),
            (9, 1, 1, 3, 1, 1, 0, 1, 1),
            (3, 7, 9, 5, 3, 2, 1, 1, 1),
            (4, 6, 6, 4, 3, 1, 1, 2, 1),
            // Strided pointwise, a strided row longer than a panel, dilation.
            (6, 9, 35, 5, 1, 2, 0, 1, 1),
            (5, 4, 41, 9, 3, 2, 1, 1, 1),
            (5, 9, 21, 3, 3, 1, 2, 1, 2),
            // More output channels than one block of A panels sweeps (two blocks, the last
            // one partial), and more panels than one run holds (runs of 27, the last partial).
            (5, 7, 13, 43, 1, 1, 0, 1, 1),
            (64, 24, 24, 37, 3, 1, 1, 1, 1),
            // Output rows wider than a panel: whole-row panels, inside and at the edges.
            (5, 3, 40, 4, 3, 1, 1, 1, 1),
            (2, 3, 37, 3, 3, 1, 0, 1, 1),
        ] {
            let cg = c / group;
            let x: Vec<f32> = (0..c * h * w).map(|_| 4.0 * lcg(&mut seed)).collect();
            // Every other case has narrow weights (7 bits), which the AVX2 set runs on its
            // narrow kernels.
            let span = if (c + h + w) % 2 == 0 { 254.0 } else { 126.0 };
            let wq: Vec<i8> = (0..m * cg * k * k)
                .map(|_| (lcg(&mut seed) * span) as i8)
                .collect();
            let w_scales: Vec<f32> = (0..m).map(|i| 0.01 + 0.001 * i as f32).collect();
            let bias: Vec<f32> = (0..m).map(|i| 0.1 * i as f32).collect();
            let q = ActQuant {
                scale: 4.0 / 255.0,
                zero_point: 128,
            };
            let p = ConvParams {
                strides: [s, s],
                pads: [pad; 4],
                dilations: [d, d],
                group,
                // A ReLU with a post affine: the epilogue runs over every output.
                epilogue: Epilogue {
                    act: crate::runtime::op::Activation::Relu,
                    post_scale: 0.5,
                    post_bias: -0.25,
                },
                act_quant: Some(q),
                #[cfg(feature = "int8-depthwise")]
                channel_quant: Vec::new(),
            };
            let oh = (h + 2 * pad - d * (k - 1) - 1) / s + 1;
            let ow = (w + 2 * pad - d * (k - 1) - 1) / s + 1;
            let mg = m / group;
            let kk = cg * k * k;
            let packed = pack_weights(&wq, &[m, cg, k, k], group);
            let qw = QWeights::new(packed, &wq, m, kk, &w_scales);
            let quant =
                |v: f32| (((v / q.scale) + q.zero_point as f32).clamp(0.0, 255.0) + 0.5) as i32;
            let mut want = vec![0f64; m * oh * ow];
            for o in 0..m {
                let g = o / mg;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0i64;
                        for ci in 0..cg {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let y = (oy * s + ky * d) as isize - pad as isize;
                                    let xx = (ox * s + kx * d) as isize - pad as isize;
                                    let qx = if y >= 0
                                        && y < h as isize
                                        && xx >= 0
                                        && xx < w as isize
                                    {
                                        quant(x[((g * cg + ci) * h + y as usize) * w + xx as usize])
                                    } else {
                                        q.zero_point
                                    };
                                    acc += (qx - q.zero_point) as i64
                                        * wq[((o * cg + ci) * k + ky) * k + kx] as i64;
                                }
                            }
                        }
                        let y = acc as f64 * q.scale as f64 * w_scales[o] as f64 + bias[o] as f64;
                        want[(o * oh + oy) * ow + ox] = y.max(0.0) * 0.5 - 0.25;
                    }
                }
            }
            for ks in KernelSet::available() {
                for th in [Threads::single(), Threads::new(2).unwrap()] {
                    let w_shape = [m, cg, k, k];
                    let out_shape = [1, m, oh, ow];
                    let mut scratch =
                        vec![0u8; qconv_scratch_len(&p, &[1, c, h, w], &w_shape, &out_shape, &th)];
                    let mut out = vec![f32::NAN; m * oh * ow];
                    qconv(
                        &ks,
                        &th,
                        &p,
                        &qw,
                        QInput::F32(&x),
                        &[1, c, h, w],
                        &w_shape,
                        Some(&bias),
                        QOutput::F32(&mut out),
                        &out_shape,
                        &mut scratch,
                    );
                    for (a, b) in out.iter().zip(&want) {
                        assert!(
                            (*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()),
                            "{}: {a} vs {b}",
                            ks.name
                        );
                    }
                    // A batch of three copies (whole images in parallel with two threads)
                    // gives each image the single-image result, bit for bit.
                    let x3: Vec<f32> = x.iter().chain(&x).chain(&x).copied().collect();
                    let (x3_shape, out3_shape) = ([3, c, h, w], [3, m, oh, ow]);
                    let mut scratch3 =
                        vec![0u8; qconv_scratch_len(&p, &x3_shape, &w_shape, &out3_shape, &th)];
                    let mut batch = |x: QInput, out: QOutput| {
                        qconv(
                            &ks,
                            &th,
                            &p,
                            &qw,
                            x,
                            &x3_shape,
                            &w_shape,
                            Some(&bias),
                            out,
                            &out3_shape,
                            &mut scratch3,
                        )
                    };
                    let mut out3 = vec![f32::NAN; 3 * m * oh * ow];
                    batch(QInput::F32(&x3), QOutput::F32(&mut out3));
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    for img in out3.chunks_exact(m * oh * ow) {
                        assert_eq!(bits(img), bits(&out), "{}: batched image differs", ks.name);
                    }
                    // Chained: codes in give the fp32 input's result bit for bit, and codes
                    // out are that result quantised as the reader would quantise it.
                    let (inv, zpf) = (1.0 / q.scale, q.zero_point as f32);
                    let x3_codes: Vec<u8> = x3.iter().map(|&v| quantize_one(v, inv, zpf)).collect();
                    let mut from_codes = vec![f32::NAN; 3 * m * oh * ow];
                    batch(QInput::Codes(&x3_codes), QOutput::F32(&mut from_codes));
                    assert_eq!(bits(&from_codes), bits(&out3), "{}: codes in", ks.name);
                    let oq = ActQuant {
                        scale: 0.02,
                        zero_point: 7,
                    };
                    let (oinv, ozp) = (1.0 / oq.scale, oq.zero_point as f32);
                    let mut codes = vec![0u8; 3 * m * oh * ow];
                    batch(QInput::Codes(&x3_codes), QOutput::Codes(&mut codes, oq));
                    let want_codes: Vec<u8> =
                        out3.iter().map(|&v| quantize_one(v, oinv, ozp)).collect();
                    assert_eq!(codes, want_codes, "{}: codes out", ks.name);
                }
            }
        }
    }
}
