//! Compute kernels and the single point where a kernel set is chosen.
//!
//! [`KernelSet::detect`] picks the best set the CPU reports (AVX2+FMA, optionally with AVX-512 VNNI for
//! int8; NEON on AArch64, with the dot-product extension where present; or the portable
//! scalar reference) once, when a model is loaded;
//! everything else calls through the chosen set. A new architecture is one more file like
//! `x86.rs` or `neon.rs` that fills a [`KernelSet`], starting from the scalar one.
//! Every SIMD kernel is tested against the scalar reference (fp32: within a stated tolerance).

pub mod depthwise;
pub mod gemm;
#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(feature = "int8-depthwise")]
pub mod qdepthwise;
pub mod qgemm;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(all(target_arch = "x86_64", feature = "int8-depthwise"))]
mod x86_qdepthwise;

/// Rows of A handled by one micro-kernel call.
pub const MR: usize = 6;
/// Columns of B handled by one micro-kernel call.
pub const NR: usize = 16;

/// A GEMM micro-kernel: `acc[MR x NR] = sum_k a[k][0..MR] * b[k][0..NR]` over packed panels
/// (`a.len() >= k * MR`, `b.len() >= k * NR`).
pub type MicroKernel = fn(k: usize, a: &[f32], b: &[f32], acc: &mut [f32; MR * NR]);

/// Activation and post affine of an epilogue over a slice, in place.
pub type EpilogueKernel = fn(epi: &crate::runtime::op::Epilogue, xs: &mut [f32]);

/// `out[i] = exp(x[i] - shift)` (softmax's exponentials), with [`crate::runtime::op::exp`].
pub type ExpKernel = fn(x: &[f32], shift: f32, out: &mut [f32]);

/// A depthwise convolution plane kernel, see [`depthwise::DwPlaneKernel`].
pub use depthwise::DwPlaneKernel;

/// The kernels used by one loaded model.
#[derive(Clone, Copy)]
pub struct KernelSet {
    /// Name shown in logs and benchmarks.
    pub name: &'static str,
    /// fp32 GEMM micro-kernel.
    pub gemm: MicroKernel,
    /// Depthwise convolution of one padded plane.
    pub dw_plane: DwPlaneKernel,
    /// Copy of one input plane into its padded depthwise buffer.
    pub dw_pad: depthwise::DwPadKernel,
    /// The depthwise kernel that reads unpadded planes, for the geometries it covers (then
    /// `dw_pad` and `dw_plane` are not used).
    pub dw_direct: fn(&depthwise::DwGeom) -> Option<depthwise::DwDirectKernel>,
    /// int8 depthwise convolution of one expanded plane.
    #[cfg(feature = "int8-depthwise")]
    pub qdw_plane: qdepthwise::QDwPlaneKernel,
    /// Quantisation and tap-quad expansion of one int8 depthwise input plane.
    #[cfg(feature = "int8-depthwise")]
    pub qdw_quantize: qdepthwise::QDwQuantizeKernel,
    /// int8 GEMM micro-kernel.
    pub qgemm: qgemm::QMicroKernel,
    /// int8 GEMM micro-kernel over two adjacent B panels.
    pub qgemm_pair: qgemm::QPairKernel,
    /// Faster int8 micro-kernels for narrow weights ([`qgemm::NARROW_WEIGHT_MAX`]), where the
    /// set has them (AVX2); `None`: `qgemm` and `qgemm_pair` serve every layer.
    pub qgemm_narrow: Option<qgemm::NarrowKernels>,
    /// Copy of one int8 B panel out of channel quads.
    pub pack_quads: qgemm::PackQuadsKernel,
    /// fp32 to u8 quantisation of four channels into channel quads.
    pub quantize_quads: qgemm::QuantizeQuadsKernel,
    /// int8 tile to fp32 with the epilogue.
    pub qtile: qgemm::QTileKernel,
    /// Shifted exponentials (softmax).
    pub exp_shifted: ExpKernel,
    /// Epilogue activations over output rows.
    pub epilogue: EpilogueKernel,
}

impl core::fmt::Debug for KernelSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

impl KernelSet {
    /// The portable scalar reference kernels.
    pub fn scalar() -> Self {
        KernelSet {
            name: "scalar",
            gemm: scalar::gemm_microkernel,
            dw_plane: depthwise::dw_plane_scalar,
            dw_pad: depthwise::pad_plane,
            dw_direct: depthwise::no_direct,
            #[cfg(feature = "int8-depthwise")]
            qdw_plane: qdepthwise::qdw_plane_scalar,
            #[cfg(feature = "int8-depthwise")]
            qdw_quantize: qdepthwise::quantize_plane,
            qgemm: qgemm::qgemm_scalar,
            qgemm_pair: qgemm::qgemm_pair_scalar,
            qgemm_narrow: None,
            quantize_quads: qgemm::quantize_quads_scalar,
            pack_quads: qgemm::pack_quads,
            qtile: qgemm::qtile_scalar,
            exp_shifted: scalar::exp_shifted,
            epilogue: scalar::epilogue,
        }
    }

    /// The int8 micro-kernels (single panel, panel pair) for a layer whose weights are narrow
    /// or not.
    pub fn qgemm_for(&self, narrow: bool) -> (qgemm::QMicroKernel, qgemm::QPairKernel) {
        match self.qgemm_narrow {
            Some(k) if narrow => (k.single, k.pair),
            _ => (self.qgemm, self.qgemm_pair),
        }
    }

    /// The best kernel set this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = x86::avx512_vnni() {
                return k;
            }
            if let Some(k) = x86::avx2() {
                return k;
            }
        }
        #[cfg(target_arch = "aarch64")]
        return neon::neon_dotprod().unwrap_or_else(neon::neon);
        #[allow(unreachable_code)]
        Self::scalar()
    }

    /// All kernel sets this CPU can run, reference first (for tests and benchmarks).
    pub fn available() -> alloc::vec::Vec<Self> {
        #[allow(unused_mut)]
        let mut v = alloc::vec![Self::scalar()];
        #[cfg(target_arch = "x86_64")]
        {
            v.extend(x86::avx2());
            v.extend(x86::avx512_vnni());
        }
        #[cfg(target_arch = "aarch64")]
        {
            v.push(neon::neon());
            v.extend(neon::neon_dotprod());
        }
        v
    }
}

/// One of each activation kind, with and without odd parameters: what the epilogue kernels'
/// bit-exactness tests run over.
#[cfg(test)]
pub(crate) const TEST_ACTIVATIONS: [crate::runtime::op::Activation; 7] = {
    use crate::runtime::op::Activation;
    [
        Activation::None,
        Activation::Relu,
        Activation::Clip {
            min: -1.5,
            max: 6.0,
        },
        Activation::Sigmoid,
        Activation::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Activation::HardSwish,
        Activation::Swish,
    ]
};

/// The next value in `-0.5..0.5` of a 64-bit linear congruential sequence: the deterministic
/// test data of the convolution kernels' tests.
#[cfg(test)]
pub(crate) fn test_uniform(seed: &mut u64) -> f32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
}
