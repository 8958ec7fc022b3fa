//! x86-64 SIMD kernels (AVX2 + FMA; AVX-512 VNNI for int8), selected at run time.
//!
//! Each kernel is an `unsafe` `#[target_feature]` function behind a safe wrapper that checks
//! slice lengths. The wrappers are private and reachable only through the [`KernelSet`]s that
//! [`avx2`] and [`avx512_vnni`] return after confirming the CPU features, which is what makes
//! the calls sound.

use super::depthwise::{self, DW_TILE, DwGeom, PaddedPlane};
use super::qgemm::{NarrowKernels, QBLOCK, QMR, QNR, TileParams};
use super::{KernelSet, MR, NR};
use core::arch::x86_64::*;

/// CPU features read with CPUID and XGETBV: the `no_std` counterpart of std's
/// `is_x86_feature_detected!` (a feature counts only when the OS also saves its registers).
#[cfg(not(feature = "std"))]
mod cpu {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};

    /// The features the kernel sets need.
    pub struct Features {
        /// AVX2 and FMA, with YMM state enabled by the OS.
        pub avx2_fma: bool,
        /// AVX-512 F, BW, VL and VNNI, with ZMM state enabled by the OS.
        pub avx512_vnni: bool,
    }

    /// XCR0, the OS-enabled register state.
    #[target_feature(enable = "xsave")]
    unsafe fn xcr0() -> u64 {
        // SAFETY: the caller checked CPUID.1:ECX.OSXSAVE, so XGETBV is enabled.
        unsafe { _xgetbv(0) }
    }

    /// Reads the features.
    #[allow(unused_unsafe)]
    pub fn features() -> Features {
        let none = Features {
            avx2_fma: false,
            avx512_vnni: false,
        };
        // SAFETY: CPUID exists on every x86-64 CPU; leaves above the reported maximum are not
        // queried.
        let max_leaf = unsafe { __cpuid(0) }.eax;
        let l1 = unsafe { __cpuid(1) };
        let (fma, osxsave, avx) = (
            l1.ecx & (1 << 12) != 0,
            l1.ecx & (1 << 27) != 0,
            l1.ecx & (1 << 28) != 0,
        );
        if max_leaf < 7 || !osxsave || !avx {
            return none;
        }
        // SAFETY: OSXSAVE is set (checked above).
        let xcr0 = unsafe { xcr0() };
        let ymm = xcr0 & 0b110 == 0b110;
        let zmm = xcr0 & 0b1110_0110 == 0b1110_0110;
        // SAFETY: leaf 7 is within the reported maximum.
        let l7 = unsafe { __cpuid_count(7, 0) };
        let avx2 = l7.ebx & (1 << 5) != 0;
        let (f, bw, vl, vnni) = (
            l7.ebx & (1 << 16) != 0,
            l7.ebx & (1 << 30) != 0,
            l7.ebx & (1 << 31) != 0,
            l7.ecx & (1 << 11) != 0,
        );
        Features {
            avx2_fma: ymm && avx2 && fma,
            avx512_vnni: ymm && zmm && f && bw && vl && vnni,
        }
    }
}

/// The AVX2 + FMA kernel set, if this CPU has both.
pub fn avx2() -> Option<KernelSet> {
    #[cfg(feature = "std")]
    let ok = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(feature = "std"))]
    let ok = cpu::features().avx2_fma;
    ok.then_some(KernelSet {
        name: "avx2-fma",
        gemm: gemm_avx2,
        dw_plane: dw_plane_avx2,
        dw_pad: pad_plane_avx2,
        dw_direct: depthwise::no_direct,
        #[cfg(feature = "int8-depthwise")]
        qdw_plane: super::x86_qdepthwise::qdw_plane_avx2,
        #[cfg(feature = "int8-depthwise")]
        qdw_quantize: super::x86_qdepthwise::qdw_quantize_avx2,
        pack_quads: pack_quads_avx2,
        qgemm: qgemm_avx2,
        qgemm_pair: qgemm_pair_avx2,
        qgemm_narrow: Some(NarrowKernels {
            single: qgemm_narrow_avx2,
            pair: qgemm_pair_narrow_avx2,
        }),
        quantize_quads: quantize_quads_avx2,
        qtile: qtile_avx2,
        exp_shifted: exp_shifted_avx2,
        epilogue: epilogue_avx2,
    })
}

/// The AVX-512 set, if the CPU has AVX-512 F, BW, VL and VNNI: 512-bit `vpdpbusd` for int8, the
/// 512-bit fp32 GEMM, tile epilogue and depthwise plane kernel, the portable bodies compiled
/// for 512-bit vectors, and the AVX2 + FMA kernels for the rest (activation quantisation).
pub fn avx512_vnni() -> Option<KernelSet> {
    let base = avx2()?;
    #[cfg(feature = "std")]
    let ok = std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512vl");
    #[cfg(not(feature = "std"))]
    let ok = cpu::features().avx512_vnni;
    ok.then_some(KernelSet {
        name: "avx2-fma+avx512vnni",
        gemm: gemm_avx512,
        qgemm: qgemm_vnni512,
        qgemm_pair: qgemm_pair_vnni512,
        // `vpdpbusd` needs no split: one kernel for every layer.
        qgemm_narrow: None,
        qtile: qtile_avx512,
        exp_shifted: exp_shifted_avx512,
        dw_plane: dw_plane_avx512,
        dw_pad: pad_plane_avx512,
        dw_direct: dw_direct_avx512,
        #[cfg(feature = "int8-depthwise")]
        qdw_plane: super::x86_qdepthwise::qdw_plane_vnni512,
        #[cfg(feature = "int8-depthwise")]
        qdw_quantize: super::x86_qdepthwise::qdw_quantize_avx512,
        pack_quads: pack_quads_avx512,
        epilogue: epilogue_avx512,
        ..base
    })
}

fn qgemm_avx2(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]) {
    assert!(a.len() >= k4 * QMR * 4 && b.len() >= k4 * QNR * 4);
    // SAFETY: reachable only through the sets built by `avx2()`/`avx512_vnni()`, which checked
    // AVX2; reads stay within the lengths asserted above, writes within the array.
    unsafe { qgemm_4x16_avx2(k4, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

#[target_feature(enable = "avx2")]
unsafe fn qgemm_4x16_avx2(k4: usize, a: *const i8, b: *const u8, acc: *mut i32) {
    // SAFETY (whole body): the caller guarantees `a` holds k4*16 and `b` k4*64 bytes and `acc`
    // 64 i32. Activations are split into nibbles, so `vpmaddubsw` pair sums stay below 3810 and
    // cannot saturate (see the qgemm module notes).
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let low = _mm256_set1_epi8(0x0f);
        let mut lo_acc = [_mm256_setzero_si256(); 8];
        let mut hi_acc = [_mm256_setzero_si256(); 8];
        for kk in 0..k4 {
            let b0 = _mm256_loadu_si256(b.add(kk * 64) as *const __m256i);
            let b1 = _mm256_loadu_si256(b.add(kk * 64 + 32) as *const __m256i);
            let (l0, l1) = (_mm256_and_si256(b0, low), _mm256_and_si256(b1, low));
            let h0 = _mm256_and_si256(_mm256_srli_epi16(b0, 4), low);
            let h1 = _mm256_and_si256(_mm256_srli_epi16(b1, 4), low);
            for r in 0..QMR {
                let w = _mm256_set1_epi32((a.add(kk * 16 + r * 4) as *const i32).read_unaligned());
                let dot = |v: __m256i| _mm256_madd_epi16(_mm256_maddubs_epi16(v, w), ones);
                lo_acc[2 * r] = _mm256_add_epi32(lo_acc[2 * r], dot(l0));
                lo_acc[2 * r + 1] = _mm256_add_epi32(lo_acc[2 * r + 1], dot(l1));
                hi_acc[2 * r] = _mm256_add_epi32(hi_acc[2 * r], dot(h0));
                hi_acc[2 * r + 1] = _mm256_add_epi32(hi_acc[2 * r + 1], dot(h1));
            }
        }
        for i in 0..8 {
            let v = _mm256_add_epi32(_mm256_slli_epi32(hi_acc[i], 4), lo_acc[i]);
            _mm256_storeu_si256(acc.add(i * 8) as *mut __m256i, v);
        }
    }
}

fn qgemm_narrow_avx2(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]) {
    assert!(a.len() >= k4 * QMR * 4 && b.len() >= k4 * QNR * 4);
    // Wider weights would saturate: wrong sums, not unsoundness (the drivers check at load).
    debug_assert!(super::qgemm::is_narrow(&a[..k4 * QMR * 4]));
    // SAFETY: reachable only through the sets built by `avx2()`, which checked AVX2; reads
    // stay within the lengths asserted above, writes within the array.
    unsafe { qgemm_4x16_narrow_avx2(k4, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

/// The AVX2 narrow pair kernel: the narrow single-panel kernel on each panel.
fn qgemm_pair_narrow_avx2(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]) {
    super::qgemm::pair_of_singles(qgemm_narrow_avx2, k4, a, b, acc)
}

/// The 4x16 int8 tile for weights within `NARROW_WEIGHT_MAX`: whole activation bytes meet the
/// weights in one `vpmaddubsw` (pair sums at most `2 * 255 * 63 = 32130`, no saturation; see
/// `qgemm::NARROW_WEIGHT_MAX`), widened and summed into i32 by `vpmaddwd` with ones.
#[target_feature(enable = "avx2")]
unsafe fn qgemm_4x16_narrow_avx2(k4: usize, a: *const i8, b: *const u8, acc: *mut i32) {
    // SAFETY (whole body): the caller guarantees `a` holds k4*16 bytes of weights within
    // +-63, `b` k4*64 bytes and `acc` 64 i32.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut sums = [_mm256_setzero_si256(); 8];
        for kk in 0..k4 {
            let b0 = _mm256_loadu_si256(b.add(kk * 64) as *const __m256i);
            let b1 = _mm256_loadu_si256(b.add(kk * 64 + 32) as *const __m256i);
            for r in 0..QMR {
                let w = _mm256_set1_epi32((a.add(kk * 16 + r * 4) as *const i32).read_unaligned());
                let dot = |v: __m256i| _mm256_madd_epi16(_mm256_maddubs_epi16(v, w), ones);
                sums[2 * r] = _mm256_add_epi32(sums[2 * r], dot(b0));
                sums[2 * r + 1] = _mm256_add_epi32(sums[2 * r + 1], dot(b1));
            }
        }
        for (i, s) in sums.iter().enumerate() {
            _mm256_storeu_si256(acc.add(i * 8) as *mut __m256i, *s);
        }
    }
}

fn qgemm_vnni512(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]) {
    assert!(a.len() >= k4 * QMR * 4 && b.len() >= k4 * QNR * 4);
    // SAFETY: reachable only through the set built by `avx512_vnni()`, which checked
    // AVX512-F and AVX512-VNNI; reads and writes stay within the lengths asserted above.
    unsafe { qgemm_4x16_vnni512(k4, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

/// The AVX2 pair kernel: the single-panel kernel on each panel (its registers are full).
fn qgemm_pair_avx2(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]) {
    super::qgemm::pair_of_singles(qgemm_avx2, k4, a, b, acc)
}

fn qgemm_pair_vnni512(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]) {
    assert!(a.len() >= k4 * QMR * 4 && b.len() >= 2 * k4 * QBLOCK);
    // SAFETY: reachable only through the set built by `avx512_vnni()`, which checked
    // AVX512-F and AVX512-VNNI; reads stay within the lengths asserted above, writes within
    // the two arrays.
    unsafe { qgemm_4x32_vnni512(k4, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr() as *mut i32) }
}

/// Two 4x16 int8 tiles side by side with 512-bit `vpdpbusd`: each broadcast A quad meets
/// both panels' B blocks, so a k step loads two B vectors and four A quads for eight
/// `vpdpbusd` (the single tile loads one and four for four). Even and odd k steps go to
/// separate accumulators, as in the single tile: sixteen chains, each half as long, so the
/// instruction's latency never limits it (integer sums: the order does not change them).
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn qgemm_4x32_vnni512(k4: usize, a: *const i8, b: *const u8, acc: *mut i32) {
    // SAFETY (whole body): the caller guarantees `a` holds k4*16 bytes, `b` two panels of
    // k4*64 bytes, and `acc` 128 i32 (two tiles); `vpdpbusd` accumulates exactly in i32.
    unsafe {
        let b1 = b.add(k4 * QBLOCK);
        let zero = _mm512_setzero_si512();
        // [panel][row], for even and odd k steps.
        let mut even = [[zero; QMR]; 2];
        let mut odd = [[zero; QMR]; 2];
        let quad = |kk: usize, r: usize| {
            _mm512_set1_epi32((a.add(kk * 16 + r * 4) as *const i32).read_unaligned())
        };
        let step = |acc: &mut [[__m512i; QMR]; 2], kk: usize| {
            let x0 = _mm512_loadu_si512(b.add(kk * QBLOCK) as *const _);
            let x1 = _mm512_loadu_si512(b1.add(kk * QBLOCK) as *const _);
            let [acc0, acc1] = acc;
            for (r, (c0, c1)) in acc0.iter_mut().zip(acc1.iter_mut()).enumerate() {
                let w = quad(kk, r);
                *c0 = _mm512_dpbusd_epi32(*c0, x0, w);
                *c1 = _mm512_dpbusd_epi32(*c1, x1, w);
            }
        };
        let mut kk = 0;
        while kk + 2 <= k4 {
            step(&mut even, kk);
            step(&mut odd, kk + 1);
            kk += 2;
        }
        if kk < k4 {
            step(&mut even, kk);
        }
        for (pnl, (e, o)) in even.iter().zip(&odd).enumerate() {
            for (r, (e, o)) in e.iter().zip(o).enumerate() {
                let sum = _mm512_add_epi32(*e, *o);
                _mm512_storeu_si512(acc.add(pnl * QMR * QNR + r * QNR) as *mut _, sum);
            }
        }
    }
}

/// The 4x16 int8 tile with 512-bit `vpdpbusd`: one B block (16 columns x 4 bytes) is one
/// zmm, so a row of the tile is one register. `vpdpbusd` has a latency of several cycles, so
/// four dependent accumulators alone would leave it idle: even and odd `k4` steps go to two
/// sets of four, added at the end (integer sums, so the order does not change the result).
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn qgemm_4x16_vnni512(k4: usize, a: *const i8, b: *const u8, acc: *mut i32) {
    // SAFETY (whole body): the caller guarantees `a` holds k4*16 and `b` k4*64 bytes and `acc`
    // 64 i32; `vpdpbusd` accumulates exactly in i32.
    unsafe {
        let mut even = [_mm512_setzero_si512(); QMR];
        let mut odd = [_mm512_setzero_si512(); QMR];
        let row = |kk: usize, r: usize| {
            _mm512_set1_epi32((a.add(kk * 16 + r * 4) as *const i32).read_unaligned())
        };
        let mut kk = 0;
        while kk + 2 <= k4 {
            let b0 = _mm512_loadu_si512(b.add(kk * 64) as *const _);
            let b1 = _mm512_loadu_si512(b.add(kk * 64 + 64) as *const _);
            for r in 0..QMR {
                even[r] = _mm512_dpbusd_epi32(even[r], b0, row(kk, r));
                odd[r] = _mm512_dpbusd_epi32(odd[r], b1, row(kk + 1, r));
            }
            kk += 2;
        }
        if kk < k4 {
            let b0 = _mm512_loadu_si512(b.add(kk * 64) as *const _);
            for (r, e) in even.iter_mut().enumerate() {
                *e = _mm512_dpbusd_epi32(*e, b0, row(kk, r));
            }
        }
        for (r, (e, o)) in even.iter().zip(&odd).enumerate() {
            _mm512_storeu_si512(acc.add(r * 16) as *mut _, _mm512_add_epi32(*e, *o));
        }
    }
}

fn gemm_avx2(k: usize, a: &[f32], b: &[f32], acc: &mut [f32; MR * NR]) {
    assert!(a.len() >= k * MR && b.len() >= k * NR);
    // SAFETY: this function is only reachable through the set built by `avx2()`, which checked
    // that the CPU has AVX2 and FMA; the reads stay within `k * MR` / `k * NR` elements, checked
    // above, and the writes within the `MR * NR` array.
    unsafe { gemm_6x16(k, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_6x16(k: usize, a: *const f32, b: *const f32, acc: *mut f32) {
    // SAFETY (whole body): the caller guarantees `a` holds k*6, `b` k*16 and `acc` 96 floats.
    unsafe {
        let mut c00 = _mm256_setzero_ps();
        let mut c01 = _mm256_setzero_ps();
        let mut c10 = _mm256_setzero_ps();
        let mut c11 = _mm256_setzero_ps();
        let mut c20 = _mm256_setzero_ps();
        let mut c21 = _mm256_setzero_ps();
        let mut c30 = _mm256_setzero_ps();
        let mut c31 = _mm256_setzero_ps();
        let mut c40 = _mm256_setzero_ps();
        let mut c41 = _mm256_setzero_ps();
        let mut c50 = _mm256_setzero_ps();
        let mut c51 = _mm256_setzero_ps();
        let mut ap = a;
        let mut bp = b;
        for _ in 0..k {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            let a0 = _mm256_broadcast_ss(&*ap);
            c00 = _mm256_fmadd_ps(a0, b0, c00);
            c01 = _mm256_fmadd_ps(a0, b1, c01);
            let a1 = _mm256_broadcast_ss(&*ap.add(1));
            c10 = _mm256_fmadd_ps(a1, b0, c10);
            c11 = _mm256_fmadd_ps(a1, b1, c11);
            let a2 = _mm256_broadcast_ss(&*ap.add(2));
            c20 = _mm256_fmadd_ps(a2, b0, c20);
            c21 = _mm256_fmadd_ps(a2, b1, c21);
            let a3 = _mm256_broadcast_ss(&*ap.add(3));
            c30 = _mm256_fmadd_ps(a3, b0, c30);
            c31 = _mm256_fmadd_ps(a3, b1, c31);
            let a4 = _mm256_broadcast_ss(&*ap.add(4));
            c40 = _mm256_fmadd_ps(a4, b0, c40);
            c41 = _mm256_fmadd_ps(a4, b1, c41);
            let a5 = _mm256_broadcast_ss(&*ap.add(5));
            c50 = _mm256_fmadd_ps(a5, b0, c50);
            c51 = _mm256_fmadd_ps(a5, b1, c51);
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        let rows = [
            (c00, c01),
            (c10, c11),
            (c20, c21),
            (c30, c31),
            (c40, c41),
            (c50, c51),
        ];
        for (r, (lo, hi)) in rows.into_iter().enumerate() {
            _mm256_storeu_ps(acc.add(r * NR), lo);
            _mm256_storeu_ps(acc.add(r * NR + 8), hi);
        }
    }
}

fn gemm_avx512(k: usize, a: &[f32], b: &[f32], acc: &mut [f32; MR * NR]) {
    assert!(a.len() >= k * MR && b.len() >= k * NR);
    // SAFETY: reachable only through the set built by `avx512_vnni()`, which checked AVX-512F;
    // the reads stay within `k * MR` / `k * NR` elements, checked above, and the writes within
    // the `MR * NR` array.
    unsafe { gemm_6x16_avx512(k, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

/// The 6x16 fp32 tile with one 512-bit register per row. Even and odd k steps go to two
/// accumulator sets (twelve chains in flight, enough to cover the FMA latency on two ports),
/// added at the end; so the sums are grouped differently from the AVX2 kernel's (tested
/// within the GEMM tolerance, not bit-exact).
#[target_feature(enable = "avx512f")]
unsafe fn gemm_6x16_avx512(k: usize, a: *const f32, b: *const f32, acc: *mut f32) {
    // SAFETY (whole body): the caller guarantees `a` holds k*6, `b` k*16 and `acc` 96 floats.
    unsafe {
        let mut even = [_mm512_setzero_ps(); MR];
        let mut odd = [_mm512_setzero_ps(); MR];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..k / 2 {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(NR));
            for r in 0..MR {
                even[r] = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(r)), b0, even[r]);
                odd[r] = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(MR + r)), b1, odd[r]);
            }
            ap = ap.add(2 * MR);
            bp = bp.add(2 * NR);
        }
        if k % 2 == 1 {
            let b0 = _mm512_loadu_ps(bp);
            for (r, e) in even.iter_mut().enumerate() {
                *e = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(r)), b0, *e);
            }
        }
        for r in 0..MR {
            _mm512_storeu_ps(acc.add(r * NR), _mm512_add_ps(even[r], odd[r]));
        }
    }
}

fn dw_plane_avx2(g: &DwGeom, x: PaddedPlane, weights: &[f32], bias: f32, out: &mut [f32]) {
    // The last tile of the last row at the farthest tap must end inside the plane.
    let reach = x.taps.iter().max().map_or(0, |&t| {
        g.row_start(g.oh.saturating_sub(1)) + t + g.ow.div_ceil(DW_TILE) * DW_TILE
    });
    assert!(x.phase_len == g.phase_len() && reach <= x.data.len());
    assert!(weights.len() >= x.taps.len() && out.len() >= g.oh * g.ow);
    // SAFETY: reachable only through the set built by `avx2()` (features checked); the sizes
    // the body relies on are asserted above.
    unsafe { dw_plane_avx2_impl(g, x, weights, bias, out) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dw_plane_avx2_impl(
    g: &DwGeom,
    x: PaddedPlane,
    weights: &[f32],
    bias: f32,
    out: &mut [f32],
) {
    // SAFETY (whole body): a tile reads DW_TILE floats from `row + tap + ox0`, which ends at or
    // before the reach the caller asserted to be inside the plane; stores go only to the
    // `cols <= ow - ox0` floats of the tile's output row, whose slice is taken (so
    // bounds-checked) first. Taps accumulate with fused multiply-adds (one rounding per
    // tap instead of the reference's two), even and odd taps in separate sums added at the
    // end as in the reference.
    let offsets = x.taps;
    let xp = x.data.as_ptr();
    unsafe {
        for oy in 0..g.oh {
            let row = g.row_start(oy);
            for ox0 in (0..g.ow).step_by(DW_TILE) {
                let mut e = [_mm256_set1_ps(bias); 4];
                let mut o = [_mm256_setzero_ps(); 4];
                let base = xp.add(row + ox0);
                let mut t = 0;
                while t < offsets.len() {
                    let w = _mm256_set1_ps(*weights.get_unchecked(t));
                    let p = base.add(*offsets.get_unchecked(t));
                    for (v, acc) in e.iter_mut().enumerate() {
                        *acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(p.add(8 * v)), *acc);
                    }
                    if t + 1 < offsets.len() {
                        let w = _mm256_set1_ps(*weights.get_unchecked(t + 1));
                        let p = base.add(*offsets.get_unchecked(t + 1));
                        for (v, acc) in o.iter_mut().enumerate() {
                            *acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(p.add(8 * v)), *acc);
                        }
                    }
                    t += 2;
                }
                let cols = DW_TILE.min(g.ow - ox0);
                let dst = out[oy * g.ow + ox0..oy * g.ow + ox0 + cols].as_mut_ptr();
                // Straight into the output row: whole vectors, then the tail's lanes under a
                // mask (masked-off lanes are neither written nor faulted on).
                for v in 0..4 {
                    let sum = _mm256_add_ps(e[v], o[v]);
                    let lanes = cols.saturating_sub(8 * v).min(8);
                    if lanes == 8 {
                        _mm256_storeu_ps(dst.add(8 * v), sum);
                    } else if lanes > 0 {
                        let mask = _mm256_cmpgt_epi32(
                            _mm256_set1_epi32(lanes as i32),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                        );
                        _mm256_maskstore_ps(dst.add(8 * v), mask, sum);
                    }
                }
            }
        }
    }
}

fn dw_plane_avx512(g: &DwGeom, x: PaddedPlane, weights: &[f32], bias: f32, out: &mut [f32]) {
    // The same bounds as the AVX2 kernel: the last tile of the last row at the farthest tap
    // ends inside the plane.
    let reach = x.taps.iter().max().map_or(0, |&t| {
        g.row_start(g.oh.saturating_sub(1)) + t + g.ow.div_ceil(DW_TILE) * DW_TILE
    });
    assert!(x.phase_len == g.phase_len() && reach <= x.data.len());
    assert!(weights.len() >= x.taps.len() && out.len() >= g.oh * g.ow);
    let (xp, dst) = (x.data.as_ptr(), out.as_mut_ptr());
    let mut oy = 0;
    while oy < g.oh {
        // Two output rows at a time: with even and odd taps apart, 2 rows x 2 vectors x 2
        // sums keep eight independent FMA chains in flight, enough to hide FMA latency.
        let rows = if oy + 1 < g.oh { 2 } else { 1 };
        for ox0 in (0..g.ow).step_by(DW_TILE) {
            let cols = DW_TILE.min(g.ow - ox0);
            let src = [g.row_start(oy) + ox0, g.row_start(oy + rows - 1) + ox0];
            let dst_at = [oy * g.ow + ox0, (oy + rows - 1) * g.ow + ox0];
            // SAFETY: reachable only through the set built by `avx512_vnni()` (AVX-512F
            // checked). Loads read from `src[r] + tap` up to 32 floats (16 when `cols <= 16`),
            // which ends at or before the reach asserted above, since `src[r]` is the start of
            // a tile of a row `<= oh - 1`; stores write `cols` floats from `dst_at[r]`, the
            // tile's part of output row `oy + r`, inside `out` (length asserted above).
            unsafe {
                let srcs = src.map(|s| xp.add(s));
                let dsts = dst_at.map(|d| dst.add(d));
                match (rows, cols > 16) {
                    (2, true) => dw_tile_avx512::<2, 2>(srcs, x.taps, weights, bias, dsts, cols),
                    (2, false) => dw_tile_avx512::<2, 1>(srcs, x.taps, weights, bias, dsts, cols),
                    (_, true) => dw_tile_avx512::<1, 2>(srcs, x.taps, weights, bias, dsts, cols),
                    (_, false) => dw_tile_avx512::<1, 1>(srcs, x.taps, weights, bias, dsts, cols),
                }
            }
        }
        oy += rows;
    }
}

/// The AVX-512 [`depthwise::DwDirectKernel`] for a geometry, if it has one: square 3x3 and
/// 5x5 kernels with unit strides and dilations and pads smaller than the kernel (all but the
/// strided depthwise layers of the PP-OCR models).
fn dw_direct_avx512(g: &DwGeom) -> Option<depthwise::DwDirectKernel> {
    let unit = (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1);
    if !unit || g.kh != g.kw || g.ph >= g.kh || g.pw >= g.kw {
        return None;
    }
    match g.kh {
        3 => Some(dw_direct_avx512_k::<3>),
        5 => Some(dw_direct_avx512_k::<5>),
        _ => None,
    }
}

fn dw_direct_avx512_k<const K: usize>(
    g: &DwGeom,
    x: &[f32],
    weights: &[f32],
    bias: f32,
    out: &mut [f32],
) {
    let unit = (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1);
    assert!(unit && g.kh == K && g.kw == K && g.ph < K && g.pw < K);
    assert!(x.len() >= g.h * g.w && weights.len() >= K * K && out.len() >= g.oh * g.ow);
    // SAFETY: reachable only through `dw_direct_avx512`, which the AVX-512 set alone holds
    // (AVX-512F checked); the geometry and the lengths the kernel relies on are asserted
    // above.
    unsafe { dw_direct_avx512_impl::<K>(g, x.as_ptr(), weights.as_ptr(), bias, out.as_mut_ptr()) }
}

/// A `K x K` depthwise convolution with unit strides and dilations over one unpadded plane,
/// column strip by column strip of 16 outputs, top to bottom. The `K * K` weights stay in
/// registers (or on the stack, aligned, when they do not fit) and `K` pairs of accumulators
/// hold the `K` output rows the current input row contributes to, so each input vector is
/// loaded once and multiplied into all `K` of them. The padded-plane kernel loads it once per
/// tap, `K` times, and was bounded by those loads and by the padded copy, which this kernel
/// does without: padding rows are skipped and padding columns read as zeros through masked
/// loads. Accumulators `s` hold the output rows `o` with `o % K == s`, so the kernel row they
/// apply is known at compile time in a loop unrolled by `K` rows; the first and last `K - 1`
/// input rows also feed rows outside the output, which are dropped.
///
/// Each output sums its taps as [`dw_tile_avx512`] does: fused multiply-adds in row-major
/// order, even and odd taps in two sums added at the end. The plane kernel adds the padding's
/// `+0` products, which change no sum but an exact `-0`, so the two give the same bits
/// (tested) but for the sign of an exact zero.
///
/// # Safety
/// AVX-512F must be available; `g` has unit strides and dilations, `kh == kw == K`, pads
/// below `K`; `x` holds `h * w` floats, `weights` `K * K` and `out` `oh * ow`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // taps index weights, masks and columns in step
unsafe fn dw_direct_avx512_impl<const K: usize>(
    g: &DwGeom,
    x: *const f32,
    weights: *const f32,
    bias: f32,
    out: *mut f32,
) {
    // SAFETY (whole body): loads read input rows `0 <= iy < h` only, and in them only the
    // lanes `l` whose column `ox0 + l + kx - pw` lies in `0..w` (masked-off lanes are not
    // accessed, and the row pointer is offset with wrapping arithmetic, so no out-of-bounds
    // pointer is formed by an offset); a store writes the lanes below `ow - ox0` of output
    // row `o < oh`, whose `oh * ow` floats `out` holds; weights are read at indices below
    // `K * K`.
    unsafe {
        let w: [[__m512; K]; K] = core::array::from_fn(|ky| {
            core::array::from_fn(|kx| _mm512_set1_ps(*weights.add(ky * K + kx)))
        });
        let lanes_mask = |lo: isize, hi: isize| -> __mmask16 {
            let (lo, hi) = (lo.clamp(0, 16), hi.clamp(0, 16));
            if hi <= lo {
                0
            } else {
                ((((1u32 << (hi - lo)) - 1) << lo) & 0xffff) as __mmask16
            }
        };
        let (h, w_in, pw) = (g.h as isize, g.w as isize, g.pw as isize);
        // Output row `o` reads padded rows `o..o + K`, input row `r - ph` for padded row `r`.
        let rows = g.oh + K - 1;
        for ox0 in (0..g.ow).step_by(16) {
            let store = lanes_mask(0, (g.ow - ox0) as isize);
            // Column of lane 0 for tap column `kx`, and the lanes inside the input row.
            let col: [isize; K] = core::array::from_fn(|kx| ox0 as isize + kx as isize - pw);
            let load: [__mmask16; K] =
                core::array::from_fn(|kx| lanes_mask(-col[kx], w_in - col[kx]));
            let mut even = [_mm512_set1_ps(bias); K];
            let mut odd = [_mm512_setzero_ps(); K];
            let mut r0 = 0;
            // Input row `r0 + j` for each `j < K`, unrolled by hand (the compiler does not
            // unroll this loop itself): with `j` a constant in each copy, every kernel row index
            // below is one too, so weights and accumulators stay in registers.
            macro_rules! input_row {
                ($j:literal) => {
                    if $j < K && r0 + $j < rows {
                        let r = r0 + $j;
                        // A padding row adds nothing and is skipped (the padded-plane kernel
                        // adds its `+0` products, which change no sum but an exact `-0`).
                        let iy = r as isize - g.ph as isize;
                        if (0..h).contains(&iy) {
                            let row = x.add(iy as usize * g.w);
                            // The next strip's new cache line of this row, fetched while
                            // this strip goes down the plane (a hint: it never faults).
                            _mm_prefetch::<_MM_HINT_T0>(
                                row.wrapping_offset(col[K - 1] + 31) as *const i8
                            );
                            for kx in 0..K {
                                let p = row.wrapping_offset(col[kx]);
                                let v = _mm512_maskz_loadu_ps(load[kx], p);
                                for s in 0..K {
                                    // Accumulators `s` hold output row `r - ky` here; tap
                                    // `ky * K + kx` goes to the even or the odd sum.
                                    let ky = ($j + K - s) % K;
                                    if (ky * K + kx) % 2 == 0 {
                                        even[s] = _mm512_fmadd_ps(w[ky][kx], v, even[s]);
                                    } else {
                                        odd[s] = _mm512_fmadd_ps(w[ky][kx], v, odd[s]);
                                    }
                                }
                            }
                        }
                        // The accumulators at their last kernel row hold a finished output
                        // row.
                        let s = ($j + 1) % K;
                        if let Some(o) = (r + 1).checked_sub(K) {
                            let sum = _mm512_add_ps(even[s], odd[s]);
                            _mm512_mask_storeu_ps(out.add(o * g.ow + ox0), store, sum);
                        }
                        even[s] = _mm512_set1_ps(bias);
                        odd[s] = _mm512_setzero_ps();
                    }
                };
            }
            const { assert!(K <= 5) };
            while r0 < rows {
                input_row!(0);
                input_row!(1);
                input_row!(2);
                input_row!(3);
                input_row!(4);
                r0 += K;
            }
        }
    }
}

/// One depthwise tile of `ROWS` output rows x `16 * VECS` columns, of which the first `cols`
/// are stored. Taps as in the AVX2 kernel: fused multiply-adds, even and odd taps in two sums
/// added at the end.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::needless_range_loop)] // rows and vectors index three arrays in step
unsafe fn dw_tile_avx512<const ROWS: usize, const VECS: usize>(
    src: [*const f32; 2],
    offsets: &[usize],
    weights: &[f32],
    bias: f32,
    dst: [*mut f32; 2],
    cols: usize,
) {
    // SAFETY (whole body): the caller guarantees that `src[r] + offsets[t]` holds `16 * VECS`
    // floats for every tap `t` and row `r < ROWS`, that `dst[r]` holds `cols` floats, and that
    // `weights` has a weight per tap. Lanes past `cols` are masked off the stores.
    unsafe {
        let mut even = [[_mm512_set1_ps(bias); VECS]; ROWS];
        let mut odd = [[_mm512_setzero_ps(); VECS]; ROWS];
        let n = offsets.len();
        let mut t = 0;
        while t + 1 < n {
            let (w0, w1) = (
                _mm512_set1_ps(*weights.get_unchecked(t)),
                _mm512_set1_ps(*weights.get_unchecked(t + 1)),
            );
            let (o0, o1) = (*offsets.get_unchecked(t), *offsets.get_unchecked(t + 1));
            for r in 0..ROWS {
                for v in 0..VECS {
                    let x0 = _mm512_loadu_ps(src[r].add(o0 + 16 * v));
                    even[r][v] = _mm512_fmadd_ps(w0, x0, even[r][v]);
                    let x1 = _mm512_loadu_ps(src[r].add(o1 + 16 * v));
                    odd[r][v] = _mm512_fmadd_ps(w1, x1, odd[r][v]);
                }
            }
            t += 2;
        }
        if t < n {
            let w0 = _mm512_set1_ps(*weights.get_unchecked(t));
            let o0 = *offsets.get_unchecked(t);
            for r in 0..ROWS {
                for v in 0..VECS {
                    let x0 = _mm512_loadu_ps(src[r].add(o0 + 16 * v));
                    even[r][v] = _mm512_fmadd_ps(w0, x0, even[r][v]);
                }
            }
        }
        for r in 0..ROWS {
            for v in 0..VECS {
                let sum = _mm512_add_ps(even[r][v], odd[r][v]);
                let lanes = cols.saturating_sub(16 * v).min(16);
                let mask: __mmask16 = if lanes == 16 {
                    0xffff
                } else {
                    (1 << lanes) - 1
                };
                _mm512_mask_storeu_ps(dst[r].add(16 * v), mask, sum);
            }
        }
    }
}

fn quantize_quads_avx2(x: [&[f32]; 4], inv_scale: f32, zero_point: f32, out: &mut [u8]) {
    super::qgemm::split_quantize_quads(x, inv_scale, zero_point, out, 8, |x, out| {
        // SAFETY: reachable only through the sets built by `avx2()`/`avx512_vnni()` (AVX2
        // checked); each row holds `out.len() / 4` floats, a multiple of 8, and `out` four
        // bytes for each.
        unsafe {
            quantize_quads_avx2_impl(
                x.map(|r| r.as_ptr()),
                inv_scale,
                zero_point,
                out.as_mut_ptr(),
                out.len() / 4,
            )
        }
    });
}

/// Eight values at `p` quantised by the operations of [`super::qgemm::quantize_one`]
/// (multiply, add, max with 0, which turns NaN into 0 as the reference's cast does, min with
/// 255, add 0.5, truncate): one byte value in each 32-bit lane.
///
/// # Safety
/// AVX2 must be available and `p` must point to eight readable floats.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) unsafe fn quantize8_avx2(p: *const f32, inv: __m256, zp: __m256) -> __m256i {
    // SAFETY: the caller guarantees eight floats at `p`.
    let v = unsafe { _mm256_loadu_ps(p) };
    let v = _mm256_add_ps(_mm256_mul_ps(v, inv), zp);
    let v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0));
    _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5)))
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_quads_avx2_impl(x: [*const f32; 4], inv: f32, zp: f32, out: *mut u8, n: usize) {
    // SAFETY (whole body): the caller guarantees `n` (a multiple of 8) floats in each row and
    // `4 * n` bytes at `out`. Each lane of a quantised vector holds a byte value, so shifting
    // channel j by 8j bits and or-ing the four gives each pixel's quad as one little-endian
    // u32.
    unsafe {
        let (vinv, vzp) = (_mm256_set1_ps(inv), _mm256_set1_ps(zp));
        let q = |p: *const f32| quantize8_avx2(p, vinv, vzp);
        let mut i = 0;
        while i < n {
            let c0 = q(x[0].add(i));
            let c1 = _mm256_slli_epi32(q(x[1].add(i)), 8);
            let c2 = _mm256_slli_epi32(q(x[2].add(i)), 16);
            let c3 = _mm256_slli_epi32(q(x[3].add(i)), 24);
            let quads = _mm256_or_si256(_mm256_or_si256(c0, c1), _mm256_or_si256(c2, c3));
            _mm256_storeu_si256(out.add(4 * i) as *mut __m256i, quads);
            i += 8;
        }
    }
}

fn qtile_avx2(
    acc: &[i32; QMR * QNR],
    tp: &TileParams,
    epi: &crate::runtime::op::Epilogue,
    tile: &mut [f32; QMR * QNR],
) {
    // SAFETY: reachable only through the sets built by `avx2()`/`avx512_vnni()`, which checked
    // AVX2 and FMA; the body is safe code.
    unsafe { qtile_avx2_impl(acc, tp, epi, tile) }
}

/// [`super::qgemm::qtile_scalar`] with explicit AVX2: the same operations (subtract,
/// convert with round-to-nearest, multiply, add; no FMA), then the scalar epilogue compiled
/// for AVX2, so the same results.
#[target_feature(enable = "avx2,fma")]
unsafe fn qtile_avx2_impl(
    acc: &[i32; QMR * QNR],
    tp: &TileParams,
    epi: &crate::runtime::op::Epilogue,
    tile: &mut [f32; QMR * QNR],
) {
    // SAFETY: every access is within the fixed-size arrays: rows `r < QMR`, two vectors of 8
    // at offsets `r * QNR` and `r * QNR + 8` (`QNR == 16`).
    const _: () = assert!(QNR == 16);
    unsafe {
        let (a, t) = (acc.as_ptr(), tile.as_mut_ptr());
        for r in 0..QMR {
            let z = _mm256_set1_epi32(tp.zp_corr[r]);
            let (s, b) = (_mm256_set1_ps(tp.scale[r]), _mm256_set1_ps(tp.bias[r]));
            for half in [0, 8] {
                let v = _mm256_loadu_si256(a.add(r * QNR + half) as *const __m256i);
                let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(v, z));
                _mm256_storeu_ps(t.add(r * QNR + half), _mm256_add_ps(_mm256_mul_ps(v, s), b));
            }
        }
    }
    epi.apply_slice(tile);
}

fn qtile_avx512(
    acc: &[i32; QMR * QNR],
    tp: &TileParams,
    epi: &crate::runtime::op::Epilogue,
    tile: &mut [f32; QMR * QNR],
) {
    // SAFETY: reachable only through the set built by `avx512_vnni()`, which checked
    // AVX-512F; the body's accesses are bounded as stated there.
    unsafe { qtile_avx512_impl(acc, tp, epi, tile) }
}

/// [`qtile_avx2_impl`] with one 512-bit register per tile row, the activation compiled for
/// 512-bit vectors: the same operations in the same order, so the same bits.
#[target_feature(enable = "avx512f")]
unsafe fn qtile_avx512_impl(
    acc: &[i32; QMR * QNR],
    tp: &TileParams,
    epi: &crate::runtime::op::Epilogue,
    tile: &mut [f32; QMR * QNR],
) {
    // SAFETY: every access is within the fixed-size arrays: rows `r < QMR`, one vector of 16
    // at offset `r * QNR` (`QNR == 16`).
    unsafe {
        let (a, t) = (acc.as_ptr(), tile.as_mut_ptr());
        for r in 0..QMR {
            let z = _mm512_set1_epi32(tp.zp_corr[r]);
            let (s, b) = (_mm512_set1_ps(tp.scale[r]), _mm512_set1_ps(tp.bias[r]));
            let v = _mm512_loadu_si512(a.add(r * QNR) as *const _);
            let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(v, z));
            _mm512_storeu_ps(t.add(r * QNR), _mm512_add_ps(_mm512_mul_ps(v, s), b));
        }
    }
    epi.apply_slice(tile);
}

/// Defines kernel `$name`: the portable, safe `$body` compiled with `$features` enabled, so
/// the compiler vectorises it for those registers. The operations are the reference's (no
/// fast-math and no FMA contraction in Rust), so the results are the same bits.
macro_rules! compiled_for {
    ($name:ident, $features:literal, $body:path, fn($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[target_feature(enable = $features)]
            unsafe fn wide($($arg: $ty),*) {
                $body($($arg),*)
            }
            // SAFETY: reachable only through the kernel sets that `avx2()` / `avx512_vnni()`
            // build after checking these features; the body is safe code.
            unsafe { wide($($arg),*) }
        }
    };
}

compiled_for!(
    exp_shifted_avx2,
    "avx2,fma",
    super::scalar::exp_shifted,
    fn(x: &[f32], shift: f32, out: &mut [f32])
);
compiled_for!(
    exp_shifted_avx512,
    "avx512f",
    super::scalar::exp_shifted,
    fn(x: &[f32], shift: f32, out: &mut [f32])
);
compiled_for!(
    epilogue_avx2,
    "avx2,fma",
    super::scalar::epilogue,
    fn(epi: &crate::runtime::op::Epilogue, xs: &mut [f32])
);
compiled_for!(
    epilogue_avx512,
    "avx512f",
    super::scalar::epilogue,
    fn(epi: &crate::runtime::op::Epilogue, xs: &mut [f32])
);
// The depthwise padded-plane copy: stride-2 phase splits become vector shuffles.
compiled_for!(
    pad_plane_avx2,
    "avx2",
    super::depthwise::pad_plane,
    fn(g: &DwGeom, x: &[f32], dst: &mut [f32])
);
compiled_for!(
    pad_plane_avx512,
    "avx512f",
    super::depthwise::pad_plane,
    fn(g: &DwGeom, x: &[f32], dst: &mut [f32])
);
// The int8 B panel copy: two 32-byte or one 64-byte move per row block.
compiled_for!(
    pack_quads_avx2,
    "avx2",
    super::qgemm::pack_quads,
    fn(xg: &[u8], taps: &[usize], origin: usize, stride: usize, dst: &mut [u8])
);
compiled_for!(
    pack_quads_avx512,
    "avx512f",
    super::qgemm::pack_quads,
    fn(xg: &[u8], taps: &[usize], origin: usize, stride: usize, dst: &mut [u8])
);
