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

criterion_group!(
    kernels,
    int8_microkernel,
    int8_pair_microkernel,
    fp32_microkernel
);
criterion_main!(kernels);
