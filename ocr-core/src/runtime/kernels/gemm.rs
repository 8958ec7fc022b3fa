//! The blocked fp32 GEMM driver: `C = epilogue(A x B + bias)`.
//!
//! A (the weights, or the left matrix) is packed into panels of [`MR`] rows, B into panels of
//! [`NR`] columns, one panel at a time per task, straight from its source: a strided matrix or
//! an implicit im2col view of an image (so kxk convolutions never materialise the column
//! matrix). Tasks own disjoint column ranges of C, so the result does not depend on the number
//! of threads.

use super::{KernelSet, MR, NR};
use crate::runtime::op::Epilogue;
use crate::runtime::parallel::Threads;

/// A strided read-only matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    /// Elements.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

/// An implicit im2col matrix over one image's channels `[c, h, w]`: row `k = (ci, ky, kx)`,
/// column `n = (oy, ox)`, zero outside the image.
#[derive(Debug, Clone, Copy)]
pub struct Im2col<'a> {
    /// The image, `[c, h, w]`.
    pub input: &'a [f32],
    /// Channels, height, width.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Kernel height, width.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides.
    pub sh: usize,
    /// Stride along W.
    pub sw: usize,
    /// Top pad.
    pub ph: usize,
    /// Left pad.
    pub pw: usize,
    /// Dilations.
    pub dh: usize,
    /// Dilation along W.
    pub dw: usize,
    /// Output width (columns are `oy * ow + ox`).
    pub ow: usize,
}

/// Where B's elements come from.
#[derive(Debug, Clone, Copy)]
pub enum BSource<'a> {
    /// A plain matrix.
    Mat(MatRef<'a>),
    /// An implicit im2col view.
    Im2col(Im2col<'a>),
    /// A constant matrix packed once by [`pack_b_all`] (its `k` and `n` must match the call).
    Packed(&'a [f32]),
}

/// Where A's elements come from.
#[derive(Debug, Clone, Copy)]
pub enum ASource<'a> {
    /// A plain matrix, packed on every call.
    Mat(MatRef<'a>),
    /// Weights packed once by [`pack_a_all`] (its `m` and `k` must match the call).
    Packed(&'a [f32]),
}

/// Packs an `m x k` A into the panel layout [`gemm`] reads (done once for constant weights).
pub fn pack_a_all(a: MatRef, m: usize, k: usize) -> alloc::vec::Vec<f32> {
    let mut out = alloc::vec![0f32; m.div_ceil(MR) * MR * k];
    pack_a(a, m, k, &mut out);
    out
}

/// Packs a `k x n` B into the panel layout [`gemm`] reads: every `NR`-column panel, each of its
/// `KC`-deep blocks in turn (done once for constant matrices).
pub fn pack_b_all(b: MatRef, k: usize, n: usize) -> alloc::vec::Vec<f32> {
    let mut out = alloc::vec![0f32; n.div_ceil(NR) * NR * k];
    let src = BSource::Mat(b);
    for p in 0..n.div_ceil(NR) {
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let at = p * k * NR + k0 * NR;
            pack_b(&src, k0, kc, n, p * NR, &mut out[at..at + kc * NR]);
            k0 += kc;
        }
    }
    out
}

/// A bias added before the epilogue.
#[derive(Debug, Clone, Copy)]
pub enum Bias<'a> {
    /// None.
    None,
    /// One value per row of C (output channel of a convolution).
    Row(&'a [f32]),
    /// One value per column of C (output feature of a matrix product).
    Col(&'a [f32]),
}

/// Depth of one K block: a packed B block (`KC x NR` floats, 16 KiB) stays in L1 while every
/// A panel streams past it.
pub const KC: usize = 256;

/// Scratch floats [`gemm`] needs for an `m x k` A and `tasks` column tasks.
pub fn scratch_len(m: usize, k: usize, tasks: usize) -> usize {
    let mp = m.div_ceil(MR) * MR;
    mp * k + tasks * per_task_len(mp, k)
}

/// Scratch per column task: one packed B block plus the accumulator tiles of every A panel.
fn per_task_len(m_padded: usize, k: usize) -> usize {
    k.min(KC) * NR + m_padded * NR
}

/// How [`gemm`] tiles C into tasks: `(row groups, column groups)`. Columns are split first
/// (B panels are packed once); small-N products also split rows so every thread has work.
/// Up to four tasks per thread let the pool balance uneven tasks.
fn task_grid(m: usize, n: usize, k: usize, threads: &Threads) -> (usize, usize) {
    let t = threads.count();
    // Waking the pool costs tens of microseconds: small products run on one thread.
    if t == 1 || m.saturating_mul(n).saturating_mul(k) < SMALL_GEMM_MACS {
        return (1, 1);
    }
    let target = 4 * t;
    let tn = n.div_ceil(NR).clamp(1, target);
    let tm = (target / tn).clamp(1, m.div_ceil(MR));
    (tm, tn)
}

/// Products below this many multiply-adds run on one thread.
const SMALL_GEMM_MACS: usize = 1 << 21;

/// Number of tasks [`gemm`] splits an `m x n x k` product into.
pub fn task_count(m: usize, n: usize, k: usize, threads: &Threads) -> usize {
    let (tm, tn) = task_grid(m, n, k, threads);
    tm * tn
}

fn pack_a(a: MatRef, m: usize, k: usize, dst: &mut [f32]) {
    for (p, panel) in dst.chunks_exact_mut(MR * k).enumerate() {
        for kk in 0..k {
            for r in 0..MR {
                let i = p * MR + r;
                panel[kk * MR + r] = if i < m {
                    a.data[i * a.rs + kk * a.cs]
                } else {
                    0.0
                };
            }
        }
    }
}

fn pack_b(src: &BSource, k0: usize, kc: usize, n: usize, n0: usize, dst: &mut [f32]) {
    let cols = NR.min(n - n0);
    match src {
        BSource::Mat(b) => {
            for kk in 0..kc {
                let d = &mut dst[kk * NR..(kk + 1) * NR];
                let base = (k0 + kk) * b.rs + n0 * b.cs;
                if b.cs == 1 {
                    copy_run(&mut d[..cols], &b.data[base..base + cols]);
                } else {
                    for (j, v) in d[..cols].iter_mut().enumerate() {
                        *v = b.data[base + j * b.cs];
                    }
                }
                d[cols..].fill(0.0);
            }
        }
        BSource::Im2col(g) => {
            let (oy0, ox0) = (n0 / g.ow, n0 % g.ow);
            // Fast path: all columns in one output row with unit stride along W, so each
            // kernel tap reads one contiguous input run (interior runs are plain copies).
            if g.sw == 1 && ox0 + cols <= g.ow {
                pack_im2col_row(g, k0, kc, oy0, ox0, cols, dst);
            } else {
                pack_im2col_general(g, k0, kc, n0, cols, dst);
            }
        }
        BSource::Packed(pb) => {
            let k = pb.len() / (n.div_ceil(NR) * NR);
            let at = (n0 / NR) * k * NR + k0 * NR;
            dst[..kc * NR].copy_from_slice(&pb[at..at + kc * NR]);
        }
    }
}

/// Copies a run of at most [`NR`] floats. A whole panel width is a fixed-size copy the
/// compiler turns into vector moves; `copy_from_slice` of a run whose length is only known at
/// run time calls `memcpy`, which costs more than the copy itself at this size.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    match (
        <&mut [f32; NR]>::try_from(&mut *dst),
        <&[f32; NR]>::try_from(src),
    ) {
        (Ok(d), Ok(s)) => *d = *s,
        _ => dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s),
    }
}

fn pack_im2col_row(
    g: &Im2col,
    k0: usize,
    kc: usize,
    oy: usize,
    ox0: usize,
    cols: usize,
    dst: &mut [f32],
) {
    let (h, w) = (g.h as isize, g.w as isize);
    for (kk, d) in dst.chunks_exact_mut(NR).take(kc).enumerate() {
        let (ci, ky, kx) = g.tap(k0 + kk);
        let y = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
        let x0 = (ox0 + kx * g.dw) as isize - g.pw as isize;
        if y < 0 || y >= h {
            d.fill(0.0);
            continue;
        }
        let row = &g.input[ci * g.h * g.w + (y * w) as usize..][..g.w];
        if x0 >= 0 && x0 + cols as isize <= w {
            copy_run(&mut d[..cols], &row[x0 as usize..x0 as usize + cols]);
        } else {
            for (j, v) in d[..cols].iter_mut().enumerate() {
                let x = x0 + j as isize;
                *v = if x >= 0 && x < w {
                    row[x as usize]
                } else {
                    0.0
                };
            }
        }
        d[cols..].fill(0.0);
    }
}

fn pack_im2col_general(g: &Im2col, k0: usize, kc: usize, n0: usize, cols: usize, dst: &mut [f32]) {
    // Top-left input coordinate of each column's window (may be negative).
    let mut iy0 = [0isize; NR];
    let mut ix0 = [0isize; NR];
    for j in 0..cols {
        let (oy, ox) = ((n0 + j) / g.ow, (n0 + j) % g.ow);
        iy0[j] = (oy * g.sh) as isize - g.ph as isize;
        ix0[j] = (ox * g.sw) as isize - g.pw as isize;
    }
    let (h, w) = (g.h as isize, g.w as isize);
    for (kk, d) in dst.chunks_exact_mut(NR).take(kc).enumerate() {
        let (ci, ky, kx) = g.tap(k0 + kk);
        let plane = &g.input[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        let (dy, dx) = ((ky * g.dh) as isize, (kx * g.dw) as isize);
        for j in 0..cols {
            let (y, x) = (iy0[j] + dy, ix0[j] + dx);
            d[j] = if y >= 0 && y < h && x >= 0 && x < w {
                plane[(y * w + x) as usize]
            } else {
                0.0
            };
        }
        d[cols..].fill(0.0);
    }
}

impl Im2col<'_> {
    /// The (channel, ky, kx) of row `k` of the column matrix.
    fn tap(&self, k: usize) -> (usize, usize, usize) {
        let per_c = self.kh * self.kw;
        (k / per_c, (k % per_c) / self.kw, k % self.kw)
    }
}

/// Writes one finished row of a tile: bias, then the epilogue.
#[inline(always)]
fn write_row(
    ks: &KernelSet,
    crow: &mut [f32],
    acc: &[f32],
    bias: Bias,
    row: usize,
    n0: usize,
    epi: &Epilogue,
) {
    match bias {
        Bias::None => match (
            <&mut [f32; NR]>::try_from(&mut *crow),
            <&[f32; NR]>::try_from(acc),
        ) {
            // Whole tile rows as a fixed-size copy (vector moves, not a memmove call).
            (Ok(d), Ok(s)) => *d = *s,
            _ => crow.copy_from_slice(acc),
        },
        Bias::Row(bv) => {
            let bv = bv[row];
            crow.iter_mut().zip(acc).for_each(|(o, &v)| *o = v + bv);
        }
        Bias::Col(bv) => crow
            .iter_mut()
            .zip(acc.iter().zip(&bv[n0..n0 + acc.len()]))
            .for_each(|(o, (&v, &bb))| *o = v + bb),
    }
    (ks.epilogue)(epi, crow);
}

/// A raw pointer to C that column tasks share.
#[derive(Clone, Copy)]
pub(crate) struct CPtr<T = f32>(pub(crate) *mut T);
// SAFETY: tasks write disjoint blocks (row panels x column panels) of C (see `gemm`; the int8
// convolution's panels likewise), so sharing the pointer across threads never creates
// overlapping writes.
unsafe impl<T> Send for CPtr<T> {}
unsafe impl<T> Sync for CPtr<T> {}

impl<T> CPtr<T> {
    /// # Safety
    /// `off + len` must be within C, and no other live slice may overlap these elements.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, off: usize, len: usize) -> &mut [T] {
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts_mut(self.0.add(off), len) }
    }
}

/// Computes `C[m x n] = epilogue(A[m x k] * B[k x n] + bias)`, C row-major with row stride `ldc`.
/// `scratch` needs [`scratch_len`]`(m, k, task_count(m, n, k, threads))` floats.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    ks: &KernelSet,
    threads: &Threads,
    (m, n, k): (usize, usize, usize),
    a: ASource,
    b: &BSource,
    c: &mut [f32],
    ldc: usize,
    bias: Bias,
    epi: &Epilogue,
    scratch: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        c.len() >= (m - 1) * ldc + n && ldc >= n,
        "gemm: C too small"
    );
    match b {
        BSource::Im2col(g) => assert_eq!(g.c * g.kh * g.kw, k, "gemm: im2col depth"),
        BSource::Packed(pb) => assert_eq!(pb.len(), n.div_ceil(NR) * NR * k, "gemm: packed B"),
        BSource::Mat(_) => {}
    }
    if let ASource::Packed(pa) = a {
        assert_eq!(pa.len(), m.div_ceil(MR) * MR * k, "gemm: packed A");
    }
    if k == 0 {
        // An empty sum: C is the bias under the epilogue.
        for i in 0..m {
            for j in 0..n {
                let bv = match bias {
                    Bias::None => 0.0,
                    Bias::Row(b) => b[i],
                    Bias::Col(b) => b[j],
                };
                c[i * ldc + j] = epi.apply(bv);
            }
        }
        return;
    }
    let (tm, tn) = task_grid(m, n, k, threads);
    let tasks = tm * tn;
    let mp = m.div_ceil(MR) * MR;
    let (a_scratch, task_scratch) = scratch.split_at_mut(mp * k);
    let a_packed: &[f32] = match a {
        ASource::Packed(pa) => pa,
        ASource::Mat(a) => {
            pack_a(a, m, k, a_scratch);
            a_scratch
        }
    };
    let panels = n.div_ceil(NR);
    let per_tn = panels.div_ceil(tn);
    let m_panels = mp / MR;
    let per_tm = m_panels.div_ceil(tm);
    let cp = CPtr(c.as_mut_ptr());
    let kernel = ks.gemm;
    let per = per_task_len(mp, k);
    threads.for_each_chunk_mut(&mut task_scratch[..tasks * per], per, |t, buf| {
        let (bblock, tiles) = buf.split_at_mut(k.min(KC) * NR);
        let mut acc = [0f32; MR * NR];
        let (row_group, col_group) = (t / tn, t % tn);
        let mp0 = (row_group * per_tm).min(m_panels);
        let mp1 = ((row_group + 1) * per_tm).min(m_panels);
        for p in col_group * per_tn..((col_group + 1) * per_tn).min(panels) {
            let n0 = p * NR;
            let cols = NR.min(n - n0);
            let mut k0 = 0;
            while k0 < k {
                let kc = KC.min(k - k0);
                let (first, last) = (k0 == 0, k0 + kc == k);
                let bblock: &[f32] = match b {
                    // Packed once: read in place.
                    BSource::Packed(pb) => {
                        let at = p * k * NR + k0 * NR;
                        &pb[at..at + kc * NR]
                    }
                    _ => {
                        pack_b(b, k0, kc, n, n0, bblock);
                        bblock
                    }
                };
                for (mpi, tile) in tiles
                    .chunks_exact_mut(MR * NR)
                    .enumerate()
                    .take(mp1)
                    .skip(mp0)
                {
                    let apanel = &a_packed[mpi * MR * k + k0 * MR..mpi * MR * k + (k0 + kc) * MR];
                    kernel(kc, apanel, bblock, &mut acc);
                    // Blocks after the first accumulate in the panel's tile (fixed order).
                    if !first {
                        acc.iter_mut().zip(tile.iter()).for_each(|(a, t)| *a += t);
                    }
                    if !last {
                        tile.copy_from_slice(&acc);
                        continue;
                    }
                    let m0 = mpi * MR;
                    for r in 0..MR.min(m - m0) {
                        let off = (m0 + r) * ldc + n0;
                        // SAFETY: `off + cols <= (m-1)*ldc + n <= c.len()` (asserted above),
                        // and rows of panels mp0..mp1 x columns n0..n0+cols belong to this task
                        // alone, so no other thread touches these elements meanwhile.
                        let crow = unsafe { cp.slice(off, cols) };
                        write_row(ks, crow, &acc[r * NR..r * NR + cols], bias, m0 + r, n0, epi);
                    }
                }
                k0 += kc;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum();
            }
        }
        c
    }

    /// Every kernel set, every edge size (not multiples of MR/NR, k = 1, n = 1), single and
    /// multi-threaded, agrees with a naive product within 1e-5 relative to sum |a||b|.
    #[test]
    fn all_kernel_sets_match_naive() {
        let mut seed = 7;
        #[cfg(feature = "std")]
        let pools = [Threads::single(), Threads::new(3).unwrap()];
        #[cfg(not(feature = "std"))]
        let pools = [Threads::single()];
        for ks in KernelSet::available() {
            for &(m, n, k) in &[
                (1, 1, 1),
                (5, 17, 3),
                (6, 16, 8),
                (13, 33, 27),
                (7, 1, 64),
                (1, 100, 5),
                (24, 48, 130),
                (9, 35, 2 * KC + 3),
            ] {
                let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
                let b: Vec<f32> = (0..k * n).map(|_| lcg(&mut seed)).collect();
                let want = naive(m, n, k, &a, &b);
                for th in &pools {
                    let mut c = vec![f32::NAN; m * n];
                    let mut scratch = vec![0.0; scratch_len(m, k, task_count(m, n, k, th))];
                    gemm(
                        &ks,
                        th,
                        (m, n, k),
                        ASource::Mat(MatRef {
                            data: &a,
                            rs: k,
                            cs: 1,
                        }),
                        &BSource::Mat(MatRef {
                            data: &b,
                            rs: n,
                            cs: 1,
                        }),
                        &mut c,
                        n,
                        Bias::None,
                        &Epilogue::identity(),
                        &mut scratch,
                    );
                    for (x, y) in c.iter().zip(&want) {
                        assert!(
                            (x - y).abs() <= 1e-5 * k as f32,
                            "{} m{m} n{n} k{k}: {x} vs {y}",
                            ks.name
                        );
                    }
                    // Operands packed once give the very same result.
                    let am = MatRef {
                        data: &a,
                        rs: k,
                        cs: 1,
                    };
                    let bm = MatRef {
                        data: &b,
                        rs: n,
                        cs: 1,
                    };
                    let (pa, pb) = (pack_a_all(am, m, k), pack_b_all(bm, k, n));
                    let mut c2 = vec![f32::NAN; m * n];
                    gemm(
                        &ks,
                        th,
                        (m, n, k),
                        ASource::Packed(&pa),
                        &BSource::Packed(&pb),
                        &mut c2,
                        n,
                        Bias::None,
                        &Epilogue::identity(),
                        &mut scratch,
                    );
                    assert_eq!(c, c2, "{} m{m} n{n} k{k}: prepacked operands", ks.name);
                }
            }
        }
    }

    /// The implicit im2col source equals an explicit column matrix, on the row fast path
    /// (stride 1, wide rows) and the general path (stride 2, panels straddling rows).
    #[test]
    fn im2col_matches_explicit() {
        let mut seed = 3;
        for &(c, h, w, kh, kw, s, p, d) in &[
            (3, 7, 9, 3, 3, 2, 1, 1),
            (3, 7, 37, 3, 3, 1, 1, 1),
            (2, 9, 40, 3, 5, 1, 2, 2),
            (4, 5, 33, 1, 1, 1, 0, 1),
        ] {
            let oh = (h + 2 * p - (d * (kh - 1) + 1)) / s + 1;
            let ow = (w + 2 * p - (d * (kw - 1) + 1)) / s + 1;
            let input: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
            let (k, n) = (c * kh * kw, oh * ow);
            let mut cols = vec![0.0; k * n];
            for ci in 0..c {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let row = (ci * kh + ky) * kw + kx;
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let y = (oy * s + ky * d) as isize - p as isize;
                                let x = (ox * s + kx * d) as isize - p as isize;
                                if y >= 0 && y < h as isize && x >= 0 && x < w as isize {
                                    cols[row * n + oy * ow + ox] =
                                        input[ci * h * w + y as usize * w + x as usize];
                                }
                            }
                        }
                    }
                }
            }
            let m = 4;
            let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
            let ks = KernelSet::scalar();
            let th = Threads::single();
            let mut scratch = vec![0.0; scratch_len(m, k, 1)];
            let mut got = vec![0.0; m * n];
            let src = BSource::Im2col(Im2col {
                input: &input,
                c,
                h,
                w,
                kh,
                kw,
                sh: s,
                sw: s,
                ph: p,
                pw: p,
                dh: d,
                dw: d,
                ow,
            });
            gemm(
                &ks,
                &th,
                (m, n, k),
                ASource::Mat(MatRef {
                    data: &a,
                    rs: k,
                    cs: 1,
                }),
                &src,
                &mut got,
                n,
                Bias::None,
                &Epilogue::identity(),
                &mut scratch,
            );
            let want = naive(m, n, k, &a, &cols);
            for (x, y) in got.iter().zip(&want) {
                assert!(
                    (x - y).abs() < 1e-5,
                    "case c{c} h{h} w{w} k{kh}x{kw} s{s} p{p} d{d}"
                );
            }
        }
    }
}
