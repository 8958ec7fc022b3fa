//! Direct depthwise convolution (one filter per channel).
//!
//! Each input plane is first copied into a zero-padded, *phase-split* buffer: padded column `c`
//! is stored in phase `c % sw` at index `c / sw`. Every tap of every output row then reads a
//! contiguous run of inputs whatever the stride, so the plane kernel accumulates [`DW_TILE`]
//! outputs in registers over all taps with plain vector loads, and never tests bounds.
//!
//! Even and odd taps go to two partial sums (added at the end), which halves the dependency
//! chains' length. The scalar reference multiplies and adds in separate steps; the SIMD
//! kernels fuse them (one rounding per tap), so they agree with the reference to within a few
//! units in the last place of the sums (tested: `1e-5` absolute on unit-scale data). The
//! AVX-512 kernel computes two output rows per tile, and a tail tile of 16 or fewer columns
//! with one vector per row.
//!
//! A kernel set may also have a *direct* kernel ([`DwDirectKernel`]) for the geometries it
//! covers, which reads the unpadded plane and needs no copy; the AVX-512 set has one for 3x3
//! and 5x5 kernels with unit strides (see `x86::dw_direct_avx512_impl`). It sums each
//! output's taps in the same order as the set's plane kernel, so it gives the same bits
//! (tested).

use crate::runtime::op::Epilogue;
use crate::runtime::parallel::Threads;
use alloc::vec;

/// Outputs accumulated in registers at once along a row.
pub const DW_TILE: usize = 32;

/// Geometry of a depthwise convolution over one image.
#[derive(Debug, Clone, Copy)]
pub struct DwGeom {
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride along H.
    pub sh: usize,
    /// Stride along W.
    pub sw: usize,
    /// Pad at the top.
    pub ph: usize,
    /// Pad at the left.
    pub pw: usize,
    /// Dilation along H.
    pub dh: usize,
    /// Dilation along W.
    pub dw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// One padded, phase-split input plane (see the module notes).
#[derive(Debug, Clone, Copy)]
pub struct PaddedPlane<'a> {
    /// `[row][phase][index]`, zero where the convolution pads.
    pub data: &'a [f32],
    /// Floats per phase of one row.
    pub phase_len: usize,
    /// Offset of each tap from the start of its output row's tile ([`DwGeom::tap_offsets`]),
    /// the same for every plane of a convolution.
    pub taps: &'a [usize],
}

impl DwGeom {
    /// Padded rows the taps reach.
    pub fn padded_rows(&self) -> usize {
        (self.oh - 1) * self.sh + (self.kh - 1) * self.dh + 1
    }

    /// Floats per phase of a padded row: the columns the taps reach, rounded up to whole
    /// tiles so the last tile's loads stay inside the buffer.
    pub fn phase_len(&self) -> usize {
        self.ow.div_ceil(DW_TILE) * DW_TILE + (self.kw - 1) * self.dw / self.sw
    }

    /// Floats of one padded plane.
    pub fn padded_len(&self) -> usize {
        self.padded_rows() * self.sw * self.phase_len()
    }

    /// Offset of each tap `(ky, kx)` (row-major) from the start of its output row's tile in a
    /// padded plane.
    pub fn tap_offsets(&self) -> alloc::vec::Vec<usize> {
        let pl = self.phase_len();
        (0..self.kh)
            .flat_map(|ky| {
                (0..self.kw).map(move |kx| {
                    let c = kx * self.dw;
                    (ky * self.dh * self.sw + c % self.sw) * pl + c / self.sw
                })
            })
            .collect()
    }

    /// Start of output row `oy`'s first tile in a padded plane.
    pub fn row_start(&self, oy: usize) -> usize {
        oy * self.sh * self.sw * self.phase_len()
    }
}

/// Computes one output plane `out` (`oh * ow`, bias included, no activation) from a padded
/// plane and the channel's `kh * kw` weights.
pub type DwPlaneKernel =
    fn(g: &DwGeom, x: PaddedPlane, weights: &[f32], bias: f32, out: &mut [f32]);

/// Computes one output plane `out` (`oh * ow`, bias included, no activation) straight from
/// the unpadded input plane `x` (`h * w`) and the channel's `kh * kw` weights.
pub type DwDirectKernel = fn(g: &DwGeom, x: &[f32], weights: &[f32], bias: f32, out: &mut [f32]);

/// The [`super::KernelSet::dw_direct`] of sets without a direct kernel: every geometry goes
/// through the padded plane.
pub fn no_direct(_: &DwGeom) -> Option<DwDirectKernel> {
    None
}

/// Copies one input plane into its padded, phase-split buffer (see [`pad_plane`]).
pub type DwPadKernel = fn(g: &DwGeom, x: &[f32], dst: &mut [f32]);

/// Copies plane `x` (`h * w`) into `dst` (at least [`DwGeom::padded_len`]) with zero padding,
/// split by column phase. The reference [`DwPadKernel`]; the SIMD sets compile this same code
/// for wider vectors (a copy: the same values whatever the width).
#[inline(always)]
pub fn pad_plane(g: &DwGeom, x: &[f32], dst: &mut [f32]) {
    let (rows, pl) = (g.padded_rows(), g.phase_len());
    let dst = &mut dst[..rows * g.sw * pl];
    // Every float is written once: padding rows and the pads around each row's values are
    // zeroed, the values copied (a full clear first would write the plane twice).
    for r in 0..rows {
        let row = &mut dst[r * g.sw * pl..(r + 1) * g.sw * pl];
        let Some(iy) = r.checked_sub(g.ph).filter(|&y| y < g.h) else {
            row.fill(0.0);
            continue;
        };
        let src = &x[iy * g.w..(iy + 1) * g.w];
        if g.sw == 1 {
            // Columns beyond the taps' reach are not needed.
            let n = src.len().min(pl.saturating_sub(g.pw));
            let (left, rest) = row.split_at_mut(g.pw.min(pl));
            left.fill(0.0);
            rest[..n].copy_from_slice(&src[..n]);
            rest[n..].fill(0.0);
            continue;
        }
        // Padded column c = ix + pw goes to phase c % sw, index c / sw: each phase takes every
        // sw-th input column from the first one that lands in it (a strided copy per phase
        // instead of a branch per value).
        for (phase, dst) in row.chunks_exact_mut(pl).enumerate() {
            let ix0 = (phase + g.sw - g.pw % g.sw) % g.sw;
            let idx0 = (ix0 + g.pw) / g.sw;
            if ix0 >= src.len() || idx0 >= pl {
                dst.fill(0.0);
                continue;
            }
            let (left, dst) = dst.split_at_mut(idx0);
            left.fill(0.0);
            let from = &src[ix0..];
            // Values this phase takes: every sw-th of `from`, as many as fit.
            let take = dst.len().min(from.len().div_ceil(g.sw));
            // Whole groups of sw as fixed chunks (this vectorises; `step_by` does not).
            let whole = take.min(from.len() / g.sw);
            if g.sw == 2 {
                // The common stride as a constant, so the gather becomes vector shuffles.
                for (d, pair) in dst[..whole].iter_mut().zip(from.chunks_exact(2)) {
                    *d = pair[0];
                }
            } else {
                for (d, group) in dst[..whole].iter_mut().zip(from.chunks_exact(g.sw)) {
                    *d = group[0];
                }
            }
            if take > whole {
                dst[whole] = from[whole * g.sw];
            }
            dst[take..].fill(0.0);
        }
    }
}

/// Scalar reference plane kernel (see [`DwPlaneKernel`]).
pub fn dw_plane_scalar(g: &DwGeom, x: PaddedPlane, weights: &[f32], bias: f32, out: &mut [f32]) {
    for oy in 0..g.oh {
        let orow = &mut out[oy * g.ow..(oy + 1) * g.ow];
        let row = g.row_start(oy);
        for ox0 in (0..g.ow).step_by(DW_TILE) {
            let mut even = [bias; DW_TILE];
            let mut odd = [0f32; DW_TILE];
            for (t, (&off, &wv)) in x.taps.iter().zip(weights).enumerate() {
                let start = row + off + ox0;
                let acc = if t % 2 == 0 { &mut even } else { &mut odd };
                for (a, &v) in acc.iter_mut().zip(&x.data[start..start + DW_TILE]) {
                    *a += wv * v;
                }
            }
            let cols = DW_TILE.min(g.ow - ox0);
            for ((o, e), d) in orow[ox0..ox0 + cols].iter_mut().zip(even).zip(odd) {
                *o = e + d;
            }
        }
    }
}

/// Runs `run_plane(scratch, channel, input plane, output plane)` for every plane of a
/// depthwise convolution's batch (`input` `[n, c, h, w]`, `out` `[n, c, oh, ow]`), planes in
/// parallel; each task makes its `scratch` once with `make_scratch`. The fp32 and int8
/// depthwise drivers share this split of the work.
pub(crate) fn over_planes<S>(
    threads: &Threads,
    g: &DwGeom,
    input: &[f32],
    out: &mut [f32],
    make_scratch: impl Fn() -> S + Sync + Send,
    run_plane: impl Fn(&mut S, usize, &[f32], &mut [f32]) + Sync + Send,
) {
    let plane_in = g.h * g.w;
    let plane_out = g.oh * g.ow;
    if plane_out == 0 {
        return;
    }
    // Planes per task: enough to amortise the scratch, few enough to balance threads.
    let per_task = (out.len() / plane_out).div_ceil(8 * threads.count()).max(1);
    threads.for_each_chunk_mut(out, per_task * plane_out, |task, o| {
        let mut scratch = make_scratch();
        for (j, op) in o.chunks_exact_mut(plane_out).enumerate() {
            let plane = task * per_task + j;
            let x = &input[plane * plane_in..(plane + 1) * plane_in];
            run_plane(&mut scratch, plane % g.c, x, op);
        }
    });
}

/// Runs a depthwise convolution over a batch: `input` is `[n, c, h, w]`, `weights`
/// `[c, kh*kw]`, `out` `[n, c, oh, ow]`. Planes run in parallel.
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    ks: &super::KernelSet,
    threads: &Threads,
    g: &DwGeom,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    epi: &Epilogue,
    out: &mut [f32],
) {
    // Channel `ch`'s weights and bias, for either path.
    let taps_len = g.kh * g.kw;
    let weights_of = |ch: usize| &weights[ch * taps_len..(ch + 1) * taps_len];
    let bias_of = |ch: usize| bias.map_or(0.0, |b| b[ch]);
    if let Some(direct) = (ks.dw_direct)(g) {
        over_planes(
            threads,
            g,
            input,
            out,
            || (),
            |_, ch, x, op| {
                direct(g, x, weights_of(ch), bias_of(ch), op);
                (ks.epilogue)(epi, op);
            },
        );
        return;
    }
    let (taps, phase_len) = (g.tap_offsets(), g.phase_len());
    let make_scratch = || vec![0f32; g.padded_len()];
    over_planes(threads, g, input, out, make_scratch, |padded, ch, x, op| {
        (ks.dw_pad)(g, x, padded);
        let data = PaddedPlane {
            data: padded,
            phase_len,
            taps: &taps,
        };
        (ks.dw_plane)(g, data, weights_of(ch), bias_of(ch), op);
        (ks.epilogue)(epi, op);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernels::KernelSet;
    use alloc::vec::Vec;

    /// The geometry of a square `k x k` depthwise convolution with equal pads and dilations.
    fn geom(
        c: usize,
        h: usize,
        w: usize,
        k: usize,
        (sh, sw): (usize, usize),
        pad: usize,
        d: usize,
    ) -> DwGeom {
        DwGeom {
            c,
            h,
            w,
            kh: k,
            kw: k,
            sh,
            sw,
            ph: pad,
            pw: pad,
            dh: d,
            dw: d,
            oh: (h + 2 * pad - d * (k - 1) - 1) / sh + 1,
            ow: (w + 2 * pad - d * (k - 1) - 1) / sw + 1,
        }
    }

    /// On every kernel set, a padded plane holds, at `[row][phase][index]`, the input at row
    /// `row - ph` and column `index * sw + phase - pw`, zero outside the input, in every float:
    /// the buffer is reused from plane to plane, so a float it failed to write would leak the
    /// previous plane.
    #[test]
    fn padded_plane_writes_every_float() {
        for &(h, w, k, (sh, sw), pad) in &[
            (5, 9, 3, (1, 1), 1),
            (4, 7, 5, (1, 1), 2),
            (6, 11, 3, (2, 2), 1),
            (6, 10, 3, (1, 2), 1),
            (5, 13, 5, (2, 3), 2),
            (3, 1, 3, (1, 1), 1),
            (6, 33, 5, (2, 2), 0),
        ] {
            let g = geom(1, h, w, k, (sh, sw), pad, 1);
            let x: Vec<f32> = (0..h * w).map(|i| i as f32 + 1.0).collect();
            let pl = g.phase_len();
            for (ks, i, v) in KernelSet::available().into_iter().flat_map(|ks| {
                let mut got = vec![f32::NAN; g.padded_len()];
                (ks.dw_pad)(&g, &x, &mut got);
                got.into_iter()
                    .enumerate()
                    .map(move |(i, v)| (ks.name, i, v))
            }) {
                let (r, phase, idx) = (i / (sw * pl), i / pl % sw, i % pl);
                let (iy, ix) = (
                    r as isize - pad as isize,
                    (idx * sw + phase) as isize - pad as isize,
                );
                let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                let want = if inside {
                    x[iy as usize * w + ix as usize]
                } else {
                    0.0
                };
                assert_eq!(
                    v, want,
                    "{ks}: {h}x{w} k{k} s{sh},{sw} p{pad}: row {r} phase {phase} index {idx}"
                );
            }
        }
    }

    /// A direct kernel gives the bits of its set's padded-plane kernel, over the geometries
    /// it covers: the two are interchangeable, so which one runs does not change a reading.
    #[test]
    fn direct_kernels_match_the_padded_plane_kernels_bit_for_bit() {
        let mut seed = 11u64;
        let mut rnd = || crate::runtime::kernels::test_uniform(&mut seed);
        let mut covered = 0;
        for ks in KernelSet::available() {
            // (h, w, k, pad): rows fewer than, equal to and more than the kernel; widths
            // around the 16-column strips; pads 0 to k - 1.
            for &(h, w, k, pad) in &[
                (12, 80, 5, 2),
                (24, 160, 3, 1),
                (3, 40, 5, 2),
                (5, 17, 5, 4),
                (7, 1, 3, 1),
                (9, 33, 3, 0),
                (6, 18, 3, 2),
            ] {
                let g = geom(1, h, w, k, (1, 1), pad, 1);
                let Some(direct) = (ks.dw_direct)(&g) else {
                    continue;
                };
                covered += 1;
                let x: Vec<f32> = (0..h * w).map(|_| rnd()).collect();
                let wt: Vec<f32> = (0..k * k).map(|_| rnd()).collect();
                let bias = rnd();
                let mut padded = vec![0f32; g.padded_len()];
                (ks.dw_pad)(&g, &x, &mut padded);
                let taps = g.tap_offsets();
                let plane = PaddedPlane {
                    data: &padded,
                    phase_len: g.phase_len(),
                    taps: &taps,
                };
                let mut want = vec![f32::NAN; g.oh * g.ow];
                (ks.dw_plane)(&g, plane, &wt, bias, &mut want);
                let mut got = vec![f32::NAN; g.oh * g.ow];
                direct(&g, &x, &wt, bias, &mut got);
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{}: {h}x{w} k{k} p{pad} at {i}",
                        ks.name
                    );
                }
            }
        }
        // On a CPU without a direct kernel there is nothing to compare.
        let direct_sets = KernelSet::available()
            .iter()
            .filter(|ks| (ks.dw_direct)(&geom(1, 12, 80, 5, (1, 1), 2, 1)).is_some())
            .count();
        assert_eq!(covered, 7 * direct_sets);
    }

    /// Every kernel set equals a naive f64 convolution within float rounding (so the SIMD
    /// kernels agree with the scalar reference within twice that), and gives the same bits on
    /// one thread and two, over strides, pads, dilations, kernel sizes and widths that are not
    /// multiples of the tile (including width 1).
    #[test]
    fn matches_naive_convolution_on_every_kernel_set() {
        let mut seed = 7u64;
        let mut rnd = || crate::runtime::kernels::test_uniform(&mut seed);
        // (c, h, w, k, (sh, sw), pad, dilation)
        let cases = [
            (3, 12, 80, 3, (1, 1), 1, 1),
            (2, 12, 37, 5, (1, 1), 2, 1),
            (2, 12, 40, 3, (2, 1), 1, 1),
            (2, 12, 41, 3, (1, 2), 1, 1),
            (2, 9, 17, 3, (2, 2), 1, 1),
            (2, 9, 19, 3, (1, 1), 2, 2),
            (1, 5, 1, 3, (1, 1), 1, 1),
            (1, 1, 1, 1, (1, 1), 0, 1),
            (2, 6, 33, 5, (2, 2), 0, 1),
            // Odd row count, a tail tile of more than 16 columns.
            (2, 7, 50, 3, (1, 1), 1, 1),
            // The direct kernels' cases: no pad, a pad wider than the kernel's reach (outputs
            // wider than the input), a strip of one column, fewer rows than the kernel.
            (2, 9, 21, 5, (1, 1), 0, 1),
            (2, 6, 18, 3, (1, 1), 2, 1),
            (2, 11, 17, 5, (1, 1), 2, 1),
            (2, 3, 40, 5, (1, 1), 2, 1),
        ];
        for &(c, h, w, k, (sh, sw), pad, d) in &cases {
            let g = geom(c, h, w, k, (sh, sw), pad, d);
            let (oh, ow) = (g.oh, g.ow);
            let n = 2;
            let x: Vec<f32> = (0..n * c * h * w).map(|_| rnd()).collect();
            let wt: Vec<f32> = (0..c * k * k).map(|_| rnd()).collect();
            let bias: Vec<f32> = (0..c).map(|_| rnd()).collect();
            let mut want = vec![0f64; n * c * oh * ow];
            for p in 0..n * c {
                let ch = p % c;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = bias[ch] as f64;
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * sh + ky * d) as isize - pad as isize;
                                let ix = (ox * sw + kx * d) as isize - pad as isize;
                                if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                                    s += wt[ch * k * k + ky * k + kx] as f64
                                        * x[p * h * w + iy as usize * w + ix as usize] as f64;
                                }
                            }
                        }
                        want[(p * oh + oy) * ow + ox] = s;
                    }
                }
            }
            for ks in KernelSet::available() {
                let mut reference: Option<Vec<f32>> = None;
                for th in [Threads::single(), Threads::new(2).unwrap()] {
                    let mut out = vec![f32::NAN; n * c * oh * ow];
                    depthwise(
                        &ks,
                        &th,
                        &g,
                        &x,
                        &wt,
                        Some(&bias),
                        &Epilogue::identity(),
                        &mut out,
                    );
                    for (a, b) in out.iter().zip(&want) {
                        assert!((*a as f64 - b).abs() < 1e-5, "{}: {a} vs {b}", ks.name);
                    }
                    match &reference {
                        None => reference = Some(out),
                        Some(r) => assert!(
                            r.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{} differs between thread counts",
                            ks.name
                        ),
                    }
                }
            }
        }
    }
}
