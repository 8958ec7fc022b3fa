//! ONNX import: decodes a `.onnx` file with prost and maps its nodes onto Kestrel's op set.

use crate::graph::{Graph, remove_attr, set_attr};
use crate::onnx;
use ocr_core::runtime::format::{Attr, Dim, IoDef, NodeDef};
use ocr_core::runtime::static_eval::{Data, Info};
use prost::Message;

/// ONNX tensor element types the importer reads.
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const DOUBLE: i32 = 11;

fn tensor_data(t: &onnx::TensorProto) -> Result<Info, String> {
    let name = t.name();
    if t.data_location() == 1 {
        return Err(format!(
            "tensor '{name}' uses external data, which is not supported"
        ));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        shape.push(usize::try_from(d).map_err(|_| format!("tensor '{name}' has dimension {d}"))?);
    }
    let n: usize = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("tensor too large")?;
    let raw = t.raw_data();
    let data = match t.data_type() {
        FLOAT if !raw.is_empty() => Data::F32(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        FLOAT => Data::F32(t.float_data.clone()),
        DOUBLE if !raw.is_empty() => Data::F32(
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
        ),
        INT64 if !raw.is_empty() => Data::I64(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        INT64 => Data::I64(t.int64_data.clone()),
        INT32 | BOOL if !raw.is_empty() => {
            let width = if t.data_type() == BOOL { 1 } else { 4 };
            Data::I64(
                raw.chunks_exact(width)
                    .map(|c| {
                        if width == 1 {
                            c[0] as i64
                        } else {
                            i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64
                        }
                    })
                    .collect(),
            )
        }
        INT32 | BOOL => Data::I64(t.int32_data.iter().map(|&x| x as i64).collect()),
        other => {
            return Err(format!(
                "tensor '{name}' has unsupported ONNX element type {other}"
            ));
        }
    };
    let len = match &data {
        Data::F32(v) => v.len(),
        Data::I64(v) => v.len(),
    };
    if len != n {
        return Err(format!(
            "tensor '{name}' holds {len} elements for shape {shape:?}"
        ));
    }
    Ok(Info {
        shape,
        data: Some(data),
    })
}

fn attr_value(a: &onnx::AttributeProto) -> Result<Option<Attr>, String> {
    // AttributeType codes from the ONNX IR: FLOAT=1, INT=2, STRING=3, TENSOR=4, FLOATS=6, INTS=7.
    Ok(Some(match a.r#type() {
        1 => Attr::Float(a.f()),
        2 => Attr::Int(a.i()),
        3 => Attr::Str(
            String::from_utf8(a.s().to_vec())
                .map_err(|_| format!("attribute '{}' is not UTF-8", a.name()))?,
        ),
        6 => Attr::Floats(a.floats.clone()),
        7 => Attr::Ints(a.ints.clone()),
        4 => return Ok(None), // tensors are handled by the Constant import
        t => return Err(format!("attribute '{}' has unsupported type {t}", a.name())),
    }))
}

/// Imports an ONNX model into a [`Graph`], mapping each node onto the Kestrel op set.
pub fn import(bytes: &[u8]) -> Result<Graph, String> {
    let model = onnx::ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain().is_empty() || o.domain() == "ai.onnx")
        .map_or(1, |o| o.version());
    let g = model.graph.as_ref().ok_or("ONNX model has no graph")?;
    let mut graph = Graph::default();
    for p in &model.metadata_props {
        graph
            .metadata
            .push((format!("onnx.{}", p.key()), p.value().to_string()));
    }
    graph
        .metadata
        .push(("onnx.opset".into(), opset.to_string()));
    for t in &g.initializer {
        let v = graph.value(t.name());
        graph.consts.insert(v, tensor_data(t)?);
    }
    for inp in &g.input {
        if graph
            .find(inp.name())
            .is_some_and(|v| graph.consts.contains_key(&v))
        {
            continue; // an initializer listed as an input (older exporters)
        }
        let v = graph.value(inp.name());
        let dims = match inp.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(onnx::type_proto::Value::TensorType(tt)) => {
                if tt.elem_type() != FLOAT {
                    return Err(format!("input '{}' is not float32", inp.name()));
                }
                let shape = tt
                    .shape
                    .as_ref()
                    .ok_or_else(|| format!("input '{}' has no shape", inp.name()))?;
                shape
                    .dim
                    .iter()
                    .enumerate()
                    .map(|(i, d)| match &d.value {
                        Some(onnx::tensor_shape_proto::dimension::Value::DimValue(n)) if *n > 0 => {
                            Dim::Fixed(*n as u64)
                        }
                        Some(onnx::tensor_shape_proto::dimension::Value::DimParam(s))
                            if !s.is_empty() && s != "?" =>
                        {
                            Dim::Symbol(s.clone())
                        }
                        _ => Dim::Symbol(format!("{}.{i}", inp.name())),
                    })
                    .collect()
            }
            None => return Err(format!("input '{}' has no type", inp.name())),
        };
        graph.inputs.push(IoDef { value: v, dims });
    }
    for n in &g.node {
        import_node(&mut graph, n, opset)?;
    }
    for out in &g.output {
        let v = graph
            .find(out.name())
            .ok_or_else(|| format!("graph output '{}' is never produced", out.name()))?;
        let dims =
            match out.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(onnx::type_proto::Value::TensorType(tt)) => {
                    tt.shape
                        .as_ref()
                        .map(|s| {
                            s.dim
                                .iter()
                                .enumerate()
                                .map(|(i, d)| match &d.value {
                                    Some(onnx::tensor_shape_proto::dimension::Value::DimValue(
                                        n,
                                    )) if *n > 0 => Dim::Fixed(*n as u64),
                                    Some(onnx::tensor_shape_proto::dimension::Value::DimParam(
                                        s,
                                    )) if !s.is_empty() => Dim::Symbol(s.clone()),
                                    _ => Dim::Symbol(format!("{}.{i}", out.name())),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                }
                None => Vec::new(),
            };
        graph.outputs.push(IoDef { value: v, dims });
    }
    Ok(graph)
}

fn import_node(graph: &mut Graph, n: &onnx::NodeProto, opset: i64) -> Result<(), String> {
    let name = if n.name().is_empty() {
        n.output.first().cloned().unwrap_or_default()
    } else {
        n.name().to_string()
    };
    if !n.domain().is_empty() && n.domain() != "ai.onnx" {
        return Err(format!(
            "node '{name}': op {}::{} is not supported",
            n.domain(),
            n.op_type()
        ));
    }
    if n.op_type() == "Constant" {
        let v = graph.value(n.output.first().ok_or("Constant without output")?);
        let a = n
            .attribute
            .first()
            .ok_or_else(|| format!("Constant '{name}' has no value"))?;
        let info = match a.name() {
            "value" => tensor_data(a.t.as_ref().ok_or("Constant value is not a tensor")?)?,
            "value_float" => Info {
                shape: vec![],
                data: Some(Data::F32(vec![a.f()])),
            },
            "value_floats" => Info {
                shape: vec![a.floats.len()],
                data: Some(Data::F32(a.floats.clone())),
            },
            "value_int" => Info {
                shape: vec![],
                data: Some(Data::I64(vec![a.i()])),
            },
            "value_ints" => Info {
                shape: vec![a.ints.len()],
                data: Some(Data::I64(a.ints.clone())),
            },
            other => {
                return Err(format!(
                    "Constant '{name}': attribute '{other}' is not supported"
                ));
            }
        };
        graph.consts.insert(v, info);
        return Ok(());
    }
    let inputs: Vec<Option<u32>> = n
        .input
        .iter()
        .map(|i| {
            if i.is_empty() {
                None
            } else {
                Some(graph.value(i))
            }
        })
        .collect();
    let outputs: Vec<u32> = n.output.iter().map(|o| graph.value(o)).collect();
    let mut attrs = Vec::new();
    for a in &n.attribute {
        if let Some(v) = attr_value(a)? {
            attrs.push((a.name().to_string(), v));
        }
    }
    let mut node = NodeDef {
        op: n.op_type().to_string(),
        name: name.clone(),
        inputs,
        outputs,
        attrs,
    };
    let const_input = |graph: &Graph, node: &NodeDef, i: usize| {
        node.inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|v| graph.consts.get(&v).cloned())
    };
    match n.op_type() {
        "Conv" | "ConvTranspose" => {
            if let Some(Attr::Str(p)) = node.attr("auto_pad")
                && p != "NOTSET"
            {
                return Err(format!("node '{name}': auto_pad {p} is not supported"));
            }
            remove_attr(&mut node, "auto_pad");
            remove_attr(&mut node, "kernel_shape");
        }
        "Clip" => {
            // opset >= 11 passes the bounds as inputs; turn them into attributes.
            for (i, key) in [(1, "min"), (2, "max")] {
                if let Some(v) = node.inputs.get(i).copied().flatten() {
                    let s = graph
                        .scalar(v)
                        .ok_or_else(|| format!("node '{name}': Clip {key} must be a constant"))?;
                    set_attr(&mut node, key, Attr::Float(s));
                }
            }
            node.inputs.truncate(1);
        }
        "Resize" | "Upsample" => {
            let mode = match node.attr("mode") {
                Some(Attr::Str(s)) => s.clone(),
                _ => "nearest".into(),
            };
            let ctm = match node.attr("coordinate_transformation_mode") {
                Some(Attr::Str(s)) => s.clone(),
                _ => "half_pixel".into(),
            };
            let nearest = match node.attr("nearest_mode") {
                Some(Attr::Str(s)) => s.clone(),
                _ => "round_prefer_floor".into(),
            };
            let scales_at = if n.op_type() == "Upsample" { 1 } else { 2 };
            let scales = const_input(graph, &node, scales_at)
                .and_then(|i| match i.data {
                    Some(Data::F32(v)) if !v.is_empty() => Some(v),
                    _ => None,
                })
                .ok_or_else(|| {
                    format!("node '{name}': Resize needs constant scales (sizes are not supported)")
                })?;
            let int_scale = |s: f32| (s >= 1.0 && s.fract() == 0.0).then_some(s as i64);
            let ok = mode == "nearest"
                && scales.len() == 4
                && scales[0] == 1.0
                && scales[1] == 1.0
                && (ctm == "asymmetric" || n.op_type() == "Upsample")
                && (nearest == "floor" || n.op_type() == "Upsample");
            match (
                ok,
                int_scale(scales[2.min(scales.len() - 1)]),
                int_scale(*scales.last().unwrap_or(&0.0)),
            ) {
                (true, Some(sh), Some(sw)) => {
                    node.op = "Resize".into();
                    node.attrs = vec![("scales".into(), Attr::Ints(vec![sh, sw]))];
                    node.inputs.truncate(1);
                }
                _ => {
                    return Err(format!(
                        "node '{name}': Resize mode {mode}/{ctm}/{nearest} with scales {scales:?} is not supported (nearest, asymmetric, floor, integer H/W scales only)"
                    ));
                }
            }
        }
        "Squeeze" | "Unsqueeze" | "ReduceMean" if node.inputs.len() > 1 => {
            // opset >= 13 (18 for ReduceMean) passes axes as an input.
            let axes = node.inputs[1]
                .and_then(|v| graph.const_i64(v).map(|a| a.to_vec()))
                .ok_or_else(|| format!("node '{name}': {} axes must be constant", n.op_type()))?;
            set_attr(&mut node, "axes", Attr::Ints(axes));
            node.inputs.truncate(1);
        }
        "Softmax" if opset < 13 => {
            // Before opset 13, Softmax flattens the input to 2-D at `axis`.
            set_attr(&mut node, "legacy_2d", Attr::Int(1));
            if node.attr("axis").is_none() {
                set_attr(&mut node, "axis", Attr::Int(1));
            }
        }
        "Dropout" => {
            node.op = "Identity".into();
            node.inputs.truncate(1);
            node.outputs.truncate(1);
            node.attrs.clear();
        }
        "BatchNormalization" => {
            node.outputs.truncate(1);
            remove_attr(&mut node, "momentum");
            remove_attr(&mut node, "spatial");
        }
        "Gemm" => {
            let get_f = |k: &str| match node.attr(k) {
                Some(Attr::Float(f)) => *f,
                _ => 1.0,
            };
            let get_i = |k: &str| match node.attr(k) {
                Some(Attr::Int(i)) => *i,
                _ => 0,
            };
            if get_f("alpha") != 1.0 || get_f("beta") != 1.0 || get_i("transA") != 0 {
                return Err(format!(
                    "node '{name}': Gemm with alpha/beta != 1 or transA is not supported"
                ));
            }
            if get_i("transB") != 0 {
                let bv = node.inputs[1].ok_or("Gemm without B")?;
                let (shape, data) = graph
                    .const_f32(bv)
                    .map(|(s, d)| (s.to_vec(), d.to_vec()))
                    .ok_or_else(|| format!("node '{name}': Gemm transB needs a constant B"))?;
                if shape.len() != 2 {
                    return Err(format!("node '{name}': Gemm B must be 2-D"));
                }
                let t = ocr_core::runtime::ops::movement::transpose(&data, &shape, &[1, 0]);
                let nv = graph.add_const_f32(&format!("{name}.bt"), vec![shape[1], shape[0]], t);
                node.inputs[1] = Some(nv);
            }
            node.op = "MatMul".into();
            node.attrs.clear();
        }
        "Slice" if opset < 10 => {
            // opset 1-9 keeps starts/ends/axes as attributes.
            let mut ins = vec![node.inputs[0]];
            for key in ["starts", "ends", "axes"] {
                if let Some(Attr::Ints(v)) = node.attr(key).cloned() {
                    let c = graph.fresh(&format!("{name}.{key}"));
                    graph.consts.insert(
                        c,
                        Info {
                            shape: vec![v.len()],
                            data: Some(Data::I64(v)),
                        },
                    );
                    ins.push(Some(c));
                }
            }
            node.inputs = ins;
            node.attrs.clear();
        }
        _ => {}
    }
    // Validate arity and attributes now, so the passes can rely on them.
    if node.op == "BatchNormalization" {
        if node.inputs.len() != 5
            || node.inputs.iter().any(|i| i.is_none())
            || node.outputs.len() != 1
        {
            return Err(format!("node '{name}': BatchNormalization needs 5 inputs"));
        }
    } else {
        ocr_core::runtime::op::Op::parse(&node).map_err(|e| e.to_string())?;
    }
    graph.nodes.push(node);
    Ok(())
}
