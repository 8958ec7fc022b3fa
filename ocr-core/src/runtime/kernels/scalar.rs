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

/// An epilogue's activation and post affine over a slice: the reference, and the body the SIMD
/// builds compile with wider vectors (identical results, as for [`exp_shifted`]).
#[inline(always)]
pub fn epilogue(epi: &crate::runtime::op::Epilogue, xs: &mut [f32]) {
    epi.apply_slice(xs)
}

/// `out[i] = exp(x[i] - shift)`: the reference, and the body the SIMD builds compile with
/// wider vectors (the same IEEE operations in the same order, so the results are identical).
#[inline(always)]
pub fn exp_shifted(x: &[f32], shift: f32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = crate::runtime::op::exp(v - shift);
    }
}

#[cfg(test)]
mod tests {
    use super::super::KernelSet;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Every set's epilogue (each activation kind, with and without a post affine) equals
    /// the scalar reference bit for bit (any NaN as NaN), over ±inf and lengths off the vector
    /// width.
    #[test]
    fn epilogue_kernels_are_bit_exact() {
        use crate::runtime::op::Epilogue;
        let mut x: Vec<f32> = (0..517).map(|i| (i as f32 - 250.0) * 0.043).collect();
        x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-40]);
        let acts = super::super::TEST_ACTIVATIONS;
        let reference = KernelSet::scalar();
        for ks in KernelSet::available() {
            for act in acts {
                for (post_scale, post_bias) in [(1.0, 0.0), (0.5, -0.25)] {
                    let epi = Epilogue {
                        act,
                        post_scale,
                        post_bias,
                    };
                    for len in [0, 1, 7, 8, 9, 33, x.len()] {
                        let (mut want, mut got) = (x[..len].to_vec(), x[..len].to_vec());
                        (reference.epilogue)(&epi, &mut want);
                        (ks.epilogue)(&epi, &mut got);
                        // NaN stays NaN; its sign bit may differ between scalar and vector
                        // min/max, so NaNs compare as one value.
                        let bits = |v: &[f32]| {
                            v.iter()
                                .map(|f| if f.is_nan() { u32::MAX } else { f.to_bits() })
                                .collect::<Vec<_>>()
                        };
                        assert_eq!(bits(&got), bits(&want), "{} {epi:?} len {len}", ks.name);
                    }
                }
            }
        }
    }

    /// Every set's softmax exponentials equal the scalar reference bit for bit, over ordinary
    /// values, the clamps (beyond -87 and 88), ±inf and lengths that are not a vector multiple.
    #[test]
    fn exp_kernels_are_bit_exact() {
        let mut x: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) * 0.37).collect();
        x.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            -87.5,
            88.5,
            0.0,
            -0.0,
            1e-30,
        ]);
        let reference = KernelSet::scalar();
        for ks in KernelSet::available() {
            for shift in [0.0f32, 3.5, -20.0] {
                for len in [0, 1, 7, 8, 9, 31, x.len()] {
                    let (mut want, mut got) = (vec![0f32; len], vec![1f32; len]);
                    (reference.exp_shifted)(&x[..len], shift, &mut want);
                    (ks.exp_shifted)(&x[..len], shift, &mut got);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{} shift {shift} len {len}",
                        ks.name
                    );
                }
            }
        }
    }
}
