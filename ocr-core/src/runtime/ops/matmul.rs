//! Batched matrix products with numpy broadcasting of the batch dimensions.

use crate::runtime::kernels::KernelSet;
use crate::runtime::kernels::gemm::{self, ASource, BSource, Bias, MatRef};
use crate::runtime::op::Epilogue;
use crate::runtime::parallel::Threads;

/// When B is a single matrix, A's batch folds into its rows: one GEMM of `batch * M` rows.
fn folds(b_shape: &[usize]) -> bool {
    b_shape[..b_shape.len() - 2].iter().all(|&d| d == 1)
}

/// Scratch floats [`matmul`] needs.
pub fn matmul_scratch_len(a_shape: &[usize], b_shape: &[usize], threads: &Threads) -> usize {
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, k, n) = (a_shape[ra - 2], a_shape[ra - 1], b_shape[rb - 1]);
    let rows = if folds(b_shape) {
        a_shape[..ra - 1].iter().product()
    } else {
        m
    };
    gemm::scratch_len(rows, k, gemm::task_count(rows, n, k, threads))
}

/// Computes `out = epilogue(a x b + bias)` for `[.., M, K] x [.., K, N]`. `packed_b` is B
/// packed once by [`gemm::pack_b_all`], for a constant single-matrix B.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    ks: &KernelSet,
    threads: &Threads,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    packed_b: Option<&[f32]>,
    bias: Option<&[f32]>,
    epi: &Epilogue,
    out: &mut [f32],
    out_shape: &[usize],
    scratch: &mut [f32],
) {
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, k, n) = (a_shape[ra - 2], a_shape[ra - 1], b_shape[rb - 1]);
    let bias = bias.map_or(Bias::None, Bias::Col);
    let bsrc = |data| BSource::Mat(MatRef { data, rs: n, cs: 1 });
    if folds(b_shape) {
        let rows = a.len() / k.max(1);
        let rows = if k == 0 { out.len() / n.max(1) } else { rows };
        gemm::gemm(
            ks,
            threads,
            (rows, n, k),
            ASource::Mat(MatRef {
                data: a,
                rs: k,
                cs: 1,
            }),
            &packed_b.map_or_else(|| bsrc(b), BSource::Packed),
            out,
            n,
            bias,
            epi,
            scratch,
        );
        return;
    }
    // General broadcast over batch dimensions.
    let rank = out_shape.len();
    let batch_shape = &out_shape[..rank - 2];
    let batches: usize = batch_shape.iter().product();
    let bstride = |shape: &[usize]| -> alloc::vec::Vec<usize> {
        let r = shape.len() - 2;
        let off = batch_shape.len() - r;
        let mut s = alloc::vec![0; batch_shape.len()];
        let mut acc = 1;
        for i in (0..r).rev() {
            s[i + off] = if shape[i] == 1 { 0 } else { acc };
            acc *= shape[i];
        }
        s
    };
    let (sa, sb) = (bstride(a_shape), bstride(b_shape));
    let mut idx = alloc::vec![0usize; batch_shape.len()];
    for bi in 0..batches {
        let ia: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ib: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        let am = MatRef {
            data: &a[ia * m * k..(ia + 1) * m * k],
            rs: k,
            cs: 1,
        };
        let bm = bsrc(&b[ib * k * n..(ib + 1) * k * n]);
        gemm::gemm(
            ks,
            threads,
            (m, n, k),
            ASource::Mat(am),
            &bm,
            &mut out[bi * m * n..(bi + 1) * m * n],
            n,
            bias,
            epi,
            scratch,
        );
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < batch_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}
