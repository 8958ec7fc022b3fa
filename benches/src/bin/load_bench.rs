//! Load benchmark of the gRPC service on loopback: N concurrent clients send `Recognize` (line
//! crops) or `Read` (pages) until a request budget or a time limit is spent. Reports throughput,
//! p50/p99 latency, errors, and resident memory in the first and last third of the run (the
//! server runs in this process, so its memory is this process's).
//!
//! `cargo run --release -p ocr-benches --bin load_bench -- --clients 4 --requests 10000 --seconds 300`

use anyhow::Result;
use clap::Parser;
use ocr_core::ocr::{Engine, EngineConfig};
use ocr_proto::v1 as pb;
use ocr_proto::v1::ocr_client::OcrClient;
use ocr_services::server::{BearerAuth, ServerConfig, serve};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Total requests (the run stops at this or at --seconds).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Time limit in seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Send whole pages to Read instead of line crops to Recognize.
    #[arg(long)]
    pages: bool,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let a = Args::parse();
    let dev = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval/dev");
    let files: &[&str] = if a.pages {
        &[
            "paddleocr/doc/imgs/11.jpg",
            "cnocr/examples/multi-line_cn2.png",
        ]
    } else {
        &[
            "paddleocr/doc/imgs_words/ch/word_1.jpg",
            "synthetic_renders/images/line1_sans.png",
            "paddleocr/doc/imgs_words_en/word_116.png",
        ]
    };
    let images: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dev.join(f)))
        .collect::<Result<_, _>>()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let engine = Arc::new(Engine::with_config(EngineConfig { threads: 1, ..Default::default() })?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = format!("http://{}", listener.local_addr()?);
        let config = ServerConfig { queue: 4 * a.clients, ..Default::default() };
        tokio::spawn(serve(engine, listener, config, BearerAuth::new(None), ocr_services::metrics::Metrics::new(), None, std::future::pending()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(a.seconds);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..a.clients {
            let (addr, sent, images) = (addr.clone(), sent.clone(), images.clone());
            let (total, pages) = (a.requests, a.pages);
            tasks.push(tokio::spawn(async move {
                let mut client = OcrClient::connect(addr).await?;
                let mut out: Vec<(usize, f64, bool)> = Vec::new();
                loop {
                    let i = sent.fetch_add(1, Ordering::SeqCst);
                    if i >= total || Instant::now() >= deadline {
                        break;
                    }
                    let img = images[(i + c) % images.len()].clone();
                    let t = Instant::now();
                    let ok = if pages {
                        client.read(pb::ReadRequest { image: img, options: None, id: String::new() }).await.is_ok()
                    } else {
                        client.recognize(pb::RecognizeRequest { lines: vec![img], options: None }).await.is_ok()
                    };
                    out.push((i, t.elapsed().as_secs_f64() * 1e3, ok));
                }
                anyhow::Ok(out)
            }));
        }
        // Sample resident memory while the run goes on.
        let sampler = tokio::spawn({
            let sent = sent.clone();
            let total = a.requests;
            async move {
                let mut samples = Vec::new();
                while sent.load(Ordering::SeqCst) < total && Instant::now() < deadline {
                    samples.push((sent.load(Ordering::SeqCst), rss_kib()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                samples
            }
        });
        let mut results = Vec::new();
        for t in tasks {
            results.extend(t.await??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let samples = sampler.await?;
        let n = results.len();
        let errors = results.iter().filter(|r| !r.2).count();
        let mut lat: Vec<f64> = results.iter().map(|r| r.1).collect();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat.get(((p / 100.0) * (lat.len().saturating_sub(1)) as f64) as usize).copied().unwrap_or(0.0);
        let third = |k: usize| {
            let v: Vec<u64> = samples.iter().filter(|(i, _)| *i * 3 / n.max(1) == k).map(|s| s.1).collect();
            if v.is_empty() { 0 } else { v.iter().sum::<u64>() / v.len() as u64 }
        };
        let (first, last) = (third(0), third(2));
        println!(
            "{{\"clients\": {}, \"requests\": {n}, \"errors\": {errors}, \"seconds\": {elapsed:.1}, \"throughput_rps\": {:.1}, \"p50_ms\": {:.1}, \"p99_ms\": {:.1}, \"rss_first_third_kib\": {first}, \"rss_last_third_kib\": {last}, \"rss_growth\": {:.3}}}",
            a.clients,
            n as f64 / elapsed,
            pct(50.0),
            pct(99.0),
            if first > 0 { last as f64 / first as f64 - 1.0 } else { 0.0 }
        );
        anyhow::Ok(())
    })?;
    Ok(())
}
