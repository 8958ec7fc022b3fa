//! Reading and writing fp32 tensors as `.npy` files, so anyone can compare Kestrel's outputs
//! with another runtime's.

use anyhow::{Context, Result, bail};
use npyz::WriterBuilder;
use ocr_core::runtime::Tensor;
use std::io::BufWriter;
use std::path::Path;

/// Largest tensor read from a `.npy` file (elements).
const MAX_ELEMENTS: usize = 1 << 31;

/// Reads a `.npy` file of float32 (or float64, converted) values, in C or Fortran order.
pub fn read(path: &Path) -> Result<Tensor> {
    let file = crate::files::read_bounded(path, crate::files::MAX_MODEL_FILE * 4)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&file[..]).map_err(|e| {
        // A malformed header is echoed by the parser; keep the message short.
        let full = e.to_string();
        let mut why: String = full.chars().take(200).collect();
        if why.len() < full.len() {
            why.push_str("...");
        }
        anyhow::anyhow!("{} is not a .npy file: {why}", path.display())
    })?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()
        .with_context(|| format!("{}: shape {:?} is too large", path.display(), npy.shape()))?;
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS);
    if elements.is_none() {
        bail!(
            "{}: shape {shape:?} is too large (at most {MAX_ELEMENTS} values)",
            path.display()
        );
    }
    let short = || {
        format!(
            "{}: fewer values than its shape {shape:?} holds",
            path.display()
        )
    };
    let data: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>().with_context(short)?
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            npy.into_vec::<f64>()
                .with_context(short)?
                .into_iter()
                .map(|x| x as f32)
                .collect()
        }
        npyz::DType::Plain(t) => bail!(
            "{}: values of type '{t}' (float32 or float64 expected)",
            path.display()
        ),
        _ => bail!(
            "{}: structured values (float32 or float64 expected)",
            path.display()
        ),
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
