//! Convolutions: depthwise (direct), general/grouped/1x1 (GEMM over an implicit im2col view)
//! and transposed (GEMM then col2im).

use crate::runtime::kernels::KernelSet;
use crate::runtime::kernels::depthwise::{DwGeom, depthwise};
use crate::runtime::kernels::gemm::{self, ASource, BSource, Bias, Im2col, MatRef};
use crate::runtime::op::{ConvParams, ConvTransposeParams};
use crate::runtime::parallel::Threads;
use alloc::vec::Vec;

/// True when the convolution is depthwise with one filter per input channel.
pub(crate) fn is_depthwise(p: &ConvParams, x_shape: &[usize], w_shape: &[usize]) -> bool {
    p.is_depthwise(w_shape) && p.group == x_shape[1]
}

/// The geometry of a depthwise convolution over one image.
pub(crate) fn dw_geom(
    p: &ConvParams,
    x_shape: &[usize],
    w_shape: &[usize],
    out_shape: &[usize],
) -> DwGeom {
    DwGeom {
        c: x_shape[1],
        h: x_shape[2],
        w: x_shape[3],
        kh: w_shape[2],
        kw: w_shape[3],
        sh: p.strides[0],
        sw: p.strides[1],
        ph: p.pads[0],
        pw: p.pads[1],
        dh: p.dilations[0],
        dw: p.dilations[1],
        oh: out_shape[2],
        ow: out_shape[3],
    }
}

/// Scratch floats [`conv`] needs.
pub fn conv_scratch_len(
    p: &ConvParams,
    x_shape: &[usize],
    w_shape: &[usize],
    out_shape: &[usize],
    threads: &Threads,
) -> usize {
    if is_depthwise(p, x_shape, w_shape) {
        return 0;
    }
    let mg = w_shape[0] / p.group;
    let k = w_shape[1] * w_shape[2] * w_shape[3];
    let n = out_shape[2] * out_shape[3];
    match image_groups(x_shape[0], threads) {
        // One single-threaded product per image group.
        Some(groups) => groups * gemm::scratch_len(mg, k, 1),
        None => gemm::scratch_len(mg, k, gemm::task_count(mg, n, k, threads)),
    }
}

/// With several images and threads, convolutions run whole images in parallel (each product on
/// one thread) instead of splitting each small product: `Some(number of image groups)`.
pub(crate) fn image_groups(batch: usize, threads: &Threads) -> Option<usize> {
    (batch > 1 && threads.count() > 1).then(|| batch.min(threads.count()))
}

/// Runs a 2-D convolution: `x` NCHW, `w` OIHW, optional bias, `out` NCHW.
#[allow(clippy::too_many_arguments)]
pub fn conv(
    ks: &KernelSet,
    threads: &Threads,
    p: &ConvParams,
    x: &[f32],
    x_shape: &[usize],
    w: &[f32],
    w_shape: &[usize],
    packed_w: Option<&[Vec<f32>]>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_shape: &[usize],
    scratch: &mut [f32],
) {
    let (nb, c, h, wd) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let (m, cg, kh, kw) = (w_shape[0], w_shape[1], w_shape[2], w_shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let in_img = c * h * wd;
    let out_img = m * oh * ow;
    if is_depthwise(p, x_shape, w_shape) {
        let g = dw_geom(p, x_shape, w_shape, out_shape);
        // Every plane of every image at once: more independent work for the threads.
        depthwise(ks, threads, &g, x, w, bias, &p.epilogue, out);
        return;
    }
    let mg = m / p.group;
    let k = cg * kh * kw;
    let n = oh * ow;
    let pointwise = kh == 1 && kw == 1 && p.strides == [1, 1] && p.pads == [0; 4];
    let one_image = |i: usize, th: &Threads, out_i: &mut [f32], scratch: &mut [f32]| {
        for g in 0..p.group {
            let xin = &x[i * in_img + g * cg * h * wd..i * in_img + (g + 1) * cg * h * wd];
            let src = if pointwise {
                BSource::Mat(MatRef {
                    data: xin,
                    rs: h * wd,
                    cs: 1,
                })
            } else {
                BSource::Im2col(Im2col {
                    input: xin,
                    c: cg,
                    h,
                    w: wd,
                    kh,
                    kw,
                    sh: p.strides[0],
                    sw: p.strides[1],
                    ph: p.pads[0],
                    pw: p.pads[1],
                    dh: p.dilations[0],
                    dw: p.dilations[1],
                    ow,
                })
            };
            let a = match packed_w {
                Some(pw) => ASource::Packed(&pw[g]),
                None => ASource::Mat(MatRef {
                    data: &w[g * mg * k..(g + 1) * mg * k],
                    rs: k,
                    cs: 1,
                }),
            };
            let o = &mut out_i[g * mg * n..(g + 1) * mg * n];
            let b = bias.map_or(Bias::None, |b| Bias::Row(&b[g * mg..(g + 1) * mg]));
            gemm::gemm(ks, th, (mg, n, k), a, &src, o, n, b, &p.epilogue, scratch);
        }
    };
    over_image_groups(nb, out_img, threads, out, scratch, |th, first, o, s| {
        for (j, out_i) in o.chunks_exact_mut(out_img).enumerate() {
            one_image(first + j, th, out_i, s);
        }
    });
}

/// Runs `f(threads, first image, their outputs, scratch)` over a batch of `nb` images whose
/// outputs are `img_out` long: with several images and threads ([`image_groups`]), image
/// groups in parallel, each on one thread with an equal share of `scratch`; otherwise once
/// over the whole batch with all threads.
pub(crate) fn over_image_groups<O: Send, T: Send>(
    nb: usize,
    img_out: usize,
    threads: &Threads,
    out: &mut [O],
    scratch: &mut [T],
    f: impl Fn(&Threads, usize, &mut [O], &mut [T]) + Sync + Send,
) {
    match image_groups(nb, threads) {
        Some(groups) => {
            let per_group = nb.div_ceil(groups);
            let per_scratch = scratch.len() / groups;
            let single = Threads::single();
            threads.for_each_pair_mut(
                out,
                per_group * img_out,
                scratch,
                per_scratch,
                |gi, o, s| f(&single, gi * per_group, o, s),
            );
        }
        None => f(threads, 0, out, scratch),
    }
}

/// True when a transposed convolution's taps tile its output exactly (stride equal to the
/// kernel, no padding, dilation 1; PP-OCR's detection head upsamples this way): every output
/// is one product plus the bias, and input row `iy` alone makes output rows `iy * kh ..`.
fn is_upsampling(
    p: &ConvTransposeParams,
    x_shape: &[usize],
    w_shape: &[usize],
    out_shape: &[usize],
) -> bool {
    let (kh, kw) = (w_shape[2], w_shape[3]);
    p.strides == [kh, kw]
        && p.pads == [0; 4]
        && p.dilations == [1, 1]
        && out_shape[2] == x_shape[2] * kh
        && out_shape[3] == x_shape[3] * kw
}

/// Products one upsampling step computes at most (floats): 256 KiB, so they are scattered into
/// the output while still in L2.
const UPSAMPLE_BLOCK_FLOATS: usize = 64 * 1024;

/// How the upsampling path splits its work over threads.
#[derive(Debug, Clone, Copy)]
struct UpsamplePlan {
    /// Output channels per task.
    channels: usize,
    /// Input rows per task: all of them when tasks split channels; with fewer channels than
    /// threads (det's last layer has one), each channel's rows are split instead.
    rows: usize,
    /// Tasks (each with its own scratch).
    tasks: usize,
    /// Input rows per product (a block of taps that stays in L2).
    block: usize,
}

impl UpsamplePlan {
    fn new(x_shape: &[usize], w_shape: &[usize], threads: &Threads) -> Self {
        let (h, co, taps) = (
            x_shape[2].max(1),
            w_shape[1].max(1),
            w_shape[2] * w_shape[3],
        );
        let t = threads.count().max(1);
        let (channels, rows) = if co >= t {
            (co.div_ceil(t), h)
        } else {
            (1, h.div_ceil(t))
        };
        let tasks = co.div_ceil(channels).max(h.div_ceil(rows));
        let block = (UPSAMPLE_BLOCK_FLOATS / (channels * taps * x_shape[3]).max(1)).clamp(1, rows);
        UpsamplePlan {
            channels,
            rows,
            tasks,
            block,
        }
    }

    /// Scratch floats of one task: a block of taps and the product's packing space.
    fn task_scratch(&self, x_shape: &[usize], w_shape: &[usize]) -> usize {
        let task_rows = self.channels * w_shape[2] * w_shape[3];
        task_rows * self.block * x_shape[3] + gemm::scratch_len(task_rows, x_shape[1], 1)
    }
}

/// Scratch floats [`conv_transpose`] needs.
pub fn conv_transpose_scratch_len(
    p: &ConvTransposeParams,
    x_shape: &[usize],
    w_shape: &[usize],
    out_shape: &[usize],
    threads: &Threads,
) -> usize {
    let rows = w_shape[1] * w_shape[2] * w_shape[3];
    if is_upsampling(p, x_shape, w_shape, out_shape) {
        let plan = UpsamplePlan::new(x_shape, w_shape, threads);
        return plan.tasks * plan.task_scratch(x_shape, w_shape);
    }
    let n = x_shape[2] * x_shape[3];
    rows * n
        + gemm::scratch_len(
            rows,
            x_shape[1],
            gemm::task_count(rows, n, x_shape[1], threads),
        )
}

/// Runs a 2-D transposed convolution (group 1): `x` NCHW, `w` `[Ci, Co, kh, kw]`.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose(
    ks: &KernelSet,
    threads: &Threads,
    p: &ConvTransposeParams,
    x: &[f32],
    x_shape: &[usize],
    w: &[f32],
    w_shape: &[usize],
    packed_w: Option<&[f32]>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_shape: &[usize],
    scratch: &mut [f32],
) {
    if is_upsampling(p, x_shape, w_shape, out_shape) {
        upsample(
            ks, threads, p, x, x_shape, w, w_shape, packed_w, bias, out, scratch,
        );
        return;
    }
    let (nb, ci, h, wd) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let (co, kh, kw) = (w_shape[1], w_shape[2], w_shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let rows = co * kh * kw;
    let n = h * wd;
    let (cols, gscratch) = scratch.split_at_mut(rows * n);
    let identity = crate::runtime::op::Epilogue::identity();
    for i in 0..nb {
        let xin = &x[i * ci * n..(i + 1) * ci * n];
        // cols[(co, ky, kx), (iy, ix)] = sum_ci w[ci, (co, ky, kx)] * x[ci, (iy, ix)]
        let a = packed_w.map_or(
            ASource::Mat(MatRef {
                data: w,
                rs: 1,
                cs: rows,
            }),
            ASource::Packed,
        );
        let src = BSource::Mat(MatRef {
            data: xin,
            rs: n,
            cs: 1,
        });
        gemm::gemm(
            ks,
            threads,
            (rows, n, ci),
            a,
            &src,
            cols,
            n,
            Bias::None,
            &identity,
            gscratch,
        );
        let o = &mut out[i * co * oh * ow..(i + 1) * co * oh * ow];
        for c in 0..co {
            o[c * oh * ow..(c + 1) * oh * ow].fill(bias.map_or(0.0, |b| b[c]));
        }
        for c in 0..co {
            for ky in 0..kh {
                for kx in 0..kw {
                    let row = &cols[((c * kh + ky) * kw + kx) * n..][..n];
                    for iy in 0..h {
                        let y =
                            (iy * p.strides[0] + ky * p.dilations[0]) as isize - p.pads[0] as isize;
                        if y < 0 || y >= oh as isize {
                            continue;
                        }
                        for ix in 0..wd {
                            let xo = (ix * p.strides[1] + kx * p.dilations[1]) as isize
                                - p.pads[1] as isize;
                            if xo >= 0 && xo < ow as isize {
                                o[(c * oh + y as usize) * ow + xo as usize] += row[iy * wd + ix];
                            }
                        }
                    }
                }
            }
        }
        (ks.epilogue)(&p.epilogue, o);
    }
}

/// The upsampling case of [`conv_transpose`] ([`is_upsampling`]). Each task owns a range of
/// output channels (or, with fewer channels than threads, a range of one channel's rows) and
/// walks its input rows a block at a time: one product gives the block's taps (`(channel, ky,
/// kx)` x pixel, small enough to stay in L2), which are interleaved into the output rows with
/// the bias and the epilogue. The full tap matrix is never materialised.
#[allow(clippy::too_many_arguments)]
fn upsample(
    ks: &KernelSet,
    threads: &Threads,
    p: &ConvTransposeParams,
    x: &[f32],
    x_shape: &[usize],
    w: &[f32],
    w_shape: &[usize],
    packed_w: Option<&[f32]>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let (nb, ci, h, wd) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let (co, kh, kw) = (w_shape[1], w_shape[2], w_shape[3]);
    let (oh, ow) = (h * kh, wd * kw);
    if out.is_empty() {
        return;
    }
    let n = h * wd;
    let plan = UpsamplePlan::new(x_shape, w_shape, threads);
    let task_scratch = plan.task_scratch(x_shape, w_shape);
    let plane = oh * ow;
    let (single, identity) = (Threads::single(), crate::runtime::op::Epilogue::identity());
    // Channels `c0..c0 + nc` over input rows `rows`, into `o`: per channel, the output rows
    // of those input rows.
    let block_of =
        |xin: &[f32], c0: usize, rows: core::ops::Range<usize>, o: &mut [f32], s: &mut [f32]| {
            let nc = o.len() / (rows.len() * kh * ow);
            let cstride = rows.len() * kh * ow;
            let (task_rows, all_rows) = (nc * kh * kw, co * kh * kw);
            // A holds this task's rows (channel, ky, kx) of the [Ci, rows] weights; the load-time
            // packing covers all rows, so it serves only a task that has them all.
            let a = match packed_w {
                Some(pw) if task_rows == all_rows => ASource::Packed(pw),
                _ => ASource::Mat(MatRef {
                    data: &w[c0 * kh * kw..],
                    rs: 1,
                    cs: all_rows,
                }),
            };
            let (cols, gscratch) = s.split_at_mut(task_rows * plan.block * wd);
            for iy0 in rows.clone().step_by(plan.block) {
                let nrows = plan.block.min(rows.end - iy0);
                let ncols = nrows * wd;
                let src = BSource::Mat(MatRef {
                    data: &xin[iy0 * wd..],
                    rs: n,
                    cs: 1,
                });
                let cols = &mut cols[..task_rows * ncols];
                gemm::gemm(
                    ks,
                    &single,
                    (task_rows, ncols, ci),
                    a,
                    &src,
                    cols,
                    ncols,
                    Bias::None,
                    &identity,
                    gscratch,
                );
                for c in 0..nc {
                    let b = bias.map_or(0.0, |b| b[c0 + c]);
                    for iy in iy0..iy0 + nrows {
                        for ky in 0..kh {
                            let y = (iy - rows.start) * kh + ky;
                            let orow = &mut o[c * cstride + y * ow..][..ow];
                            let tap = |kx: usize| {
                                &cols[((c * kh + ky) * kw + kx) * ncols + (iy - iy0) * wd..][..wd]
                            };
                            if kw == 2 {
                                // The common 2x2 case as one interleaving pass.
                                for (pair, (&l, &r)) in
                                    orow.chunks_exact_mut(2).zip(tap(0).iter().zip(tap(1)))
                                {
                                    pair[0] = l + b;
                                    pair[1] = r + b;
                                }
                            } else {
                                for kx in 0..kw {
                                    for (dst, &v) in orow[kx..].iter_mut().step_by(kw).zip(tap(kx))
                                    {
                                        *dst = v + b;
                                    }
                                }
                            }
                            (ks.epilogue)(&p.epilogue, orow);
                        }
                    }
                }
            }
        };
    for i in 0..nb {
        let xin = &x[i * ci * n..(i + 1) * ci * n];
        let o = &mut out[i * co * plane..(i + 1) * co * plane];
        if plan.rows == h {
            threads.for_each_pair_mut(
                o,
                plan.channels * plane,
                scratch,
                task_scratch,
                |t, o, s| block_of(xin, t * plan.channels, 0..h, o, s),
            );
        } else {
            for (c, o) in o.chunks_exact_mut(plane).enumerate() {
                let chunk = plan.rows * kh * ow;
                threads.for_each_pair_mut(o, chunk, scratch, task_scratch, |t, o, s| {
                    let r0 = t * plan.rows;
                    block_of(xin, c, r0..(r0 + plan.rows).min(h), o, s)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::op::{Activation, Epilogue};
    use alloc::vec;

    /// Transposed convolution equals the scatter formula computed naively in f64: the
    /// upsampling path (stride equal to the kernel; one block of rows, several blocks with a
    /// short last one, 2x2 and 3x3 taps) and the general path (overlapping taps, padding,
    /// output padding), with an activation, on one and three threads (channels split unevenly),
    /// with weights as given and packed at load, over a batch of two.
    #[test]
    fn conv_transpose_matches_the_formula() {
        let mut seed = 17u64;
        let mut rnd = || crate::runtime::kernels::test_uniform(&mut seed);
        let nb = 2;
        // (ci, co, h, w, k, stride, pad, output_padding)
        for &(ci, co, h, w, k, s, pad, op) in &[
            (3, 2, 4, 5, 2, 2, 0, 0),
            (5, 7, 13, 500, 2, 2, 0, 0),
            (4, 5, 9, 300, 3, 3, 0, 0),
            (5, 3, 3, 7, 3, 2, 1, 1),
            (2, 4, 5, 3, 3, 1, 1, 0),
        ] {
            let x: Vec<f32> = (0..nb * ci * h * w).map(|_| rnd()).collect();
            let wt: Vec<f32> = (0..ci * co * k * k).map(|_| rnd()).collect();
            let bias: Vec<f32> = (0..co).map(|_| rnd()).collect();
            let oh = (h - 1) * s + k - 2 * pad + op;
            let ow = (w - 1) * s + k - 2 * pad + op;
            let mut want = vec![0f64; nb * co * oh * ow];
            for (cn, plane) in want.chunks_exact_mut(oh * ow).enumerate() {
                let (img, c) = (cn / co, cn % co);
                let x = &x[img * ci * h * w..];
                plane.fill(bias[c] as f64);
                for i in 0..ci {
                    for iy in 0..h {
                        for ix in 0..w {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let y = (iy * s + ky) as isize - pad as isize;
                                    let xo = (ix * s + kx) as isize - pad as isize;
                                    if (0..oh as isize).contains(&y)
                                        && (0..ow as isize).contains(&xo)
                                    {
                                        plane[y as usize * ow + xo as usize] +=
                                            x[(i * h + iy) * w + ix] as f64
                                                * wt[((i * co + c) * k + ky) * k + kx] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let p = ConvTransposeParams {
                strides: [s, s],
                pads: [pad; 4],
                dilations: [1, 1],
                output_padding: [op, op],
                epilogue: Epilogue {
                    act: Activation::Relu,
                    post_scale: 1.0,
                    post_bias: 0.0,
                },
            };
            let (xs, ws, os) = ([nb, ci, h, w], [ci, co, k, k], [nb, co, oh, ow]);
            let packed = gemm::pack_a_all(
                MatRef {
                    data: &wt,
                    rs: 1,
                    cs: co * k * k,
                },
                co * k * k,
                ci,
            );
            let runs = [
                (1, None),
                (1, Some(&packed[..])),
                (3, None),
                (3, Some(&packed[..])),
            ];
            for (ks, (threads, packed)) in KernelSet::available()
                .into_iter()
                .flat_map(|ks| runs.map(move |r| (ks, r)))
            {
                let threads = Threads::new(threads).unwrap();
                let len = conv_transpose_scratch_len(&p, &xs, &ws, &os, &threads);
                let mut scratch = vec![0f32; len];
                let mut out = vec![f32::NAN; nb * co * oh * ow];
                conv_transpose(
                    &ks,
                    &threads,
                    &p,
                    &x,
                    &xs,
                    &wt,
                    &ws,
                    packed,
                    Some(&bias),
                    &mut out,
                    &os,
                    &mut scratch,
                );
                for (a, b) in out.iter().zip(&want) {
                    assert!(
                        (*a as f64 - b.max(0.0)).abs() < 1e-5,
                        "{}: {a} vs {b}",
                        ks.name
                    );
                }
            }
        }
    }
}
