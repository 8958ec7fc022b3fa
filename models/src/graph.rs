//! The converter's mutable graph: values by id, constants, nodes in topological order.

use ocr_core::runtime::format::{
    Attr, ConstData, ConstDef, IoDef, ModelDef, NodeDef, QuantParams, SplitPointDef,
};
use ocr_core::runtime::static_eval::{Data, Info};
use std::collections::HashMap;

/// A graph under conversion.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Value names by id.
    pub names: Vec<String>,
    index: HashMap<String, u32>,
    /// Constant contents by value id.
    pub consts: HashMap<u32, Info>,
    /// int8 constants (shape, values, quantisation) by value id.
    pub int8: HashMap<u32, (Vec<usize>, Vec<i8>, QuantParams)>,
    /// Nodes in topological order.
    pub nodes: Vec<NodeDef>,
    /// Graph inputs.
    pub inputs: Vec<IoDef>,
    /// Graph outputs.
    pub outputs: Vec<IoDef>,
    /// Metadata.
    pub metadata: Vec<(String, String)>,
    /// Split points.
    pub split_points: Vec<SplitPointDef>,
}

impl Graph {
    /// The fp32 constant weights (second input) of each node that has them, by node name. The
    /// quantised graph keeps its fp32 source's node names, so this finds the source weights of
    /// a quantised layer.
    pub fn weights_by_node(&self) -> HashMap<&str, (&[usize], &[f32])> {
        self.nodes
            .iter()
            .filter_map(|n| {
                let w = self.const_f32(n.inputs.get(1).copied().flatten()?)?;
                Some((n.name.as_str(), w))
            })
            .collect()
    }

    /// The id of a named value, creating it on first use.
    pub fn value(&mut self, name: &str) -> u32 {
        if let Some(&v) = self.index.get(name) {
            return v;
        }
        let v = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), v);
        v
    }

    /// A fresh value named after `base`.
    pub fn fresh(&mut self, base: &str) -> u32 {
        let mut i = 0;
        loop {
            let name = format!("{base}.k{i}");
            if !self.index.contains_key(&name) {
                return self.value(&name);
            }
            i += 1;
        }
    }

    /// Looks up a value id by name.
    pub fn find(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// Adds an fp32 constant and returns its value id.
    pub fn add_const_f32(&mut self, base: &str, shape: Vec<usize>, data: Vec<f32>) -> u32 {
        let v = self.fresh(base);
        self.consts.insert(
            v,
            Info {
                shape,
                data: Some(Data::F32(data)),
            },
        );
        v
    }

    /// Node indices reading each value.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![Vec::new(); self.names.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                if !c[*v as usize].contains(&i) {
                    c[*v as usize].push(i);
                }
            }
        }
        c
    }

    /// Index of the node producing each value.
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.names.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &o in &n.outputs {
                p[o as usize] = Some(i);
            }
        }
        p
    }

    /// True when the value must survive (graph output or split point).
    pub fn is_pinned(&self, v: u32) -> bool {
        self.outputs.iter().any(|o| o.value == v) || self.split_points.iter().any(|s| s.value == v)
    }

    /// fp32 constant contents.
    pub fn const_f32(&self, v: u32) -> Option<(&[usize], &[f32])> {
        match self.consts.get(&v) {
            Some(Info {
                shape,
                data: Some(Data::F32(d)),
            }) => Some((shape, d)),
            _ => None,
        }
    }

    /// Integer constant contents.
    pub fn const_i64(&self, v: u32) -> Option<&[i64]> {
        match self.consts.get(&v) {
            Some(Info {
                data: Some(Data::I64(d)),
                ..
            }) => Some(d),
            _ => None,
        }
    }

    /// The value of a single-element fp32 constant.
    pub fn scalar(&self, v: u32) -> Option<f32> {
        self.const_f32(v)
            .and_then(|(_, d)| (d.len() == 1).then_some(d[0]))
    }

    /// Redirects every reader of `from` to `to`.
    pub fn replace_uses(&mut self, from: u32, to: u32) {
        for n in &mut self.nodes {
            for i in n.inputs.iter_mut().flatten() {
                if *i == from {
                    *i = to;
                }
            }
        }
    }

    /// Removes the nodes whose index is flagged.
    pub fn remove_nodes(&mut self, dead: &[bool]) {
        let mut i = 0;
        self.nodes.retain(|_| {
            let keep = !dead[i];
            i += 1;
            keep
        });
    }

    /// Produces the file-format definition, dropping unreferenced values and constants.
    pub fn to_def(&self) -> Result<ModelDef, String> {
        let mut used = vec![false; self.names.len()];
        for n in &self.nodes {
            for v in n.inputs.iter().flatten().chain(&n.outputs) {
                used[*v as usize] = true;
            }
        }
        for io in self.inputs.iter().chain(&self.outputs) {
            used[io.value as usize] = true;
        }
        for s in &self.split_points {
            used[s.value as usize] = true;
        }
        let mut remap = vec![u32::MAX; self.names.len()];
        let mut values = Vec::new();
        for (v, name) in self.names.iter().enumerate() {
            if used[v] {
                remap[v] = values.len() as u32;
                values.push(name.clone());
            }
        }
        let r = |v: u32| remap[v as usize];
        let mut const_ids: Vec<&u32> = self.consts.keys().filter(|v| used[**v as usize]).collect();
        const_ids.sort();
        let mut constants = Vec::new();
        for &v in const_ids {
            let info = &self.consts[&v];
            let data = match &info.data {
                Some(Data::F32(d)) => ConstData::F32(d.clone()),
                Some(Data::I64(d)) => ConstData::I32(
                    d.iter()
                        .map(|&x| {
                            i32::try_from(x).map_err(|_| {
                                format!(
                                    "integer constant '{}' value {x} exceeds 32 bits",
                                    self.names[v as usize]
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                None => return Err(format!("constant '{}' has no data", self.names[v as usize])),
            };
            constants.push(ConstDef {
                value: r(v),
                shape: info.shape.clone(),
                data,
                quant: None,
            });
        }
        let mut int8_ids: Vec<&u32> = self.int8.keys().filter(|v| used[**v as usize]).collect();
        int8_ids.sort();
        for &v in int8_ids {
            let (shape, data, quant) = &self.int8[&v];
            constants.push(ConstDef {
                value: r(v),
                shape: shape.clone(),
                data: ConstData::I8(data.clone()),
                quant: Some(quant.clone()),
            });
        }
        let io = |ios: &[IoDef]| -> Vec<IoDef> {
            ios.iter()
                .map(|i| IoDef {
                    value: r(i.value),
                    dims: i.dims.clone(),
                })
                .collect()
        };
        Ok(ModelDef {
            metadata: self.metadata.clone(),
            values,
            inputs: io(&self.inputs),
            outputs: io(&self.outputs),
            constants,
            nodes: self
                .nodes
                .iter()
                .map(|n| NodeDef {
                    op: n.op.clone(),
                    name: n.name.clone(),
                    inputs: n.inputs.iter().map(|i| i.map(r)).collect(),
                    outputs: n.outputs.iter().map(|&o| r(o)).collect(),
                    attrs: n.attrs.clone(),
                })
                .collect(),
            split_points: self
                .split_points
                .iter()
                .map(|s| SplitPointDef {
                    name: s.name.clone(),
                    value: r(s.value),
                })
                .collect(),
        })
    }
}

/// Sets (or replaces) an attribute.
pub fn set_attr(node: &mut NodeDef, name: &str, value: Attr) {
    if let Some(slot) = node.attrs.iter_mut().find(|(k, _)| k == name) {
        slot.1 = value;
    } else {
        node.attrs.push((name.to_string(), value));
    }
}

/// Removes an attribute if present.
pub fn remove_attr(node: &mut NodeDef, name: &str) {
    node.attrs.retain(|(k, _)| k != name);
}
