//! int8 convolution: fp32 in, fp32 out, int8 inside.
//!
//! Each image's fp32 input is quantised to 8 bits once, in one vectorised pass, into scratch;
//! B panels are packed from those bytes, multiplied with the int8 weights packed at load, and
//! the i32 sums are turned back into fp32 in the epilogue:
//! `y = act((acc - zp * row_sum) * x_scale * w_scale[m] + bias[m])`. Real zero padding maps to
//! the zero point, so padded taps cost nothing extra and stay exact.

use crate::runtime::kernels::KernelSet;
use crate::runtime::kernels::gemm::CPtr;
use crate::runtime::kernels::qgemm::{QMR, QNR, padded_k};
use crate::runtime::model::QConv;
use crate::runtime::op::{ActQuant, ConvParams};
use crate::runtime::ops::conv::{image_groups, over_image_groups};
use crate::runtime::parallel::Threads;
use alloc::vec::Vec;

/// Activation values quantised per task when an image is spread over threads.
const QUANT_CHUNK: usize = 1 << 16;

/// Products below this many multiply-adds run on one thread.
const SMALL_MACS: usize = 1 << 21;

fn tasks(m: usize, n: usize, k: usize, threads: &Threads) -> usize {
    let t = threads.count();
    if t == 1 || m.saturating_mul(n).saturating_mul(k) < SMALL_MACS {
        1
    } else {
        n.div_ceil(QNR).clamp(1, 4 * t)
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
    let mg = w_shape[0] / p.group;
    let k = w_shape[1] * w_shape[2] * w_shape[3];
    let n = out_shape[2] * out_shape[3];
    let image: usize = x_shape.iter().skip(1).product();
    match image_groups(x_shape[0], threads) {
        // Each image group runs on one thread: one image and one panel each.
        Some(groups) => groups * (image + padded_k(k) * QNR),
        None => image + tasks(mg, n, k, threads) * padded_k(k) * QNR,
    }
}

/// Where B's columns come from: one image's quantised input channels of one group, `[c, h, w]`.
struct Source<'a> {
    x: &'a [u8],
    /// Row `k` of the im2col matrix: (offset of its channel plane in `x`, tap's y and x offset
    /// from the window origin). Computed once per convolution.
    taps: &'a [(usize, isize, isize)],

    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    p: &'a ConvParams,
    ow: usize,
}

/// Packs columns `n0..n0 + QNR` of the implicit im2col matrix of quantised input into `dst`
/// (`[k/4][QNR][4]`, the layout of `qgemm::pack_b`).
fn pack_b(src: &Source, q: &ActQuant, k: usize, n: usize, n0: usize, dst: &mut [u8]) {
    let cols = QNR.min(n - n0);
    let kp = padded_k(k);
    let zp_u8 = q.zero_point as u8;
    let p = src.p;
    let (h, w) = (src.h as isize, src.w as isize);
    if src.kh == 1 && src.kw == 1 && p.strides == [1, 1] && p.pads == [0; 4] {
        // Pointwise: row k of B is input channel k, contiguous: interleave four rows into the
        // [column][4] layout.
        let hw = src.h * src.w;
        if cols == QNR {
            for k4 in 0..k / 4 {
                let rows: [[u8; QNR]; 4] = core::array::from_fn(|j| {
                    let at = (k4 * 4 + j) * hw + n0;
                    src.x[at..at + QNR].try_into().expect("panel width")
                });
                interleave4(&rows, &mut dst[k4 * QNR * 4..(k4 + 1) * QNR * 4]);
            }
            if k.is_multiple_of(4) {
                return;
            }
        }
        let k_done = if cols == QNR { k / 4 * 4 } else { 0 };
        dst[k_done / 4 * QNR * 4..kp * QNR].fill(0);
        for kk in k_done..k {
            let (k4, j) = (kk / 4, kk % 4);
            for c in 0..cols {
                dst[(k4 * QNR + c) * 4 + j] = src.x[kk * hw + n0 + c];
            }
        }
        return;
    }
    // Where each column's window starts in the input (top-left tap, padding included).
    let mut y0 = [0isize; QNR];
    let mut x0 = [0isize; QNR];
    for c in 0..cols {
        let (oy, ox) = ((n0 + c) / src.ow, (n0 + c) % src.ow);
        y0[c] = (oy * p.strides[0]) as isize - p.pads[0] as isize;
        x0[c] = (ox * p.strides[1]) as isize - p.pads[1] as isize;
    }
    // A full panel on one output row with unit stride reads 16 adjacent input bytes per tap.
    let one_row = cols == QNR && y0[0] == y0[QNR - 1] && p.strides[1] == 1;
    let w_u = src.w;
    for k4 in 0..kp / 4 {
        // Four rows of B (zero past K or past the last column), then interleaved.
        let mut rows = [[0u8; QNR]; 4];
        for (j, row) in rows.iter_mut().enumerate() {
            let kk = k4 * 4 + j;
            if kk >= k {
                break;
            }
            let (base, ty, tx) = src.taps[kk];
            let plane = &src.x[base..base + src.h * w_u];
            if one_row {
                let (y, x) = (y0[0] + ty, x0[0] + tx);
                if y < 0 || y >= h {
                    *row = [zp_u8; QNR];
                    continue;
                }
                if x >= 0 && x + QNR as isize <= w {
                    let at = y as usize * w_u + x as usize;
                    row.copy_from_slice(&plane[at..at + QNR]);
                    continue;
                }
            }
            for c in 0..cols {
                let (y, x) = (y0[c] + ty, x0[c] + tx);
                row[c] = if y >= 0 && y < h && x >= 0 && x < w {
                    plane[y as usize * w_u + x as usize]
                } else {
                    zp_u8
                };
            }
        }
        interleave4(&rows, &mut dst[k4 * QNR * 4..(k4 + 1) * QNR * 4]);
    }
}

/// Writes four rows of 16 bytes as 16 columns of 4 (the int8 micro-kernel's B layout).
#[inline(always)]
fn interleave4(rows: &[[u8; QNR]; 4], dst: &mut [u8]) {
    let d: &mut [u8; QNR * 4] = dst.try_into().expect("panel block");
    for c in 0..QNR {
        d[c * 4..c * 4 + 4].copy_from_slice(&[rows[0][c], rows[1][c], rows[2][c], rows[3][c]]);
    }
}

/// Runs an int8 convolution: `x` NCHW fp32, prepared weights `qw`, optional fp32 bias.
#[allow(clippy::too_many_arguments)]
pub fn qconv(
    ks: &KernelSet,
    threads: &Threads,
    p: &ConvParams,
    qw: &QConv,
    x: &[f32],
    x_shape: &[usize],
    w_shape: &[usize],
    bias: Option<&[f32]>,
    out: &mut [f32],
    out_shape: &[usize],
    scratch: &mut [u8],
) {
    let q = p.act_quant.expect("qconv needs activation quantisation");
    let (nb, c, h, wd) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let (m, cg, kh, kw) = (w_shape[0], w_shape[1], w_shape[2], w_shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let (mg, k, n) = (m / p.group, cg * kh * kw, oh * ow);
    let kp = padded_k(k);
    let panels = n.div_ceil(QNR);
    let kernel = ks.qgemm;
    let taps: Vec<(usize, isize, isize)> = (0..k)
        .map(|kk| {
            let (ci, ky, kx) = (kk / (kh * kw), (kk / kw) % kh, kk % kw);
            (
                ci * h * wd,
                (ky * p.dilations[0]) as isize,
                (kx * p.dilations[1]) as isize,
            )
        })
        .collect();
    // Runs `nb` images one after another, splitting each product over `threads`.
    let run = |threads: &Threads, x: &[f32], nb: usize, out: &mut [f32], scratch: &mut [u8]| {
        let t = tasks(mg, n, k, threads);
        let per_task = panels.div_ceil(t);
        let (xq, scratch) = scratch.split_at_mut(c * h * wd);
        for i in 0..nb {
            // Element-wise: large images are quantised in chunks on all threads.
            let xi = &x[i * c * h * wd..(i + 1) * c * h * wd];
            threads.for_each_chunk_mut(xq, QUANT_CHUNK, |ci, o| {
                let at = ci * QUANT_CHUNK;
                (ks.quantize)(&xi[at..at + o.len()], 1.0 / q.scale, q.zero_point as f32, o);
            });
            for g in 0..p.group {
                let xin = &xq[g * cg * h * wd..(g + 1) * cg * h * wd];
                let src = Source {
                    x: xin,
                    taps: &taps,
                    h,
                    w: wd,
                    kh,
                    kw,
                    p,
                    ow,
                };
                let o = &mut out[(i * m + g * mg) * n..(i * m + (g + 1) * mg) * n];
                let cp = CPtr(o.as_mut_ptr());
                let a = &qw.packed[g];
                threads.for_each_chunk_mut(&mut scratch[..t * kp * QNR], kp * QNR, |ti, bpanel| {
                    let mut acc = [0i32; QMR * QNR];
                    let (first, end) = (ti * per_task, ((ti + 1) * per_task).min(panels));
                    for panel in first..end {
                        let n0 = panel * QNR;
                        let cols = QNR.min(n - n0);
                        pack_b(&src, &q, k, n, n0, bpanel);
                        for (mp, apanel) in a.chunks_exact(QMR * kp).enumerate() {
                            kernel(kp / 4, apanel, bpanel, &mut acc);
                            for r in 0..QMR.min(mg - mp * QMR) {
                                let row = mp * QMR + r;
                                let mc = g * mg + row;
                                let (zp_corr, s) =
                                    (q.zero_point * qw.row_sums[mc], q.scale * qw.w_scales[mc]);
                                let b = bias.map_or(0.0, |b| b[mc]);
                                // SAFETY: `row * n + n0 + cols <= mg * n = o.len()`, and columns
                                // n0..n0+cols belong to this task alone.
                                let crow = unsafe { cp.slice(row * n + n0, cols) };
                                for (dst, &a) in crow.iter_mut().zip(&acc[r * QNR..r * QNR + cols])
                                {
                                    *dst = (a - zp_corr) as f32 * s + b;
                                }
                            }
                        }
                    }
                    // The activation over each row's whole run of this task's columns at once:
                    // long slices vectorise, per-tile calls would not.
                    if first < end {
                        let (c0, c1) = (first * QNR, (end * QNR).min(n));
                        for row in 0..mg {
                            // SAFETY: as above; these columns are this task's.
                            (ks.epilogue)(&p.epilogue, unsafe { cp.slice(row * n + c0, c1 - c0) });
                        }
                    }
                });
            }
        }
    };
    let (img_in, img_out) = (c * h * wd, m * n);
    // Several images and threads: whole images in parallel, each on one thread.
    over_image_groups(nb, img_out, threads, out, scratch, |th, first, o, s| {
        let count = o.len() / img_out;
        run(
            th,
            &x[first * img_in..(first + count) * img_in],
            count,
            o,
            s,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernels::qgemm;
    use crate::runtime::op::Epilogue;
    use alloc::vec;
    use alloc::vec::Vec;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// The int8 convolution equals the exact integer formula `sum (q_x - zp) * q_w * s_x *
    /// s_w + b` computed naively in f64, on every kernel set: pointwise, strided and padded
    /// (padding quantises to the zero point), grouped.
    #[test]
    fn matches_the_integer_formula() {
        let mut seed = 5;
        // (c, h, w, m, k, stride, pad, group)
        for &(c, h, w, m, k, s, pad, group) in &[
            (8, 5, 19, 6, 1, 1, 0, 1),
            (7, 4, 16, 5, 1, 1, 0, 1),
            (9, 1, 1, 3, 1, 1, 0, 1),
            (3, 7, 9, 5, 3, 2, 1, 1),
            (4, 6, 6, 4, 3, 1, 1, 2),
            // Output rows wider than a panel: whole-row panels, inside and at the edges.
            (5, 3, 40, 4, 3, 1, 1, 1),
            (2, 3, 37, 3, 3, 1, 0, 1),
        ] {
            let cg = c / group;
            let x: Vec<f32> = (0..c * h * w).map(|_| 4.0 * lcg(&mut seed)).collect();
            let wq: Vec<i8> = (0..m * cg * k * k)
                .map(|_| (lcg(&mut seed) * 254.0) as i8)
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
                dilations: [1, 1],
                group,
                // A ReLU with a post affine: the epilogue runs over every output.
                epilogue: Epilogue {
                    act: crate::runtime::op::Activation::Relu,
                    post_scale: 0.5,
                    post_bias: -0.25,
                },
                act_quant: Some(q),
            };
            let oh = (h + 2 * pad - k) / s + 1;
            let ow = (w + 2 * pad - k) / s + 1;
            let mg = m / group;
            let kk = cg * k * k;
            let packed = (0..group)
                .map(|g| qgemm::pack_a(&wq[g * mg * kk..(g + 1) * mg * kk], mg, kk))
                .collect();
            let qw = QConv {
                packed,
                row_sums: qgemm::row_sums(&wq, m, kk),
                w_scales: w_scales.clone(),
            };
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
                                    let y = (oy * s + ky) as isize - pad as isize;
                                    let xx = (ox * s + kx) as isize - pad as isize;
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
                        &x,
                        &[1, c, h, w],
                        &w_shape,
                        Some(&bias),
                        &mut out,
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
                    let mut out3 = vec![f32::NAN; 3 * m * oh * ow];
                    qconv(
                        &ks,
                        &th,
                        &p,
                        &qw,
                        &x3,
                        &x3_shape,
                        &w_shape,
                        Some(&bias),
                        &mut out3,
                        &out3_shape,
                        &mut scratch3,
                    );
                    for img in out3.chunks_exact(m * oh * ow) {
                        assert_eq!(
                            img.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                            "{}: batched image differs",
                            ks.name
                        );
                    }
                }
            }
        }
    }
}
