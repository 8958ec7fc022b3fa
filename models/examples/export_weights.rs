//! Writes the weights of a converted model's convolutions and matrix products (int8 ones
//! dequantised, `code * scale` per output channel), as one `.npy` file per node, named after
//! the node (the source ONNX node's name), in the model file's layout: `[M, C/group, kh, kw]`
//! for a convolution (batch normalisation folded in), `[K, N]` for a matrix product.
//!
//! A tool of the quantisation-aware training experiment (`models/train/rec-qat`), which starts
//! from the GPTQ-rounded weights `kestrel convert --gptq` chose, dividing out what the
//! converter folded into them as measured on the fp32 conversion:
//!
//! ```sh
//! cargo run --release -p ocr-models --example export_weights -- rec4.kmod target/qat/gptq4
//! cargo run --release -p ocr-models --example export_weights -- rec-fp32.kmod target/qat/fp32
//! ```

use npyz::WriterBuilder;
use ocr_core::runtime::format::{self, ConstData};
use std::io::BufWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, out] = args.as_slice() else {
        return Err("usage: export_weights MODEL.kmod OUT_DIR".into());
    };
    let def = format::decode(&std::fs::read(model)?)?;
    std::fs::create_dir_all(out)?;
    let mut written = 0;
    for node in def
        .nodes
        .iter()
        .filter(|n| n.op == "Conv" || n.op == "MatMul")
    {
        let Some(Some(wv)) = node.inputs.get(1) else {
            continue;
        };
        let Some(c) = def.constants.iter().find(|c| c.value == *wv) else {
            continue;
        };
        let values: Vec<f32> = match (&c.data, &c.quant) {
            (ConstData::I8(codes), Some(q)) => {
                let axis = q.axis as usize;
                let inner: usize = c.shape[axis + 1..].iter().product();
                let channels = c.shape[axis];
                let per_tensor = q.scales.len() == 1;
                let deq = |(i, &v): (usize, &i8)| {
                    let ch = if per_tensor {
                        0
                    } else {
                        (i / inner) % channels
                    };
                    q.scales[ch] * (i32::from(v) - q.zero_points[ch]) as f32
                };
                codes.iter().enumerate().map(deq).collect()
            }
            (ConstData::F32(v), None) => v.clone(),
            _ => continue,
        };
        let shape: Vec<u64> = c.shape.iter().map(|&d| d as u64).collect();
        let file = std::fs::File::create(format!("{out}/{}.npy", node.name))?;
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(BufWriter::new(file))
            .begin_nd()?;
        w.extend(values)?;
        w.finish()?;
        written += 1;
    }
    eprintln!("{written} weight tensors written to {out}");
    Ok(())
}
