//! Typed ops: what each node computes, parsed and validated from a [`NodeDef`].
//!
//! The op set is the one of `models/FORMAT.md`: ONNX-like names and semantics, with the
//! converter's fusions (activation and a scalar affine in `Conv`/`MatMul` epilogues,
//! `LayerNorm`, `HardSwish`, `Swish`) and with dynamic parameters (Clip bounds, Resize scales,
//! Squeeze axes) turned into attributes.

use super::format::{Attr, NodeDef};
use super::kernels::qgemm;
use super::{Error, Result};
use alloc::string::String;
use alloc::vec::Vec;

/// Upper bound on kernel sizes, strides, dilations and pads; far above any real model, low
/// enough that index arithmetic cannot overflow.
pub const MAX_WINDOW: i64 = 1024;

/// An activation applied element-wise, alone or fused into an op's epilogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x * clamp(x + 3, 0, 6) / 6`.
    HardSwish,
    /// `x * sigmoid(x)`.
    Swish,
}

/// `x * clamp(x / 6 + 1/2, 0, 1)`, as ONNX defines HardSwish (a multiply where a division
/// would be several times slower).
#[inline(always)]
fn hard_swish(x: f32) -> f32 {
    x * hard_sigmoid(x, 1.0 / 6.0, 0.5)
}

/// `clamp(alpha * x + beta, 0, 1)`.
#[inline(always)]
fn hard_sigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
    (alpha * x + beta).clamp(0.0, 1.0)
}

/// `x` limited to `min..=max`.
#[inline(always)]
fn clip(x: f32, min: f32, max: f32) -> f32 {
    x.max(min).min(max)
}

impl Activation {
    /// Applies the activation to one value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => clip(x, min, max),
            Activation::Sigmoid => sigmoid(x),
            Activation::HardSigmoid { alpha, beta } => hard_sigmoid(x, alpha, beta),
            Activation::HardSwish => hard_swish(x),
            Activation::Swish => x * sigmoid(x),
        }
    }

    /// Applies the activation to a slice in place. One loop per kind, so that each
    /// vectorises (a `match` inside the loop would not).
    #[inline(always)]
    pub fn apply_slice(self, xs: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Clip { min, max } => xs.iter_mut().for_each(|x| *x = clip(*x, min, max)),
            Activation::Sigmoid => xs.iter_mut().for_each(|x| *x = sigmoid(*x)),
            Activation::HardSigmoid { alpha, beta } => xs
                .iter_mut()
                .for_each(|x| *x = hard_sigmoid(*x, alpha, beta)),
            Activation::HardSwish => xs.iter_mut().for_each(|x| *x = hard_swish(*x)),
            Activation::Swish => xs.iter_mut().for_each(|x| *x *= sigmoid(*x)),
        }
    }

    /// Parses the activation attributes of a fused node (`activation`, `alpha`, `beta`,
    /// `min`, `max`).
    fn from_attrs(node: &NodeDef) -> Result<Self> {
        let kind = match node.attr("activation") {
            None => return Ok(Activation::None),
            Some(Attr::Str(s)) => s.as_str(),
            Some(_) => return Err(bad_attr(node, "activation", "must be a string")),
        };
        Self::named(node, kind)
    }

    fn named(node: &NodeDef, kind: &str) -> Result<Self> {
        Ok(match kind {
            "None" => Activation::None,
            "Relu" => Activation::Relu,
            "Clip" => {
                let min = float_attr(node, "min", f32::NEG_INFINITY)?;
                let max = float_attr(node, "max", f32::INFINITY)?;
                if min.is_nan() || max.is_nan() || min > max {
                    return Err(bad_attr(node, "min/max", "need min <= max"));
                }
                Activation::Clip { min, max }
            }
            "Sigmoid" => Activation::Sigmoid,
            "HardSigmoid" => Activation::HardSigmoid {
                alpha: float_attr(node, "alpha", 0.2)?,
                beta: float_attr(node, "beta", 0.5)?,
            },
            "HardSwish" => Activation::HardSwish,
            "Swish" => Activation::Swish,
            other => {
                return Err(Error::Unsupported(msg!(
                    "node '{}': activation '{other}'",
                    node.name
                )));
            }
        })
    }

    /// The op name of this activation when it stands alone (for the file format).
    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "None",
            Activation::Relu => "Relu",
            Activation::Clip { .. } => "Clip",
            Activation::Sigmoid => "Sigmoid",
            Activation::HardSigmoid { .. } => "HardSigmoid",
            Activation::HardSwish => "HardSwish",
            Activation::Swish => "Swish",
        }
    }
}

/// The logistic function (branch-free, so loops over it vectorise).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `e^x` to about 2e-7 relative error, branch-free so loops vectorise. Inputs are clamped to
/// [-87, 88], so the result is finite and never denormal (below -87 it returns e^-87, an
/// absolute error under 2e-38).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Taylor series of e^r on |r| <= ln2/2: the degree-7 term is below 1.3e-7.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `t` lies in [2^23, 2^24), where the spacing of floats is 1, so its bits are ROUND's
    // plus `n`: 2^n from integer arithmetic, which vectorises (a float-to-int cast does not).
    let biased = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
    let scale = f32::from_bits(biased << 23);
    p * scale
}

/// The epilogue fused after a convolution or matrix product:
/// `y = post_scale * act(acc + bias) + post_bias`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epilogue {
    /// Activation.
    pub act: Activation,
    /// Scalar multiplier applied after the activation.
    pub post_scale: f32,
    /// Scalar offset applied after the multiplier.
    pub post_bias: f32,
}

impl Epilogue {
    /// The identity epilogue.
    pub const fn identity() -> Self {
        Epilogue {
            act: Activation::None,
            post_scale: 1.0,
            post_bias: 0.0,
        }
    }

    fn from_attrs(node: &NodeDef) -> Result<Self> {
        Ok(Epilogue {
            act: Activation::from_attrs(node)?,
            post_scale: float_attr(node, "post_scale", 1.0)?,
            post_bias: float_attr(node, "post_bias", 0.0)?,
        })
    }

    /// True when the post affine is the identity.
    pub fn has_post(&self) -> bool {
        self.post_scale != 1.0 || self.post_bias != 0.0
    }

    /// Applies activation and post affine to a slice in place (bias already added); does
    /// nothing for the identity. The one place every kernel's epilogue goes through (via
    /// `KernelSet::epilogue`, which builds it for the CPU's vector width).
    #[inline(always)]
    pub fn apply_slice(&self, xs: &mut [f32]) {
        if *self == Self::identity() {
            return;
        }
        self.act.apply_slice(xs);
        if self.has_post() {
            let (s, b) = (self.post_scale, self.post_bias);
            xs.iter_mut().for_each(|v| *v = *v * s + b);
        }
    }

    /// Applies activation and post affine to one value (bias already added).
    #[inline(always)]
    pub fn apply(&self, x: f32) -> f32 {
        let y = self.act.apply(x);
        if self.has_post() {
            y * self.post_scale + self.post_bias
        } else {
            y
        }
    }
}

/// 2-D convolution parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvParams {
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
    /// Group count.
    pub group: usize,
    /// Fused epilogue.
    pub epilogue: Epilogue,
    /// For an int8 convolution (int8 weights), how its fp32 input is quantised.
    pub act_quant: Option<ActQuant>,
    /// For an int8 depthwise convolution, optionally one quantisation per input channel
    /// (attributes `x_scales`, `x_zero_points`), used instead of `act_quant`: a depthwise
    /// channel only ever meets its own input plane, so each plane can use its own range at no
    /// cost. Empty: `act_quant` for every channel.
    #[cfg(feature = "int8-depthwise")]
    pub channel_quant: Vec<ActQuant>,
}

impl ConvParams {
    /// True when weights of shape `w_shape` give this convolution one filter per channel
    /// (`[group, 1, kh, kw]`, more than one group): a depthwise convolution.
    pub fn is_depthwise(&self, w_shape: &[usize]) -> bool {
        self.group > 1 && w_shape.len() == 4 && w_shape[0] == self.group && w_shape[1] == 1
    }
}

/// Affine quantisation of an activation to 8 bits: `q = clamp(round(x / scale) + zero_point,
/// 0, 255)` (see `kernels::qgemm` for the operand ranges).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActQuant {
    /// Real value of one quantisation step.
    pub scale: f32,
    /// The quantised value of real zero, in `0..=255`.
    pub zero_point: i32,
}

/// 2-D transposed convolution parameters (group 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTransposeParams {
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads (top, left, bottom, right), cropped from the full output.
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
    /// Extra rows/columns added at the bottom/right.
    pub output_padding: [usize; 2],
    /// Fused epilogue.
    pub epilogue: Epilogue,
}

/// Pooling window parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolParams {
    /// Window (h, w).
    pub kernel: [usize; 2],
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Round output size up instead of down.
    pub ceil_mode: bool,
    /// For average pooling: divide by the full window size even where it overlaps padding.
    pub count_include_pad: bool,
}

/// Element-wise binary ops with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ^ b`.
    Pow,
}

impl BinaryOp {
    /// Applies the op to two values.
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => {
                if b == 2.0 {
                    a * a
                } else {
                    libm::powf(a, b)
                }
            }
        }
    }
}

/// Element-wise unary ops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    /// An activation.
    Act(Activation),
    /// Square root.
    Sqrt,
    /// Identity (a copy or an alias).
    Identity,
}

/// Element type named by a `Cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTo {
    /// To fp32.
    Float,
    /// To a (64-bit) integer.
    Int,
}

/// A typed op.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution, inputs `[x, w, b?]`, NCHW, weights OIHW.
    Conv(ConvParams),
    /// 2-D transposed convolution, inputs `[x, w, b?]`, weights IOHW.
    ConvTranspose(ConvTransposeParams),
    /// Max pooling.
    MaxPool(PoolParams),
    /// Average pooling.
    AveragePool(PoolParams),
    /// Mean over H and W, keeping them as size 1.
    GlobalAveragePool,
    /// Nearest-neighbour upsampling by integer factors (asymmetric, floor).
    Resize {
        /// Factor along H.
        scale_h: usize,
        /// Factor along W.
        scale_w: usize,
    },
    /// Element-wise unary op.
    Unary(UnaryOp),
    /// Element-wise binary op with broadcasting.
    Binary(BinaryOp),
    /// Batched matrix product `[.., M, K] x [.., K, N]` (+ bias over N) with a fused epilogue.
    MatMul(Epilogue),
    /// int8 matrix product (MatMul with `x_scale`): `[.., M, K]` fp32 input, constant int8
    /// `[K, N]` weights with one scale per column (+ bias over N), fused epilogue, fp32 out.
    QMatMul {
        /// The fused epilogue.
        epilogue: Epilogue,
        /// How the fp32 input is quantised.
        act_quant: ActQuant,
    },
    /// Softmax along one axis.
    Softmax {
        /// Axis (negative counts from the end).
        axis: i64,
        /// ONNX before opset 13: softmax over all axes from `axis` on, flattened.
        legacy_2d: bool,
    },
    /// Mean over axes.
    ReduceMean {
        /// Axes (negative counts from the end); empty means all.
        axes: Vec<i64>,
        /// Keep reduced axes as size 1.
        keepdims: bool,
    },
    /// Layer normalisation over the last axis, inputs `[x, gamma, beta]`.
    LayerNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// Axis permutation.
    Transpose {
        /// The permutation (output axis i is input axis `perm[i]`); empty means reverse.
        perm: Vec<usize>,
    },
    /// Reshape to the shape given by the (plan-time) second input.
    Reshape {
        /// A 0 in the target means 0, not "copy that dimension".
        allowzero: bool,
    },
    /// Remove size-1 axes.
    Squeeze {
        /// Axes; empty means all size-1 axes.
        axes: Vec<i64>,
    },
    /// Insert size-1 axes.
    Unsqueeze {
        /// Axes in the output.
        axes: Vec<i64>,
    },
    /// Flatten to 2-D at an axis.
    Flatten {
        /// Axis.
        axis: i64,
    },
    /// Concatenation along an axis.
    Concat {
        /// Axis.
        axis: i64,
    },
    /// The shape of the input, as an integer vector.
    Shape,
    /// Gather along an axis with (plan-time) integer indices.
    Gather {
        /// Axis.
        axis: i64,
    },
    /// Slice, inputs `[x, starts, ends, axes?, steps?]` (plan-time integers).
    Slice,
    /// Element type conversion.
    Cast(CastTo),
}

/// A node with a typed op and its wiring.
#[derive(Debug, Clone)]
pub struct Node {
    /// The op.
    pub op: Op,
    /// Node name.
    pub name: String,
    /// Input value ids.
    pub inputs: Vec<Option<u32>>,
    /// Output value ids.
    pub outputs: Vec<u32>,
}

fn bad_attr(node: &NodeDef, name: &str, why: &str) -> Error {
    Error::Format(msg!(
        "node '{}' ({}): attribute '{name}' {why}",
        node.name,
        node.op
    ))
}

fn float_attr(node: &NodeDef, name: &str, default: f32) -> Result<f32> {
    match node.attr(name) {
        None => Ok(default),
        Some(Attr::Float(v)) if !v.is_nan() => Ok(*v),
        Some(_) => Err(bad_attr(node, name, "must be a number")),
    }
}

fn int_attr(node: &NodeDef, name: &str, default: i64) -> Result<i64> {
    match node.attr(name) {
        None => Ok(default),
        Some(Attr::Int(v)) => Ok(*v),
        Some(_) => Err(bad_attr(node, name, "must be an integer")),
    }
}

fn ints_attr(node: &NodeDef, name: &str) -> Result<Option<Vec<i64>>> {
    match node.attr(name) {
        None => Ok(None),
        Some(Attr::Ints(v)) => Ok(Some(v.clone())),
        Some(_) => Err(bad_attr(node, name, "must be an integer list")),
    }
}

/// Reads an integer list of exactly `n` entries in `lo..=hi`, or the default.
fn window_attr<const N: usize>(
    node: &NodeDef,
    name: &str,
    default: usize,
    lo: i64,
) -> Result<[usize; N]> {
    match ints_attr(node, name)? {
        None => Ok([default; N]),
        Some(v) => {
            if v.len() != N || v.iter().any(|&x| x < lo || x > MAX_WINDOW) {
                return Err(bad_attr(
                    node,
                    name,
                    &msg!("must be {N} values in {lo}..={MAX_WINDOW}"),
                ));
            }
            let mut out = [0usize; N];
            for (o, x) in out.iter_mut().zip(v) {
                *o = x as usize;
            }
            Ok(out)
        }
    }
}

/// An activation quantisation from its attributes' values, checked.
fn checked_act_quant(node: &NodeDef, scale: f32, zero_point: i64) -> Result<ActQuant> {
    if !(scale.is_finite() && scale > 0.0 && (0..=qgemm::ACT_MAX as i64).contains(&zero_point)) {
        return Err(bad_attr(node, "x_scale/x_zero_point", "out of range"));
    }
    Ok(ActQuant {
        scale,
        zero_point: zero_point as i32,
    })
}

fn check_arity(node: &NodeDef, min_in: usize, max_in: usize, outs: usize) -> Result<()> {
    let n = node.inputs.len();
    if n < min_in || n > max_in || node.outputs.len() != outs {
        return Err(Error::Format(msg!(
            "node '{}' ({}) has {n} inputs and {} outputs; expected {min_in}..={max_in} and {outs}",
            node.name,
            node.op,
            node.outputs.len()
        )));
    }
    for (i, inp) in node.inputs.iter().enumerate().take(min_in) {
        if inp.is_none() {
            return Err(Error::Format(msg!(
                "node '{}' ({}): required input {i} is absent",
                node.name,
                node.op
            )));
        }
    }
    Ok(())
}

fn pool_params(node: &NodeDef) -> Result<PoolParams> {
    let kernel = window_attr::<2>(node, "kernel_shape", 0, 1)?;
    if kernel[0] == 0 {
        return Err(bad_attr(node, "kernel_shape", "is required"));
    }
    if let Some(Attr::Str(p)) = node.attr("auto_pad")
        && p != "NOTSET"
    {
        return Err(Error::Unsupported(msg!(
            "node '{}': auto_pad {p}",
            node.name
        )));
    }
    Ok(PoolParams {
        kernel,
        strides: window_attr::<2>(node, "strides", 1, 1)?,
        pads: window_attr::<4>(node, "pads", 0, 0)?,
        ceil_mode: int_attr(node, "ceil_mode", 0)? != 0,
        count_include_pad: int_attr(node, "count_include_pad", 0)? != 0,
    })
}

impl Op {
    /// The op's ONNX name (for messages and profiles).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::MaxPool(_) => "MaxPool",
            Op::AveragePool(_) => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::Resize { .. } => "Resize",
            Op::Unary(_) => "Unary",
            Op::Binary(_) => "Binary",
            Op::MatMul(_) | Op::QMatMul { .. } => "MatMul",
            Op::Softmax { .. } => "Softmax",
            Op::ReduceMean { .. } => "ReduceMean",
            Op::LayerNorm { .. } => "LayerNorm",
            Op::Transpose { .. } => "Transpose",
            Op::Reshape { .. } => "Reshape",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Flatten { .. } => "Flatten",
            Op::Concat { .. } => "Concat",
            Op::Shape => "Shape",
            Op::Gather { .. } => "Gather",
            Op::Slice => "Slice",
            Op::Cast(_) => "Cast",
        }
    }

    /// Parses and validates a node's op and attributes (shapes are checked at planning).
    pub fn parse(node: &NodeDef) -> Result<Op> {
        let op = match node.op.as_str() {
            "Conv" => {
                check_arity(node, 2, 3, 1)?;
                let group = int_attr(node, "group", 1)?;
                if !(1..=1 << 20).contains(&group) {
                    return Err(bad_attr(node, "group", "out of range"));
                }
                let act_quant = match node.attr("x_scale") {
                    None => None,
                    Some(_) => Some(checked_act_quant(
                        node,
                        float_attr(node, "x_scale", 0.0)?,
                        int_attr(node, "x_zero_point", 0)?,
                    )?),
                };
                #[cfg(not(feature = "int8-depthwise"))]
                if node.attr("x_scales").is_some() || node.attr("x_zero_points").is_some() {
                    return Err(Error::Unsupported(msg!(
                        "node '{}': per-channel input quantisation needs the int8-depthwise \
                         feature",
                        node.name
                    )));
                }
                #[cfg(feature = "int8-depthwise")]
                let channel_quant = match (node.attr("x_scales"), node.attr("x_zero_points")) {
                    (None, None) => Vec::new(),
                    (Some(Attr::Floats(s)), Some(Attr::Ints(z)))
                        if s.len() == z.len() && act_quant.is_some() =>
                    {
                        s.iter()
                            .zip(z)
                            .map(|(&s, &z)| checked_act_quant(node, s, z))
                            .collect::<Result<_>>()?
                    }
                    _ => {
                        return Err(bad_attr(
                            node,
                            "x_scales/x_zero_points",
                            "must be a float and an integer list of one length, with x_scale",
                        ));
                    }
                };
                Op::Conv(ConvParams {
                    strides: window_attr(node, "strides", 1, 1)?,
                    pads: window_attr(node, "pads", 0, 0)?,
                    dilations: window_attr(node, "dilations", 1, 1)?,
                    group: group as usize,
                    epilogue: Epilogue::from_attrs(node)?,
                    act_quant,
                    #[cfg(feature = "int8-depthwise")]
                    channel_quant,
                })
            }
            "ConvTranspose" => {
                check_arity(node, 2, 3, 1)?;
                if int_attr(node, "group", 1)? != 1 {
                    return Err(Error::Unsupported(msg!(
                        "node '{}': grouped ConvTranspose",
                        node.name
                    )));
                }
                Op::ConvTranspose(ConvTransposeParams {
                    strides: window_attr(node, "strides", 1, 1)?,
                    pads: window_attr(node, "pads", 0, 0)?,
                    dilations: window_attr(node, "dilations", 1, 1)?,
                    output_padding: window_attr(node, "output_padding", 0, 0)?,
                    epilogue: Epilogue::from_attrs(node)?,
                })
            }
            "MaxPool" => {
                check_arity(node, 1, 1, 1)?;
                Op::MaxPool(pool_params(node)?)
            }
            "AveragePool" => {
                check_arity(node, 1, 1, 1)?;
                Op::AveragePool(pool_params(node)?)
            }
            "GlobalAveragePool" => {
                check_arity(node, 1, 1, 1)?;
                Op::GlobalAveragePool
            }
            "Resize" => {
                check_arity(node, 1, 1, 1)?;
                let s = window_attr::<2>(node, "scales", 0, 1)?;
                if s[0] == 0 {
                    return Err(bad_attr(node, "scales", "is required"));
                }
                Op::Resize {
                    scale_h: s[0],
                    scale_w: s[1],
                }
            }
            "Relu" | "Sigmoid" | "HardSigmoid" | "HardSwish" | "Swish" | "Clip" => {
                check_arity(node, 1, 1, 1)?;
                Op::Unary(UnaryOp::Act(Activation::named(node, &node.op)?))
            }
            "Sqrt" => {
                check_arity(node, 1, 1, 1)?;
                Op::Unary(UnaryOp::Sqrt)
            }
            "Identity" => {
                check_arity(node, 1, 1, 1)?;
                Op::Unary(UnaryOp::Identity)
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
                check_arity(node, 2, 2, 1)?;
                Op::Binary(match node.op.as_str() {
                    "Add" => BinaryOp::Add,
                    "Sub" => BinaryOp::Sub,
                    "Mul" => BinaryOp::Mul,
                    "Div" => BinaryOp::Div,
                    _ => BinaryOp::Pow,
                })
            }
            "MatMul" => {
                check_arity(node, 2, 3, 1)?;
                let epilogue = Epilogue::from_attrs(node)?;
                match node.attr("x_scale") {
                    None => Op::MatMul(epilogue),
                    Some(_) => Op::QMatMul {
                        epilogue,
                        act_quant: checked_act_quant(
                            node,
                            float_attr(node, "x_scale", 0.0)?,
                            int_attr(node, "x_zero_point", 0)?,
                        )?,
                    },
                }
            }
            "Softmax" => {
                check_arity(node, 1, 1, 1)?;
                Op::Softmax {
                    axis: int_attr(node, "axis", -1)?,
                    legacy_2d: int_attr(node, "legacy_2d", 0)? != 0,
                }
            }
            "ReduceMean" => {
                check_arity(node, 1, 1, 1)?;
                Op::ReduceMean {
                    axes: ints_attr(node, "axes")?.unwrap_or_default(),
                    keepdims: int_attr(node, "keepdims", 1)? != 0,
                }
            }
            "LayerNorm" => {
                check_arity(node, 3, 3, 1)?;
                let epsilon = float_attr(node, "epsilon", 1e-5)?;
                if epsilon.is_sign_negative() {
                    return Err(bad_attr(node, "epsilon", "must not be negative"));
                }
                Op::LayerNorm { epsilon }
            }
            "Transpose" => {
                check_arity(node, 1, 1, 1)?;
                let perm = ints_attr(node, "perm")?.unwrap_or_default();
                let mut seen = [false; super::format::MAX_RANK];
                for &p in &perm {
                    if p < 0 || p as usize >= perm.len().min(seen.len()) || seen[p as usize] {
                        return Err(bad_attr(node, "perm", "is not a permutation"));
                    }
                    seen[p as usize] = true;
                }
                Op::Transpose {
                    perm: perm.into_iter().map(|p| p as usize).collect(),
                }
            }
            "Reshape" => {
                check_arity(node, 2, 2, 1)?;
                Op::Reshape {
                    allowzero: int_attr(node, "allowzero", 0)? != 0,
                }
            }
            "Squeeze" => {
                check_arity(node, 1, 1, 1)?;
                Op::Squeeze {
                    axes: ints_attr(node, "axes")?.unwrap_or_default(),
                }
            }
            "Unsqueeze" => {
                check_arity(node, 1, 1, 1)?;
                Op::Unsqueeze {
                    axes: ints_attr(node, "axes")?
                        .ok_or_else(|| bad_attr(node, "axes", "is required"))?,
                }
            }
            "Flatten" => {
                check_arity(node, 1, 1, 1)?;
                Op::Flatten {
                    axis: int_attr(node, "axis", 1)?,
                }
            }
            "Concat" => {
                if node.inputs.is_empty() || node.inputs.iter().any(|i| i.is_none()) {
                    return Err(Error::Format(msg!(
                        "node '{}' (Concat) needs at least one input, none absent",
                        node.name
                    )));
                }
                check_arity(node, 1, usize::MAX, 1)?;
                Op::Concat {
                    axis: int_attr(node, "axis", 0)?,
                }
            }
            "Shape" => {
                check_arity(node, 1, 1, 1)?;
                Op::Shape
            }
            "Gather" => {
                check_arity(node, 2, 2, 1)?;
                Op::Gather {
                    axis: int_attr(node, "axis", 0)?,
                }
            }
            "Slice" => {
                check_arity(node, 3, 5, 1)?;
                Op::Slice
            }
            "Cast" => {
                check_arity(node, 1, 1, 1)?;
                Op::Cast(match int_attr(node, "to", 1)? {
                    1 => CastTo::Float,
                    6 | 7 => CastTo::Int,
                    t => {
                        return Err(Error::Unsupported(msg!(
                            "node '{}': Cast to ONNX type {t}",
                            node.name
                        )));
                    }
                })
            }
            other => {
                return Err(Error::Unsupported(msg!(
                    "op '{other}' (node '{}')",
                    node.name
                )));
            }
        };
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::exp;

    /// The former `exp`, whose 2^n came from a float-to-int cast (which does not vectorise).
    fn exp_by_cast(x: f32) -> f32 {
        let x = x.clamp(-87.0, 88.0);
        let n = (x * core::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
        let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
        let p = 1.0
            + r * (1.0
                + r * (0.5
                    + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
        p * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }

    /// `exp` gives the former results bit for bit (softmax outputs did not change) and is
    /// within 3e-7 relative of the f64 exponential over its range.
    #[test]
    fn exp_is_accurate_and_unchanged() {
        for i in 0..=400_000 {
            let x = -100.0 + i as f32 * 0.0005;
            let got = exp(x);
            assert_eq!(got.to_bits(), exp_by_cast(x).to_bits(), "{x}");
            let want = (x.clamp(-87.0, 88.0) as f64).exp();
            assert!(
                ((got as f64 - want) / want).abs() < 3e-7,
                "{x}: {got} vs {want}"
            );
        }
        assert!(exp(f32::NAN).is_nan());
    }
}
