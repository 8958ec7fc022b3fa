//! The gRPC service against a real server on loopback: every RPC, health checking, bad input
//! answered with INVALID_ARGUMENT while the server keeps serving, and the busy limit.

use ocr_core::ocr::Engine;
use ocr_proto::v1 as pb;
use ocr_proto::v1::ocr_client::OcrClient;
use ocr_services::server::{ServerConfig, serve};
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
    let engine = Arc::new(Engine::new_default().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(engine, listener, config, async {
        let _ = stopped.await;
    }));
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

    // Oversize message: refused by the transport's size limit before it is decoded (tonic
    // answers OUT_OF_RANGE for that), with a message.
    let huge = vec![0u8; 17 << 20];
    let e = c
        .read(pb::ReadRequest {
            image: huge,
            options: None,
            id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert!(e.message().contains("too large"));

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
        max_message_bytes: 16 << 20,
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
    use std::io::{BufRead, BufReader};
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(server.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(here.join("tests/grpc_python_client.py"))
        .arg(&addr)
        .arg(here.join("../../shared/eval/dev"))
        .output()
        .expect("python3");
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
