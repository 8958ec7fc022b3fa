//! Direct depthwise convolution (one filter per channel).

use crate::runtime::op::Epilogue;
use crate::runtime::parallel::Threads;

/// Accumulates `out[i] += w * input[i]` over the common length (the stride-1 inner loop).
pub type RowKernel = fn(out: &mut [f32], input: &[f32], w: f32);

/// Geometry of a depthwise convolution over one image.
#[derive(Debug, Clone, Copy)]
pub struct DwGeom {
    /// Channels.
    pub c: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height and width.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides.
    pub sh: usize,
    /// Stride along W.
    pub sw: usize,
    /// Pads top and left.
    pub ph: usize,
    /// Pad left.
    pub pw: usize,
    /// Dilations.
    pub dh: usize,
    /// Dilation along W.
    pub dw: usize,
    /// Output height and width.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// Range of output positions whose input position `o*s - p + t*d` falls inside `0..len`.
fn valid_range(len: usize, out: usize, s: usize, p: usize, t: usize, d: usize) -> (usize, usize) {
    let off = t * d; // input = o*s + off - p
    let lo = if p > off { (p - off).div_ceil(s) } else { 0 };
    // o*s + off - p <= len - 1  =>  o <= (len - 1 + p - off) / s
    let hi = if len + p > off {
        ((len - 1 + p - off) / s + 1).min(out)
    } else {
        0
    };
    (lo.min(out), hi.max(lo.min(out)))
}

/// Runs a depthwise convolution over a batch: `input` is `[n, c, h, w]`, `weights`
/// `[c, kh*kw]`, `out` `[n, c, oh, ow]`. Planes run in parallel.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    row: RowKernel,
    threads: &Threads,
    g: &DwGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    epi: &Epilogue,
    out: &mut [f32],
) {
    let plane_in = g.h * g.w;
    let plane_out = g.oh * g.ow;
    threads.for_each_chunk_mut(out, plane_out.max(1), |plane, o| {
        let ch = plane % g.c;
        let x = &input[plane * plane_in..(plane + 1) * plane_in];
        let wk = &weights[ch * g.kh * g.kw..(ch + 1) * g.kh * g.kw];
        o.fill(bias.map_or(0.0, |b| b[ch]));
        for ky in 0..g.kh {
            let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, g.ph, ky, g.dh);
            for kx in 0..g.kw {
                let wv = wk[ky * g.kw + kx];
                let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, g.pw, kx, g.dw);
                if ox0 >= ox1 {
                    continue;
                }
                for oy in oy0..oy1 {
                    let iy = oy * g.sh + ky * g.dh - g.ph;
                    let ix0 = ox0 * g.sw + kx * g.dw - g.pw;
                    let orow = &mut o[oy * g.ow + ox0..oy * g.ow + ox1];
                    let irow = &x[iy * g.w..(iy + 1) * g.w];
                    if g.sw == 1 {
                        row(orow, &irow[ix0..ix0 + orow.len()], wv);
                    } else {
                        for (j, ov) in orow.iter_mut().enumerate() {
                            *ov += wv * irow[ix0 + j * g.sw];
                        }
                    }
                }
            }
        }
        epi.apply_slice(o);
    });
}
