//! x86-64 SIMD kernels (AVX2 + FMA), selected at run time.
//!
//! Each kernel is an `unsafe` `#[target_feature]` function behind a safe wrapper that checks
//! slice lengths. The wrappers are private and reachable only through the [`KernelSet`] that
//! [`avx2`] returns after confirming the CPU features, which is what makes the calls sound.

use super::{KernelSet, MR, NR};
use core::arch::x86_64::*;

/// The AVX2 + FMA kernel set, if this CPU has both.
pub fn avx2() -> Option<KernelSet> {
    #[cfg(feature = "std")]
    let ok = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(feature = "std"))]
    let ok = cfg!(all(target_feature = "avx2", target_feature = "fma"));
    ok.then_some(KernelSet {
        name: "avx2-fma",
        gemm: gemm_avx2,
        dw_row: dw_row_avx2,
    })
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

fn dw_row_avx2(out: &mut [f32], input: &[f32], w: f32) {
    // SAFETY: reachable only through the set built by `avx2()` (features checked); the body is
    // safe slice code compiled with AVX2/FMA enabled.
    unsafe { dw_row_avx2_impl(out, input, w) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dw_row_avx2_impl(out: &mut [f32], input: &[f32], w: f32) {
    for (o, &x) in out.iter_mut().zip(input) {
        *o += w * x;
    }
}
