//! int8 matrix product with constant weights: `[.., M, K]` fp32 input times `[K, N]` int8
//! weights (one symmetric scale per output column), plus an optional bias over N, through the
//! fused epilogue, fp32 out.
//!
//! The product runs transposed on the convolutions' int8 GEMM: `Y^T = W^T X^T`, A being the
//! weights' columns (N rows of K, packed once at load like a pointwise convolution's filters,
//! each output column's scale and bias per A row) and B the input's rows (the batch dimensions
//! folded into M). The input is quantised once, row by row, into u8 rows of `K` padded to a
//! multiple of four, so the four bytes one B panel column reads per row block are one 32-bit
//! word of one input row: packing a panel is the strided word copy of
//! [`crate::runtime::kernels::qgemm::PackQuadsKernel`]. The tile epilogue is the convolutions'
//! (`y = act((acc - zp * row_sum) * x_scale * w_scale[n] + bias[n])`), and its
//! `QMR x QNR` tile (output columns x input rows) is stored transposed into the row-major
//! output. Every kernel set computes the same integers and the same epilogue, so the result
//! does not depend on the CPU.

use crate::runtime::format::QuantParams;
use crate::runtime::kernels::KernelSet;
use crate::runtime::kernels::qgemm::{
    self, CacheAligned, QBLOCK, QMR, QNR, TileParams, padded_k, quantize_one,
};
use crate::runtime::model::QWeights;
use crate::runtime::op::{ActQuant, Epilogue};
use crate::runtime::parallel::Threads;
use crate::runtime::tensor::one_matrix;
use crate::runtime::{Error, Result};
use alloc::vec::Vec;

/// Products below this many multiply-adds run on one thread.
const SMALL_MACS: usize = 1 << 20;

/// Checks int8 `[.., K, N]` weights (leading dimensions 1, K and N not 0) quantised
/// symmetrically per column and prepares them for [`qmatmul`]: transposed, packed into A
/// panels, with their row sums and scales.
pub fn prepare_weights(
    name: &str,
    w: &[i8],
    shape: &[usize],
    qp: &QuantParams,
) -> Result<QWeights> {
    let Some((k, n)) = one_matrix(shape).filter(|&(k, n)| k > 0 && n > 0) else {
        return Err(Error::Format(msg!(
            "int8 MatMul '{name}': weight shape {shape:?} is not one [K, N] matrix"
        )));
    };
    QWeights::check("MatMul", name, w, qp, (shape.len() - 1, n), padded_k(k))?;
    // One row of A per output column.
    let mut wt = alloc::vec![0i8; n * k];
    for (kk, row) in w.chunks_exact(n).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            wt[j * k + kk] = v;
        }
    }
    Ok(QWeights::new(
        alloc::vec![qgemm::pack_a(&wt, n, k)],
        &wt,
        n,
        k,
        &qp.scales,
    ))
}

/// The product's sizes: input rows (batch dimensions folded in), depth, output columns.
fn dims(x_shape: &[usize], w_shape: &[usize]) -> (usize, usize, usize) {
    let (ra, rb) = (x_shape.len(), w_shape.len());
    let k = x_shape[ra - 1];
    (x_shape[..ra - 1].iter().product(), k, w_shape[rb - 1])
}

/// B panels (of [`QNR`] input rows) each task takes.
fn panels_per_task(m: usize, k: usize, n: usize, threads: &Threads) -> usize {
    let panels = m.div_ceil(QNR);
    let tasks = match m * k * n < SMALL_MACS {
        true => 1,
        false => threads.count().min(panels).max(1),
    };
    panels.div_ceil(tasks).max(1)
}

/// Scratch bytes [`qmatmul`] needs: the quantised input, then two B panels per task.
pub fn qmatmul_scratch_len(x_shape: &[usize], w_shape: &[usize], threads: &Threads) -> usize {
    let (m, k, n) = dims(x_shape, w_shape);
    let panels = m.div_ceil(QNR);
    let tasks = panels.div_ceil(panels_per_task(m, k, n, threads));
    panels * QNR * padded_k(k) + tasks * 2 * padded_k(k) * QNR
}

/// Computes `out = epilogue(x * w + bias)` for `x: [.., M, K]` and the prepared weights
/// `qw` of a `[K, N]` matrix (`w_shape`), quantising `x` by `q`. `scratch` needs
/// [`qmatmul_scratch_len`] bytes.
#[allow(clippy::too_many_arguments)]
pub fn qmatmul(
    ks: &KernelSet,
    threads: &Threads,
    q: ActQuant,
    qw: &QWeights,
    x: &[f32],
    x_shape: &[usize],
    w_shape: &[usize],
    bias: Option<&[f32]>,
    epi: &Epilogue,
    out: &mut [f32],
    scratch: &mut [u8],
) {
    let (m, k, n) = dims(x_shape, w_shape);
    if m == 0 || n == 0 {
        return;
    }
    let kp = padded_k(k);
    let k4 = kp / 4;
    let panels = m.div_ceil(QNR);
    let (xq, bscratch) = scratch.split_at_mut(panels * QNR * kp);
    // Rows past M and bytes past K quantise nothing: their products are never stored, or meet
    // zero weights.
    let (inv, zpf) = (1.0 / q.scale, q.zero_point as f32);
    let zp_byte = q.zero_point.clamp(0, qgemm::ACT_MAX as i32) as u8;
    for (row, codes) in xq.chunks_exact_mut(kp).enumerate() {
        match x.get(row * k..(row + 1) * k) {
            Some(xr) if row < m => {
                for (c, &v) in codes.iter_mut().zip(xr) {
                    *c = quantize_one(v, inv, zpf);
                }
                codes[k..].fill(zp_byte);
            }
            _ => codes.fill(zp_byte),
        }
    }
    let params: Vec<TileParams> = (0..n.div_ceil(QMR))
        .map(|mp| {
            let mut tp = TileParams::default();
            for r in 0..QMR.min(n - mp * QMR) {
                let col = mp * QMR + r;
                tp.zp_corr[r] = q.zero_point * qw.row_sums[col];
                tp.scale[r] = q.scale * qw.w_scales[col];
                tp.bias[r] = bias.map_or(0.0, |b| b[col]);
            }
            tp
        })
        .collect();
    // Each B panel's row block `i` is the word at byte `4 * i` of each of its rows.
    let taps: Vec<usize> = (0..k4).map(|i| 4 * i).collect();
    let a = &qw.packed[0];
    let a_len = QMR * kp;
    let per_task = panels_per_task(m, k, n, threads);
    let (single, pair) = ks.qgemm_for(qw.narrow);
    let xq = &*xq;
    threads.for_each_pair_mut(
        &mut out[..m * n],
        per_task * QNR * n,
        &mut bscratch[..panels.div_ceil(per_task) * 2 * kp * QNR],
        2 * kp * QNR,
        |ti, out, bpanels| {
            let mut accs = CacheAligned([[0i32; QMR * QNR]; 2]);
            let mut tile = CacheAligned([0f32; QMR * QNR]);
            let (accs, tile) = (&mut accs.0, &mut tile.0);
            let first = ti * per_task;
            let task_panels = (panels - first).min(per_task);
            for i in (0..task_panels).step_by(2) {
                let np = (task_panels - i).min(2);
                for (j, bpanel) in bpanels.chunks_exact_mut(k4 * QBLOCK).take(np).enumerate() {
                    let row0 = (first + i + j) * QNR;
                    (ks.pack_quads)(xq, &taps, row0 * kp, k4, bpanel);
                }
                for (mp, apanel) in a.chunks_exact(a_len).enumerate() {
                    if np == 2 {
                        pair(k4, apanel, bpanels, accs);
                    } else {
                        single(k4, apanel, bpanels, &mut accs[0]);
                    }
                    let cols = QMR.min(n - mp * QMR);
                    for (j, acc) in accs[..np].iter().enumerate() {
                        (ks.qtile)(acc, &params[mp], epi, tile);
                        // This panel's rows, relative to the task's output.
                        let row0 = (i + j) * QNR;
                        let rows = QNR.min(out.len() / n - row0);
                        for c in 0..rows {
                            let dst = &mut out[(row0 + c) * n + mp * QMR..][..cols];
                            for (r, d) in dst.iter_mut().enumerate() {
                                *d = tile[r * QNR + c];
                            }
                        }
                    }
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernels::test_uniform as lcg;
    use crate::runtime::op::Activation;
    use alloc::vec;

    fn params(n: usize, axis: u32) -> QuantParams {
        QuantParams {
            axis,
            zero_points: vec![0; n],
            scales: (0..n).map(|j| 0.01 + 0.0005 * j as f32).collect(),
        }
    }

    /// The int8 product equals the exact integer formula
    /// `sum (q_x - zp) * q_w * s_x * s_w[n] + b[n]` computed naively in f64, through the
    /// epilogue, on every kernel set and thread count, bit for bit the same on all of them:
    /// sizes off the panel multiples (K not a multiple of 4, rows not of 16, columns not of 4),
    /// K, M and N of 1, batch dimensions, one task and several, and inputs past the calibrated
    /// range (clamped).
    #[test]
    fn matches_the_integer_formula_on_every_kernel_set() {
        let mut seed = 17;
        // (batch dims of x, m, k, n)
        for (batch, m, k, n) in [
            (vec![], 1, 1, 1),
            (vec![], 5, 3, 7),
            (vec![2], 40, 120, 9),
            (vec![1], 17, 13, 4),
            (vec![3, 2], 33, 64, 130),
            (vec![], 1, 257, 3),
            (vec![8], 40, 120, 240),
        ] {
            let rows = batch.iter().product::<usize>() * m;
            let x: Vec<f32> = (0..rows * k).map(|_| 5.0 * lcg(&mut seed)).collect();
            // Narrow weights (7 bits) for some cases: the AVX2 set's narrow kernels.
            let span = if (m + k + n) % 2 == 0 { 254.0 } else { 126.0 };
            let w: Vec<i8> = (0..k * n).map(|_| (lcg(&mut seed) * span) as i8).collect();
            let qp = params(n, 1);
            let qw = prepare_weights("t", &w, &[k, n], &qp).unwrap();
            let bias: Vec<f32> = (0..n).map(|j| 0.1 * j as f32 - 0.3).collect();
            // A range narrower than the data: the ends clamp.
            let q = ActQuant {
                scale: 4.0 / 255.0,
                zero_point: 120,
            };
            let epi = Epilogue {
                act: Activation::Relu,
                post_scale: 0.5,
                post_bias: -0.25,
            };
            let quant =
                |v: f32| (((v / q.scale) + q.zero_point as f32).clamp(0.0, 255.0) + 0.5) as i64;
            let mut want = vec![0f64; rows * n];
            for i in 0..rows {
                for j in 0..n {
                    let acc: i64 = (0..k)
                        .map(|kk| {
                            (quant(x[i * k + kk]) - q.zero_point as i64) * w[kk * n + j] as i64
                        })
                        .sum();
                    let y = acc as f64 * q.scale as f64 * qp.scales[j] as f64 + bias[j] as f64;
                    want[i * n + j] = y.max(0.0) * 0.5 - 0.25;
                }
            }
            let mut x_shape = batch.clone();
            x_shape.extend([m, k]);
            let mut reference: Option<Vec<u32>> = None;
            for ks in KernelSet::available() {
                for th in [Threads::single(), Threads::new(2).unwrap()] {
                    let mut scratch = vec![0u8; qmatmul_scratch_len(&x_shape, &[k, n], &th)];
                    let mut out = vec![f32::NAN; rows * n];
                    qmatmul(
                        &ks,
                        &th,
                        q,
                        &qw,
                        &x,
                        &x_shape,
                        &[k, n],
                        Some(&bias),
                        &epi,
                        &mut out,
                        &mut scratch,
                    );
                    for (a, b) in out.iter().zip(&want) {
                        assert!(
                            (*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()),
                            "{} m{m} k{k} n{n}: {a} vs {b}",
                            ks.name
                        );
                    }
                    let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                    match &reference {
                        None => reference = Some(bits),
                        Some(r) => assert_eq!(&bits, r, "{} m{m} k{k} n{n}", ks.name),
                    }
                }
            }
        }
    }

    /// Weights the kernels cannot run exactly, or that are not quantised per column, are
    /// refused with an error.
    #[test]
    fn malformed_weights_are_refused() {
        let w = vec![1i8; 12];
        assert!(prepare_weights("t", &w, &[3, 4], &params(4, 1)).is_ok());
        assert!(prepare_weights("t", &w, &[1, 3, 4], &params(4, 2)).is_ok());
        let refused = |w: &[i8], shape: &[usize], qp: &QuantParams| {
            prepare_weights("t", w, shape, qp).is_err()
        };
        // Per row instead of per column; wrong scale count; non-zero zero point.
        assert!(refused(&w, &[3, 4], &params(4, 0)));
        assert!(refused(&w, &[3, 4], &params(3, 1)));
        let mut zp = params(4, 1);
        zp.zero_points[2] = 1;
        assert!(refused(&w, &[3, 4], &zp));
        // -128 is outside the symmetric range.
        let mut low = w.clone();
        low[5] = -128;
        assert!(refused(&low, &[3, 4], &params(4, 1)));
        // A batch of weight matrices, a vector, an empty matrix.
        assert!(refused(&w, &[2, 3, 2], &params(2, 2)));
        assert!(refused(&w, &[12], &params(12, 0)));
        assert!(refused(&[], &[0, 4], &params(4, 1)));
    }
}
