//! Pooling and nearest-neighbour upsampling over NCHW tensors.

use crate::runtime::op::PoolParams;

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

/// Mean over each H x W plane.
pub fn global_average_pool(x: &[f32], x_shape: &[usize], out: &mut [f32]) {
    let hw = x_shape[2] * x_shape[3];
    for (o, plane) in out.iter_mut().zip(x.chunks_exact(hw)) {
        *o = sum8(plane) / hw as f32;
    }
}

/// Nearest-neighbour upsampling by integer factors.
pub fn resize_nearest(x: &[f32], x_shape: &[usize], sh: usize, sw: usize, out: &mut [f32]) {
    let (h, w) = (x_shape[2], x_shape[3]);
    let (oh, ow) = (h * sh, w * sw);
    for (src, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
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
}
