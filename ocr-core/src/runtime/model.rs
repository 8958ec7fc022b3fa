//! A loaded, validated model: typed nodes, constants ready for the kernels, and the kernel set
//! chosen for this CPU.

use super::format::{self, ConstData, Dim, ModelDef, QuantParams};
use super::kernels::KernelSet;
use super::kernels::gemm::{self, MatRef};
use super::kernels::qgemm;
use super::op::{Node, Op};
use super::static_eval::{Data, Info};
use super::{Error, Result};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// A graph input or output as declared by the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoSpec {
    /// Name.
    pub name: String,
    /// Value id.
    pub value: u32,
    /// Declared dimensions.
    pub dims: Vec<Dim>,
}

/// The prepared weights of an int8 convolution or matrix product (for a matrix product, its
/// `[K, N]` weights transposed: one row of A per output column).
#[derive(Debug, Clone)]
pub struct QWeights {
    /// Weights packed for the int8 micro-kernel, one block per group; for a depthwise
    /// convolution, one block of kernel-row quads (`kernels::qdepthwise::pack_weights`).
    pub packed: Vec<Vec<i8>>,
    /// Per output channel weight sums (zero-point correction).
    pub row_sums: Vec<i32>,
    /// Per output channel weight scales.
    pub w_scales: Vec<f32>,
    /// Every weight within [`qgemm::NARROW_WEIGHT_MAX`]: the set's narrow micro-kernels
    /// ([`KernelSet::qgemm_for`]) may run the layer.
    pub narrow: bool,
}

impl QWeights {
    /// Prepared weights from their `packed` blocks and the `rows x k` int8 codes they hold
    /// (one row per output channel), with one scale per row or one for all in `scales`.
    pub fn new(packed: Vec<Vec<i8>>, codes: &[i8], rows: usize, k: usize, scales: &[f32]) -> Self {
        QWeights {
            packed,
            row_sums: qgemm::row_sums(codes, rows, k),
            w_scales: (0..rows)
                .map(|i| scales[if scales.len() == 1 { 0 } else { i }])
                .collect(),
            narrow: qgemm::is_narrow(codes),
        }
    }

    /// Checks the int8 weight `codes` of the `op` (e.g. "conv") named `name` before they are
    /// prepared: symmetric scales along `axis`, one per output (`outputs` of them) or one for all,
    /// codes within [`qgemm::WEIGHT_MAX`], and at most [`qgemm::MAX_PRODUCTS`] `products`
    /// (padding included) summed per output, so the i32 sums stay exact.
    pub fn check(
        op: &str,
        name: &str,
        codes: &[i8],
        qp: &QuantParams,
        (axis, outputs): (usize, usize),
        products: usize,
    ) -> Result<()> {
        if qp.axis as usize != axis
            || (qp.scales.len() != outputs && qp.scales.len() != 1)
            || qp.zero_points.iter().any(|&z| z != 0)
        {
            return Err(Error::Format(msg!(
                "int8 {op} '{name}': weights need symmetric scales, one per output along axis \
                 {axis} or one for all"
            )));
        }
        let max = qgemm::WEIGHT_MAX;
        if codes.iter().any(|&x| !(-max..=max).contains(&x)) {
            return Err(Error::Format(msg!(
                "int8 {op} '{name}': weights must lie in -{max}..={max}"
            )));
        }
        if products > qgemm::MAX_PRODUCTS {
            return Err(Error::Unsupported(msg!(
                "int8 {op} '{name}': {products} products per output (at most {} stay exact)",
                qgemm::MAX_PRODUCTS
            )));
        }
        Ok(())
    }
}

/// fp32 weights packed once at load into the layout the GEMM reads, so no call repacks them.
#[derive(Debug, Clone)]
pub enum Prepacked {
    /// A convolution's weights (the GEMM's A), one block per group.
    Conv(Vec<Vec<f32>>),
    /// A transposed convolution's weights (the GEMM's A, transposed view).
    ConvTranspose(Vec<f32>),
    /// A matrix product's constant right-hand matrix (the GEMM's B).
    MatMulB(Vec<f32>),
}

/// A model ready to run.
#[derive(Debug)]
pub struct Model {
    metadata: Vec<(String, String)>,
    value_names: Vec<String>,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
    /// Constant contents by value id.
    pub(crate) constants: Vec<Option<Info>>,
    /// Nodes in execution order.
    pub(crate) nodes: Vec<Node>,
    split_points: Vec<(String, u32)>,
    kernels: KernelSet,
    /// Prepared int8 weights by node index.
    pub(crate) int8_weights: Vec<Option<QWeights>>,
    /// Prepacked fp32 weights by node index.
    pub(crate) prepacked: Vec<Option<Prepacked>>,
}

impl Model {
    /// Decodes and validates a model file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if super::sealed::is_sealed(bytes) {
            return Err(Error::Input(
                "the model file is encrypted: load it with its key (Model::from_sealed_bytes, \
                 `--model-key-file`)"
                    .into(),
            ));
        }
        Self::from_def(format::decode(bytes)?)
    }

    /// Decrypts an encrypted model file ([`super::sealed`]) with `key` and loads it. Plain
    /// model files load as with [`Model::from_bytes`], so one code path serves both.
    #[cfg(feature = "encryption")]
    pub fn from_sealed_bytes(bytes: &[u8], key: &[u8; super::sealed::KEY_LEN]) -> Result<Self> {
        if !super::sealed::is_sealed(bytes) {
            return Self::from_bytes(bytes);
        }
        Self::from_bytes(&super::sealed::open(bytes, key)?)
    }

    /// Loads a model file (memory-mapped).
    #[cfg(feature = "std")]
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file =
            std::fs::File::open(path).map_err(|e| Error::Io(msg!("{}: {e}", path.display())))?;
        // SAFETY: the mapping is read-only and only lives for this call; the bytes are decoded
        // (copied) before it is dropped. A file truncated by another process while mapped could
        // raise SIGBUS; model files are not expected to change while being loaded.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::Io(msg!("{}: {e}", path.display())))?;
        Self::from_bytes(&map)
    }

    /// Loads a model file that may be encrypted, with the key to decrypt it.
    #[cfg(all(feature = "std", feature = "encryption"))]
    pub fn load_with_key(
        path: impl AsRef<std::path::Path>,
        key: &[u8; super::sealed::KEY_LEN],
    ) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Io(msg!("{}: {e}", path.display())))?;
        Self::from_sealed_bytes(&bytes, key)
    }

    /// Validates a model definition and prepares it for execution with the best kernels for
    /// this CPU.
    pub fn from_def(def: ModelDef) -> Result<Self> {
        Self::from_def_with_kernels(def, KernelSet::detect())
    }

    /// Like [`Model::from_def`] with an explicit kernel set (tests, benchmarks).
    pub fn from_def_with_kernels(def: ModelDef, kernels: KernelSet) -> Result<Self> {
        let nv = def.values.len();
        let mut defined = vec![false; nv];
        fn define(defined: &mut [bool], v: u32, what: &str) -> Result<()> {
            let slot = defined
                .get_mut(v as usize)
                .ok_or_else(|| Error::Format(msg!("{what}: value {v} out of range")))?;
            if *slot {
                return Err(Error::Format(msg!("{what}: value {v} defined twice")));
            }
            *slot = true;
            Ok(())
        }
        let spec = |io: &format::IoDef| IoSpec {
            name: def.values[io.value as usize].clone(),
            value: io.value,
            dims: io.dims.clone(),
        };
        for io in &def.inputs {
            define(&mut defined, io.value, "graph input")?;
        }
        let mut constants: Vec<Option<Info>> = vec![None; nv];
        // int8 tensors (weights of int8 convolutions): contents and quantisation by value id.
        let mut int8: Vec<Option<(Vec<i8>, QuantParams)>> = vec![None; nv];
        for c in def.constants {
            define(&mut defined, c.value, "constant")?;
            let data = match c.data {
                ConstData::F32(v) => Some(Data::F32(v)),
                ConstData::I32(v) => Some(Data::I64(v.into_iter().map(i64::from).collect())),
                ConstData::I8(v) => {
                    let q = c.quant.clone().ok_or_else(|| {
                        Error::Format("int8 tensor without quantisation parameters".into())
                    })?;
                    int8[c.value as usize] = Some((v, q));
                    // Known shape, no fp32 contents: only int8 convolutions read it.
                    None
                }
            };
            constants[c.value as usize] = Some(Info {
                shape: c.shape,
                data,
            });
        }
        let mut nodes = Vec::with_capacity(def.nodes.len());
        for n in &def.nodes {
            for (i, inp) in n.inputs.iter().enumerate() {
                if let Some(v) = inp
                    && !defined.get(*v as usize).copied().unwrap_or(false)
                {
                    return Err(Error::Format(msg!(
                        "node '{}' input {i} (value {v}) is used before it is defined",
                        n.name
                    )));
                }
            }
            let op = Op::parse(n)?;
            for &o in &n.outputs {
                define(&mut defined, o, "node output")?;
            }
            nodes.push(Node {
                op,
                name: n.name.clone(),
                inputs: n.inputs.clone(),
                outputs: n.outputs.clone(),
            });
        }
        let int8_weights = prepare_int8(&nodes, &constants, &int8)?;
        let prepacked = prepack_fp32(&nodes, &constants);
        for io in &def.outputs {
            if !defined[io.value as usize] {
                return Err(Error::Format(msg!(
                    "graph output '{}' is never computed",
                    def.values[io.value as usize]
                )));
            }
        }
        for s in &def.split_points {
            if !defined[s.value as usize] {
                return Err(Error::Format(msg!(
                    "split point '{}' names an undefined value",
                    s.name
                )));
            }
        }
        Ok(Model {
            inputs: def.inputs.iter().map(spec).collect(),
            outputs: def.outputs.iter().map(spec).collect(),
            metadata: def.metadata,
            value_names: def.values,
            constants,
            nodes,
            split_points: def
                .split_points
                .into_iter()
                .map(|s| (s.name, s.value))
                .collect(),
            kernels,
            int8_weights,
            prepacked,
        })
    }

    /// Splits the model at a named split point into a head (the graph inputs to the split
    /// value) and a tail (the split value, of rank `rank`, to the graph outputs), for split
    /// computation: a device runs the head, a server the tail. Fails when the split point does
    /// not separate the graph (a tail node would need a value the head computes other than the
    /// split value).
    pub fn split(&self, name: &str, rank: usize) -> Result<(Model, Model)> {
        let split = self
            .split_points
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| Error::Input(msg!("no split point '{name}'")))?;
        let nv = self.value_names.len();
        let mut producer = vec![usize::MAX; nv];
        for (i, n) in self.nodes.iter().enumerate() {
            for &o in &n.outputs {
                producer[o as usize] = i;
            }
        }
        // Nodes needed to compute a set of values, walking producers backwards.
        let needed = |targets: &[u32], stop: Option<u32>| -> Vec<bool> {
            let mut want = vec![false; self.nodes.len()];
            let mut stack: Vec<u32> = targets.to_vec();
            let mut seen = vec![false; nv];
            while let Some(v) = stack.pop() {
                if seen[v as usize] || Some(v) == stop {
                    continue;
                }
                seen[v as usize] = true;
                let p = producer[v as usize];
                if p != usize::MAX && !want[p] {
                    want[p] = true;
                    stack.extend(self.nodes[p].inputs.iter().flatten().copied());
                }
            }
            want
        };
        let head_nodes = needed(&[split], None);
        let outputs: Vec<u32> = self.outputs.iter().map(|o| o.value).collect();
        let tail_nodes = needed(&outputs, Some(split));
        for (i, n) in self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| tail_nodes[*i])
        {
            for v in n.inputs.iter().flatten() {
                let p = producer[*v as usize];
                if *v != split && p != usize::MAX && !tail_nodes[p] {
                    return Err(Error::Format(msg!(
                        "split point '{name}' does not separate the graph: node '{}' (#{i}) also reads '{}'",
                        n.name,
                        self.value_names[*v as usize]
                    )));
                }
                if self.inputs.iter().any(|io| io.value == *v) {
                    return Err(Error::Format(msg!(
                        "split point '{name}' does not separate the graph: node '{}' reads a graph input",
                        n.name
                    )));
                }
            }
        }
        let part = |keep: &[bool], inputs: Vec<IoSpec>, outputs: Vec<IoSpec>| Model {
            metadata: self.metadata.clone(),
            value_names: self.value_names.clone(),
            inputs,
            outputs,
            constants: self.constants.clone(),
            nodes: self
                .nodes
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(n, _)| n.clone())
                .collect(),
            split_points: Vec::new(),
            kernels: self.kernels,
            int8_weights: self
                .int8_weights
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(q, _)| q.clone())
                .collect(),
            prepacked: self
                .prepacked
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(q, _)| q.clone())
                .collect(),
        };
        let split_io = IoSpec {
            name: self.value_names[split as usize].clone(),
            value: split,
            dims: (0..rank)
                .map(|i| Dim::Symbol(alloc::format!("{name}.{i}")))
                .collect(),
        };
        let head = part(&head_nodes, self.inputs.clone(), vec![split_io.clone()]);
        let tail = part(&tail_nodes, vec![split_io], self.outputs.clone());
        Ok((head, tail))
    }

    /// Values that feed convolutions as their data input (what calibration observes).
    pub fn conv_data_inputs(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Conv(_)))
            .filter_map(|n| n.inputs[0])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Values that feed matrix products with constant weights (the ones that can run in
    /// int8) as their data input.
    pub fn matmul_data_inputs(&self) -> Vec<u32> {
        let constant = |v: Option<u32>| {
            v.and_then(|v| self.constants.get(v as usize)?.as_ref())
                .is_some()
        };
        let mut v: Vec<u32> = self
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::MatMul(_)) && constant(n.inputs[1]))
            .filter_map(|n| n.inputs[0])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Values that feed depthwise convolutions (one filter per channel) as their data input:
    /// where calibration also observes each channel apart.
    pub fn depthwise_data_inputs(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .nodes
            .iter()
            .filter(|n| {
                let Op::Conv(p) = &n.op else { return false };
                let w = n.inputs.get(1).copied().flatten();
                let shape = w.and_then(|w| self.constants.get(w as usize)?.as_ref());
                shape.is_some_and(|i| p.is_depthwise(&i.shape))
            })
            .filter_map(|n| n.inputs[0])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Number of convolutions that run in int8.
    pub fn int8_convs(&self) -> usize {
        self.int8_layers(|op| matches!(op, Op::Conv(_)))
    }

    /// Number of matrix products that run in int8.
    pub fn int8_matmuls(&self) -> usize {
        self.int8_layers(|op| matches!(op, Op::QMatMul { .. }))
    }

    fn int8_layers(&self, kind: impl Fn(&Op) -> bool) -> usize {
        self.nodes
            .iter()
            .zip(&self.int8_weights)
            .filter(|(n, q)| q.is_some() && kind(&n.op))
            .count()
    }

    /// Graph inputs.
    pub fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    /// Graph outputs.
    pub fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }

    /// A metadata entry.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All metadata entries.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Named split points and the values that cross them.
    pub fn split_points(&self) -> &[(String, u32)] {
        &self.split_points
    }

    /// Name of a value.
    pub fn value_name(&self, v: u32) -> &str {
        &self.value_names[v as usize]
    }

    /// Number of values.
    pub fn value_count(&self) -> usize {
        self.value_names.len()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The kernel set this model runs with.
    pub fn kernels(&self) -> &KernelSet {
        &self.kernels
    }
}

/// Packs the constant fp32 GEMM operands: weights of grouped-GEMM convolutions (not
/// depthwise, not int8), of transposed convolutions, and constant single-matrix right-hand
/// sides of matrix products.
fn prepack_fp32(nodes: &[Node], constants: &[Option<Info>]) -> Vec<Option<Prepacked>> {
    let constant = |v: Option<u32>| -> Option<(&[usize], &[f32])> {
        let info = constants.get(v? as usize)?.as_ref()?;
        match &info.data {
            Some(Data::F32(d)) if d.len() == info.shape.iter().product::<usize>() => {
                Some((&info.shape, d))
            }
            _ => None,
        }
    };
    // Empty weights are left unpacked (panels of no size); shape inference checks them.
    let constant = |v| constant(v).filter(|(shape, _)| !shape.contains(&0));
    nodes
        .iter()
        .map(|n| match &n.op {
            Op::Conv(p) if p.act_quant.is_none() => {
                let (shape, w) = constant(n.inputs.get(1).copied().flatten())?;
                let depthwise = p.group > 1 && shape.get(1) == Some(&1);
                if shape.len() != 4 || depthwise || !shape[0].is_multiple_of(p.group) {
                    return None;
                }
                let (mg, k) = (shape[0] / p.group, shape[1] * shape[2] * shape[3]);
                Some(Prepacked::Conv(
                    (0..p.group)
                        .map(|g| {
                            let a = MatRef {
                                data: &w[g * mg * k..(g + 1) * mg * k],
                                rs: k,
                                cs: 1,
                            };
                            gemm::pack_a_all(a, mg, k)
                        })
                        .collect(),
                ))
            }
            Op::ConvTranspose(_) => {
                let (shape, w) = constant(n.inputs.get(1).copied().flatten())?;
                if shape.len() != 4 {
                    return None;
                }
                let (ci, rows) = (shape[0], shape[1] * shape[2] * shape[3]);
                let a = MatRef {
                    data: w,
                    rs: 1,
                    cs: rows,
                };
                Some(Prepacked::ConvTranspose(gemm::pack_a_all(a, rows, ci)))
            }
            Op::MatMul(_) => {
                let (shape, b) = constant(n.inputs.get(1).copied().flatten())?;
                let (k, nn) = super::tensor::one_matrix(shape)?;
                let bm = MatRef {
                    data: b,
                    rs: nn,
                    cs: 1,
                };
                Some(Prepacked::MatMulB(gemm::pack_b_all(bm, k, nn)))
            }
            _ => None,
        })
        .collect()
}

/// Checks every int8 tensor feeds the weights of an int8 convolution or matrix product (and
/// nothing else), and packs those weights for the int8 micro-kernel.
fn prepare_int8(
    nodes: &[Node],
    constants: &[Option<Info>],
    int8: &[Option<(Vec<i8>, QuantParams)>],
) -> Result<Vec<Option<QWeights>>> {
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        for (i, v) in n.inputs.iter().enumerate() {
            let is_int8 = v.is_some_and(|v| int8[v as usize].is_some());
            let allowed = i == 1
                && match &n.op {
                    Op::Conv(p) => p.act_quant.is_some(),
                    Op::QMatMul { .. } => true,
                    _ => false,
                };
            if is_int8 && !allowed {
                return Err(Error::Unsupported(msg!(
                    "node '{}' reads an int8 tensor as input {i}: only the weights of int8 \
                     convolutions and matrix products may",
                    n.name
                )));
            }
        }
        let q = match &n.op {
            Op::Conv(p) if p.act_quant.is_some() => {
                let wv = n.inputs[1].unwrap_or(u32::MAX) as usize;
                let (w, qp) = int8.get(wv).and_then(|x| x.as_ref()).ok_or_else(|| {
                    Error::Format(msg!("int8 conv '{}' needs int8 weights", n.name))
                })?;
                let shape = &constants[wv].as_ref().expect("constant info").shape;
                if shape.len() != 4 || shape[0] == 0 || !shape[0].is_multiple_of(p.group) {
                    return Err(Error::Format(msg!(
                        "int8 conv '{}': weight shape {shape:?}",
                        n.name
                    )));
                }
                let m = shape[0];
                let k = shape[1] * shape[2] * shape[3];
                let depthwise = p.is_depthwise(shape);
                // Products each i32 output sums, padding taps included.
                let products = match depthwise {
                    true => shape[2] * shape[3].div_ceil(4) * 4,
                    false => shape[1].div_ceil(4) * 4 * shape[2] * shape[3],
                };
                QWeights::check("conv", &n.name, w, qp, (0, m), products)?;
                #[cfg(feature = "int8-depthwise")]
                if !(p.channel_quant.is_empty() || depthwise && p.channel_quant.len() == m) {
                    return Err(Error::Format(msg!(
                        "int8 conv '{}': per-channel input quantisation needs a depthwise \
                         convolution and one entry per channel",
                        n.name
                    )));
                }
                let packed = if depthwise {
                    #[cfg(feature = "int8-depthwise")]
                    {
                        use super::kernels::qdepthwise::pack_weights;
                        vec![pack_weights(w, m, shape[2], shape[3])]
                    }
                    #[cfg(not(feature = "int8-depthwise"))]
                    return Err(Error::Unsupported(msg!(
                        "int8 depthwise conv '{}': this build has no int8 depthwise kernels \
                         (the `int8-depthwise` feature)",
                        n.name
                    )));
                } else {
                    crate::runtime::ops::qconv::pack_weights(w, shape, p.group)
                };
                Some(QWeights::new(packed, w, m, k, &qp.scales))
            }
            Op::QMatMul { .. } => {
                let wv = n.inputs[1].unwrap_or(u32::MAX) as usize;
                let (w, qp) = int8.get(wv).and_then(|x| x.as_ref()).ok_or_else(|| {
                    Error::Format(msg!("int8 MatMul '{}' needs int8 weights", n.name))
                })?;
                let shape = &constants[wv].as_ref().expect("constant info").shape;
                Some(crate::runtime::ops::qmatmul::prepare_weights(
                    &n.name, w, shape, qp,
                )?)
            }
            _ => None,
        };
        out.push(q);
    }
    Ok(out)
}
