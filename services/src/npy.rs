//! Reading and writing fp32 tensors as `.npy` files, so anyone can compare Kestrel's outputs
//! with another runtime's.

use anyhow::{Context, Result, bail};
use npyz::WriterBuilder;
use ocr_core::runtime::Tensor;
use std::io::{BufReader, BufWriter};
use std::path::Path;

/// Reads a `.npy` file of float32 (or float64, converted) values, in C or Fortran order.
pub fn read(path: &Path) -> Result<Tensor> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .with_context(|| format!("{} is not a .npy file", path.display()))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>()?
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            npy.into_vec::<f64>()?
                .into_iter()
                .map(|x| x as f32)
                .collect()
        }
        other => bail!("{}: dtype {other:?} is not float32", path.display()),
    };
    if fortran {
        // Fortran order is C order of the reversed shape; transpose back.
        let rev: Vec<usize> = shape.iter().rev().copied().collect();
        let perm: Vec<usize> = (0..shape.len()).rev().collect();
        let c_order = ocr_core::runtime::ops::movement::transpose(&data, &rev, &perm);
        return Ok(Tensor::new(shape, c_order)?);
    }
    Ok(Tensor::new(shape, data)?)
}

/// Writes a tensor as a float32 `.npy` file.
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&shape)
        .writer(BufWriter::new(file))
        .begin_nd()?;
    w.extend(t.data().iter().copied())?;
    w.finish()?;
    Ok(())
}
