//! Prometheus metrics of the gRPC service, served on their own port at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Calls by RPC and status code.
    pub requests: IntCounterVec,
    /// Call latency by RPC.
    pub latency: HistogramVec,
    /// Calls admitted and not finished (running or queued).
    pub in_flight: IntGauge,
    /// Text lines returned.
    pub lines: IntCounter,
    /// Calls whose inference stopped early because the caller gave up (deadline, disconnect).
    pub cancelled: IntCounter,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "kestrel_requests_total",
                "gRPC calls by RPC and status code",
            ),
            &["rpc", "code"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("kestrel_request_seconds", "gRPC call latency").buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["rpc"],
        )
        .expect("metric");
        let in_flight =
            IntGauge::new("kestrel_calls_in_flight", "calls running or queued").expect("metric");
        let lines = IntCounter::new("kestrel_lines_recognized_total", "text lines returned")
            .expect("metric");
        let cancelled = IntCounter::new(
            "kestrel_calls_cancelled_total",
            "calls whose inference stopped early because the caller gave up",
        )
        .expect("metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(lines.clone()),
            Box::new(cancelled.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            in_flight,
            lines,
            cancelled,
        })
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Records one finished call.
    pub fn observe(&self, rpc: &str, code: tonic::Code, seconds: f64) {
        self.requests
            .with_label_values(&[rpc, &format!("{code:?}")])
            .inc();
        self.latency.with_label_values(&[rpc]).observe(seconds);
    }
}

/// Serves `/metrics` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { ([("content-type", "text/plain; version=0.0.4")], m.render()) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
