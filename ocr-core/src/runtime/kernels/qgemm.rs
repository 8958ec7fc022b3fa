//! int8 GEMM: `C[m x n] (i32) = A[m x k] (i8 weights) x B[k x n] (u8 activations)`.
//!
//! ## Operand ranges: why the AVX2 path cannot saturate
//!
//! Activations use all 8 bits (`0..=255`, `ACT_MAX`) and weights are symmetric per output
//! channel in `-127..=127` (`WEIGHT_MAX`). AVX2 has no 8-bit dot product into 32 bits:
//! `vpmaddubsw` multiplies unsigned by signed bytes and adds adjacent pairs into a
//! *saturating* 16-bit lane, and `2 * 255 * 127 = 64770` would saturate. The AVX2 kernel
//! therefore splits each activation into nibbles, `a = 16 * hi + lo` with `hi, lo` in `0..=15`:
//! each `vpmaddubsw` pair is then at most `2 * 15 * 127 = 3810`, far from saturation, and
//! `16 * sum(hi * w) + sum(lo * w)` is the exact product, accumulated in i32 (exact for any `k`
//! up to 2^31 / (255 * 127) = 66313, [`MAX_PRODUCTS`], which loading checks). VNNI (`vpdpbusd`) multiplies whole bytes into i32 without
//! saturation, and the scalar reference computes in i32, so every path gives the same integers;
//! `worst_case_ranges_are_exact` tests the extremes. (7-bit activations, which would avoid the
//! split, cost the PP-OCR recogniser several points of accuracy.)
//!
//! Layers whose weights all lie in `-63..=63` ([`NARROW_WEIGHT_MAX`]: weights rounded to 7 bits
//! or fewer, as in the compact models and the bank-card recogniser) need no split: a pair is at
//! most `2 * 255 * 63 = 32130`, inside i16. Loading marks such layers, and the AVX2 set runs
//! them on its narrow kernels ([`KernelSet::qgemm_narrow`], one `vpmaddubsw` per 32 products:
//! about twice the general kernel's rate); `narrow_kernels_are_bit_exact_on_narrow_weights`
//! tests them, extremes included. (Re-rounding the general int8 models' weights to 7 bits to
//! use them measured 1-2 points of CER worse on the dev set, so those keep 8-bit weights.)
//!
//! ## Packed layouts
//!
//! `k` is padded to a multiple of 4 with zeros. A is packed once (weights, at load) into panels
//! of [`QMR`] rows: `[panel][k/4][row][4]`. B is packed per call into panels of [`QNR`] columns:
//! `[panel][k/4][column][4]`, so one 32-bit lane holds the four bytes of one column that meet the
//! four bytes of one row.

use super::KernelSet;

/// Rows of A per micro-kernel call.
pub const QMR: usize = 4;
/// Columns of B per micro-kernel call.
pub const QNR: usize = 16;
/// Bytes of one B panel row block: [`QNR`] columns of four bytes (one channel quad each).
pub const QBLOCK: usize = QNR * 4;
/// Largest quantised activation (8 bits; see the module notes).
pub const ACT_MAX: u8 = 255;
/// Largest weight magnitude (symmetric int8).
pub const WEIGHT_MAX: i8 = 127;
/// Largest weight magnitude of a *narrow* layer. With `|w| <= 63` a `vpmaddubsw` pair sum is
/// at most `2 * 255 * 63 = 32130`, inside i16, so the AVX2 narrow kernels
/// ([`KernelSet::qgemm_narrow`]) multiply whole activation bytes: one `vpmaddubsw` per 32
/// products where the general AVX2 kernel needs two (the nibble split). Layers rounded to 7
/// bits or fewer (the compact models' and the bank-card recogniser's weight levels) are
/// narrow.
pub const NARROW_WEIGHT_MAX: i8 = 63;

/// Micro-kernels that are exact only for weights within [`NARROW_WEIGHT_MAX`].
#[derive(Clone, Copy)]
pub struct NarrowKernels {
    /// One B panel.
    pub single: QMicroKernel,
    /// Two adjacent B panels.
    pub pair: QPairKernel,
}

/// True when every weight lies within [`NARROW_WEIGHT_MAX`].
pub fn is_narrow(w: &[i8]) -> bool {
    w.iter()
        .all(|&x| (-NARROW_WEIGHT_MAX..=NARROW_WEIGHT_MAX).contains(&x))
}

/// Most products one i32 output may sum and stay exact whatever the operands: an int8
/// convolution whose outputs would sum more is refused at load.
pub const MAX_PRODUCTS: usize = i32::MAX as usize / (ACT_MAX as usize * WEIGHT_MAX as usize);

/// An int8 micro-kernel: `acc[r][c] = sum over k4, j of a[k4][r][j] * b[k4][c][j]` for packed
/// panels (`a.len() >= k4 * QMR * 4`, `b.len() >= k4 * QNR * 4`).
pub type QMicroKernel = fn(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]);

/// Scalar reference micro-kernel.
pub fn qgemm_scalar(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]) {
    acc.fill(0);
    for kk in 0..k4 {
        let ap = &a[kk * QMR * 4..(kk + 1) * QMR * 4];
        let bp = &b[kk * QNR * 4..(kk + 1) * QNR * 4];
        for r in 0..QMR {
            for c in 0..QNR {
                let mut s = 0i32;
                for j in 0..4 {
                    s += ap[r * 4 + j] as i32 * bp[c * 4 + j] as i32;
                }
                acc[r * QNR + c] += s;
            }
        }
    }
}

/// An int8 micro-kernel over two adjacent B panels at once (`b` holds panel 0, then panel
/// 1, `k4 * QNR * 4` bytes each): `acc[i]` is [`QMicroKernel`]'s tile for panel `i`. One A
/// load then feeds twice the multiply-adds.
pub type QPairKernel = fn(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]);

/// A [`QPairKernel`] made of a single-panel kernel run on each panel: what the sets whose
/// single kernel already fills the registers use.
#[inline(always)]
pub fn pair_of_singles(
    single: QMicroKernel,
    k4: usize,
    a: &[i8],
    b: &[u8],
    acc: &mut [[i32; QMR * QNR]; 2],
) {
    let (b0, b1) = b.split_at(k4 * QBLOCK);
    let [acc0, acc1] = acc;
    single(k4, a, b0, acc0);
    single(k4, a, b1, acc1);
}

/// Scalar reference pair kernel: the single-panel reference on each panel.
pub fn qgemm_pair_scalar(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]) {
    pair_of_singles(qgemm_scalar, k4, a, b, acc)
}

/// Quantises one fp32 activation to u8: `round_half_up(clamp(v * inv_scale + zero_point, 0,
/// 255))` (multiply, then add: no fused multiply-add, so every kernel set gives the same
/// bytes; NaN becomes 0).
#[inline(always)]
pub fn quantize_one(v: f32, inv_scale: f32, zero_point: f32) -> u8 {
    // Clamp first, so the truncating cast rounds a non-negative number half up.
    ((v * inv_scale + zero_point).clamp(0.0, ACT_MAX as f32) + 0.5) as u8
}

/// Quantises four fp32 rows into one row of channel quads: `out[4 * i + j]` is `x[j][i]`
/// quantised by [`quantize_one`] (`out.len() == 4 * n`, every `x[j].len() >= n`).
pub type QuantizeQuadsKernel = fn(x: [&[f32]; 4], inv_scale: f32, zero_point: f32, out: &mut [u8]);

/// Scalar reference [`QuantizeQuadsKernel`].
pub fn quantize_quads_scalar(x: [&[f32]; 4], inv_scale: f32, zero_point: f32, out: &mut [u8]) {
    for (i, o) in out.chunks_exact_mut(4).enumerate() {
        for (j, v) in o.iter_mut().enumerate() {
            *v = quantize_one(x[j][i], inv_scale, zero_point);
        }
    }
}

/// Interleaves four rows of u8 codes into one row of channel quads: `out[4 * i + j]` is
/// `x[j][i]` (`out.len() == 4 * n`, every `x[j].len() >= n`). What a chained int8 layer does
/// in place of [`QuantizeQuadsKernel`]; plain byte moves, which the compiler vectorises.
pub fn interleave_quads(x: [&[u8]; 4], out: &mut [u8]) {
    let n = out.len() / 4;
    let [a, b, c, d] = x.map(|r| &r[..n]);
    for (i, o) in out.chunks_exact_mut(4).enumerate() {
        o.copy_from_slice(&[a[i], b[i], c[i], d[i]]);
    }
}

/// How the SIMD [`QuantizeQuadsKernel`]s split their work: `simd` quantises the leading
/// multiple of `step` pixels (each row cut to that length, `out` to four bytes a pixel), the
/// scalar reference the rest.
pub fn split_quantize_quads(
    x: [&[f32]; 4],
    inv_scale: f32,
    zero_point: f32,
    out: &mut [u8],
    step: usize,
    simd: impl FnOnce([&[f32]; 4], &mut [u8]),
) {
    let n = out.len() / 4;
    assert!(x.iter().all(|r| r.len() >= n));
    let body = n / step * step;
    let (head, tail) = out.split_at_mut(4 * body);
    simd(x.map(|r| &r[..body]), head);
    quantize_quads_scalar(x.map(|r| &r[body..n]), inv_scale, zero_point, tail);
}

/// Per-row constants of an int8 tile's epilogue (rows past the matrix: zeros).
#[derive(Clone, Copy, Debug, Default)]
pub struct TileParams {
    /// `zero_point * row_sum` of each row's weights.
    pub zp_corr: [i32; QMR],
    /// `x_scale * w_scale` of each row.
    pub scale: [f32; QMR],
    /// Each row's bias.
    pub bias: [f32; QMR],
}

/// Copies one B panel (`dst`, `[taps.len()][QNR][4]` bytes) out of quantised channel quads
/// `xg`: row block `i` is the [`QNR`] quads (four bytes each) from byte `origin + taps[i]`,
/// `stride` quads apart.
pub type PackQuadsKernel =
    fn(xg: &[u8], taps: &[usize], origin: usize, stride: usize, dst: &mut [u8]);

/// Reference [`PackQuadsKernel`]; the SIMD sets compile this same body for wider vectors (a
/// copy: the same bytes whatever the width).
#[inline(always)]
pub fn pack_quads(xg: &[u8], taps: &[usize], origin: usize, stride: usize, dst: &mut [u8]) {
    for (block, &tap) in dst.chunks_exact_mut(QBLOCK).zip(taps) {
        let at = origin + tap;
        if stride == 1 {
            block.copy_from_slice(&xg[at..at + QBLOCK]);
        } else {
            for (c, word) in block.chunks_exact_mut(4).enumerate() {
                let from = at + c * stride * 4;
                word.copy_from_slice(&xg[from..from + 4]);
            }
        }
    }
}

/// Turns a micro-kernel's i32 tile into fp32 and applies the epilogue:
/// `tile[r][c] = epi((acc[r][c] - zp_corr[r]) as f32 * scale[r] + bias[r])`.
pub type QTileKernel = fn(
    acc: &[i32; QMR * QNR],
    tp: &TileParams,
    epi: &crate::runtime::op::Epilogue,
    tile: &mut [f32; QMR * QNR],
);

/// Scalar reference [`QTileKernel`] (also the body the SIMD builds compile: the same IEEE
/// operations in the same order, so the same results).
#[inline(always)]
pub fn qtile_scalar(
    acc: &[i32; QMR * QNR],
    tp: &TileParams,
    epi: &crate::runtime::op::Epilogue,
    tile: &mut [f32; QMR * QNR],
) {
    // Row by row, so that the compiler vectorises along the columns.
    for (r, (out, row)) in tile
        .chunks_exact_mut(QNR)
        .zip(acc.chunks_exact(QNR))
        .enumerate()
    {
        let (z, s, b) = (tp.zp_corr[r], tp.scale[r], tp.bias[r]);
        for (o, &a) in out.iter_mut().zip(row) {
            *o = (a - z) as f32 * s + b;
        }
    }
    epi.apply_slice(tile);
}

/// A value on a 64-byte boundary. The tile buffers the kernels store whole vectors to and
/// the epilogue reads back must be: a vector that straddles two cache lines cannot be
/// forwarded from the store to the next load, which then waits for the store to complete.
#[repr(C, align(64))]
pub struct CacheAligned<T>(pub T);

/// Padded depth: `k` rounded up to a multiple of 4.
pub fn padded_k(k: usize) -> usize {
    k.div_ceil(4) * 4
}

/// Packs row-major `m x k` weights into [`QMR`]-row panels (zero padded).
pub fn pack_a(w: &[i8], m: usize, k: usize) -> alloc::vec::Vec<i8> {
    let kp = padded_k(k);
    let panels = m.div_ceil(QMR);
    let mut out = alloc::vec![0i8; panels * QMR * kp];
    for p in 0..panels {
        for k4 in 0..kp / 4 {
            for r in 0..QMR {
                let row = p * QMR + r;
                for j in 0..4 {
                    let kk = k4 * 4 + j;
                    if row < m && kk < k {
                        out[((p * (kp / 4) + k4) * QMR + r) * 4 + j] = w[row * k + kk];
                    }
                }
            }
        }
    }
    out
}

/// Per-row weight sums, for the activation zero-point correction
/// `sum_k w[k] * (q[k] - zp) = acc - zp * row_sum`.
pub fn row_sums(w: &[i8], m: usize, k: usize) -> alloc::vec::Vec<i32> {
    (0..m)
        .map(|r| w[r * k..(r + 1) * k].iter().map(|&x| x as i32).sum())
        .collect()
}

/// Packs columns `n0..n0+QNR` of a row-major `k x n` u8 matrix into one B panel.
pub fn pack_b(b: &[u8], k: usize, n: usize, n0: usize, dst: &mut [u8]) {
    let cols = QNR.min(n - n0);
    let kp = padded_k(k);
    dst[..kp * QNR].fill(0);
    for kk in 0..k {
        let (k4, j) = (kk / 4, kk % 4);
        let row = &b[kk * n + n0..kk * n + n0 + cols];
        for (c, &v) in row.iter().enumerate() {
            dst[(k4 * QNR + c) * 4 + j] = v;
        }
    }
}

/// `C = A x B` over packed A (from [`pack_a`]) and a row-major u8 B, C row-major i32. A simple
/// single-threaded driver for tests and benchmarks; the convolution drivers pack B from their
/// own sources. Like them, it takes B panels two at a time through the pair kernel, and the
/// last panel of an odd count alone, on the set's narrow kernels when `narrow` says A's
/// weights are narrow ([`KernelSet::qgemm_for`]).
#[allow(clippy::too_many_arguments)]
pub fn qgemm(
    ks: &KernelSet,
    narrow: bool,
    m: usize,
    n: usize,
    k: usize,
    a_packed: &[i8],
    b: &[u8],
    c: &mut [i32],
) {
    let kp = padded_k(k);
    let (single, pair) = ks.qgemm_for(narrow);
    let mut bpanels = alloc::vec![0u8; 2 * kp * QNR];
    let mut accs = CacheAligned([[0i32; QMR * QNR]; 2]);
    let accs = &mut accs.0;
    for n0 in (0..n).step_by(2 * QNR) {
        let np = if n0 + QNR < n { 2 } else { 1 };
        for (j, panel) in bpanels.chunks_exact_mut(kp * QNR).take(np).enumerate() {
            pack_b(b, k, n, n0 + j * QNR, panel);
        }
        for (p, apanel) in a_packed.chunks_exact(QMR * kp).enumerate() {
            if np == 2 {
                pair(kp / 4, apanel, &bpanels, accs);
            } else {
                single(kp / 4, apanel, &bpanels, &mut accs[0]);
            }
            for (j, acc) in accs[..np].iter().enumerate() {
                let (c0, cols) = (n0 + j * QNR, QNR.min(n - n0 - j * QNR));
                for r in 0..QMR.min(m - p * QMR) {
                    let row = p * QMR + r;
                    c[row * n + c0..row * n + c0 + cols]
                        .copy_from_slice(&acc[r * QNR..r * QNR + cols]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn lcg(seed: &mut u64) -> u32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    }

    /// Every quad quantisation kernel gives the reference's bytes: random values over and
    /// beyond the range, the clamps, half-way points, infinities and NaN, lengths around the
    /// vector width.
    #[test]
    fn quantize_kernels_are_bit_exact() {
        let mut seed = 3;
        let (inv, zp) = (1.0 / 0.0371, 97.0);
        let mut x: Vec<f32> = (0..1000)
            .map(|_| (lcg(&mut seed) as f32 / u32::MAX as f32 - 0.5) * 30.0)
            .collect();
        x.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e30,
            -1e30,
            -97.0 * 0.0371,
            158.0 * 0.0371,
            0.0,
            -0.0,
        ]);
        x.extend((0..64).map(|i| ((i as f32 + 0.5) - zp) / inv));
        let rows = x.len() / 4;
        let planes: [&[f32]; 4] = core::array::from_fn(|j| &x[j * rows..(j + 1) * rows]);
        for ks in crate::runtime::kernels::KernelSet::available() {
            for len in [0, 1, 7, 8, 9, 31, 33, rows] {
                let rows = planes.map(|p| &p[..len]);
                let want: Vec<u8> = (0..4 * len)
                    .map(|i| quantize_one(rows[i % 4][i / 4], inv, zp))
                    .collect();
                let mut got = vec![1u8; 4 * len];
                (ks.quantize_quads)(rows, inv, zp, &mut got);
                assert_eq!(got, want, "{} len {len}", ks.name);
            }
        }
        assert_eq!(quantize_one(f32::NAN, inv, zp), 0);
        assert_eq!(quantize_one(1e30, inv, zp), 255);
    }

    /// Every tile epilogue equals the scalar reference bit for bit, for each activation
    /// kind, with and without a post affine, over the whole i32 range.
    #[test]
    fn tile_kernels_are_bit_exact() {
        use crate::runtime::op::Epilogue;
        let mut seed = 9;
        let acc: [i32; QMR * QNR] = core::array::from_fn(|i| match i {
            0 => i32::MAX,
            1 => i32::MIN / 2,
            _ => (lcg(&mut seed) as i32) >> (1 + i % 20),
        });
        let tp = TileParams {
            zp_corr: [100, -7, 0, 123456],
            scale: [1e-4, 3e-3, 1e-9, 0.5],
            bias: [0.25, -1.0, 0.0, 3.0],
        };
        for act in crate::runtime::kernels::TEST_ACTIVATIONS {
            for (post_scale, post_bias) in [(1.0, 0.0), (0.5, -0.25)] {
                let epi = Epilogue {
                    act,
                    post_scale,
                    post_bias,
                };
                let mut want = [0f32; QMR * QNR];
                qtile_scalar(&acc, &tp, &epi, &mut want);
                for ks in crate::runtime::kernels::KernelSet::available() {
                    let mut got = [f32::NAN; QMR * QNR];
                    (ks.qtile)(&acc, &tp, &epi, &mut got);
                    assert_eq!(
                        got.map(f32::to_bits),
                        want.map(f32::to_bits),
                        "{} {act:?}",
                        ks.name
                    );
                }
            }
        }
    }

    fn naive(m: usize, n: usize, k: usize, a: &[i8], b: &[u8]) -> Vec<i32> {
        let mut c = vec![0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|kk| a[i * k + kk] as i32 * b[kk * n + j] as i32)
                    .sum();
            }
        }
        c
    }

    /// Every kernel set is bit-exact with the naive product on random operands in range,
    /// including sizes that are not multiples of the panel sizes, k = 1 and n = 1.
    #[test]
    fn every_kernel_set_is_bit_exact() {
        let mut seed = 11;
        for ks in KernelSet::available() {
            for &(m, n, k) in &[
                (1, 1, 1),
                (3, 17, 5),
                (4, 16, 4),
                (9, 33, 27),
                (7, 1, 130),
                (1, 40, 3),
                (13, 50, 867),
            ] {
                let a: Vec<i8> = (0..m * k)
                    .map(|_| (lcg(&mut seed) % 255) as i8)
                    .map(|x| x.clamp(-WEIGHT_MAX, WEIGHT_MAX))
                    .collect();
                let b: Vec<u8> = (0..k * n)
                    .map(|_| (lcg(&mut seed) % (ACT_MAX as u32 + 1)) as u8)
                    .collect();
                let mut c = vec![0; m * n];
                qgemm(&ks, false, m, n, k, &pack_a(&a, m, k), &b, &mut c);
                assert_eq!(c, naive(m, n, k, &a, &b), "{} m{m} n{n} k{k}", ks.name);
            }
        }
    }

    /// Every set's narrow kernels (where it has them) are bit-exact with the naive product on
    /// weights within `NARROW_WEIGHT_MAX`, at random and at the extremes (`+-63` against
    /// activations of 255: the largest pair sums, where saturation would show).
    #[test]
    fn narrow_kernels_are_bit_exact_on_narrow_weights() {
        let mut seed = 23;
        let narrow = NARROW_WEIGHT_MAX as i32;
        let mut tested = 0;
        for ks in KernelSet::available() {
            let Some(nk) = ks.qgemm_narrow else { continue };
            assert_eq!(ks.qgemm_for(true).0 as usize, nk.single as usize);
            assert_eq!(ks.qgemm_for(false).0 as usize, ks.qgemm as usize);
            // Odd and even panel counts: the driver runs both the pair and the single kernel.
            for &(m, n, k) in &[
                (1, 1, 1),
                (3, 17, 5),
                (9, 33, 27),
                (13, 50, 867),
                (5, 19, 1001),
            ] {
                for extreme in [false, true] {
                    let a: Vec<i8> = (0..m * k)
                        .map(|i| match extreme {
                            true => [narrow, -narrow][i % 2] as i8,
                            false => {
                                ((lcg(&mut seed) % (2 * narrow as u32 + 1)) as i32 - narrow) as i8
                            }
                        })
                        .collect();
                    assert!(is_narrow(&a));
                    let b: Vec<u8> = (0..k * n)
                        .map(|_| match extreme {
                            true => ACT_MAX,
                            false => (lcg(&mut seed) % (ACT_MAX as u32 + 1)) as u8,
                        })
                        .collect();
                    let mut c = vec![0; m * n];
                    qgemm(&ks, true, m, n, k, &pack_a(&a, m, k), &b, &mut c);
                    assert_eq!(
                        c,
                        naive(m, n, k, &a, &b),
                        "{} m{m} n{n} k{k} extreme {extreme}",
                        ks.name
                    );
                    tested += 1;
                }
            }
        }
        // x86-64 hosts with AVX2 have narrow kernels; elsewhere there is nothing to test.
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        if std::is_x86_feature_detected!("avx2") {
            assert!(tested > 0);
        }
        let _ = tested;
    }

    /// The extremes of the operand ranges: with AVX2's saturating pair sums this is where a
    /// wrong scheme would break.
    #[test]
    fn worst_case_ranges_are_exact() {
        let (m, n, k) = (5, 19, 1001);
        for ks in KernelSet::available() {
            for (wa, wb) in [
                (WEIGHT_MAX, WEIGHT_MAX),
                (-WEIGHT_MAX, -WEIGHT_MAX),
                (WEIGHT_MAX, -WEIGHT_MAX),
            ] {
                let a: Vec<i8> = (0..m * k)
                    .map(|i| if i % 2 == 0 { wa } else { wb })
                    .collect();
                let b = vec![ACT_MAX; k * n];
                let mut c = vec![0; m * n];
                qgemm(&ks, false, m, n, k, &pack_a(&a, m, k), &b, &mut c);
                assert_eq!(c, naive(m, n, k, &a, &b), "{}", ks.name);
                if wa == wb {
                    assert_eq!(c[0], (wa as i32) * ACT_MAX as i32 * k as i32);
                }
            }
        }
    }

    #[test]
    fn row_sums_match() {
        assert_eq!(row_sums(&[1, -2, 3, 4, 5, -6], 2, 3), vec![2, 3]);
    }
}
