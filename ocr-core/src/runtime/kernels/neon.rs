//! Arm (AArch64) NEON kernels: the fp32 and int8 GEMM micro-kernels and activation
//! quantisation; every other kernel is the portable body, which the compiler vectorises with
//! NEON (AArch64's baseline, so no detection is needed).
//!
//! The int8 micro-kernel runs on any ARMv8.0 core: `vld4q_u8` splits a B row block into the
//! four bytes of its sixteen columns, each byte is widened to 16 bits, and `vmlal_laneq_s16`
//! multiplies it by one widened weight into 32-bit sums. Every product of an activation
//! (`0..=255`) and a weight (`-127..=127`) is exact in 16-bit inputs and 32-bit results, so
//! the integers equal the scalar reference's (tested bit for bit).
//!
//! Cores with the dot-product extension (ARMv8.2 `dotprod`, reported by the OS; builds without
//! `std` do not look) get [`neon_dotprod`]: `sdot` adds four products per 32-bit lane, four
//! times the widening kernel's products per instruction. `sdot` multiplies signed bytes, so
//! activations are flipped to `a - 128` (an exclusive or with `0x80`) and `128 * sum(w)` added
//! back per row at the end; the row sums come from one more `sdot` per step against ones.
//! Products `(-128..=127) x (-127..=127)` and their sums are exact in i32, so the integers are
//! the reference's. The instruction is written as inline assembly: Rust's `vdotq` intrinsics
//! are not stable.
//!
//! Each kernel is an `unsafe` function behind a safe wrapper that checks slice lengths; NEON
//! is part of every AArch64 CPU, and the dot-product set is built only after the OS reports
//! the extension, which is what makes the calls sound.

use super::qgemm::{QMR, QNR};
use super::{KernelSet, MR, NR};
use core::arch::aarch64::*;

/// The NEON kernel set.
pub fn neon() -> KernelSet {
    KernelSet {
        name: "neon",
        gemm: gemm_neon,
        qgemm: qgemm_neon,
        qgemm_pair: qgemm_pair_neon,
        quantize_quads: quantize_quads_neon,
        ..KernelSet::scalar()
    }
}

fn gemm_neon(k: usize, a: &[f32], b: &[f32], acc: &mut [f32; MR * NR]) {
    assert!(a.len() >= k * MR && b.len() >= k * NR);
    // SAFETY: NEON is always present on AArch64; reads stay within the lengths asserted
    // above, writes within the array.
    unsafe { gemm_6x16(k, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

/// `acc[6 x 16] = sum_k a[k][0..6] * b[k][0..16]`: 24 accumulator registers, one fused
/// multiply-add per (row, four columns) and k step.
unsafe fn gemm_6x16(k: usize, a: *const f32, b: *const f32, acc: *mut f32) {
    // SAFETY (whole body): the caller guarantees `a` holds k*6 and `b` k*16 floats and `acc`
    // 96.
    unsafe {
        let z = vdupq_n_f32(0.0);
        let mut c = [[z; 4]; MR];
        for kk in 0..k {
            let bp = b.add(kk * NR);
            let bv = [
                vld1q_f32(bp),
                vld1q_f32(bp.add(4)),
                vld1q_f32(bp.add(8)),
                vld1q_f32(bp.add(12)),
            ];
            let ap = a.add(kk * MR);
            let a03 = vld1q_f32(ap);
            // Rows 4 and 5 (two floats; the upper lanes are unused).
            let a45 = vcombine_f32(vld1_f32(ap.add(4)), vdup_n_f32(0.0));
            macro_rules! row {
                ($r:expr, $v:expr, $lane:expr) => {
                    for (cv, &bw) in c[$r].iter_mut().zip(&bv) {
                        *cv = vfmaq_laneq_f32::<$lane>(*cv, bw, $v);
                    }
                };
            }
            row!(0, a03, 0);
            row!(1, a03, 1);
            row!(2, a03, 2);
            row!(3, a03, 3);
            row!(4, a45, 0);
            row!(5, a45, 1);
        }
        for (r, row) in c.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                vst1q_f32(acc.add(r * NR + j * 4), *v);
            }
        }
    }
}

/// The NEON set with the dot-product int8 micro-kernel, if the CPU has the extension.
pub fn neon_dotprod() -> Option<KernelSet> {
    #[cfg(feature = "std")]
    let ok = std::arch::is_aarch64_feature_detected!("dotprod");
    #[cfg(not(feature = "std"))]
    let ok = false;
    ok.then(|| KernelSet {
        name: "neon-dotprod",
        qgemm: qgemm_dotprod,
        qgemm_pair: qgemm_pair_dotprod,
        ..neon()
    })
}

fn qgemm_dotprod(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]) {
    assert!(a.len() >= k4 * QMR * 4 && b.len() >= k4 * QNR * 4);
    // SAFETY: reachable only through the set `neon_dotprod()` builds after the OS reported
    // the dot-product extension; reads stay within the lengths asserted above, writes within
    // the array.
    unsafe { qgemm_4x16_dotprod(k4, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

fn qgemm_pair_dotprod(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]) {
    super::qgemm::pair_of_singles(qgemm_dotprod, k4, a, b, acc)
}

/// `acc.s[i] += dot(a.b[4i..4i + 4], b.b[4L..4L + 4])` for each lane `i` (`sdot` by element).
#[target_feature(enable = "dotprod")]
#[inline]
unsafe fn sdot_lane<const L: i32>(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: the caller's target features include `dotprod`; registers only.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.4b[{l}]",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            l = const L,
            options(pure, nomem, nostack)
        );
    }
    acc
}

/// `acc.s[i] += dot(a.b[4i..4i + 4], b.b[4i..4i + 4])` for each lane `i` (`sdot` by vector).
#[target_feature(enable = "dotprod")]
#[inline]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: the caller's target features include `dotprod`; registers only.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack)
        );
    }
    acc
}

/// The dot-product int8 micro-kernel (module notes): 16 accumulators of four columns, four
/// rows; per step one A load (the four rows' quads), four B loads (four columns' quads each),
/// sixteen `sdot` by element and one row-sum `sdot`.
#[target_feature(enable = "dotprod")]
unsafe fn qgemm_4x16_dotprod(k4: usize, a: *const i8, b: *const u8, acc: *mut i32) {
    // SAFETY (whole body): the caller guarantees `a` holds k4*16 and `b` k4*64 bytes and `acc`
    // 64 i32.
    unsafe {
        let (flip, ones) = (vdupq_n_u8(0x80), vdupq_n_s8(1));
        // c[g][r]: row r, columns 4g..4g+4; sums: lane r, row r's weight sum.
        let mut c = [[vdupq_n_s32(0); QMR]; 4];
        let mut sums = vdupq_n_s32(0);
        for kk in 0..k4 {
            let av = vld1q_s8(a.add(kk * QMR * 4));
            sums = sdot(sums, av, ones);
            for (g, cg) in c.iter_mut().enumerate() {
                let bv = vld1q_u8(b.add(kk * QNR * 4 + g * 16));
                let bs = vreinterpretq_s8_u8(veorq_u8(bv, flip));
                cg[0] = sdot_lane::<0>(cg[0], bs, av);
                cg[1] = sdot_lane::<1>(cg[1], bs, av);
                cg[2] = sdot_lane::<2>(cg[2], bs, av);
                cg[3] = sdot_lane::<3>(cg[3], bs, av);
            }
        }
        // sum((b - 128) * w) + 128 * sum(w) = sum(b * w).
        let mut corr = [0i32; QMR];
        vst1q_s32(corr.as_mut_ptr(), vshlq_n_s32::<7>(sums));
        for (g, cg) in c.iter().enumerate() {
            for (r, v) in cg.iter().enumerate() {
                vst1q_s32(
                    acc.add(r * QNR + g * 4),
                    vaddq_s32(*v, vdupq_n_s32(corr[r])),
                );
            }
        }
    }
}

fn qgemm_neon(k4: usize, a: &[i8], b: &[u8], acc: &mut [i32; QMR * QNR]) {
    assert!(a.len() >= k4 * QMR * 4 && b.len() >= k4 * QNR * 4);
    // SAFETY: NEON is always present on AArch64; reads stay within the lengths asserted
    // above, writes within the array.
    unsafe { qgemm_4x16(k4, a.as_ptr(), b.as_ptr(), acc.as_mut_ptr()) }
}

fn qgemm_pair_neon(k4: usize, a: &[i8], b: &[u8], acc: &mut [[i32; QMR * QNR]; 2]) {
    super::qgemm::pair_of_singles(qgemm_neon, k4, a, b, acc)
}

/// The int8 micro-kernel (module notes): 16 accumulators of four columns, four rows.
unsafe fn qgemm_4x16(k4: usize, a: *const i8, b: *const u8, acc: *mut i32) {
    // SAFETY (whole body): the caller guarantees `a` holds k4*16 and `b` k4*64 bytes and `acc`
    // 64 i32.
    unsafe {
        let z = vdupq_n_s32(0);
        // c[r][g]: row r, columns 4g..4g+4.
        let mut c = [[z; 4]; QMR];
        for kk in 0..k4 {
            // b.0[j] holds byte j of columns 0..16; widened: lo = columns 0..8, hi = 8..16.
            let bq = vld4q_u8(b.add(kk * QNR * 4));
            let wide = |v: uint8x16_t| {
                (
                    vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v))),
                    vreinterpretq_s16_u16(vmovl_high_u8(v)),
                )
            };
            let bw = [wide(bq.0), wide(bq.1), wide(bq.2), wide(bq.3)];
            // a[r][j] at lane 4r + j: rows 0-1 in `a01`, rows 2-3 in `a23`.
            let av = vld1q_s8(a.add(kk * QMR * 4));
            let a01 = vmovl_s8(vget_low_s8(av));
            let a23 = vmovl_high_s8(av);
            macro_rules! tap {
                ($r:expr, $j:expr, $w:expr, $lane:expr) => {{
                    let (lo, hi) = bw[$j];
                    c[$r][0] = vmlal_laneq_s16::<$lane>(c[$r][0], vget_low_s16(lo), $w);
                    c[$r][1] = vmlal_high_laneq_s16::<$lane>(c[$r][1], lo, $w);
                    c[$r][2] = vmlal_laneq_s16::<$lane>(c[$r][2], vget_low_s16(hi), $w);
                    c[$r][3] = vmlal_high_laneq_s16::<$lane>(c[$r][3], hi, $w);
                }};
            }
            tap!(0, 0, a01, 0);
            tap!(0, 1, a01, 1);
            tap!(0, 2, a01, 2);
            tap!(0, 3, a01, 3);
            tap!(1, 0, a01, 4);
            tap!(1, 1, a01, 5);
            tap!(1, 2, a01, 6);
            tap!(1, 3, a01, 7);
            tap!(2, 0, a23, 0);
            tap!(2, 1, a23, 1);
            tap!(2, 2, a23, 2);
            tap!(2, 3, a23, 3);
            tap!(3, 0, a23, 4);
            tap!(3, 1, a23, 5);
            tap!(3, 2, a23, 6);
            tap!(3, 3, a23, 7);
        }
        for (r, row) in c.iter().enumerate() {
            for (g, v) in row.iter().enumerate() {
                vst1q_s32(acc.add(r * QNR + g * 4), *v);
            }
        }
    }
}

fn quantize_quads_neon(x: [&[f32]; 4], inv_scale: f32, zero_point: f32, out: &mut [u8]) {
    super::qgemm::split_quantize_quads(x, inv_scale, zero_point, out, 16, |x, out| {
        // SAFETY: NEON is always present on AArch64; each row holds `out.len() / 4` floats, a
        // multiple of 16, and `out` four bytes for each.
        unsafe {
            quantize_quads_16(
                x.map(|r| r.as_ptr()),
                inv_scale,
                zero_point,
                out.as_mut_ptr(),
                out.len() / 4,
            )
        }
    });
}

/// Sixteen pixels of four channels at a time: multiply, add, clamp, add a half and truncate
/// (the reference's operations in its order; no fused multiply-add), then `vst4q_u8`
/// interleaves the four channels into quads.
unsafe fn quantize_quads_16(x: [*const f32; 4], inv: f32, zp: f32, out: *mut u8, n: usize) {
    // SAFETY (whole body): the caller guarantees `n` floats in each row, `4 * n` bytes of
    // output, and `n` a multiple of 16.
    unsafe {
        let (vinv, vzp) = (vdupq_n_f32(inv), vdupq_n_f32(zp));
        let (lo, hi, half) = (vdupq_n_f32(0.0), vdupq_n_f32(255.0), vdupq_n_f32(0.5));
        let q4 = |p: *const f32| {
            let v = vaddq_f32(vmulq_f32(vld1q_f32(p), vinv), vzp);
            // vmax/vmin keep a NaN, which converts to 0 as the reference's cast does.
            let v = vaddq_f32(vminq_f32(vmaxq_f32(v, lo), hi), half);
            vcvtq_u32_f32(v)
        };
        let q16 = |p: *const f32| {
            let a = vmovn_u32(q4(p));
            let b = vmovn_u32(q4(p.add(4)));
            let c = vmovn_u32(q4(p.add(8)));
            let d = vmovn_u32(q4(p.add(12)));
            vcombine_u8(vmovn_u16(vcombine_u16(a, b)), vmovn_u16(vcombine_u16(c, d)))
        };
        let mut i = 0;
        while i < n {
            let v = uint8x16x4_t(
                q16(x[0].add(i)),
                q16(x[1].add(i)),
                q16(x[2].add(i)),
                q16(x[3].add(i)),
            );
            vst4q_u8(out.add(4 * i), v);
            i += 16;
        }
    }
}
