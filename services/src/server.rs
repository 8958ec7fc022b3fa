//! The gRPC service (`kestrel.v1.Ocr`): the same engine for backends.
//!
//! Inference runs on tokio's blocking pool, at most `max_concurrency` calls at once; up to
//! `queue` more wait, and calls beyond that are refused with `RESOURCE_EXHAUSTED`. Bad input is
//! `INVALID_ARGUMENT` with a message (oversize messages too). A call whose client deadline passes
//! or whose client goes away is dropped, and its inference stops at the next stage or recogniser
//! batch. Standard health checking and server reflection are served beside the OCR service.

use crate::doc::bank_card::BankCardReader;
use crate::doc::{Field, id_card, locate, quality, vehicle};
use crate::metrics::Metrics;
use ocr_core::ocr::{self as ocr, Cancel, Engine, OcrError, ReadOptions};
use ocr_core::runtime::qtensor::QuantizedTensor;
use ocr_core::runtime::{Error as RuntimeError, Model, Session};
use ocr_proto::v1 as pb;
use ocr_proto::v1::ocr_server::{Ocr, OcrServer};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// Limits of a server.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Calls running inference at once.
    pub max_concurrency: usize,
    /// Calls allowed to wait beyond those.
    pub queue: usize,
    /// Largest request message, in bytes.
    pub max_message_bytes: usize,
    /// Most working memory (the model tail's planned arena), in bytes, that the features of
    /// one `Finish` call may need: a small message can describe a tensor whose tail needs
    /// gigabytes (the recogniser's attention grows with the square of the line's length).
    pub max_finish_bytes: usize,
}

/// Checks `authorization: Bearer <token>` on every OCR call (health checking and reflection
/// stay open), comparing in constant time.
#[derive(Clone)]
pub struct BearerAuth {
    expected: Option<Arc<Vec<u8>>>,
}

impl BearerAuth {
    /// Authentication with `token`, or none.
    pub fn new(token: Option<String>) -> Self {
        BearerAuth {
            expected: token.map(|t| Arc::new(format!("Bearer {t}").into_bytes())),
        }
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(req);
        };
        let given = req
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or(&[]);
        let same = given.len() == expected.len()
            && given
                .iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(req)
        } else {
            Err(Status::unauthenticated("missing or wrong bearer token"))
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ServerConfig {
            max_concurrency: cores,
            queue: 4 * cores,
            max_message_bytes: 16 << 20,
            // Fits a batch of 12 of the longest lines the engine reads (3200 columns, 400
            // steps), not a single line of ten times that length.
            max_finish_bytes: 512 << 20,
        }
    }
}

/// Model tails for split computation, by (model, split point, input rank).
type TailCache = std::collections::HashMap<(String, String, usize), Arc<Model>>;

/// The `kestrel.v1.Ocr` implementation.
#[derive(Clone)]
pub struct OcrService {
    engine: Arc<Engine>,
    /// The bank-card pipeline's specialised number recogniser (on the engine's threads).
    bank_card: Option<Arc<BankCardReader>>,
    metrics: Arc<Metrics>,
    /// Model tails for split computation, by (model, split point, rank).
    tails: Arc<std::sync::Mutex<TailCache>>,
    permits: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    config: ServerConfig,
}

fn status(e: OcrError) -> Status {
    match e {
        OcrError::Decode(_) | OcrError::TooLarge(_) | OcrError::Empty(_) | OcrError::Options(_) => {
            Status::invalid_argument(e.to_string())
        }
        OcrError::Model(_) | OcrError::Runtime(_) => Status::internal(e.to_string()),
        OcrError::Cancelled => Status::cancelled("the caller's deadline passed or it went away"),
    }
}

fn point(p: &ocr::Point) -> pb::Point {
    pb::Point { x: p.x, y: p.y }
}

fn quad(q: &ocr::Quad) -> pb::Quad {
    pb::Quad {
        points: q.iter().map(point).collect(),
    }
}

fn line(l: &ocr::Line) -> pb::Line {
    pb::Line {
        text: l.text.clone(),
        confidence: l.confidence,
        quad: Some(quad(&l.quad)),
        chars: l
            .chars
            .iter()
            .map(|c| pb::Char {
                text: c.text.clone(),
                confidence: c.confidence,
                quad: Some(quad(&c.quad)),
            })
            .collect(),
        angle: u32::from(l.angle),
    }
}

fn document_field(name: &str, f: &Field) -> pb::DocumentField {
    pb::DocumentField {
        name: name.to_string(),
        text: f.text.clone(),
        confidence: f.confidence,
        quad: f.quad.as_ref().map(quad),
        check: match f.valid {
            None => pb::FieldCheck::None,
            Some(true) => pb::FieldCheck::Valid,
            Some(false) => pb::FieldCheck::Invalid,
        } as i32,
        corrected: f.corrected,
        recognizer: f.recognizer.to_string(),
    }
}

/// One document of a reply: its side (empty when documents have none), its box in the photo
/// and its fields.
fn document(side: &str, outline: Option<&ocr::Quad>, fields: Vec<(&str, &Field)>) -> pb::Document {
    pb::Document {
        side: side.to_string(),
        quad: outline.map(quad),
        fields: fields
            .into_iter()
            .map(|(k, f)| document_field(k, f))
            .collect(),
    }
}

/// Runs a document pipeline on one request.
fn read_document(
    engine: &Engine,
    bank_card: Option<&BankCardReader>,
    req: &pb::DocumentRequest,
) -> Result<Vec<pb::Document>, Status> {
    let img = engine.decode(&req.image).map_err(status)?;
    match req.document.as_str() {
        "bank_card" => {
            let reader = bank_card
                .ok_or_else(|| Status::failed_precondition("the bank-card model did not load"))?;
            if req.crop {
                let f = reader.read_number(engine, &img).map_err(status)?;
                return Ok(vec![document("", None, vec![("card_number", &f)])]);
            }
            let card = reader.read_card(engine, &img).map_err(status)?;
            Ok(vec![document("", Some(&card.quad), card.fields())])
        }
        "id_card" => {
            let cards = id_card::read(engine, &img, req.crop).map_err(status)?;
            Ok(cards
                .iter()
                .map(|c| {
                    document(
                        c.side.name(),
                        Some(&c.quad).filter(|_| !req.crop),
                        c.fields(),
                    )
                })
                .collect())
        }
        "waybill" => {
            let w = crate::doc::waybill::read(engine, &img, req.crop).map_err(status)?;
            let outline = w.quad.as_ref().filter(|_| !req.crop);
            Ok(vec![document("", outline, w.fields())])
        }
        "business_license" => {
            let l = crate::doc::business_license::read(engine, &img, req.crop).map_err(status)?;
            let outline = l.quad.as_ref().filter(|_| !req.crop);
            Ok(vec![document("", outline, l.fields())])
        }
        kind @ ("plate" | "vin") => {
            let field = if kind == "plate" {
                vehicle::read_plate(engine, &img, req.crop)
            } else {
                vehicle::read_vin(engine, &img, req.crop)
            }
            .map_err(status)?;
            let fields = field.iter().map(|f| (kind, f)).collect();
            Ok(vec![document("", None, fields)])
        }
        other => Err(Status::invalid_argument(format!(
            "unknown document '{other}' (bank_card, id_card, waybill, business_license, plate, \
             vin)"
        ))),
    }
}

fn page(p: &ocr::Page) -> pb::Page {
    pb::Page {
        lines: p.lines.iter().map(line).collect(),
        width: p.width,
        height: p.height,
    }
}

/// The engine's options for a request's; an out-of-range value is the client's error.
fn options(o: Option<&pb::ReadOptions>) -> Result<ReadOptions, Status> {
    let mut r = ReadOptions::default();
    if let Some(o) = o {
        if o.max_side > 0 {
            r.det.max_side = o.max_side.min(4096);
        }
        r.classify = !o.no_classify;
        r.verify_turns = !o.no_verify_turns;
        if o.cls_thresh != 0.0 {
            if !ocr_core::ocr::classify::is_threshold(o.cls_thresh) {
                return Err(Status::invalid_argument(format!(
                    "cls_thresh {} is not a probability in (0, 1)",
                    o.cls_thresh
                )));
            }
            r.cls_thresh = o.cls_thresh;
        }
        if !o.allowed_chars.is_empty() {
            r.allowed_chars = Some(o.allowed_chars.clone());
        }
    }
    Ok(r)
}

impl OcrService {
    /// A service over an engine.
    pub fn new(engine: Arc<Engine>, config: ServerConfig, metrics: Arc<Metrics>) -> Self {
        OcrService {
            bank_card: BankCardReader::new(&engine).ok().map(Arc::new),
            engine,
            metrics,
            tails: Default::default(),
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            admitted: Arc::new(AtomicUsize::new(0)),
            config,
        }
    }

    /// Runs `f` on the blocking pool under the concurrency limit. When this future is dropped
    /// (deadline passed, client gone) the flag given to `f` is set, so that `f` can stop early.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine, &Cancel) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let limit = self.config.max_concurrency.max(1) + self.config.queue;
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= limit {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(Status::resource_exhausted(format!(
                "server busy: {limit} calls in flight"
            )));
        }
        let _admission = Admission(self.admitted.clone(), self.metrics.clone());
        self.metrics.in_flight.inc();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("shutting down"))?;
        let engine = self.engine.clone();
        let cancel = Cancel::new();
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let metrics = self.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let r = f(&engine, &cancel);
            if matches!(&r, Err(s) if s.code() == tonic::Code::Cancelled) {
                metrics.cancelled.inc();
                tracing::info!("work stopped: its caller gave up");
            }
            r
        })
        .await
        .map_err(|e| Status::internal(format!("inference task failed: {e}")))?
    }
}

/// Releases an admission slot when dropped (also when the caller's deadline cancels the call).
struct Admission(Arc<AtomicUsize>, Arc<Metrics>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        self.1.in_flight.dec();
    }
}

/// Sets the work's cancellation flag when the call's future ends or is dropped.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl OcrService {
    /// Runs a handler, recording its latency and status code and logging it.
    async fn timed<T>(
        &self,
        rpc: &'static str,
        f: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let t = std::time::Instant::now();
        let r = f.await;
        let code = r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok);
        let secs = t.elapsed().as_secs_f64();
        self.metrics.observe(rpc, code, secs);
        tracing::info!(rpc, code = ?code, ms = secs * 1e3, "call");
        r
    }
}

fn read_one(engine: &Engine, cancel: &Cancel, req: &pb::ReadRequest) -> Result<pb::Page, Status> {
    let opts = ReadOptions {
        cancel: Some(cancel.clone()),
        ..options(req.options.as_ref())?
    };
    let p = engine.read_bytes(&req.image, &opts).map_err(status)?;
    Ok(page(&p))
}

type ReadStreamOut = Pin<Box<dyn Stream<Item = Result<pb::ReadResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Ocr for OcrService {
    async fn read(
        &self,
        request: Request<pb::ReadRequest>,
    ) -> Result<Response<pb::ReadResponse>, Status> {
        self.timed("Read", async {
            let req = request.into_inner();
            let id = req.id.clone();
            let p = self.run(move |e, c| read_one(e, c, &req)).await?;
            self.metrics.lines.inc_by(p.lines.len() as u64);
            Ok(Response::new(pb::ReadResponse {
                page: Some(p),
                id,
                error: String::new(),
            }))
        })
        .await
    }

    async fn detect(
        &self,
        request: Request<pb::DetectRequest>,
    ) -> Result<Response<pb::DetectResponse>, Status> {
        self.timed("Detect", async {
            let req = request.into_inner();
            let out = self
                .run(move |e, _| {
                    let img = e.decode(&req.image).map_err(status)?;
                    let opts = options(req.options.as_ref())?;
                    let boxes = e.detect(&img, &opts.det).map_err(status)?;
                    Ok(pb::DetectResponse {
                        boxes: boxes
                            .iter()
                            .map(|b| pb::TextBox {
                                quad: Some(quad(&b.quad)),
                                score: b.score,
                            })
                            .collect(),
                        width: img.width(),
                        height: img.height(),
                    })
                })
                .await?;
            Ok(Response::new(out))
        })
        .await
    }

    async fn recognize(
        &self,
        request: Request<pb::RecognizeRequest>,
    ) -> Result<Response<pb::RecognizeResponse>, Status> {
        self.timed("Recognize", async {
            let req = request.into_inner();
            if req.lines.is_empty() {
                return Err(Status::invalid_argument("no line images"));
            }
            let out = self
                .run(move |e, cancel| {
                    let opts = ReadOptions {
                        cancel: Some(cancel.clone()),
                        ..options(req.options.as_ref())?
                    };
                    let mut lines = Vec::with_capacity(req.lines.len());
                    for (i, bytes) in req.lines.iter().enumerate() {
                        let img = e
                            .decode(bytes)
                            .map_err(|err| Status::invalid_argument(format!("line {i}: {err}")))?;
                        let l = e.recognize_line(&img, &opts).map_err(|err| match err {
                            OcrError::Cancelled => status(err),
                            _ => Status::invalid_argument(format!("line {i}: {err}")),
                        })?;
                        lines.push(line(&l));
                    }
                    Ok(pb::RecognizeResponse { lines })
                })
                .await?;
            Ok(Response::new(out))
        })
        .await
    }

    async fn read_document(
        &self,
        request: Request<pb::DocumentRequest>,
    ) -> Result<Response<pb::DocumentResponse>, Status> {
        self.timed("ReadDocument", async {
            let req = request.into_inner();
            let id = req.id.clone();
            let bank_card = self.bank_card.clone();
            let documents = self
                .run(move |e, _| read_document(e, bank_card.as_deref(), &req))
                .await?;
            Ok(Response::new(pb::DocumentResponse { documents, id }))
        })
        .await
    }

    async fn check_quality(
        &self,
        request: Request<pb::QualityRequest>,
    ) -> Result<Response<pb::QualityResponse>, Status> {
        self.timed("CheckQuality", async {
            let req = request.into_inner();
            let out = self
                .run(move |e, _| {
                    let img = e.decode(&req.image).map_err(status)?;
                    let q = quality::check(&img, Some(locate::ID1_ASPECT));
                    Ok(pb::QualityResponse {
                        hints: q
                            .hints
                            .iter()
                            .map(|h| {
                                serde_json::to_value(h)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default()
                            })
                            .collect(),
                        sharpness: q.sharpness,
                        brightness: q.brightness,
                        glare: q.glare,
                        coverage: q.coverage,
                        quad: q.quad.as_ref().map(quad),
                    })
                })
                .await?;
            Ok(Response::new(out))
        })
        .await
    }

    async fn finish(
        &self,
        request: Request<pb::FinishRequest>,
    ) -> Result<Response<pb::FinishResponse>, Status> {
        self.timed("Finish", async {
            let req = request.into_inner();
            let tails = self.tails.clone();
            let max_bytes = self.config.max_finish_bytes;
            let out = self
                .run(move |e, _| {
                    let t = req
                        .tensor
                        .ok_or_else(|| Status::invalid_argument("no tensor"))?;
                    let q = QuantizedTensor {
                        shape: t.shape.iter().map(|&d| d as usize).collect(),
                        scale: t.scale,
                        zero_point: t.zero_point,
                        data: t.data,
                    };
                    let x = q
                        .dequantize()
                        .map_err(|err| Status::invalid_argument(err.to_string()))?;
                    let key = (req.model.clone(), req.split_point.clone(), q.shape.len());
                    let tail = {
                        let mut cache = tails
                            .lock()
                            .map_err(|_| Status::internal("tail cache poisoned"))?;
                        match cache.get(&key) {
                            Some(t) => t.clone(),
                            None => {
                                let model = e.model(&req.model).ok_or_else(|| {
                                    Status::invalid_argument(format!(
                                        "unknown model '{}' (det, rec, cls)",
                                        req.model
                                    ))
                                })?;
                                let (_, tail) = model
                                    .split(&req.split_point, q.shape.len())
                                    .map_err(|err| Status::invalid_argument(err.to_string()))?;
                                let tail = Arc::new(tail);
                                cache.insert(key, tail.clone());
                                tail
                            }
                        }
                    };
                    let mut session = Session::new(tail);
                    session.set_max_arena_floats(max_bytes / 4);
                    let y = session
                        .run(&[&x])
                        .map_err(|err| match err {
                            RuntimeError::Limit(m) => Status::invalid_argument(format!(
                                "features of shape {:?}: {m} (a Finish call may use {} MiB \
                                 of working memory here, --max-finish-mb)",
                                q.shape,
                                max_bytes >> 20
                            )),
                            err => Status::invalid_argument(err.to_string()),
                        })?
                        .remove(0);
                    Ok(pb::FinishResponse {
                        shape: y.shape().iter().map(|&d| d as u32).collect(),
                        data: y.data().to_vec(),
                    })
                })
                .await?;
            Ok(Response::new(out))
        })
        .await
    }

    type ReadStreamStream = ReadStreamOut;

    async fn read_stream(
        &self,
        request: Request<Streaming<pb::ReadRequest>>,
    ) -> Result<Response<Self::ReadStreamStream>, Status> {
        let mut input = request.into_inner();
        let svc = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(item) = input.next().await {
                let answer = match item {
                    Err(e) => Err(oversize_is_invalid(e, svc.config.max_message_bytes)),
                    Ok(req) => {
                        let id = req.id.clone();
                        match svc.run(move |e, c| read_one(e, c, &req)).await {
                            Ok(p) => Ok(pb::ReadResponse {
                                page: Some(p),
                                id,
                                error: String::new(),
                            }),
                            Err(s) if s.code() == tonic::Code::InvalidArgument => {
                                Ok(pb::ReadResponse {
                                    page: None,
                                    id,
                                    error: s.message().to_string(),
                                })
                            }
                            Err(s) => Err(s),
                        }
                    }
                };
                let stop = answer.is_err();
                if tx.send(answer).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// Serves the OCR service (behind `auth`), health checking and reflection on `listener` (over
/// TLS with `tls`) until `shutdown` resolves; in-flight calls finish first.
pub async fn serve(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    auth: BearerAuth,
    metrics: Arc<Metrics>,
    tls: Option<tonic::transport::Identity>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<OcrServer<OcrService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ocr_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let ocr = OcrServer::new(OcrService::new(engine, config, metrics))
        .max_decoding_message_size(config.max_message_bytes);
    let ocr = OversizeIsInvalid {
        inner: tonic::service::interceptor::InterceptedService::new(ocr, auth),
        limit: config.max_message_bytes,
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = tls {
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    builder
        .add_service(health)
        .add_service(reflection)
        .add_service(ocr)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    Ok(())
}

/// tonic refuses a request message over the size limit with `OUT_OF_RANGE`; for this service an
/// oversize request is the client's bad input, so it is answered `INVALID_ARGUMENT`.
fn oversize_is_invalid(s: Status, limit: usize) -> Status {
    if s.code() == tonic::Code::OutOfRange && s.message().contains("too large") {
        Status::invalid_argument(format!(
            "request message too large: the limit is {limit} bytes ({})",
            s.message()
        ))
    } else {
        s
    }
}

/// Wraps the OCR service so that unary calls refused for their size (a trailers-only response
/// whose headers carry the status) answer [`oversize_is_invalid`].
#[derive(Clone)]
struct OversizeIsInvalid<S> {
    inner: S,
    limit: usize,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for OversizeIsInvalid<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, RB> tonic::codegen::Service<tonic::codegen::http::Request<B>> for OversizeIsInvalid<S>
where
    S: tonic::codegen::Service<
            tonic::codegen::http::Request<B>,
            Response = tonic::codegen::http::Response<RB>,
        >,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: tonic::codegen::http::Request<B>) -> Self::Future {
        let answer = self.inner.call(req);
        let limit = self.limit;
        Box::pin(async move {
            let mut res = answer.await?;
            if let Some(s) = Status::from_header_map(res.headers()) {
                let relabelled = oversize_is_invalid(s, limit);
                if relabelled.code() == tonic::Code::InvalidArgument {
                    // Fails only for a message that cannot be a header value; ours always can.
                    let _ = relabelled.add_header(res.headers_mut());
                }
            }
            Ok(res)
        })
    }
}
