//! A loaded, validated model: typed nodes, constants ready for the kernels, and the kernel set
//! chosen for this CPU.

use super::format::{self, ConstData, Dim, ModelDef};
use super::kernels::KernelSet;
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
}

impl Model {
    /// Decodes and validates a model file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_def(format::decode(bytes)?)
    }

    /// Loads a model file (memory-mapped).
    #[cfg(feature = "std")]
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Io(alloc::format!("{}: {e}", path.display())))?;
        // SAFETY: the mapping is read-only and only lives for this call; the bytes are decoded
        // (copied) before it is dropped. A file truncated by another process while mapped could
        // raise SIGBUS; model files are not expected to change while being loaded.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::Io(alloc::format!("{}: {e}", path.display())))?;
        Self::from_bytes(&map)
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
                .ok_or_else(|| Error::Format(alloc::format!("{what}: value {v} out of range")))?;
            if *slot {
                return Err(Error::Format(alloc::format!(
                    "{what}: value {v} defined twice"
                )));
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
        for c in def.constants {
            define(&mut defined, c.value, "constant")?;
            let data = match c.data {
                ConstData::F32(v) => Data::F32(v),
                ConstData::I32(v) => Data::I64(v.into_iter().map(i64::from).collect()),
                ConstData::I8(_) => {
                    return Err(Error::Unsupported(
                        "int8 tensors need the int8 engine".into(),
                    ));
                }
            };
            constants[c.value as usize] = Some(Info {
                shape: c.shape,
                data: Some(data),
            });
        }
        let mut nodes = Vec::with_capacity(def.nodes.len());
        for n in &def.nodes {
            for (i, inp) in n.inputs.iter().enumerate() {
                if let Some(v) = inp
                    && !defined.get(*v as usize).copied().unwrap_or(false)
                {
                    return Err(Error::Format(alloc::format!(
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
        for io in &def.outputs {
            if !defined[io.value as usize] {
                return Err(Error::Format(alloc::format!(
                    "graph output '{}' is never computed",
                    def.values[io.value as usize]
                )));
            }
        }
        for s in &def.split_points {
            if !defined[s.value as usize] {
                return Err(Error::Format(alloc::format!(
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
        })
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
