//! The gRPC service against a real server on loopback: every RPC, health checking, bad input
//! answered with INVALID_ARGUMENT while the server keeps serving, and the busy limit.

use ocr_core::ocr::Engine;
use ocr_proto::v1 as pb;
use ocr_proto::v1::ocr_client::OcrClient;
use ocr_services::server::{BearerAuth, ServerConfig, serve};
use std::path::PathBuf;
use std::sync::Arc;
use tonic::Code;
use tonic::transport::Channel;

fn dev(rel: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/eval/dev")
            .join(rel),
    )
    .unwrap()
}

/// Starts a server on an ephemeral loopback port; returns a connected client and a handle
/// that stops the server when dropped.
async fn start(
    config: ServerConfig,
) -> (OcrClient<Channel>, tokio::sync::oneshot::Sender<()>, String) {
    start_with(config, BearerAuth::new(None)).await
}

/// [`start`] with bearer-token authentication.
async fn start_with(
    config: ServerConfig,
    auth: BearerAuth,
) -> (OcrClient<Channel>, tokio::sync::oneshot::Sender<()>, String) {
    start_observed(config, auth, ocr_services::metrics::Metrics::new()).await
}

/// [`start_with`], recording into `metrics`.
async fn start_observed(
    config: ServerConfig,
    auth: BearerAuth,
    metrics: Arc<ocr_services::metrics::Metrics>,
) -> (OcrClient<Channel>, tokio::sync::oneshot::Sender<()>, String) {
    let engine = Arc::new(Engine::new_default().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        engine,
        listener,
        config,
        auth,
        metrics,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let client = loop {
        match OcrClient::connect(addr.clone()).await {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    (client, stop, addr)
}

fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::new(1, 1);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    let mut b = out.into_inner();
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    b
}

/// A `kestrel serve` process on an ephemeral loopback port, killed when dropped.
struct ServerProcess {
    child: std::process::Child,
    /// `host:port` of the gRPC listener.
    addr: String,
    /// The rest of the server's stderr, after its "serving ... on ADDR" line.
    stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kestrel serve --addr 127.0.0.1:0 EXTRA...` and waits for its address.
fn spawn_server(extra: &[&str]) -> ServerProcess {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("serving kestrel.v1.Ocr on"), "{first}");
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    ServerProcess {
        child,
        addr,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_and_bad_input() {
    let (mut c, _stop, addr) = start(ServerConfig::default()).await;

    // Read: a real page.
    let page = c
        .read(pb::ReadRequest {
            image: dev("paddleocr/doc/imgs/11.jpg"),
            options: None,
            id: "p1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.id, "p1");
    let lines = page.page.unwrap().lines;
    assert!(
        lines.iter().any(|l| l.text.contains("纯臻营养护发素")),
        "{:?}",
        lines.iter().map(|l| &l.text).collect::<Vec<_>>()
    );

    // Detect.
    let det = c
        .detect(pb::DetectRequest {
            image: dev("paddleocr/doc/imgs/11.jpg"),
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(det.boxes.len() >= 10);
    assert_eq!((det.width, det.height), (500, 500));

    // Recognize: a crop.
    let rec = c
        .recognize(pb::RecognizeRequest {
            lines: vec![dev("paddleocr/doc/imgs_words/ch/word_1.jpg")],
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rec.lines[0].text, "韩国小馆");

    // A plate crop the classifier is sure is upside down (it is not): read both ways by
    // default, the classifier's word taken with `no_verify_turns`.
    let plate = |no_verify_turns| pb::RecognizeRequest {
        lines: vec![dev("plates_LPRNet_Pytorch/data/test/皖A10D09.jpg")],
        options: Some(pb::ReadOptions {
            no_verify_turns,
            ..Default::default()
        }),
    };
    let verified = c.recognize(plate(false)).await.unwrap().into_inner();
    assert_eq!(
        (verified.lines[0].text.as_str(), verified.lines[0].angle),
        ("皖A·10D09", 0)
    );
    let trusted = c.recognize(plate(true)).await.unwrap().into_inner();
    assert_eq!(trusted.lines[0].angle, 180);
    assert_ne!(trusted.lines[0].text, verified.lines[0].text);
    // A threshold that is not a probability is the client's error.
    let mut bad = plate(false);
    bad.options.as_mut().unwrap().cls_thresh = 1.5;
    let err = c.recognize(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("cls_thresh"), "{}", err.message());

    // Streaming: answers in order, a bad image answered in-band.
    let reqs = vec![
        pb::ReadRequest {
            image: dev("paddleocr/doc/imgs_words/ch/word_1.jpg"),
            options: None,
            id: "a".into(),
        },
        pb::ReadRequest {
            image: b"junk".to_vec(),
            options: None,
            id: "b".into(),
        },
        pb::ReadRequest {
            image: dev("synthetic_renders/images/line1_sans.png"),
            options: None,
            id: "c".into(),
        },
    ];
    let mut stream = c
        .read_stream(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(r) = stream.message().await.unwrap() {
        got.push((r.id, r.error.is_empty()));
    }
    assert_eq!(
        got,
        vec![
            ("a".to_string(), true),
            ("b".to_string(), false),
            ("c".to_string(), true)
        ]
    );

    // Bad input: INVALID_ARGUMENT with a message, never a crash.
    for (what, image) in [
        ("empty", vec![]),
        ("corrupt", b"\x89PNG garbage".to_vec()),
        ("bomb", png_claiming(50_000, 50_000)),
    ] {
        let e = c
            .read(pb::ReadRequest {
                image,
                options: None,
                id: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        assert!(!e.message().is_empty());
    }
    let e = c
        .recognize(pb::RecognizeRequest {
            lines: vec![],
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .recognize(pb::RecognizeRequest {
            lines: vec![vec![0u8; 10]],
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Options that cannot work: a detector side too small for text, allowed characters none
    // of which the recogniser knows.
    for (what, options) in [
        (
            "max_side",
            pb::ReadOptions {
                max_side: 8,
                ..Default::default()
            },
        ),
        (
            "allowed_chars",
            pb::ReadOptions {
                allowed_chars: "\u{1f600}".into(),
                ..Default::default()
            },
        ),
    ] {
        let e = c
            .read(pb::ReadRequest {
                image: dev("paddleocr/doc/imgs/11.jpg"),
                options: Some(options),
                id: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        assert!(e.message().contains("bad options"), "{what}: {e:?}");
    }

    // Oversize message: refused by the size limit before it is decoded, with a message.
    let huge = vec![0u8; 17 << 20];
    let e = c
        .read(pb::ReadRequest {
            image: huge,
            options: None,
            id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("too large"), "{e:?}");

    // Still serving.
    let rec = c
        .recognize(pb::RecognizeRequest {
            lines: vec![dev("paddleocr/doc/imgs_words/ch/word_1.jpg")],
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rec.lines[0].text, "韩国小馆");

    // Health checking.
    let channel = Channel::from_shared(addr).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "kestrel.v1.Ocr".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_answers_resource_exhausted() {
    let (c, _stop, _) = start(ServerConfig {
        max_concurrency: 1,
        queue: 0,
        ..ServerConfig::default()
    })
    .await;
    let image = dev("synthetic_renders/images/doc_clean.png");
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let mut c = c.clone();
            let image = image.clone();
            tokio::spawn(async move {
                c.read(pb::ReadRequest {
                    image,
                    options: None,
                    id: String::new(),
                })
                .await
            })
        })
        .collect();
    let mut busy = 0;
    let mut ok = 0;
    for h in calls {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if e.code() == Code::ResourceExhausted => busy += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
}

/// The Python grpcio client (stubs generated from `proto/` by grpcio-tools, which `.ci/run`
/// installs) calls every RPC of a `kestrel serve` process.
#[test]
fn python_grpcio_client_calls_every_rpc() {
    use prost::Message;
    let server = spawn_server(&[]);
    let addr = server.addr.clone();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The device side of a split (here, not in Python): the client sends these features to
    // Finish and expects an output of the whole model's shape.
    let (tensor, local) = split_features();
    let finish = pb::FinishRequest {
        model: "rec".into(),
        split_point: "backbone".into(),
        tensor: Some(tensor),
    };
    let finish_file =
        std::env::temp_dir().join(format!("kestrel-finish-{}.pb", std::process::id()));
    std::fs::write(&finish_file, finish.encode_to_vec()).unwrap();
    let expected_shape: Vec<String> = local.shape().iter().map(|d| d.to_string()).collect();
    let out = std::process::Command::new("python3")
        .arg(here.join("tests/grpc_python_client.py"))
        .arg(&addr)
        .arg(here.join("../../shared/eval/dev"))
        .arg(&finish_file)
        .arg(expected_shape.join(","))
        .output()
        .expect("python3");
    drop(server);
    let _ = std::fs::remove_file(&finish_file);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The recogniser's `backbone` features of one dev line, int8-quantised as a device sends them,
/// and the whole model's output on the same line run locally.
fn split_features() -> (pb::QuantizedTensor, ocr_core::runtime::Tensor) {
    use ocr_core::runtime::qtensor::QuantizedTensor;
    use ocr_core::runtime::{Model, Session};
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval/dev/synthetic_renders/images/line1_sans.png");
    let x = ocr_services::calib::inputs(ocr_models::ModelKind::Rec, &[file])
        .unwrap()
        .remove(0);
    let full = Model::from_bytes(ocr_core::ocr::zoo::REC).unwrap();
    let (head, _) = full.split("backbone", 4).unwrap();
    let local = Session::new(full).run(&[&x]).unwrap().remove(0);
    let features = Session::new(head).run(&[&x]).unwrap().remove(0);
    let q = QuantizedTensor::quantize(&features);
    let tensor = pb::QuantizedTensor {
        shape: q.shape.iter().map(|&d| d as u32).collect(),
        scale: q.scale,
        zero_point: q.zero_point,
        data: q.data,
    };
    (tensor, local)
}

/// Feature-level split computation: the device runs the recogniser up to its `backbone` split
/// point, sends the int8-quantised tensor, and the server's `Finish` runs the rest. The result
/// equals a local run of the whole model within the quantisation's effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_continues_from_a_split_point() {
    let (mut c, _stop, _) = start(ServerConfig::default()).await;
    let (tensor, local) = split_features();
    let sent = tensor.data.len();
    let remote = c
        .finish(pb::FinishRequest {
            model: "rec".into(),
            split_point: "backbone".into(),
            tensor: Some(tensor.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        remote.shape.iter().map(|&d| d as usize).collect::<Vec<_>>(),
        local.shape()
    );
    let max_err = remote
        .data
        .iter()
        .zip(local.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let classes = local.shape()[2];
    let argmax = |d: &[f32]| {
        d.chunks(classes)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold(0, |b, (i, &v)| if v > r[b] { i } else { b })
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        argmax(&remote.data),
        argmax(local.data()),
        "decoded text must not change"
    );
    // 8-bit features: measured max probability difference 0.0022 on this line.
    assert!(max_err < 0.1, "max probability difference {max_err}");
    eprintln!(
        "sent {sent} bytes of features (fp32 would be {}), max prob diff {max_err:.4}",
        4 * sent
    );

    // Bad requests are INVALID_ARGUMENT, and the server keeps serving.
    let bad = |model: &str, split: &str, t: Option<pb::QuantizedTensor>| pb::FinishRequest {
        model: model.into(),
        split_point: split.into(),
        tensor: t,
    };
    let mut wrong_shape = tensor.clone();
    wrong_shape.shape[1] += 1;
    let mut short = tensor.clone();
    short.data.truncate(10);
    // 1.9 MB of features of a 32,000-column line: its tail's attention scores alone take
    // 8 x 4000 x 4000 floats (512 MB); a server would take a gigabyte for each such call.
    let mut long = tensor.clone();
    long.shape[3] = 4000;
    long.data = vec![128; long.shape.iter().product::<u32>() as usize];
    for (what, req) in [
        (
            "unknown split point",
            bad("rec", "nope", Some(tensor.clone())),
        ),
        (
            "unknown model",
            bad("ocr", "backbone", Some(tensor.clone())),
        ),
        ("no tensor", bad("rec", "backbone", None)),
        ("wrong shape", bad("rec", "backbone", Some(wrong_shape))),
        (
            "data shorter than shape",
            bad("rec", "backbone", Some(short)),
        ),
        (
            "features needing gigabytes",
            bad("rec", "backbone", Some(long)),
        ),
    ] {
        let e = c.finish(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        if what.contains("gigabytes") {
            assert!(e.message().contains("--max-finish-mb"), "{e:?}");
        }
    }
    let again = c
        .finish(bad("rec", "backbone", Some(tensor)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.data.len(), local.data().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_required_when_set() {
    let (mut c, _stop, _) = start_with(
        ServerConfig::default(),
        BearerAuth::new(Some("s3cret".into())),
    )
    .await;
    let req = || pb::RecognizeRequest {
        lines: vec![dev("paddleocr/doc/imgs_words/ch/word_1.jpg")],
        options: None,
    };
    let e = c.recognize(req()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(req());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        c.recognize(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut right = tonic::Request::new(req());
    right
        .metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    assert_eq!(
        c.recognize(right).await.unwrap().into_inner().lines[0].text,
        "韩国小馆"
    );
}

/// Line-level split computation from the command line: `kestrel read --remote` sends only the
/// lines under the confidence threshold and says how much went up.
#[test]
fn read_remote_offloads_unsure_lines() {
    let bin = env!("CARGO_BIN_EXE_kestrel");
    let server = spawn_server(&[]);
    let addr = server.addr.clone();
    let image = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval/dev/paddleocr/doc/imgs/11.jpg");
    let run = |threshold: &str| {
        std::process::Command::new(bin)
            .args(["read", "--remote", &addr, "--offload-below", threshold])
            .arg(&image)
            .output()
            .unwrap()
    };
    let local = std::process::Command::new(bin)
        .arg("read")
        .arg(&image)
        .output()
        .unwrap();
    let all = run("1.01");
    let none = run("0");
    drop(server);
    assert!(all.status.success() && none.status.success());
    let all_err = String::from_utf8_lossy(&all.stderr);
    let none_err = String::from_utf8_lossy(&none.stderr);
    assert!(all_err.contains("offloaded 16 of 16 lines"), "{all_err}");
    assert!(
        none_err.contains("offloaded 0 of 16 lines") && none_err.contains("sent 0 bytes"),
        "{none_err}"
    );
    // The server runs the same model, so the lines it re-reads come back (almost) the same; a
    // line alone in its batch is padded differently, which may move a near-tie.
    let (a, l) = (
        String::from_utf8(all.stdout).unwrap(),
        String::from_utf8(local.stdout).unwrap(),
    );
    let same = a.lines().zip(l.lines()).filter(|(x, y)| x == y).count();
    assert!(same >= 15, "{same}/16 lines equal:\n{a}\n---\n{l}");
    assert_eq!(String::from_utf8(none.stdout).unwrap(), l);
}

/// A server that accepts the connection and never answers: `kestrel read --remote` gives up
/// after `--remote-timeout` and keeps the device's readings instead of hanging or failing.
#[test]
fn read_remote_keeps_local_lines_when_the_server_does_not_answer() {
    let bin = env!("CARGO_BIN_EXE_kestrel");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        // Hold every connection open without a byte of HTTP/2.
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    let image = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval/dev/paddleocr/doc/imgs/11.jpg");
    let started = std::time::Instant::now();
    let out = std::process::Command::new(bin)
        .args(["read", "--remote", &addr, "--remote-timeout", "2"])
        .args(["--offload-below", "1.01"])
        .arg(&image)
        .output()
        .unwrap();
    let local = std::process::Command::new(bin)
        .arg("read")
        .arg(&image)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("did not answer"), "{err}");
    assert_eq!(out.stdout, local.stdout);
}

/// `kestrel serve --metrics-addr` exposes Prometheus counters that move with the calls.
#[test]
fn metrics_count_calls() {
    use std::io::{BufRead, Read, Write};
    let mut server = spawn_server(&["--metrics-addr", "127.0.0.1:0"]);
    let mut line = String::new();
    server.stderr.read_line(&mut line).unwrap();
    assert!(line.contains("/metrics"), "{line}");
    let metrics = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let grpc = server.addr.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = OcrClient::connect(format!("http://{grpc}")).await.unwrap();
        c.recognize(pb::RecognizeRequest {
            lines: vec![dev("paddleocr/doc/imgs_words/ch/word_1.jpg")],
            options: None,
        })
        .await
        .unwrap();
        let _ = c
            .read(pb::ReadRequest {
                image: b"junk".to_vec(),
                options: None,
                id: String::new(),
            })
            .await;
    });
    let mut s = std::net::TcpStream::connect(&metrics).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    drop(server);
    assert!(
        body.contains("kestrel_requests_total{code=\"Ok\",rpc=\"Recognize\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("kestrel_requests_total{code=\"InvalidArgument\",rpc=\"Read\"} 1"),
        "{body}"
    );
    assert!(body.contains("kestrel_request_seconds_bucket"), "{body}");
    assert!(body.contains("kestrel_calls_in_flight 0"), "{body}");
}

/// With a certificate the server speaks TLS only: a client trusting it reads, a plain-text
/// client is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_only_tls_clients() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let engine = Arc::new(Engine::new_default().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let identity = Identity::from_pem(cert_pem.clone(), key_pem);
    tokio::spawn(serve(
        engine,
        listener,
        ServerConfig::default(),
        BearerAuth::new(None),
        ocr_services::metrics::Metrics::new(),
        Some(identity),
        std::future::pending(),
    ));
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(cert_pem))
        .domain_name("localhost");
    let channel = loop {
        match Channel::from_shared(format!("https://localhost:{port}"))
            .unwrap()
            .tls_config(tls.clone())
            .unwrap()
            .connect()
            .await
        {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    let mut c = OcrClient::new(channel);
    let req = || pb::RecognizeRequest {
        lines: vec![dev("paddleocr/doc/imgs_words/ch/word_1.jpg")],
        options: None,
    };
    assert_eq!(
        c.recognize(req()).await.unwrap().into_inner().lines[0].text,
        "韩国小馆"
    );
    let plain = OcrClient::connect(format!("http://127.0.0.1:{port}")).await;
    match plain {
        Err(_) => {}
        Ok(mut p) => assert!(
            p.recognize(req()).await.is_err(),
            "a plain-text call was served"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_stops_the_work() {
    let metrics = ocr_services::metrics::Metrics::new();
    let config = ServerConfig {
        max_concurrency: 1,
        queue: 4,
        ..ServerConfig::default()
    };
    let (mut c, _stop, _) = start_observed(config, BearerAuth::new(None), metrics.clone()).await;
    // A full page (decode, detection of a 960-pixel map, dozens of lines) takes far longer than
    // 30 ms; the call is dropped at its deadline and the work stops at its next check.
    let mut req = tonic::Request::new(pb::ReadRequest {
        image: dev("paddleocr/doc/imgs/11.jpg"),
        options: None,
        id: String::new(),
    });
    req.set_timeout(std::time::Duration::from_millis(30));
    let e = c.read(req).await.unwrap_err();
    assert!(
        matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{e:?}"
    );
    let waited = std::time::Instant::now();
    while metrics.cancelled.get() == 0 {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "the work did not stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.cancelled.get(), 1);
    assert_eq!(metrics.lines.get(), 0, "no page was returned");
    // The single worker is free again and serves the next call in full.
    let p = c
        .read(pb::ReadRequest {
            image: dev("paddleocr/doc/imgs/11.jpg"),
            options: None,
            id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(p.page.unwrap().lines.len() > 10);
}

/// A document request with no id.
fn doc_request(image: Vec<u8>, document: &str, crop: bool) -> pb::DocumentRequest {
    pb::DocumentRequest {
        image,
        document: document.into(),
        crop,
        id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_capture_quality() {
    let (mut c, _stop, _addr) = start(ServerConfig::default()).await;
    let testdata = |name: &str| {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../testdata/documents")
                .join(name),
        )
        .unwrap()
    };
    // An ID card photo: one front, its number checked.
    let resp = c
        .read_document(pb::DocumentRequest {
            image: testdata("id-card-00000.jpg"),
            document: "id_card".into(),
            crop: false,
            id: "d1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.id, "d1");
    assert_eq!(resp.documents.len(), 1);
    let doc = &resp.documents[0];
    assert_eq!(doc.side, "front");
    let number = doc.fields.iter().find(|f| f.name == "id_number").unwrap();
    assert_eq!(number.text, "617271195503168876");
    assert_eq!(number.check, pb::FieldCheck::Valid as i32);
    assert!(number.quad.is_some());

    // A bank-card number crop from the dev set (held out of training).
    let resp = c
        .read_document(doc_request(
            dev("bankcard_DevilExileSu/train/train_img/0001h_0.png"),
            "bank_card",
            true,
        ))
        .await
        .unwrap()
        .into_inner();
    let f = &resp.documents[0].fields[0];
    assert_eq!((f.name.as_str(), f.text.as_str()), ("card_number", "0001"));

    // A bank-card photo: the document's quad is the card's outline (ID-1 shaped, about
    // 1.59:1), not the number's box (about 8:1).
    let resp = c
        .read_document(doc_request(
            testdata("bank-card-00000.jpg"),
            "bank_card",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    let doc = &resp.documents[0];
    let f = doc.fields.iter().find(|f| f.name == "card_number").unwrap();
    assert_eq!(f.text.replace(' ', ""), "6236260453296348287");
    let p = &doc.quad.as_ref().unwrap().points;
    let side = |a: usize, b: usize| (p[a].x - p[b].x).hypot(p[a].y - p[b].y);
    let aspect = (side(0, 1) + side(2, 3)) / (side(1, 2) + side(3, 0));
    assert!((1.3..1.9).contains(&aspect), "{p:?}");

    // A waybill and a business license photo: tracking number and credit code checked.
    for (file, kind, name, want) in [
        (
            "waybill-00000.jpg",
            "waybill",
            "tracking_number",
            "4889277280558",
        ),
        (
            "business-license-00000.jpg",
            "business_license",
            "credit_code",
            "91610113RCG2RC054N",
        ),
    ] {
        let resp = c
            .read_document(doc_request(testdata(file), kind, false))
            .await
            .unwrap()
            .into_inner();
        let doc = &resp.documents[0];
        let f = doc.fields.iter().find(|f| f.name == name).unwrap();
        assert_eq!(f.text, want, "{kind}");
        assert_eq!(f.check, pb::FieldCheck::Valid as i32, "{kind}");
        assert!(doc.fields.len() >= 8, "{kind}: {:?}", doc.fields);
        assert!(doc.quad.is_some());
    }

    // Bad requests.
    let err = c
        .read_document(doc_request(
            testdata("id-card-00000.jpg"),
            "passport",
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .read_document(doc_request(b"not an image".to_vec(), "id_card", false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Capture quality: the synthetic back photo is good; a dark copy is not.
    let q = c
        .check_quality(pb::QualityRequest {
            image: testdata("id-card-00001.jpg"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(q.hints.is_empty(), "{q:?}");
    assert!(q.quad.is_some());
    let img = image::load_from_memory(&testdata("id-card-00001.jpg"))
        .unwrap()
        .to_rgb8();
    let dark = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        image::Rgb(img.get_pixel(x, y).0.map(|c| c / 5))
    });
    let mut png = std::io::Cursor::new(Vec::new());
    dark.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let q = c
        .check_quality(pb::QualityRequest {
            image: png.into_inner(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(q.hints.iter().any(|h| h == "TOO_DARK"), "{q:?}");
}
