//! Achieved fp32 GEMM throughput of each kernel set on typical convolution shapes.
//! Usage: `gemm_bench [THREADS]`.

use ocr_benches::{median, time_ms};
use ocr_core::runtime::Threads;
use ocr_core::runtime::kernels::KernelSet;
use ocr_core::runtime::kernels::gemm::{self, ASource, BSource, Bias, MatRef};
use ocr_core::runtime::op::Epilogue;

fn main() {
    let nthreads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let threads = Threads::new(nthreads).expect("threads");
    for &(m, n, k) in &[
        (24, 57600, 864),
        (384, 900, 384),
        (48, 57600, 48),
        (6625, 40, 120),
        (320, 6625, 120),
        (480, 40, 240),
    ] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0.0; m * n];
        let mut scratch = vec![0.0; gemm::scratch_len(m, k, gemm::task_count(m, n, k, &threads))];
        for ks in KernelSet::available() {
            let t = time_ms(1, 5, || {
                gemm::gemm(
                    &ks,
                    &threads,
                    (m, n, k),
                    ASource::Mat(MatRef {
                        data: &a,
                        rs: k,
                        cs: 1,
                    }),
                    &BSource::Mat(MatRef {
                        data: &b,
                        rs: n,
                        cs: 1,
                    }),
                    &mut c,
                    n,
                    Bias::None,
                    &Epilogue::identity(),
                    &mut scratch,
                );
            });
            let gmac = (m * n * k) as f64 / median(&t) / 1e6;
            println!(
                "{:<10} {nthreads}t m{m:<5} n{n:<6} k{k:<4} {:8.2} ms {gmac:6.1} GMAC/s",
                ks.name,
                median(&t)
            );
        }
    }
}
