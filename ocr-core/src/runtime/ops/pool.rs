//! Pooling and nearest-neighbour upsampling over NCHW tensors.

use crate::runtime::op::PoolParams;
use crate::runtime::parallel::Threads;

/// Max (`is_max`) or average pooling, planes spread over `threads`. Each output is reduced in
/// the same order whatever the thread count (window rows first, then columns).
#[allow(clippy::too_many_arguments)]
pub fn pool(
    threads: &Threads,
    p: &PoolParams,
    is_max: bool,
    x: &[f32],
    x_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
) {
    let (h, w) = (x_shape[2], x_shape[3]);
    let (oh, ow) = (out_shape[2], out_shape[3]);
    let empty = if is_max { f32::NEG_INFINITY } else { 0.0 };
    if oh * ow == 0 {
        return;
    }
    if h * w == 0 {
        out.fill(empty);
        return;
    }
    // Each output's window along one axis, clipped to the input (`start..end`), and its length
    // clipped to the padded extent, which ONNX counts with `count_include_pad`. Computed once
    // per row and column instead of once per output.
    let window = |o: usize, axis: usize, len: usize| {
        let lo = (o * p.strides[axis]) as isize - p.pads[axis] as isize;
        let hi = lo + p.kernel[axis] as isize;
        let start = lo.clamp(0, len as isize) as usize;
        let end = (hi.clamp(0, len as isize) as usize).max(start);
        let padded = (hi.min((len + p.pads[axis + 2]) as isize) - lo).max(0) as usize;
        (start, end, padded)
    };
    let rows: alloc::vec::Vec<_> = (0..oh).map(|oy| window(oy, 0, h)).collect();
    let cols: alloc::vec::Vec<_> = (0..ow).map(|ox| window(ox, 1, w)).collect();
    let per = planes_per_task(h * w);
    let reduce = |acc: f32, v: f32| if is_max { acc.max(v) } else { acc + v };
    threads.for_each_chunk_mut(out, per * oh * ow, |t, o| {
        // Each output row first reduces its window's input rows column by column (whole rows
        // at once, which vectorises), then each output reduces its columns of that.
        let mut column = alloc::vec![empty; w];
        for (j, dst) in o.chunks_exact_mut(oh * ow).enumerate() {
            let src = &x[(t * per + j) * h * w..][..h * w];
            for (&(y0, y1, py), drow) in rows.iter().zip(dst.chunks_exact_mut(ow)) {
                column.fill(empty);
                for row in src[y0 * w..y1 * w].chunks_exact(w) {
                    // One loop per kind, so each compiles without a branch per value.
                    let pairs = column.iter_mut().zip(row);
                    if is_max {
                        pairs.for_each(|(c, &v)| *c = c.max(v));
                    } else {
                        pairs.for_each(|(c, &v)| *c += v);
                    }
                }
                for (&(x0, x1, px), d) in cols.iter().zip(drow) {
                    let acc = column[x0..x1].iter().fold(empty, |a, &v| reduce(a, v));
                    *d = if is_max {
                        acc
                    } else {
                        let count = if p.count_include_pad {
                            py * px
                        } else {
                            (y1 - y0) * (x1 - x0)
                        };
                        acc / count.max(1) as f32
                    };
                }
            }
        }
    });
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

    /// Max and average pooling equal a naive per-output definition (windows clipped to the
    /// input; averages over the clipped window, or over the window within the padded extent
    /// with `count_include_pad`; sums within float rounding), with the same bits on one thread
    /// and two.
    #[test]
    fn pooling_matches_its_definition_on_any_thread_count() {
        use crate::runtime::op::PoolParams;
        let shape = [2usize, 9, 13, 17];
        let (h, w) = (shape[2], shape[3]);
        let n: usize = shape.iter().product();
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 29) % 97) as f32 * 0.25 - 11.0)
            .collect();
        for (kernel, strides, pads, count_include_pad) in [
            ([2, 2], [2, 2], [0, 0, 0, 0], false),
            ([3, 2], [3, 2], [0, 0, 0, 0], false),
            ([3, 3], [1, 1], [1, 1, 1, 1], false),
            ([3, 3], [2, 2], [1, 1, 1, 1], true),
            ([2, 3], [2, 3], [0, 0, 2, 3], true),
        ] {
            let p = PoolParams {
                kernel,
                strides,
                pads,
                ceil_mode: false,
                count_include_pad,
            };
            let oh = (h + pads[0] + pads[2] - kernel[0]) / strides[0] + 1;
            let ow = (w + pads[1] + pads[3] - kernel[1]) / strides[1] + 1;
            let out_shape = [2, 9, oh, ow];
            for is_max in [true, false] {
                let mut want = vec![0f32; 18 * oh * ow];
                for (pl, o) in want.chunks_exact_mut(oh * ow).enumerate() {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let (y0, x0) = (
                                (oy * strides[0]) as isize - pads[0] as isize,
                                (ox * strides[1]) as isize - pads[1] as isize,
                            );
                            let (mut acc, mut count, mut padded) = (f32::NEG_INFINITY, 0, 0);
                            let mut sum = 0f32;
                            for yy in y0..y0 + kernel[0] as isize {
                                for xx in x0..x0 + kernel[1] as isize {
                                    let in_pad =
                                        yy < (h + pads[2]) as isize && xx < (w + pads[3]) as isize;
                                    padded += in_pad as usize;
                                    if (0..h as isize).contains(&yy)
                                        && (0..w as isize).contains(&xx)
                                    {
                                        let v = x[pl * h * w + yy as usize * w + xx as usize];
                                        acc = acc.max(v);
                                        sum += v;
                                        count += 1;
                                    }
                                }
                            }
                            let div = if count_include_pad { padded } else { count };
                            o[oy * ow + ox] = if is_max { acc } else { sum / div.max(1) as f32 };
                        }
                    }
                }
                let mut first: Option<Vec<f32>> = None;
                for th in [Threads::single(), Threads::new(2).unwrap()] {
                    let mut got = vec![f32::NAN; want.len()];
                    pool(&th, &p, is_max, &x, &shape, &mut got, &out_shape);
                    // Averages sum in another order than the definition: equal within
                    // float rounding.
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{p:?} {is_max}");
                    }
                    if is_max {
                        assert_eq!(got, want);
                    }
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert_eq!(*f, got, "threads change the bits"),
                    }
                }
            }
        }
    }
}
