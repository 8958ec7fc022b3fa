//! Data movement (transpose, slice, concat, gather), generic over the element type so the
//! planner can run them on integer shape data and the executor on fp32 activations.

use crate::runtime::static_eval::SliceDim;
use alloc::vec;
use alloc::vec::Vec;

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Iterates over all multi-indices of `outer` (row-major), calling `f` with each multi-index.
fn for_each_index(outer: &[usize], mut f: impl FnMut(&[usize])) {
    if outer.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; outer.len()];
    loop {
        f(&idx);
        let mut d = outer.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < outer[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Writes the transpose of `src` (of `shape`) by `perm` into `dst`.
pub fn transpose_into<T: Copy>(src: &[T], shape: &[usize], perm: &[usize], dst: &mut [T]) {
    let rank = shape.len();
    if rank == 0 {
        dst.copy_from_slice(src);
        return;
    }
    let in_strides = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    // Input stride for each output axis.
    let s: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let inner = out_shape[rank - 1];
    let inner_stride = s[rank - 1];
    let mut o = 0;
    for_each_index(&out_shape[..rank - 1], |idx| {
        let base: usize = idx.iter().zip(&s).map(|(i, st)| i * st).sum();
        if inner_stride == 1 {
            dst[o..o + inner].copy_from_slice(&src[base..base + inner]);
        } else {
            for (j, d) in dst[o..o + inner].iter_mut().enumerate() {
                *d = src[base + j * inner_stride];
            }
        }
        o += inner;
    });
}

/// Returns the transpose of `src` by `perm`.
pub fn transpose<T: Copy + Default>(src: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let mut dst = vec![T::default(); src.len()];
    transpose_into(src, shape, perm, &mut dst);
    dst
}

/// Writes a strided slice of `src` into `dst`.
pub fn slice_into<T: Copy>(src: &[T], shape: &[usize], dims: &[SliceDim], dst: &mut [T]) {
    let rank = shape.len();
    if rank == 0 {
        dst.copy_from_slice(src);
        return;
    }
    let st = strides(shape);
    let out_shape: Vec<usize> = dims.iter().map(|d| d.len).collect();
    let last = dims[rank - 1];
    let mut o = 0;
    for_each_index(&out_shape[..rank - 1], |idx| {
        let base: isize = idx
            .iter()
            .zip(dims)
            .zip(&st)
            .map(|((&i, d), &s)| (d.start + i as isize * d.step) * s as isize)
            .sum();
        for j in 0..last.len {
            dst[o + j] = src[(base + last.start + j as isize * last.step) as usize];
        }
        o += last.len;
    });
}

/// Returns a strided slice of `src`.
pub fn slice<T: Copy + Default>(src: &[T], shape: &[usize], dims: &[SliceDim]) -> Vec<T> {
    let n = dims.iter().map(|d| d.len).product();
    let mut dst = vec![T::default(); n];
    slice_into(src, shape, dims, &mut dst);
    dst
}

/// Writes the concatenation of `parts` along `axis` into `dst`.
pub fn concat_into<T: Copy>(parts: &[&[T]], shapes: &[&[usize]], axis: usize, dst: &mut [T]) {
    let outer: usize = shapes[0][..axis].iter().product();
    let mut o = 0;
    for i in 0..outer {
        for (p, s) in parts.iter().zip(shapes) {
            let chunk: usize = s[axis..].iter().product();
            dst[o..o + chunk].copy_from_slice(&p[i * chunk..(i + 1) * chunk]);
            o += chunk;
        }
    }
}

/// Returns the concatenation of `parts` along `axis`.
pub fn concat<T: Copy + Default>(parts: &[&[T]], shapes: &[&[usize]], axis: usize) -> Vec<T> {
    let n = parts.iter().map(|p| p.len()).sum();
    let mut dst = vec![T::default(); n];
    concat_into(parts, shapes, axis, &mut dst);
    dst
}

/// Writes `src` gathered at `indices` along `axis` into `dst`.
pub fn gather_into<T: Copy>(
    src: &[T],
    shape: &[usize],
    axis: usize,
    indices: &[usize],
    dst: &mut [T],
) {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut o = 0;
    for i in 0..outer {
        for &j in indices {
            let s = (i * shape[axis] + j) * inner;
            dst[o..o + inner].copy_from_slice(&src[s..s + inner]);
            o += inner;
        }
    }
}

/// Returns `src` gathered at `indices` along `axis`.
pub fn gather<T: Copy + Default>(
    src: &[T],
    shape: &[usize],
    axis: usize,
    indices: &[usize],
) -> Vec<T> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut dst = vec![T::default(); outer * indices.len() * inner];
    gather_into(src, shape, axis, indices, &mut dst);
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_2x3() {
        let v = [1, 2, 3, 4, 5, 6];
        assert_eq!(transpose(&v, &[2, 3], &[1, 0]), vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn slice_reverse_and_step() {
        let v: Vec<i32> = (0..10).collect();
        let d = [SliceDim {
            start: 8,
            step: -3,
            len: 3,
        }];
        assert_eq!(slice(&v, &[10], &d), vec![8, 5, 2]);
    }

    #[test]
    fn concat_axis1() {
        let a = [1, 2, 3, 4];
        let b = [5, 6];
        let out = concat(&[&a[..], &b[..]], &[&[2, 2], &[2, 1]], 1);
        assert_eq!(out, vec![1, 2, 5, 3, 4, 6]);
    }

    #[test]
    fn gather_rows() {
        let v = [1, 2, 3, 4, 5, 6];
        assert_eq!(gather(&v, &[3, 2], 0, &[2, 0]), vec![5, 6, 1, 2]);
    }
}
