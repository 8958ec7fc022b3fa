//! An activation quantised for transport: what a device sends a server at a split point.

use super::{Error, Result, Tensor};
use alloc::vec::Vec;

/// A tensor as 8-bit codes with one affine scale: `real = scale * (code - zero_point)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Real value of one code step.
    pub scale: f32,
    /// The code of real zero.
    pub zero_point: i32,
    /// One code per element, row-major.
    pub data: Vec<u8>,
}

impl QuantizedTensor {
    /// Quantises a tensor over its own range (which always includes zero).
    pub fn quantize(t: &Tensor) -> Self {
        let (lo, hi) = t
            .data()
            .iter()
            .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let zero_point = ((-lo / scale) + 0.5) as i32;
        let data = t
            .data()
            .iter()
            .map(|&v| ((v / scale + zero_point as f32).clamp(0.0, 255.0) + 0.5) as u8)
            .collect();
        QuantizedTensor {
            shape: t.shape().to_vec(),
            scale,
            zero_point,
            data,
        }
    }

    /// The tensor back in fp32; fails on inconsistent fields (a malformed request).
    pub fn dequantize(&self) -> Result<Tensor> {
        if !(self.scale.is_finite() && self.scale > 0.0 && (0..=255).contains(&self.zero_point)) {
            return Err(Error::Input(msg!(
                "bad quantisation: scale {}, zero point {}",
                self.scale,
                self.zero_point
            )));
        }
        let data = self
            .data
            .iter()
            .map(|&q| (q as i32 - self.zero_point) as f32 * self.scale)
            .collect();
        Tensor::new(self.shape.clone(), data)
    }

    /// The largest error quantisation can make on one element (half a step).
    pub fn tolerance(&self) -> f32 {
        self.scale / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_within_half_a_step() {
        let t = Tensor::new(
            alloc::vec![2, 3],
            alloc::vec![-1.5, 0.0, 0.25, 3.0, 2.9, -0.7],
        )
        .unwrap();
        let q = QuantizedTensor::quantize(&t);
        let back = q.dequantize().unwrap();
        for (a, b) in t.data().iter().zip(back.data()) {
            assert!((a - b).abs() <= q.tolerance() + 1e-6, "{a} {b}");
        }
        let bad = QuantizedTensor {
            scale: 0.0,
            ..q.clone()
        };
        assert!(bad.dequantize().is_err());
        let wrong = QuantizedTensor {
            shape: alloc::vec![7],
            ..q
        };
        assert!(wrong.dequantize().is_err());
    }
}
