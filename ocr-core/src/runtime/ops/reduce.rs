//! Reductions: softmax, mean over axes, layer normalisation.

use super::movement::strides;
use super::pool::sum8;
use crate::runtime::kernels::KernelSet;
use crate::runtime::op::exp;
use crate::runtime::parallel::Threads;

/// Softmax along `axis` of `shape`; rows along the last axis run in parallel.
pub fn softmax(
    ks: &KernelSet,
    threads: &Threads,
    x: &[f32],
    shape: &[usize],
    axis: usize,
    out: &mut [f32],
) {
    let d = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    if d == 0 {
        return;
    }
    if inner == 1 {
        // Contiguous rows: a few thousand elements per task.
        let rows_per_task = (1 << 14) / d + 1;
        threads.for_each_chunk_mut(out, rows_per_task * d, |t, o| {
            let start = t * rows_per_task * d;
            for (row, orow) in x[start..start + o.len()]
                .chunks_exact(d)
                .zip(o.chunks_exact_mut(d))
            {
                softmax_row(ks, row, orow);
            }
        });
        return;
    }
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| o * d * inner + j * inner + i;
            let mut max = f32::NEG_INFINITY;
            for j in 0..d {
                max = max.max(x[at(j)]);
            }
            let mut sum = 0.0;
            for j in 0..d {
                let e = exp(x[at(j)] - max);
                out[at(j)] = e;
                sum += e;
            }
            let inv = 1.0 / sum;
            for j in 0..d {
                out[at(j)] *= inv;
            }
        }
    }
}

/// Softmax of one contiguous row.
fn softmax_row(ks: &KernelSet, row: &[f32], out: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    (ks.exp_shifted)(row, max, out);
    let inv = 1.0 / sum8(out);
    out.iter_mut().for_each(|o| *o *= inv);
}

/// Mean over the (sorted, unique) `axes` of `shape`; `out` has the reduced element count.
pub fn reduce_mean(x: &[f32], shape: &[usize], axes: &[usize], out: &mut [f32]) {
    let rank = shape.len();
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    // Fast path: reducing the trailing axes.
    if axes
        .iter()
        .enumerate()
        .all(|(i, &a)| a == rank - axes.len() + i)
    {
        for (o, row) in out.iter_mut().zip(x.chunks_exact(count.max(1))) {
            *o = row.iter().sum::<f32>() / count as f32;
        }
        return;
    }
    // General case: map each input element to its output index.
    let reduced: alloc::vec::Vec<usize> = (0..rank)
        .map(|i| if axes.contains(&i) { 1 } else { shape[i] })
        .collect();
    let out_strides = strides(&reduced);
    out.fill(0.0);
    let mut idx = alloc::vec![0usize; rank];
    for &v in x {
        let o: usize = (0..rank)
            .map(|i| {
                if axes.contains(&i) {
                    0
                } else {
                    idx[i] * out_strides[i]
                }
            })
            .sum();
        out[o] += v;
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out.iter_mut().for_each(|o| *o /= count as f32);
}

/// Layer normalisation over the last axis: `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub fn layer_norm(x: &[f32], d: usize, gamma: &[f32], beta: &[f32], eps: f32, out: &mut [f32]) {
    for (row, orow) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / libm::sqrtf(var + eps);
        for (((o, &v), &g), &b) in orow.iter_mut().zip(row).zip(gamma).zip(beta) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = libm::exp(x as f64);
            let rel = ((exp(x) as f64 - want) / want).abs() as f32;
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn mean_over_middle_axis() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [1, 3, 2]
        let mut out = [0.0; 2];
        reduce_mean(&x, &[1, 3, 2], &[1], &mut out);
        assert_eq!(out, [3.0, 4.0]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let x = [1.0, 2.0, 3.0, -1.0, 0.0, 1000.0];
        let mut out = [0.0; 6];
        softmax(
            &KernelSet::scalar(),
            &Threads::single(),
            &x,
            &[2, 3],
            1,
            &mut out,
        );
        assert!((out[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((out[5] - 1.0).abs() < 1e-6);
    }
}
