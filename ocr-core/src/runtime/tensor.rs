//! An owned fp32 tensor, the unit of data passed into and out of a [`super::Session`].

use super::{Error, Result};
use alloc::vec::Vec;

/// A dense row-major fp32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Number of elements of a shape, or `None` on overflow.
pub fn num_elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The `(rows, columns)` of a shape that holds one matrix: rank at least 2, every leading
/// dimension 1 (how the constant right-hand side of a matrix product is checked).
pub fn one_matrix(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [lead @ .., k, n] if lead.iter().all(|&d| d == 1) => Some((*k, *n)),
        _ => None,
    }
}

impl Tensor {
    /// Wraps `data` with `shape`; fails when the element counts differ.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        match num_elements(&shape) {
            Some(n) if n == data.len() => Ok(Tensor { shape, data }),
            _ => Err(Error::Input(msg!(
                "shape {:?} does not hold {} elements",
                shape,
                data.len()
            ))),
        }
    }

    /// A zero-filled tensor.
    pub fn zeros(shape: Vec<usize>) -> Result<Self> {
        let n =
            num_elements(&shape).ok_or_else(|| Error::Limit(msg!("shape {shape:?} overflows")))?;
        Ok(Tensor {
            shape,
            data: alloc::vec![0.0; n],
        })
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable access to the elements.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consumes the tensor, returning shape and data.
    pub fn into_parts(self) -> (Vec<usize>, Vec<f32>) {
        (self.shape, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::one_matrix;

    #[test]
    fn one_matrix_needs_unit_leading_dimensions() {
        assert_eq!(one_matrix(&[3, 4]), Some((3, 4)));
        assert_eq!(one_matrix(&[1, 1, 3, 4]), Some((3, 4)));
        assert_eq!(one_matrix(&[2, 3, 4]), None);
        assert_eq!(one_matrix(&[12]), None);
        assert_eq!(one_matrix(&[]), None);
    }
}
