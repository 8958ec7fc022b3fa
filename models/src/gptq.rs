//! GPTQ: int8 convolution (and MatMul) weights rounded with error compensation, optionally
//! with fewer bits per layer and with pruning.
//!
//! Rounding every weight to its nearest level (what [`crate::quantize::quantize`] does)
//! treats the rounding errors of a row as independent, but what matters is the layer's output
//! error `(w - q) . x`, and a convolution's inputs are strongly correlated (neighbouring taps,
//! channels that fire together). GPTQ (Frantar et al., "GPTQ: Accurate Post-Training
//! Quantization for Generative Pre-trained Transformers", 2022, after Optimal Brain
//! Quantization) rounds one input column at a time and moves each column's rounding error
//! onto the columns not yet rounded, in the proportions that minimise the expected squared
//! output error `(w - q)^T H (w - q)` with `H = E[x x^T]` measured on calibration inputs. The
//! compensation is read off the upper Cholesky factor of `H^-1`, computed once per layer.
//!
//! Here `x` is what the int8 kernel sees: the layer's input in the fp32 model, quantised and
//! dequantised with the layer's activation range, as im2col columns (zero where the kernel
//! reads padding). Columns are taken in order of decreasing `H` diagonal (the inputs with most
//! energy first, while the most columns remain to absorb their error), and each row's scale is
//! chosen before rounding: the clip of the row's largest weight that minimises the
//! `H`-diagonal-weighted rounding error at the requested number of bits.
//!
//! The result is the same int8 layer as before (per-output-channel codes and scales), so the
//! runtime runs it unchanged; with fewer bits the codes use fewer levels and compress better.
//! MatMuls with a constant right-hand side are rounded the same way, their inputs being the
//! rows of the left-hand side: an int8 product (`--int8-matmul`) gets new per-column codes and
//! scales, its rows weighed as its kernel quantises them; one that computes in fp32 keeps the
//! rounded values in fp32 for `kestrel compress` to store as codes. A layer's bits can be
//! chosen as the fewest whose output error stays under a bound, and weights can be pruned
//! inside the same pass (SparseGPT's rule, Frantar and Alistarh 2023).

use crate::bias_correction::{Layer, layers, seen_by_kernel};
use crate::graph::Graph;
use ocr_core::runtime::op::{ActQuant, Op};
use ocr_core::runtime::tensor::one_matrix;
use ocr_core::runtime::{Model, Session, Tensor};
use std::collections::HashMap;

/// At most this many output positions per calibration input feed a layer's `H`, evenly
/// spread (large detector inputs have hundreds of thousands).
const MAX_COLUMNS: usize = 4096;

/// What [`gptq`] does.
#[derive(Debug, Clone)]
pub struct GptqOptions {
    /// Weight bits (2..=8) of every int8 convolution: codes in `-(2^(bits-1)-1)..=2^(bits-1)-1`.
    pub bits: u32,
    /// Per-layer exceptions: (node name, bits).
    pub layer_bits: Vec<(String, u32)>,
    /// Weight bits of the constant right-hand sides of MatMuls: GPTQ rounds them to
    /// per-output-column codes of this many bits. An int8 product keeps them as its codes; one
    /// that computes in fp32 stores the values they stand for, still fp32, and `kestrel
    /// compress --fp32-weight-bits` at the same bits then stores exactly those codes. `None`:
    /// MatMuls stay as they are.
    pub matmul_bits: Option<u32>,
    /// Per-layer bit choice: a layer not named in `layer_bits` gets the fewest bits from
    /// `min_bits` up to its default (`bits`, or `matmul_bits`) whose relative output error on
    /// the calibration inputs ([`GptqLayer::gptq_error`]) is at most this. `None`: the
    /// defaults.
    pub max_error: Option<f64>,
    /// The fewest bits `max_error` may choose.
    pub min_bits: u32,
    /// Unstructured pruning: the share of each row's weights (in every block of 32 inputs)
    /// set to zero, those cheapest to remove under `H`, with their error compensated like
    /// rounding error (SparseGPT); only layers with at least 128 inputs per output. 0: none.
    pub sparsity: f64,
    /// Dampening added to `H`'s diagonal, as a share of its mean (keeps `H` invertible where
    /// inputs are nearly collinear). The paper uses 0.01; with the recogniser's 160
    /// calibration lines 0.1 measured better on the dev set (`models/README.md`).
    pub damp: f64,
}

impl Default for GptqOptions {
    fn default() -> Self {
        GptqOptions {
            bits: 8,
            layer_bits: Vec::new(),
            matmul_bits: None,
            max_error: None,
            min_bits: 3,
            sparsity: 0.0,
            damp: 0.1,
        }
    }
}

/// What GPTQ did to one layer.
#[derive(Debug, Clone)]
pub struct GptqLayer {
    /// Convolution or MatMul (node name).
    pub node: String,
    /// Weight bits used.
    pub bits: u32,
    /// Inputs per output (`cg * kh * kw`).
    pub k: usize,
    /// Relative output error `sum (w-q)^T H (w-q) / sum w^T H w` of nearest rounding, on the
    /// calibration inputs.
    pub rtn_error: f64,
    /// The same for GPTQ's rounding.
    pub gptq_error: f64,
}

/// The second-moment matrices `sum x x^T` of one layer's input columns, one per group, upper
/// triangles accumulated (row-major `k x k`).
struct Moments {
    k: usize,
    h: Vec<Vec<f64>>,
    columns: usize,
}

impl Moments {
    fn new(l: &Layer) -> Self {
        let k = l.cg * l.kh * l.kw;
        Moments {
            k,
            h: vec![vec![0.0; k * k]; l.conv.group.max(1)],
            columns: 0,
        }
    }

    /// Adds the im2col columns of one `[N, C, H, W]` input of layer `l`, quantised as the
    /// kernel quantises it.
    fn add(&mut self, l: &Layer, shape: &[usize], data: &[f32]) {
        let &[n, c, h, w] = shape else { return };
        let groups = l.conv.group.max(1);
        if c != l.cg * groups || data.len() != n * c * h * w {
            return;
        }
        let Some((oh, ow)) = l.output_size(h, w) else {
            return;
        };
        let seen: Vec<f32> = data
            .iter()
            .enumerate()
            .map(|(i, &v)| l.as_kernel_sees(i / (h * w) % c, v))
            .collect();
        let total = n * oh * ow;
        let step = total.div_ceil(MAX_COLUMNS).max(1);
        let k = self.k;
        let mut col = vec![0f64; k];
        for p in (0..total).step_by(step) {
            let (b, oy, ox) = (p / (oh * ow), (p / ow) % oh, p % ow);
            for (g, hg) in self.h.iter_mut().enumerate() {
                for ci in 0..l.cg {
                    let plane = &seen[((b * c) + g * l.cg + ci) * h * w..][..h * w];
                    for ky in 0..l.kh {
                        let iy = l.input_at(0, oy, ky);
                        for kx in 0..l.kw {
                            let ix = l.input_at(1, ox, kx);
                            let inside = iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize;
                            col[(ci * l.kh + ky) * l.kw + kx] = if inside {
                                plane[iy as usize * w + ix as usize] as f64
                            } else {
                                0.0
                            };
                        }
                    }
                }
                add_outer_upper(hg, &col);
            }
            self.columns += 1;
        }
    }
}

/// A MatMul with a constant `[k, n]` right-hand side: node index, input value name, `k`, `n`,
/// the constant's value id, its fp32 values (`[k, n]`) and, for an int8 product, how its
/// input is quantised (the rows GPTQ weighs are then the rows the int8 kernel sees).
struct MatMul {
    node: usize,
    input: String,
    k: usize,
    n: usize,
    weights: u32,
    w_fp32: Vec<f32>,
    x_quant: Option<ActQuant>,
}

/// The MatMuls of `q` whose right-hand side is one constant matrix: fp32 (kept in fp32 with
/// rounded values), or int8 per output column with an fp32 counterpart of the same name in
/// `fp32` (the source of the weights GPTQ rounds).
fn matmuls(fp32: &Graph, q: &Graph) -> Vec<MatMul> {
    let fp32_weights = fp32.weights_by_node();
    let mut out = Vec::new();
    for (i, n) in q.nodes.iter().enumerate() {
        if n.op != "MatMul" {
            continue;
        }
        let (Some(Some(a)), Some(Some(b))) = (n.inputs.first(), n.inputs.get(1)) else {
            continue;
        };
        let input = q.names[*a as usize].clone();
        if let Some((&[k, cols], w)) = q.const_f32(*b) {
            out.push(MatMul {
                node: i,
                input,
                k,
                n: cols,
                weights: *b,
                w_fp32: w.to_vec(),
                x_quant: None,
            });
            continue;
        }
        let Ok(Op::QMatMul { act_quant, .. }) = Op::parse(n) else {
            continue;
        };
        let Some((shape, _, params)) = q.int8.get(b) else {
            continue;
        };
        let Some(&(fshape, wf)) = fp32_weights.get(n.name.as_str()) else {
            continue;
        };
        let Some((k, cols)) = one_matrix(shape) else {
            continue;
        };
        if params.axis as usize != shape.len() - 1 || fshape != shape.as_slice() {
            continue;
        }
        out.push(MatMul {
            node: i,
            input,
            k,
            n: cols,
            weights: *b,
            w_fp32: wf.to_vec(),
            x_quant: Some(act_quant),
        });
    }
    out
}

impl Moments {
    /// Second moments of a MatMul's left-hand rows (the last axis, length `k`).
    fn for_matmul(k: usize) -> Self {
        Moments {
            k,
            h: vec![vec![0.0; k * k]],
            columns: 0,
        }
    }

    /// Adds the rows of one left-hand input, quantised and dequantised first as an int8
    /// kernel with `x_quant` sees them.
    fn add_rows(&mut self, data: &[f32], x_quant: Option<&ActQuant>) {
        let k = self.k;
        let rows = data.len() / k;
        let step = rows.div_ceil(MAX_COLUMNS).max(1);
        let mut col = vec![0f64; k];
        for r in (0..rows).step_by(step) {
            for (c, &v) in col.iter_mut().zip(&data[r * k..(r + 1) * k]) {
                *c = x_quant.map_or(v, |q| seen_by_kernel(q, v)) as f64;
            }
            add_outer_upper(&mut self.h[0], &col);
            self.columns += 1;
        }
    }

    /// Completes the lower triangles of the accumulated upper ones.
    fn symmetrise(&mut self) {
        let k = self.k;
        for h in &mut self.h {
            for i in 0..k {
                for j in 0..i {
                    h[i * k + j] = h[j * k + i];
                }
            }
        }
    }
}

/// `h += x x^T`, upper triangle only (`h` row-major `k x k`, `k = x.len()`).
fn add_outer_upper(h: &mut [f64], x: &[f64]) {
    let k = x.len();
    for (i, &xi) in x.iter().enumerate() {
        // ReLU outputs are mostly zero: their rows add nothing.
        if xi == 0.0 {
            continue;
        }
        for (hv, &xj) in h[i * k + i..(i + 1) * k].iter_mut().zip(&x[i..]) {
            *hv += xi * xj;
        }
    }
}

/// Lower Cholesky factor of the symmetric positive definite `a` (row-major `k x k`, only the
/// lower triangle read), in place; the upper triangle is zeroed. `false` if `a` is not
/// positive definite.
fn cholesky(a: &mut [f64], k: usize) -> bool {
    for i in 0..k {
        let (done, rest) = a.split_at_mut(i * k);
        let row = &mut rest[..k];
        for j in 0..i {
            let lj = &done[j * k..j * k + j];
            let s: f64 = row[..j].iter().zip(lj).map(|(a, b)| a * b).sum();
            row[j] = (row[j] - s) / done[j * k + j];
        }
        let d = row[i] - row[..i].iter().map(|v| v * v).sum::<f64>();
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        row[i] = d.sqrt();
        row[i + 1..].fill(0.0);
    }
    true
}

/// The upper Cholesky factor `u` of `h^-1` (`h^-1 = u^T u`) for symmetric positive definite
/// `h` (row-major `k x k`, full), or `None` if `h` is not positive definite.
fn inverse_upper_cholesky(h: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = h.to_vec();
    if !cholesky(&mut l, k) {
        return None;
    }
    // x = l^-1 (lower), row by row: l[i][i] x[i] = e_i - sum_{p<i} l[i][p] x[p].
    let mut x = vec![0f64; k * k];
    for i in 0..k {
        let (done, rest) = x.split_at_mut(i * k);
        let row = &mut rest[..k];
        row[i] = 1.0;
        for p in 0..i {
            let c = l[i * k + p];
            if c != 0.0 {
                for (r, &v) in row[..=p].iter_mut().zip(&done[p * k..p * k + p + 1]) {
                    *r -= c * v;
                }
            }
        }
        let d = l[i * k + i];
        for r in &mut row[..=i] {
            *r /= d;
        }
    }
    // h^-1 = x^T x.
    let mut inv = vec![0f64; k * k];
    for p in 0..k {
        let row = &x[p * k..p * k + p + 1];
        for (a, &xa) in row.iter().enumerate() {
            if xa != 0.0 {
                for (d, &xb) in inv[a * k..a * k + p + 1].iter_mut().zip(row) {
                    *d += xa * xb;
                }
            }
        }
    }
    if !cholesky(&mut inv, k) {
        return None;
    }
    // u = (lower factor of h^-1)^T.
    let mut u = vec![0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            u[j * k + i] = inv[i * k + j];
        }
    }
    Some(u)
}

/// Columns per pruning decision (see [`quantise_rows`]).
const PRUNE_BLOCK: usize = 32;

/// Rounds `w` to a multiple of `scale` in `-qmax..=qmax`.
fn round_to(w: f64, scale: f64, qmax: f64) -> f64 {
    (w / scale).round().clamp(-qmax, qmax)
}

/// The scale of one row: `max |w| / qmax` times the clip in `0.5..=1` that minimises the
/// rounding error weighted by `diag` (each input's energy).
fn row_scale(row: &[f64], diag: &[f64], qmax: f64) -> f64 {
    let amax = row.iter().fold(0f64, |m, v| m.max(v.abs()));
    if amax == 0.0 {
        return 1.0;
    }
    let mut best = (f64::MAX, amax / qmax);
    for step in 0..=50 {
        let s = amax * (1.0 - step as f64 * 0.01) / qmax;
        let err: f64 = row
            .iter()
            .zip(diag)
            .map(|(&w, &d)| {
                let e = w - round_to(w, s, qmax) * s;
                d * e * e
            })
            .sum();
        if err < best.0 {
            best = (err, s);
        }
    }
    best.1
}

/// `sum_r (a_r - b_r)^T h (a_r - b_r)` over rows of length `k` (`h` full, row-major).
fn weighted_error(a: &[f64], b: &[f64], h: &[f64], k: usize) -> f64 {
    let mut total = 0.0;
    let mut d = vec![0f64; k];
    for (ra, rb) in a.chunks_exact(k).zip(b.chunks_exact(k)) {
        for ((d, x), y) in d.iter_mut().zip(ra).zip(rb) {
            *d = x - y;
        }
        for (i, &di) in d.iter().enumerate() {
            if di != 0.0 {
                total += di
                    * h[i * k..(i + 1) * k]
                        .iter()
                        .zip(&d)
                        .map(|(a, b)| a * b)
                        .sum::<f64>();
            }
        }
    }
    total
}

/// What GPTQ needs of one second-moment matrix, whatever the bits: the order in which the
/// columns are rounded and the upper Cholesky factor of the damped, reordered `H^-1` (`None`
/// if `H` could not be made positive definite: the rows then round to nearest).
struct Prepared {
    order: Vec<usize>,
    u: Option<Vec<f64>>,
}

/// Prepares `h` (full, row-major `k x k`) for [`quantise_rows`].
fn prepare(h: &[f64], k: usize, damp: f64) -> Prepared {
    // Columns by decreasing energy; inputs never seen (zero diagonal) get a unit diagonal so
    // that H stays invertible (they are decoupled: their weights round to nearest).
    let diag: Vec<f64> = (0..k).map(|i| h[i * k + i]).collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| diag[b].total_cmp(&diag[a]));
    let mean_diag = (diag.iter().sum::<f64>() / k as f64).max(f64::MIN_POSITIVE);
    let mut hp = vec![0f64; k * k];
    for (a, &i) in order.iter().enumerate() {
        for (b, &j) in order.iter().enumerate() {
            hp[a * k + b] = h[i * k + j];
        }
        if hp[a * k + a] == 0.0 {
            hp[a * k + a] = 1.0;
        }
    }
    let mut lambda = damp * mean_diag;
    let u = loop {
        let mut damped = hp.clone();
        for a in 0..k {
            damped[a * k + a] += lambda;
        }
        if let Some(u) = inverse_upper_cholesky(&damped, k) {
            break Some(u);
        }
        if lambda > mean_diag * 1e3 {
            break None;
        }
        lambda = (lambda * 10.0).max(mean_diag * 1e-6);
    };
    Prepared { order, u }
}

/// Quantises the rows of `w` (row-major, `k` inputs each) to `bits` with GPTQ against the
/// second moment `h` (full, row-major `k x k`, prepared as `prep`): returns the codes, the
/// per-row scales and the output errors `sum (w-q)^T h (w-q)` of nearest rounding and of GPTQ.
fn quantise_rows(
    w: &[f32],
    h: &[f64],
    k: usize,
    bits: u32,
    prep: &Prepared,
    sparsity: f64,
) -> (Vec<i8>, Vec<f32>, f64, f64) {
    let qmax = ((1i32 << (bits - 1)) - 1) as f64;
    let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let diag: Vec<f64> = (0..k).map(|i| h[i * k + i]).collect();
    let scales: Vec<f64> = w64
        .chunks_exact(k)
        .map(|r| row_scale(r, &diag, qmax))
        .collect();
    let dequantised = |codes: &[i8]| -> Vec<f64> {
        codes
            .chunks_exact(k)
            .zip(&scales)
            .flat_map(|(r, &s)| r.iter().map(move |&c| c as f64 * s))
            .collect()
    };
    let rtn: Vec<i8> = w64
        .chunks_exact(k)
        .zip(&scales)
        .flat_map(|(r, &s)| r.iter().map(move |&v| round_to(v, s, qmax) as i8))
        .collect();
    let rtn_error = weighted_error(&w64, &dequantised(&rtn), h, k);
    let scales32 = scales.iter().map(|&s| s as f32).collect();
    let Some(u) = &prep.u else {
        return (rtn, scales32, rtn_error, rtn_error);
    };
    let order = &prep.order;
    let mut codes = vec![0i8; w.len()];
    let mut work = vec![0f64; k];
    for (r, &s) in scales.iter().enumerate() {
        for (a, &i) in order.iter().enumerate() {
            work[a] = w64[r * k + i];
        }
        let mut pruned = [false; PRUNE_BLOCK];
        for a in 0..k {
            // Pruning (SparseGPT's rule): at the start of each block of columns, zero the
            // share `sparsity` of the row's weights there that cost least to remove,
            // `w^2 / u_aa^2`; their removal error is compensated like rounding error.
            let (block, at) = (a / PRUNE_BLOCK * PRUNE_BLOCK, a % PRUNE_BLOCK);
            if at == 0 && sparsity > 0.0 {
                let end = (block + PRUNE_BLOCK).min(k);
                let mut costs: Vec<(f64, usize)> = (block..end)
                    .map(|j| ((work[j] / u[j * k + j]).powi(2), j - block))
                    .collect();
                costs.sort_by(|x, y| x.0.total_cmp(&y.0));
                pruned.fill(false);
                let n = (sparsity * (end - block) as f64).round() as usize;
                for &(_, j) in &costs[..n] {
                    pruned[j] = true;
                }
            }
            let q = if pruned[at] {
                0.0
            } else {
                round_to(work[a], s, qmax)
            };
            codes[r * k + order[a]] = q as i8;
            let e = (work[a] - q * s) / u[a * k + a];
            for (x, &ua) in work[a + 1..].iter_mut().zip(&u[a * k + a + 1..(a + 1) * k]) {
                *x -= e * ua;
            }
        }
    }
    let gptq_error = weighted_error(&w64, &dequantised(&codes), h, k);
    (codes, scales32, rtn_error, gptq_error)
}

/// Rounds one layer's weight rows (`groups` equal blocks of rows, block `g` against `h[g]`)
/// at the fewest bits in `bits` whose GPTQ error (mean over groups) is at most `max_error`,
/// or at the most bits in `bits` if none is. Returns the codes, scales, bits and the errors
/// of nearest rounding and of GPTQ at those bits.
fn quantise_layer(
    w: &[f32],
    h: &[Vec<f64>],
    k: usize,
    bits: std::ops::RangeInclusive<u32>,
    max_error: f64,
    damp: f64,
    sparsity: f64,
) -> (Vec<i8>, Vec<f32>, u32, f64, f64) {
    let groups = h.len();
    let per_group = w.len() / groups;
    let prepared: Vec<Prepared> = h.iter().map(|h| prepare(h, k, damp)).collect();
    // Each group's output energy `sum w^T h w`, which makes its errors relative.
    let energies: Vec<f64> = h
        .iter()
        .enumerate()
        .map(|(g, hg)| {
            let w64: Vec<f64> = w[g * per_group..(g + 1) * per_group]
                .iter()
                .map(|&v| v as f64)
                .collect();
            weighted_error(&w64, &vec![0.0; w64.len()], hg, k).max(f64::MIN_POSITIVE)
        })
        .collect();
    let mut result = None;
    for b in bits.clone() {
        let (mut codes, mut scales) = (Vec::with_capacity(w.len()), Vec::new());
        let (mut rtn, mut err) = (0f64, 0f64);
        for (g, ((hg, prep), energy)) in h.iter().zip(&prepared).zip(&energies).enumerate() {
            let (c, s, r, e) = quantise_rows(
                &w[g * per_group..(g + 1) * per_group],
                hg,
                k,
                b,
                prep,
                sparsity,
            );
            codes.extend(c);
            scales.extend(s);
            rtn += r / energy / groups as f64;
            err += e / energy / groups as f64;
        }
        result = Some((codes, scales, b, rtn, err));
        if err <= max_error {
            break;
        }
    }
    result.expect("a non-empty range of bits")
}

/// Re-rounds the weights of `q`'s int8 convolutions (those with an fp32 counterpart of the
/// same name in `fp32`), and with `matmul_bits` those of its MatMuls with a constant right-hand
/// side, with GPTQ as `opts` says, measuring each layer's input second moments by running the
/// fp32 model over `inputs`. Returns what it did per layer.
pub fn gptq(
    fp32: &Graph,
    q: &mut Graph,
    inputs: &[Tensor],
    opts: &GptqOptions,
) -> Result<Vec<GptqLayer>, String> {
    let all_bits = [opts.bits, opts.min_bits]
        .into_iter()
        .chain(opts.matmul_bits)
        .chain(opts.layer_bits.iter().map(|(_, b)| *b));
    for b in all_bits {
        if !(2..=8).contains(&b) {
            return Err(format!("GPTQ weight bits must be in 2..=8, not {b}"));
        }
    }
    if !(0.0..1.0).contains(&opts.sparsity) {
        return Err(format!(
            "GPTQ sparsity must be in [0, 1), not {}",
            opts.sparsity
        ));
    }
    if !(opts.damp >= 0.0 && opts.damp.is_finite()) {
        return Err(format!(
            "GPTQ dampening must be a share >= 0, not {}",
            opts.damp
        ));
    }
    let layers = layers(fp32, q);
    let mut moments: Vec<Moments> = layers.iter().map(Moments::new).collect();
    let matmuls = if opts.matmul_bits.is_some() {
        matmuls(fp32, q)
    } else {
        Vec::new()
    };
    // A layer named for its own bits must be one this pass rounds (a typo would do nothing).
    for (node, _) in &opts.layer_bits {
        let known = layers.iter().any(|l| q.nodes[l.node].name == *node)
            || matmuls.iter().any(|m| q.nodes[m.node].name == *node);
        if !known {
            return Err(format!(
                "GPTQ layer bits: '{node}' is not an int8 convolution{} of this model",
                if opts.matmul_bits.is_some() {
                    " or a MatMul with constant weights"
                } else {
                    " (MatMuls need matmul bits)"
                }
            ));
        }
    }
    let mut matmul_moments: Vec<Moments> =
        matmuls.iter().map(|m| Moments::for_matmul(m.k)).collect();
    let fp32_bytes = ocr_core::runtime::format::encode(&fp32.to_def()?);
    let model = Model::from_bytes(&fp32_bytes).map_err(|e| e.to_string())?;
    // Which layers and MatMuls read each value of the fp32 model.
    let mut by_value: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut matmul_by_value: HashMap<u32, Vec<usize>> = HashMap::new();
    for v in 0..model.value_count() as u32 {
        let name = model.value_name(v);
        for (li, _) in layers.iter().enumerate().filter(|(_, l)| l.input == name) {
            by_value.entry(v).or_default().push(li);
        }
        for (mi, _) in matmuls.iter().enumerate().filter(|(_, m)| m.input == name) {
            matmul_by_value.entry(v).or_default().push(mi);
        }
    }
    let mut session = Session::new(model);
    for x in inputs {
        session
            .run_observed(&[x], &mut |v, shape, data| {
                for &li in by_value.get(&v).map_or(&[][..], |l| l) {
                    moments[li].add(&layers[li], shape, data);
                }
                for &mi in matmul_by_value.get(&v).map_or(&[][..], |l| l) {
                    if shape.last() == Some(&matmuls[mi].k) {
                        matmul_moments[mi].add_rows(data, matmuls[mi].x_quant.as_ref());
                    }
                }
            })
            .map_err(|e| format!("GPTQ calibration run failed: {e}"))?;
    }

    // The bits a layer may use: its own if named, else the fewest from `min_bits` up to the
    // default whose error meets `max_error` (only the default without `max_error`).
    let bits_for = |node: &str, default: u32| -> std::ops::RangeInclusive<u32> {
        match opts.layer_bits.iter().find(|(n, _)| n == node) {
            Some(&(_, b)) => b..=b,
            None if opts.max_error.is_some() => opts.min_bits.min(default)..=default,
            None => default..=default,
        }
    };
    let max_error = opts.max_error.unwrap_or(f64::INFINITY);
    // Layers with few inputs per output are left dense: there is little to prune.
    let sparsity = |k: usize| {
        if k >= 4 * PRUNE_BLOCK {
            opts.sparsity
        } else {
            0.0
        }
    };
    let mut report = Vec::with_capacity(layers.len() + matmuls.len());
    for (l, mom) in layers.iter().zip(&mut moments) {
        let node = q.nodes[l.node].name.clone();
        let Some(wv) = q.nodes[l.node].inputs[1].filter(|_| mom.columns > 0) else {
            continue;
        };
        mom.symmetrise();
        let bits = bits_for(&node, opts.bits);
        let (mut codes, mut scales, bits, rtn_error, gptq_error) = quantise_layer(
            &l.w_fp32,
            &mom.h,
            mom.k,
            bits,
            max_error,
            opts.damp,
            sparsity(mom.k),
        );
        let Some((_, stored, params)) = q.int8.get_mut(&wv) else {
            continue;
        };
        std::mem::swap(stored, &mut codes);
        std::mem::swap(&mut params.scales, &mut scales);
        // One symmetric scale per row now, even where the source shared one.
        params.zero_points = vec![0; params.scales.len()];
        report.push(GptqLayer {
            node,
            bits,
            k: mom.k,
            rtn_error,
            gptq_error,
        });
    }
    for (m, mom) in matmuls.iter().zip(&mut matmul_moments) {
        let (Some(default), true) = (opts.matmul_bits, mom.columns > 0) else {
            continue;
        };
        mom.symmetrise();
        let node = q.nodes[m.node].name.clone();
        // GPTQ rows are output columns: w[o][i] = b[i][o].
        let w: Vec<f32> = (0..m.n)
            .flat_map(|o| (0..m.k).map(move |i| (i, o)))
            .map(|(i, o)| m.w_fp32[i * m.n + o])
            .collect();
        let (codes, scales, bits, rtn_error, gptq_error) = quantise_layer(
            &w,
            &mom.h,
            m.k,
            bits_for(&node, default),
            max_error,
            opts.damp,
            sparsity(m.k),
        );
        if m.x_quant.is_some() {
            // An int8 product: its codes (stored `[k, n]`) and per-column scales.
            let Some((_, stored, params)) = q.int8.get_mut(&m.weights) else {
                continue;
            };
            for o in 0..m.n {
                for i in 0..m.k {
                    stored[i * m.n + o] = codes[o * m.k + i];
                }
            }
            params.zero_points = vec![0; scales.len()];
            params.scales = scales;
        } else {
            let Some(ocr_core::runtime::static_eval::Info {
                data: Some(ocr_core::runtime::static_eval::Data::F32(b)),
                ..
            }) = q.consts.get_mut(&m.weights)
            else {
                continue;
            };
            for o in 0..m.n {
                for i in 0..m.k {
                    b[i * m.n + o] = codes[o * m.k + i] as f32 * scales[o];
                }
            }
        }
        report.push(GptqLayer {
            node,
            bits,
            k: m.k,
            rtn_error,
            gptq_error,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_noise as noise;

    #[test]
    fn inverse_upper_cholesky_factors_the_inverse() {
        let k = 7;
        let a = noise(k * k, 3);
        // h = a a^T + I: symmetric positive definite.
        let mut h = vec![0f64; k * k];
        for i in 0..k {
            for j in 0..k {
                h[i * k + j] = (0..k).map(|p| a[i * k + p] * a[j * k + p]).sum::<f64>()
                    + f64::from(u8::from(i == j));
            }
        }
        let u = inverse_upper_cholesky(&h, k).unwrap();
        // h (u^T u) = I.
        for i in 0..k {
            for j in 0..k {
                let v: f64 = (0..k)
                    .map(|p| {
                        h[i * k + p] * (0..k).map(|q| u[q * k + p] * u[q * k + j]).sum::<f64>()
                    })
                    .sum();
                let want = f64::from(u8::from(i == j));
                assert!((v - want).abs() < 1e-9, "({i}, {j}): {v}");
            }
        }
        assert!(
            (0..k).all(|i| (0..i).all(|j| u[i * k + j] == 0.0)),
            "u is upper"
        );
        let mut not_pd = h.clone();
        not_pd[0] = -1.0;
        assert!(inverse_upper_cholesky(&not_pd, k).is_none());
    }

    /// Correlated inputs: a few shared factors plus a little independent noise, like
    /// neighbouring taps; the full second-moment matrix of `samples` inputs of length `k`.
    fn correlated_moments(k: usize, samples: usize) -> Vec<f64> {
        let factors = noise(samples * 3, 5);
        let extra = noise(samples * k, 7);
        let mix = noise(k * 3, 11);
        let mut h = vec![0f64; k * k];
        for s in 0..samples {
            let x: Vec<f64> = (0..k)
                .map(|i| {
                    (0..3)
                        .map(|f| mix[i * 3 + f] * factors[s * 3 + f])
                        .sum::<f64>()
                        + 0.05 * extra[s * k + i]
                })
                .collect();
            add_outer_upper(&mut h, &x);
        }
        for i in 0..k {
            for j in 0..i {
                h[i * k + j] = h[j * k + i];
            }
        }
        h
    }

    /// Pruning half the weights: every block of 32 columns of every row loses half its
    /// weights, and compensating the removals costs far less output error than zeroing the
    /// smallest half of each block and rounding the rest to nearest.
    #[test]
    fn pruning_zeroes_its_share_per_block_and_compensates() {
        let (k, rows) = (64, 8);
        let h = correlated_moments(k, 400);
        let w: Vec<f32> = noise(rows * k, 17).iter().map(|&v| v as f32).collect();
        let prep = prepare(&h, k, 0.01);
        let (codes, scales, _, gptq) = quantise_rows(&w, &h, k, 8, &prep, 0.5);
        for (r, row) in codes.chunks_exact(k).enumerate() {
            for block in prep.order.chunks(PRUNE_BLOCK) {
                let zeros = block.iter().filter(|&&i| row[i] == 0).count();
                assert!(
                    zeros >= PRUNE_BLOCK / 2,
                    "row {r}: {zeros} zeros in a block"
                );
            }
        }
        // The baseline: per block (same column blocks), zero the smallest half, round the rest.
        let mut naive = vec![0f64; w.len()];
        for r in 0..rows {
            for block in prep.order.chunks(PRUNE_BLOCK) {
                let mut by_size: Vec<usize> = block.to_vec();
                by_size.sort_by(|&a, &b| w[r * k + a].abs().total_cmp(&w[r * k + b].abs()));
                for &i in &by_size[PRUNE_BLOCK / 2..] {
                    let s = scales[r] as f64;
                    naive[r * k + i] = round_to(w[r * k + i] as f64, s, 127.0) * s;
                }
            }
        }
        let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        let naive_error = weighted_error(&w64, &naive, &h, k);
        assert!(gptq < 0.5 * naive_error, "{gptq:.3e} vs {naive_error:.3e}");
    }

    /// On strongly correlated inputs GPTQ's output error is well below nearest rounding's, at
    /// 8 bits and at 4, and its codes stay in range.
    #[test]
    fn gptq_beats_nearest_rounding_on_correlated_inputs() {
        let (k, rows) = (24, 16);
        // Inputs: a few shared factors plus a little independent noise, like neighbouring taps.
        let h = correlated_moments(k, 400);
        let w: Vec<f32> = noise(rows * k, 13).iter().map(|&v| v as f32).collect();
        for bits in [8, 4] {
            let prep = prepare(&h, k, 0.01);
            let (codes, scales, rtn, gptq) = quantise_rows(&w, &h, k, bits, &prep, 0.0);
            let qmax = ((1i32 << (bits - 1)) - 1) as i8;
            assert!(
                codes.iter().all(|c| (-qmax..=qmax).contains(c)),
                "{bits} bits"
            );
            assert_eq!(scales.len(), rows);
            assert!(
                gptq < 0.5 * rtn,
                "{bits} bits: GPTQ {gptq:.3e} vs nearest {rtn:.3e}"
            );
        }
    }
}
