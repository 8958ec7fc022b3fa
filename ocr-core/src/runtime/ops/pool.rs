//! Pooling and nearest-neighbour upsampling over NCHW tensors.

use crate::runtime::op::PoolParams;
use crate::runtime::parallel::Threads;

/// Max (`is_max`) or average pooling.
pub fn pool(
    p: &PoolParams,
    is_max: bool,
    x: &[f32],
    x_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
) {
    let (h, w) = (x_shape[2], x_shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let planes = x_shape[0] * x_shape[1];
    for pl in 0..planes {
        let src = &x[pl * h * w..(pl + 1) * h * w];
        let dst = &mut out[pl * oh * ow..(pl + 1) * oh * ow];
        for oy in 0..oh {
            let y0 = (oy * p.strides[0]) as isize - p.pads[0] as isize;
            let y1 = y0 + p.kernel[0] as isize;
            for ox in 0..ow {
                let x0 = (ox * p.strides[1]) as isize - p.pads[1] as isize;
                let x1 = x0 + p.kernel[1] as isize;
                let (cy0, cy1) = (y0.max(0) as usize, (y1.min(h as isize)).max(0) as usize);
                let (cx0, cx1) = (x0.max(0) as usize, (x1.min(w as isize)).max(0) as usize);
                let mut acc = if is_max { f32::NEG_INFINITY } else { 0.0 };
                for yy in cy0..cy1 {
                    for xx in cx0..cx1 {
                        let v = src[yy * w + xx];
                        acc = if is_max { acc.max(v) } else { acc + v };
                    }
                }
                dst[oy * ow + ox] = if is_max {
                    acc
                } else {
                    let count = if p.count_include_pad {
                        // The window clipped to the padded extent, as ONNX counts it.
                        let py1 = y1.min((h + p.pads[2]) as isize);
                        let px1 = x1.min((w + p.pads[3]) as isize);
                        ((py1 - y0) * (px1 - x0)) as usize
                    } else {
                        (cy1 - cy0) * (cx1 - cx0)
                    };
                    acc / count.max(1) as f32
                };
            }
        }
    }
}

/// Sum of a slice with eight independent accumulators (vectorises; the order is fixed, so
/// results do not depend on threads or kernels).
pub fn sum8(v: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for x in rest {
        s += x;
    }
    s
}

/// Planes per parallel task for a per-plane operation over planes of `plane` values: about
/// `PLANE_TASK` values each (at least one plane), so small tensors stay on one thread.
fn planes_per_task(plane: usize) -> usize {
    const PLANE_TASK: usize = 1 << 16;
    PLANE_TASK.div_ceil(plane.max(1)).max(1)
}

/// Mean over each H x W plane, planes spread over `threads` (each plane's sum is computed
/// whole, so the result does not depend on the thread count).
pub fn global_average_pool(threads: &Threads, x: &[f32], x_shape: &[usize], out: &mut [f32]) {
    let hw = x_shape[2] * x_shape[3];
    if hw == 0 {
        out.fill(f32::NAN);
        return;
    }
    let per = planes_per_task(hw);
    threads.for_each_chunk_mut(out, per, |t, o| {
        for (o, plane) in o.iter_mut().zip(x[t * per * hw..].chunks_exact(hw)) {
            *o = sum8(plane) / hw as f32;
        }
    });
}

/// Nearest-neighbour upsampling by integer factors, planes spread over `threads`.
pub fn resize_nearest(
    threads: &Threads,
    x: &[f32],
    x_shape: &[usize],
    sh: usize,
    sw: usize,
    out: &mut [f32],
) {
    let (h, w) = (x_shape[2], x_shape[3]);
    let (oh, ow) = (h * sh, w * sw);
    if oh * ow == 0 {
        return;
    }
    let per = planes_per_task(oh * ow);
    threads.for_each_chunk_mut(out, per * oh * ow, |t, o| {
        let src_planes = x[t * per * h * w..].chunks_exact(h * w);
        for (src, dst) in src_planes.zip(o.chunks_exact_mut(oh * ow)) {
            for (row, drows) in src.chunks_exact(w).zip(dst.chunks_exact_mut(ow * sh)) {
                let (first, rest) = drows.split_at_mut(ow);
                for (d, &v) in first.chunks_exact_mut(sw).zip(row) {
                    d.fill(v);
                }
                for r in rest.chunks_exact_mut(ow) {
                    r.copy_from_slice(first);
                }
            }
        }
    });
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Global average pooling and nearest upsampling give the same bits on one thread and
    /// two, and the values the definitions give, on planes big enough to be split.
    #[test]
    fn per_plane_ops_match_their_definitions_on_any_thread_count() {
        let shape = [2usize, 5, 67, 131];
        let (h, w) = (shape[2], shape[3]);
        let n: usize = shape.iter().product();
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 101) as f32 * 0.125 - 6.0)
            .collect();
        let one = Threads::single();
        let two = Threads::new(2).unwrap();
        let (mut g1, mut g2) = (vec![0f32; 10], vec![0f32; 10]);
        global_average_pool(&one, &x, &shape, &mut g1);
        global_average_pool(&two, &x, &shape, &mut g2);
        assert_eq!(g1, g2);
        for (p, &g) in g1.iter().enumerate() {
            let want: f64 = x[p * h * w..(p + 1) * h * w]
                .iter()
                .map(|&v| v as f64)
                .sum();
            assert!((g as f64 - want / (h * w) as f64).abs() < 1e-4, "plane {p}");
        }
        let (mut r1, mut r2) = (vec![0f32; n * 6], vec![1f32; n * 6]);
        resize_nearest(&one, &x, &shape, 2, 3, &mut r1);
        resize_nearest(&two, &x, &shape, 2, 3, &mut r2);
        assert_eq!(r1, r2);
        let (oh, ow) = (2 * h, 3 * w);
        for p in [0, 9] {
            for (y, xx) in [(0, 0), (oh - 1, ow - 1), (77, 200)] {
                assert_eq!(r1[(p * oh + y) * ow + xx], x[(p * h + y / 2) * w + xx / 3]);
            }
        }
    }
}
