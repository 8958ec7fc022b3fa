//! x86-64 int8 depthwise kernels (AVX2; AVX-512 BW + VNNI), for the sets that
//! [`super::x86`] builds after confirming the CPU features, which is what makes the calls
//! sound. See [`super::qdepthwise`] for the layout and why every kernel is bit-exact with the
//! reference.

use super::depthwise::DwGeom;
use super::qdepthwise::{DwRequant, QDW_TILE, expand_row, quantize_plane_with};
use super::x86::quantize8_avx2;
use crate::runtime::op::ActQuant;
use core::arch::x86_64::*;

/// The lengths the plane kernels' accesses need: every tile of every output row reads a whole
/// tile of quads from rows below `padded_rows()`, and every kernel row's quads of weights.
fn check_plane_args(g: &DwGeom, x: &[u8], weights: &[i8], out: &[f32]) {
    assert!(x.len() >= g.quad_plane_len());
    assert!(weights.len() >= g.kh * g.tap_quads() * 4 && out.len() >= g.oh * g.ow);
}

pub(super) fn qdw_plane_vnni512(
    g: &DwGeom,
    x: &[u8],
    weights: &[i8],
    rq: &DwRequant,
    out: &mut [f32],
) {
    check_plane_args(g, x, weights, out);
    // SAFETY: reachable only through the set built by `avx512_vnni()`, which checked AVX-512F
    // and VNNI; the lengths checked above bound every access (see the body).
    unsafe { qdw_plane_vnni512_impl(g, x.as_ptr(), weights.as_ptr(), rq, out.as_mut_ptr()) }
}

/// Up to four 16-column tiles of one output row per step, so that four independent
/// `vpdpbusd` chains hide its latency: for each kernel row and quad, one broadcast weight quad
/// and, per tile, one 64-byte load of sixteen columns' tap quads and one `vpdpbusd` (exact in
/// i32). Then the reference's subtraction, conversion, multiply and add, and stores masked to
/// the row.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn qdw_plane_vnni512_impl(
    g: &DwGeom,
    x: *const u8,
    w: *const i8,
    rq: &DwRequant,
    out: *mut f32,
) {
    // SAFETY: as the callee states, for tiles `0..tile_cols() / 16` of each row.
    unsafe {
        let tiles = g.tile_cols() / QDW_TILE;
        for oy in 0..g.oh {
            let mut t = 0;
            while t < tiles {
                match tiles - t {
                    1 => qdw_tiles_vnni512::<1>(g, x, w, rq, out, oy, t),
                    2 => qdw_tiles_vnni512::<2>(g, x, w, rq, out, oy, t),
                    3 => qdw_tiles_vnni512::<3>(g, x, w, rq, out, oy, t),
                    _ => qdw_tiles_vnni512::<4>(g, x, w, rq, out, oy, t),
                }
                t += 4;
            }
        }
    }
}

/// `N` tiles of output row `oy` from tile `t0` (see [`qdw_plane_vnni512_impl`]).
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
unsafe fn qdw_tiles_vnni512<const N: usize>(
    g: &DwGeom,
    x: *const u8,
    w: *const i8,
    rq: &DwRequant,
    out: *mut f32,
    oy: usize,
    t0: usize,
) {
    let (quads, cols, row_len) = (g.tap_quads(), g.tile_cols(), g.quad_row_len());
    // SAFETY (whole body): rows read are `oy * sh + ky * dh < padded_rows()`, and a tile's 64
    // bytes at `(qi * cols + 16 * t) * 4` end within its row because tile `t < tile_cols() /
    // 16`: inside the `quad_plane_len()` bytes the caller asserted. Weight reads are the
    // `kh * quads` 4-byte quads asserted. Stores are masked to columns `< ow` of row `oy < oh`.
    unsafe {
        let mut acc = [_mm512_setzero_si512(); N];
        for ky in 0..g.kh {
            let row = x.add((oy * g.sh + ky * g.dh) * row_len + t0 * QDW_TILE * 4);
            for qi in 0..quads {
                let wq = (w.add((ky * quads + qi) * 4) as *const i32).read_unaligned();
                let wq = _mm512_set1_epi32(wq);
                let src = row.add(qi * cols * 4);
                for (i, a) in acc.iter_mut().enumerate() {
                    let v = _mm512_loadu_si512(src.add(i * QDW_TILE * 4) as *const _);
                    *a = _mm512_dpbusd_epi32(*a, v, wq);
                }
            }
        }
        let (z, s, b) = (
            _mm512_set1_epi32(rq.zp_corr),
            _mm512_set1_ps(rq.scale),
            _mm512_set1_ps(rq.bias),
        );
        for (i, a) in acc.into_iter().enumerate() {
            let ox0 = (t0 + i) * QDW_TILE;
            let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(a, z));
            let y = _mm512_add_ps(_mm512_mul_ps(v, s), b);
            let n = QDW_TILE.min(g.ow.saturating_sub(ox0));
            let mask = (((1u32 << n) - 1) & 0xffff) as __mmask16;
            _mm512_mask_storeu_ps(out.add(oy * g.ow + ox0), mask, y);
        }
    }
}

pub(super) fn qdw_plane_avx2(
    g: &DwGeom,
    x: &[u8],
    weights: &[i8],
    rq: &DwRequant,
    out: &mut [f32],
) {
    check_plane_args(g, x, weights, out);
    // SAFETY: reachable only through the sets built by `avx2()`/`avx512_vnni()`, which
    // checked AVX2; the lengths checked above bound every access (see the body).
    unsafe { qdw_plane_avx2_impl(g, x.as_ptr(), weights.as_ptr(), rq, out.as_mut_ptr()) }
}

/// One 16-column tile per step, as two 8-column halves. Each tap quad byte is split into
/// nibbles, as in the int8 GEMM (see `qgemm`'s notes), so `vpmaddubsw` pair sums stay below
/// `2 * 15 * 127` and cannot saturate; `vpmaddwd` with ones adds the pairs of a quad into
/// i32, and `16 * high + low` is the exact sum. Then the reference's subtraction,
/// conversion, multiply and add.
#[target_feature(enable = "avx2")]
unsafe fn qdw_plane_avx2_impl(
    g: &DwGeom,
    x: *const u8,
    w: *const i8,
    rq: &DwRequant,
    out: *mut f32,
) {
    let (quads, cols, row_len) = (g.tap_quads(), g.tile_cols(), g.quad_row_len());
    // SAFETY (whole body): as in `qdw_plane_vnni512_impl`: rows below `padded_rows()`, a
    // tile's 64 bytes within its row, the asserted weight quads; the stores of a partial
    // last tile go through a stack buffer, so only columns `< ow` of row `oy < oh` are
    // written.
    unsafe {
        let (ones, low) = (_mm256_set1_epi16(1), _mm256_set1_epi8(0x0f));
        let (z, s, b) = (
            _mm256_set1_epi32(rq.zp_corr),
            _mm256_set1_ps(rq.scale),
            _mm256_set1_ps(rq.bias),
        );
        for oy in 0..g.oh {
            for ox0 in (0..g.ow).step_by(QDW_TILE) {
                let mut lo = [_mm256_setzero_si256(); 2];
                let mut hi = [_mm256_setzero_si256(); 2];
                for ky in 0..g.kh {
                    let row = x.add((oy * g.sh + ky * g.dh) * row_len + ox0 * 4);
                    for qi in 0..quads {
                        let wq = (w.add((ky * quads + qi) * 4) as *const i32).read_unaligned();
                        let wq = _mm256_set1_epi32(wq);
                        for half in 0..2 {
                            let p = row.add(qi * cols * 4 + half * 32) as *const __m256i;
                            let v = _mm256_loadu_si256(p);
                            let vl = _mm256_and_si256(v, low);
                            let vh = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                            let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(vl, wq), ones);
                            let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(vh, wq), ones);
                            lo[half] = _mm256_add_epi32(lo[half], pl);
                            hi[half] = _mm256_add_epi32(hi[half], ph);
                        }
                    }
                }
                let mut tile = [0f32; QDW_TILE];
                for half in 0..2 {
                    let acc = _mm256_add_epi32(_mm256_slli_epi32(hi[half], 4), lo[half]);
                    let v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, z));
                    let y = _mm256_add_ps(_mm256_mul_ps(v, s), b);
                    _mm256_storeu_ps(tile.as_mut_ptr().add(half * 8), y);
                }
                let n = QDW_TILE.min(g.ow - ox0);
                core::ptr::copy_nonoverlapping(tile.as_ptr(), out.add(oy * g.ow + ox0), n);
            }
        }
    }
}

/// The row quantiser of the AVX2 sets: [`quantize_row_avx2`] for whole blocks of 8 values,
/// the reference for the rest (the same bytes).
#[inline(always)]
fn quantize_row_blocks(src: &[f32], inv: f32, zp: f32, out: &mut [u8]) {
    let body = src.len().min(out.len()) / 8 * 8;
    // SAFETY: inlined only into functions compiled with AVX2 that the AVX2 sets reach after
    // checking it; `body` values and bytes lie within `src` and `out`.
    unsafe { quantize_row_avx2(src.as_ptr(), inv, zp, out.as_mut_ptr(), body) };
    for (o, &v) in out[body..].iter_mut().zip(&src[body..]) {
        *o = super::qgemm::quantize_one(v, inv, zp);
    }
}

/// Whether the byte-shuffle expansions handle this geometry (stride 1 or 2 along W, no
/// dilation along W), after asserting the buffer lengths their accesses need.
fn shuffle_expands(g: &DwGeom, row: &[u8], quads: &[u8]) -> bool {
    if g.dw != 1 || !(g.sw == 1 || g.sw == 2) {
        return false;
    }
    assert!(row.len() >= g.qrow_len() && quads.len() >= g.quad_row_len());
    true
}

pub(super) fn qdw_quantize_avx2(
    g: &DwGeom,
    q: &ActQuant,
    x: &[f32],
    row: &mut [u8],
    dst: &mut [u8],
) {
    #[target_feature(enable = "avx2")]
    unsafe fn wide(g: &DwGeom, q: &ActQuant, x: &[f32], row: &mut [u8], dst: &mut [u8]) {
        let expand = |g: &DwGeom, row: &[u8], quads: &mut [u8]| {
            if !shuffle_expands(g, row, quads) {
                return expand_row(g, row, quads);
            }
            // SAFETY: AVX2 is enabled here (checked by the set's builder); the lengths
            // checked by `shuffle_expands` bound every access (see the callee).
            unsafe { expand_row_avx2(g, row.as_ptr(), quads.as_mut_ptr()) }
        };
        quantize_plane_with(g, q, x, row, dst, quantize_row_blocks, expand);
    }
    // SAFETY: reachable only through the set built by `avx2()`, which checked AVX2.
    unsafe { wide(g, q, x, row, dst) }
}

pub(super) fn qdw_quantize_avx512(
    g: &DwGeom,
    q: &ActQuant,
    x: &[f32],
    row: &mut [u8],
    dst: &mut [u8],
) {
    #[target_feature(enable = "avx2,avx512f,avx512bw")]
    unsafe fn wide(g: &DwGeom, q: &ActQuant, x: &[f32], row: &mut [u8], dst: &mut [u8]) {
        let expand = |g: &DwGeom, row: &[u8], quads: &mut [u8]| {
            if !shuffle_expands(g, row, quads) {
                return expand_row(g, row, quads);
            }
            // SAFETY: AVX-512 F and BW are enabled here (checked by the set's builder); the
            // lengths checked by `shuffle_expands` bound every access (see the callee).
            unsafe { expand_row_avx512(g, row.as_ptr(), quads.as_mut_ptr()) }
        };
        quantize_plane_with(g, q, x, row, dst, quantize_row_blocks, expand);
    }
    // SAFETY: reachable only through the set built by `avx512_vnni()`, which checked AVX2 and
    // AVX-512 F and BW.
    unsafe { wide(g, q, x, row, dst) }
}

/// [`expand_row`] for stride 1 or 2 along W and no dilation with AVX2: per quad and 8
/// columns, two 16-byte loads (from the first column's first tap, and four columns on) into
/// the two 128-bit lanes, and one in-lane byte shuffle that gives each column its four tap
/// bytes (from `j * sw`).
#[target_feature(enable = "avx2")]
unsafe fn expand_row_avx2(g: &DwGeom, row: *const u8, quads: *mut u8) {
    // SAFETY (whole body): the caller guarantees `qrow_len()` bytes at `row`: the loads end
    // by `(ox0 + 4) * sw + 4 * qi + 16` with `ox0 + 8 <= tile_cols()`, within the 64-byte
    // loads `qrow_len()` counts for `sw <= 2`; and `quad_row_len()` bytes at `quads` (the
    // 32-byte store at `(qi * cols + ox0) * 4`).
    unsafe {
        let bytes = if g.sw == 1 {
            _mm256_set_epi32(
                0x06050403, 0x05040302, 0x04030201, 0x03020100, 0x06050403, 0x05040302, 0x04030201,
                0x03020100,
            )
        } else {
            _mm256_set_epi32(
                0x09080706, 0x07060504, 0x05040302, 0x03020100, 0x09080706, 0x07060504, 0x05040302,
                0x03020100,
            )
        };
        let cols = g.tile_cols();
        for qi in 0..g.tap_quads() {
            for ox0 in (0..cols).step_by(8) {
                let src = row.add(ox0 * g.sw + 4 * qi);
                let v = _mm256_loadu2_m128i(src.add(4 * g.sw) as *const _, src as *const _);
                let v = _mm256_shuffle_epi8(v, bytes);
                _mm256_storeu_si256(quads.add((qi * cols + ox0) * 4) as *mut _, v);
            }
        }
    }
}

/// [`expand_row`] for stride 1 or 2 along W and no dilation: per quad and 16 columns, one
/// 64-byte load from the first column's first tap; a dword permute gives 128-bit lane `L`
/// the 16 bytes from `4 * L * sw`, and an in-lane byte shuffle gives column `j` of the lane
/// its four tap bytes (from `j * sw`).
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn expand_row_avx512(g: &DwGeom, row: *const u8, quads: *mut u8) {
    // SAFETY (whole body): the caller guarantees `qrow_len()` bytes at `row` (which counts
    // the 64-byte load at `ox0 * sw + 4 * qi` of every tile, `ox0 + 16 <= tile_cols()`) and
    // `quad_row_len()` bytes at `quads` (the 64-byte store at `(qi * cols + ox0) * 4`).
    unsafe {
        let (dwords, bytes) = if g.sw == 1 {
            (
                _mm512_setr_epi32(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6),
                _mm512_set4_epi32(0x06050403, 0x05040302, 0x04030201, 0x03020100),
            )
        } else {
            (
                _mm512_setr_epi32(0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9),
                _mm512_set4_epi32(0x09080706, 0x07060504, 0x05040302, 0x03020100),
            )
        };
        let cols = g.tile_cols();
        for qi in 0..g.tap_quads() {
            for ox0 in (0..cols).step_by(QDW_TILE) {
                let v = _mm512_loadu_si512(row.add(ox0 * g.sw + 4 * qi) as *const _);
                let v = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(dwords, v), bytes);
                _mm512_storeu_si512(quads.add((qi * cols + ox0) * 4) as *mut _, v);
            }
        }
    }
}

/// 32 values per step, then 8, quantised by [`quantize8_avx2`] and packed to bytes.
#[target_feature(enable = "avx2")]
unsafe fn quantize_row_avx2(x: *const f32, inv: f32, zp: f32, out: *mut u8, n: usize) {
    // SAFETY (whole body): the caller guarantees `n` (a multiple of 8) floats at `x` and
    // bytes at `out`.
    unsafe {
        let (vinv, vzp) = (_mm256_set1_ps(inv), _mm256_set1_ps(zp));
        let q = |p: *const f32| quantize8_avx2(p, vinv, vzp);
        // The packs interleave the 128-bit lanes; a dword permute restores the order.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let mut i = 0;
        while i + 32 <= n {
            let ab = _mm256_packus_epi32(q(x.add(i)), q(x.add(i + 8)));
            let cd = _mm256_packus_epi32(q(x.add(i + 16)), q(x.add(i + 24)));
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), order);
            _mm256_storeu_si256(out.add(i) as *mut __m256i, bytes);
            i += 32;
        }
        while i < n {
            let a = q(x.add(i));
            let a = _mm256_packus_epi16(_mm256_packus_epi32(a, a), a);
            let bytes = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(a, order));
            _mm_storel_epi64(out.add(i) as *mut __m128i, bytes);
            i += 8;
        }
    }
}
