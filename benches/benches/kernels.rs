//! Criterion benches of the micro-kernels behind the one `KernelSet` dispatch point: achieved
//! multiply-accumulates per second on one core (criterion's "elem/s" is MAC/s here), for every
//! kernel set this CPU offers. `benches/README.md` sets the figures beside the core's peak.
//!
//! `cargo bench -p ocr-benches --bench kernels`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ocr_core::runtime::kernels::qgemm::{QMR, QNR};
use ocr_core::runtime::kernels::{KernelSet, MR, NR};
use std::hint::black_box;

/// Depth of one call: a typical pointwise convolution's input channels.
const K: usize = 480;

fn int8_microkernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("int8 micro-kernel (4x16, k=480)");
    g.throughput(Throughput::Elements((QMR * QNR * K) as u64));
    let a: Vec<i8> = (0..QMR * K).map(|i| (i % 255) as i8 - 127).collect();
    let b: Vec<u8> = (0..QNR * K).map(|i| (i * 7 % 256) as u8).collect();
    for ks in KernelSet::available() {
        g.bench_function(BenchmarkId::from_parameter(ks.name), |bench| {
            let mut acc = [0i32; QMR * QNR];
            bench.iter(|| (ks.qgemm)(K / 4, black_box(&a), black_box(&b), &mut acc));
        });
        // The same tile for narrow (7-bit) weights, where the set has a kernel for them.
        if let Some(nk) = ks.qgemm_narrow {
            let a: Vec<i8> = (0..QMR * K).map(|i| (i % 127) as i8 - 63).collect();
            g.bench_function(BenchmarkId::new("narrow weights", ks.name), |bench| {
                let mut acc = [0i32; QMR * QNR];
                bench.iter(|| (nk.single)(K / 4, black_box(&a), black_box(&b), &mut acc));
            });
        }
    }
    g.finish();
}

fn int8_pair_microkernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("int8 pair micro-kernel (4x32, k=480)");
    g.throughput(Throughput::Elements((2 * QMR * QNR * K) as u64));
    let a: Vec<i8> = (0..QMR * K).map(|i| (i % 255) as i8 - 127).collect();
    let b: Vec<u8> = (0..2 * QNR * K).map(|i| (i * 7 % 256) as u8).collect();
    for ks in KernelSet::available() {
        g.bench_function(BenchmarkId::from_parameter(ks.name), |bench| {
            let mut acc = [[0i32; QMR * QNR]; 2];
            bench.iter(|| (ks.qgemm_pair)(K / 4, black_box(&a), black_box(&b), &mut acc));
        });
    }
    g.finish();
}

fn fp32_microkernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("fp32 micro-kernel (6x16, k=480)");
    g.throughput(Throughput::Elements((MR * NR * K) as u64));
    let a: Vec<f32> = (0..MR * K).map(|i| (i % 13) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..NR * K).map(|i| (i % 7) as f32 * 0.1).collect();
    for ks in KernelSet::available() {
        g.bench_function(BenchmarkId::from_parameter(ks.name), |bench| {
            let mut acc = [0f32; MR * NR];
            bench.iter(|| (ks.gemm)(K, black_box(&a), black_box(&b), &mut acc));
        });
    }
    g.finish();
}

/// A `k x k` depthwise convolution over `ch` planes of `h x w` with stride 1 and the padding
/// that keeps the size (the recogniser's unit-stride layers): its geometry, an input and fp32
/// weights.
fn same_size_depthwise(
    ch: usize,
    h: usize,
    w: usize,
    k: usize,
) -> (
    ocr_core::runtime::kernels::depthwise::DwGeom,
    Vec<f32>,
    Vec<f32>,
) {
    let g = ocr_core::runtime::kernels::depthwise::DwGeom {
        c: ch,
        h,
        w,
        kh: k,
        kw: k,
        sh: 1,
        sw: 1,
        ph: k / 2,
        pw: k / 2,
        dh: 1,
        dw: 1,
        oh: h,
        ow: w,
    };
    let x = (0..ch * h * w)
        .map(|i| (i % 23) as f32 * 0.1 - 1.0)
        .collect();
    let weights = (0..ch * k * k)
        .map(|i| (i % 11) as f32 * 0.05 - 0.25)
        .collect();
    (g, x, weights)
}

/// A depthwise convolution shaped like the recogniser's 5x5 ones (240 channels of 12x80,
/// stride 1, pad 2), whole operator on one thread: fp32 (padded-plane copy and FMA kernel)
/// against int8 (quantisation, tap-quad expansion and `vpdpbusd` kernel), both from fp32
/// input to fp32 output.
fn depthwise(c: &mut Criterion) {
    use ocr_core::runtime::kernels::depthwise::depthwise;
    use ocr_core::runtime::kernels::qdepthwise::{pack_weights, qdepthwise};
    use ocr_core::runtime::op::{ActQuant, Epilogue};
    use ocr_core::runtime::parallel::Threads;
    let (ch, h, w, k) = (240, 12, 80, 5);
    let (g, x, wf) = same_size_depthwise(ch, h, w, k);
    let mut group = c.benchmark_group("depthwise 5x5 (240 x 12x80), fp32 in and out");
    group.throughput(Throughput::Elements((ch * h * w * k * k) as u64));
    let wq: Vec<i8> = (0..ch * k * k).map(|i| (i % 255) as i8 - 127).collect();
    let packed = pack_weights(&wq, ch, k, k);
    let sums: Vec<i32> = wq
        .chunks(k * k)
        .map(|r| r.iter().map(|&v| v as i32).sum())
        .collect();
    let scales = vec![0.01f32; ch];
    let q = ActQuant {
        scale: 0.02,
        zero_point: 50,
    };
    let (th, epi) = (Threads::single(), Epilogue::identity());
    let mut out = vec![0f32; ch * h * w];
    for ks in KernelSet::available() {
        group.bench_function(BenchmarkId::new("fp32", ks.name), |bench| {
            bench.iter(|| depthwise(&ks, &th, &g, black_box(&x), &wf, None, &epi, &mut out));
        });
        group.bench_function(BenchmarkId::new("int8", ks.name), |bench| {
            bench.iter(|| {
                let x = black_box(&x);
                qdepthwise(
                    &ks,
                    &th,
                    &g,
                    &q,
                    &[],
                    x,
                    &packed,
                    &sums,
                    &scales,
                    None,
                    &epi,
                    &mut out,
                )
            });
        });
    }
    group.finish();
}

/// The fp32 depthwise operator with the kernel set's direct kernel (unpadded plane) against
/// the same set's padded-plane path, on the recogniser's unit-stride shapes: a 48x320 line's
/// 5x5 layers, and a wide line's (48x1600) 3x3 and 5x5 layers. One thread.
fn depthwise_direct(c: &mut Criterion) {
    use ocr_core::runtime::kernels::depthwise::{depthwise, no_direct};
    use ocr_core::runtime::op::Epilogue;
    use ocr_core::runtime::parallel::Threads;
    let (th, epi) = (Threads::single(), Epilogue::identity());
    for (ch, h, w, k) in [(240, 12, 80, 5), (64, 24, 800, 3), (480, 6, 400, 5)] {
        let (g, x, wf) = same_size_depthwise(ch, h, w, k);
        let mut group = c.benchmark_group(format!("depthwise fp32 {k}x{k} ({ch} x {h}x{w})"));
        group.throughput(Throughput::Elements((ch * h * w * k * k) as u64));
        let mut out = vec![0f32; ch * h * w];
        for ks in KernelSet::available() {
            if (ks.dw_direct)(&g).is_none() {
                continue;
            }
            let padded = KernelSet {
                dw_direct: no_direct,
                ..ks
            };
            for (name, set) in [("direct", ks), ("padded", padded)] {
                group.bench_function(BenchmarkId::new(name, ks.name), |bench| {
                    bench.iter(|| {
                        depthwise(&set, &th, &g, black_box(&x), &wf, None, &epi, &mut out)
                    });
                });
            }
        }
        group.finish();
    }
}

/// The recogniser's CTC head on a batch of eight 48x320 lines (`[320, 120] x [120, 6625]`),
/// whole products on one thread: fp32 (B packed once, as at load) against int8 (weights
/// prepared once; the input quantised and the output dequantised in every call).
fn head_matmul(c: &mut Criterion) {
    use ocr_core::runtime::format::QuantParams;
    use ocr_core::runtime::kernels::gemm;
    use ocr_core::runtime::op::{ActQuant, Epilogue};
    use ocr_core::runtime::ops::{matmul, qmatmul};
    use ocr_core::runtime::parallel::Threads;
    let (m, k, n) = (320, 120, 6625);
    let (th, epi) = (Threads::single(), Epilogue::identity());
    let x: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.1 - 0.8).collect();
    let wf: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01 - 0.06).collect();
    let wq: Vec<i8> = (0..k * n).map(|i| (i % 255) as i8 - 127).collect();
    let bias = vec![0.5f32; n];
    let mut out = vec![0f32; m * n];
    let mut group = c.benchmark_group(format!("matmul {m}x{k} x {k}x{n} (CTC head, 8 lines)"));
    group.throughput(Throughput::Elements((m * k * n) as u64));
    let packed = gemm::pack_b_all(
        gemm::MatRef {
            data: &wf,
            rs: n,
            cs: 1,
        },
        k,
        n,
    );
    let qp = QuantParams {
        axis: 1,
        zero_points: vec![0; n],
        scales: vec![0.01; n],
    };
    let qw = qmatmul::prepare_weights("head", &wq, &[k, n], &qp).unwrap();
    let q = ActQuant {
        scale: 0.01,
        zero_point: 80,
    };
    for ks in KernelSet::available() {
        let mut scratch = vec![0f32; matmul::matmul_scratch_len(&[m, k], &[k, n], &th)];
        group.bench_function(BenchmarkId::new("fp32", ks.name), |bench| {
            bench.iter(|| {
                matmul::matmul(
                    &ks,
                    &th,
                    black_box(&x),
                    &[m, k],
                    &wf,
                    &[k, n],
                    Some(&packed),
                    Some(&bias),
                    &epi,
                    &mut out,
                    &[m, n],
                    &mut scratch,
                )
            });
        });
        let mut qscratch = vec![0u8; qmatmul::qmatmul_scratch_len(&[m, k], &[k, n], &th)];
        group.bench_function(BenchmarkId::new("int8", ks.name), |bench| {
            bench.iter(|| {
                qmatmul::qmatmul(
                    &ks,
                    &th,
                    q,
                    &qw,
                    black_box(&x),
                    &[m, k],
                    &[k, n],
                    Some(&bias),
                    &epi,
                    &mut out,
                    &mut qscratch,
                )
            });
        });
    }
    group.finish();
}

criterion_group!(
    kernels,
    int8_microkernel,
    int8_pair_microkernel,
    fp32_microkernel,
    depthwise,
    depthwise_direct,
    head_matmul
);
criterion_main!(kernels);
