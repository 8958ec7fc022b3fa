//! Portable scalar reference kernels.

use super::{MR, NR};

/// Reference GEMM micro-kernel (see [`super::MicroKernel`]).
pub fn gemm_microkernel(k: usize, a: &[f32], b: &[f32], acc: &mut [f32; MR * NR]) {
    acc.fill(0.0);
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(k) {
        for r in 0..MR {
            let av = ak[r];
            let row = &mut acc[r * NR..(r + 1) * NR];
            for (o, &bv) in row.iter_mut().zip(bk) {
                *o += av * bv;
            }
        }
    }
}
