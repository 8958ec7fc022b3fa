//! Element-wise ops: unary activations and broadcasting binary arithmetic.

use super::movement::strides;
use crate::runtime::op::{BinaryOp, UnaryOp};
use crate::runtime::parallel::Threads;
use alloc::vec::Vec;

/// Element-wise work is split into pieces of this many elements across threads.
const PAR_CHUNK: usize = 1 << 15;

/// [`unary`] spread over threads for large tensors.
pub fn unary_par(threads: &Threads, op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    if threads.count() == 1 || dst.len() < 2 * PAR_CHUNK {
        return unary(op, src, dst);
    }
    threads.for_each_chunk_mut(dst, PAR_CHUNK, |i, d| {
        unary(op, &src[i * PAR_CHUNK..i * PAR_CHUNK + d.len()], d)
    });
}

/// [`binary`] spread over threads for large tensors of equal shapes, with a scalar operand, or
/// with one value per channel (`[N, C, H, W]` by `[C, 1, 1]`, squeeze-excitation scales);
/// other broadcasts run on the calling thread.
#[allow(clippy::too_many_arguments)]
pub fn binary_par(
    threads: &Threads,
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
) {
    let n = out.len();
    if threads.count() > 1
        && n >= 2 * PAR_CHUNK
        && a.len() == n
        && let Some((c, hw)) = per_channel(b_shape, out_shape)
        && hw > 0
    {
        // Whole channel planes per task, each with its one value of `b`.
        let planes = (PAR_CHUNK / hw).max(1);
        threads.for_each_chunk_mut(out, planes * hw, |i, o| {
            for (j, plane) in o.chunks_exact_mut(hw).enumerate() {
                let p = i * planes + j;
                apply_scalar_b(op, plane, &a[p * hw..(p + 1) * hw], b[p % c]);
            }
        });
        return;
    }
    let splittable = a.len() == n && (b.len() == n || b.len() == 1);
    if threads.count() == 1 || n < 2 * PAR_CHUNK || !splittable {
        return binary(op, a, a_shape, b, b_shape, out, out_shape);
    }
    threads.for_each_chunk_mut(out, PAR_CHUNK, |i, o| {
        let r = i * PAR_CHUNK..i * PAR_CHUNK + o.len();
        if b.len() == 1 {
            apply_scalar_b(op, o, &a[r], b[0]);
        } else {
            apply_rows(op, o, &a[r.clone()], &b[r]);
        }
    });
}

/// Applies a unary op from `src` into `dst`.
pub fn unary(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    match op {
        UnaryOp::Identity => dst.copy_from_slice(src),
        UnaryOp::Sqrt => dst
            .iter_mut()
            .zip(src)
            .for_each(|(d, &s)| *d = libm::sqrtf(s)),
        UnaryOp::Act(a) => {
            dst.copy_from_slice(src);
            a.apply_slice(dst);
        }
    }
}

/// Broadcast strides of `shape` inside `out_shape` (0 along broadcast axes).
fn broadcast_strides(shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let off = out_shape.len() - shape.len();
    (0..out_shape.len())
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                s[i - off]
            }
        })
        .collect()
}

/// Broadcasting binary op over any element type: `out = f(op, a, b)` element-wise. Used at plan
/// time on integers and as the executor's general fallback.
#[allow(clippy::too_many_arguments)]
pub fn binary_generic<T: Copy>(
    op: BinaryOp,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
    out_shape: &[usize],
    f: impl Fn(BinaryOp, T, T) -> T,
) {
    let rank = out_shape.len();
    if rank == 0 {
        if let Some(o) = out.first_mut() {
            *o = f(op, a[0], b[0]);
        }
        return;
    }
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let inner = out_shape[rank - 1];
    let (ia, ib) = (sa[rank - 1], sb[rank - 1]);
    let mut idx = alloc::vec![0usize; rank - 1];
    let outer: usize = out_shape[..rank - 1].iter().product();
    for chunk in 0..outer {
        let _ = chunk;
        let base_a: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let base_b: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        let o = chunk * inner;
        for j in 0..inner {
            out[o + j] = f(op, a[base_a + j * ia], b[base_b + j * ib]);
        }
        for d in (0..rank - 1).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

#[inline(always)]
fn apply_rows(op: BinaryOp, out: &mut [f32], a: &[f32], b: &[f32]) {
    // One `match` outside the loop so each arm vectorises.
    match op {
        BinaryOp::Add => out
            .iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (x, y))| *o = x + y),
        BinaryOp::Sub => out
            .iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (x, y))| *o = x - y),
        BinaryOp::Mul => out
            .iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (x, y))| *o = x * y),
        BinaryOp::Div => out
            .iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (x, y))| *o = x / y),
        BinaryOp::Pow => out
            .iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (&x, &y))| *o = op.apply(x, y)),
    }
}

#[inline(always)]
fn apply_scalar_b(op: BinaryOp, out: &mut [f32], a: &[f32], y: f32) {
    match op {
        BinaryOp::Add => out.iter_mut().zip(a).for_each(|(o, x)| *o = x + y),
        BinaryOp::Sub => out.iter_mut().zip(a).for_each(|(o, x)| *o = x - y),
        BinaryOp::Mul => out.iter_mut().zip(a).for_each(|(o, x)| *o = x * y),
        BinaryOp::Div => out.iter_mut().zip(a).for_each(|(o, x)| *o = x / y),
        BinaryOp::Pow => out
            .iter_mut()
            .zip(a)
            .for_each(|(o, &x)| *o = op.apply(x, y)),
    }
}

/// Broadcasting fp32 binary op with fast paths for equal shapes, a scalar operand, a trailing
/// (row) operand and a per-channel (NCHW) operand.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
) {
    let n = out.len();
    if a.len() == n && b.len() == n {
        apply_rows(op, out, a, b);
    } else if a.len() == n && b.len() == 1 {
        apply_scalar_b(op, out, a, b[0]);
    } else if a.len() == n && is_suffix(b_shape, out_shape) && !b.is_empty() {
        for (o, x) in out.chunks_exact_mut(b.len()).zip(a.chunks_exact(b.len())) {
            apply_rows(op, o, x, b);
        }
    } else if a.len() == n && per_channel(b_shape, out_shape).is_some() {
        let (c, hw) = per_channel(b_shape, out_shape).unwrap_or((1, 1));
        for (i, (o, x)) in out.chunks_exact_mut(hw).zip(a.chunks_exact(hw)).enumerate() {
            apply_scalar_b(op, o, x, b[i % c]);
        }
    } else {
        binary_generic(op, a, a_shape, b, b_shape, out, out_shape, |op, x, y| {
            op.apply(x, y)
        });
    }
}

/// True when `small` (without leading 1s) equals the trailing dimensions of `full`.
fn is_suffix(small: &[usize], full: &[usize]) -> bool {
    let s: &[usize] = {
        let first = small.iter().position(|&d| d != 1).unwrap_or(small.len());
        &small[first..]
    };
    s.len() <= full.len() && full[full.len() - s.len()..] == *s
}

/// For a `[C, 1, 1]`-like operand against `[N, C, H, W]`, returns `(C, H*W)`; for
/// `[N, C, 1, 1]` (a batch's squeeze-excitation scales), `(N*C, H*W)`: plane `p` of the output
/// takes value `p % planes` of the operand either way.
fn per_channel(small: &[usize], full: &[usize]) -> Option<(usize, usize)> {
    if full.len() != 4 || small.len() < 3 || small.len() > 4 {
        return None;
    }
    let off = 4 - small.len();
    let dims: Vec<usize> = (0..4)
        .map(|i| if i < off { 1 } else { small[i - off] })
        .collect();
    ((dims[0] == 1 || dims[0] == full[0]) && dims[1] == full[1] && dims[2] == 1 && dims[3] == 1)
        .then_some((dims[0] * full[1], full[2] * full[3]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn fast_paths_match_generic() {
        let shapes: [(&[usize], &[usize]); 6] = [
            (&[2, 3, 2, 2], &[2, 3, 2, 2]),
            (&[2, 3, 2, 2], &[1]),
            (&[2, 3, 2, 2], &[2]),
            (&[2, 3, 2, 2], &[3, 1, 1]),
            (&[2, 3, 2, 2], &[2, 3, 1, 1]),
            (&[1], &[2, 3, 2, 2]),
        ];
        for (sa, sb) in shapes {
            let out_shape = crate::runtime::static_eval::broadcast_shapes(sa, sb, "t").unwrap();
            let na: usize = sa.iter().product();
            let nb: usize = sb.iter().product();
            let a: Vec<f32> = (0..na).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..nb).map(|i| i as f32 + 1.0).collect();
            let n: usize = out_shape.iter().product();
            for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div] {
                let mut fast = vec![0.0; n];
                let mut slow = vec![0.0; n];
                binary(op, &a, sa, &b, sb, &mut fast, &out_shape);
                binary_generic(op, &a, sa, &b, sb, &mut slow, &out_shape, |op, x, y| {
                    op.apply(x, y)
                });
                assert_eq!(fast, slow, "{sa:?} {sb:?} {op:?}");
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn parallel_paths_match_serial() {
        // Large enough to split: equal shapes, a scalar, one value per channel.
        let full = [2usize, 5, 97, 131];
        let n: usize = full.iter().product();
        let a: Vec<f32> = (0..n).map(|i| (i % 1013) as f32 * 0.25 - 7.0).collect();
        let threads = Threads::new(2).unwrap();
        for sb in [
            &full[..],
            &[1][..],
            &[5, 1, 1][..],
            &[1, 5, 1, 1][..],
            &[2, 5, 1, 1][..],
        ] {
            let nb: usize = sb.iter().product();
            let b: Vec<f32> = (0..nb).map(|i| (i % 17) as f32 + 0.5).collect();
            for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div] {
                let (mut par, mut ser) = (vec![0.0; n], vec![0.0; n]);
                binary_par(&threads, op, &a, &full, &b, sb, &mut par, &full);
                binary(op, &a, &full, &b, sb, &mut ser, &full);
                assert_eq!(par, ser, "{sb:?} {op:?}");
            }
        }
    }
}
