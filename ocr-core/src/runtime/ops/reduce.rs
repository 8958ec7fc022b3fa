//! Reductions: softmax, mean over axes, layer normalisation.

use super::movement::strides;

/// Softmax along `axis` of `shape`.
pub fn softmax(x: &[f32], shape: &[usize], axis: usize, out: &mut [f32]) {
    let d = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    if d == 0 {
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
                let e = libm::expf(x[at(j)] - max);
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
        softmax(&x, &[2, 3], 1, &mut out);
        assert!((out[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((out[5] - 1.0).abs() < 1e-6);
    }
}
