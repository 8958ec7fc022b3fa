//! The `kestrel` binary as a person uses it: real images from `../shared/eval/dev`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn kestrel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
}

fn dev(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval/dev")
        .join(rel)
}

#[test]
fn read_prints_the_text_of_a_page() {
    let out = kestrel()
        .arg("read")
        .arg(dev("synthetic_renders/images/doc_clean.png"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let manifest = std::fs::read_to_string(dev("synthetic_renders/manifest.jsonl")).unwrap();
    let rec: serde_json::Value = manifest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|r: &serde_json::Value| r["image"] == "images/doc_clean.png")
        .unwrap();
    let squash = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<Vec<char>>()
    };
    let want: Vec<Vec<char>> = rec["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| squash(l.as_str().unwrap()))
        .collect();
    let got: Vec<Vec<char>> = text.lines().map(squash).collect();
    let exact = want.iter().filter(|w| got.contains(w)).count();
    assert!(
        exact * 10 >= want.len() * 9,
        "{exact}/{} lines exact:\n{text}",
        want.len()
    );
    let (a, b) = (want.concat(), got.concat());
    let cer = ocr_services::eval::metrics::edit_distance(&b, &a) as f64 / a.len() as f64;
    assert!(cer < 0.02, "page CER {cer}");
}

#[test]
fn json_output_follows_the_schema() {
    let out = kestrel()
        .args(["read", "--json"])
        .arg(dev("paddleocr/doc/imgs/11.jpg"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let page = &doc["results"][0]["page"];
    assert!(page["width"].as_u64().unwrap() > 0);
    let lines = page["lines"].as_array().unwrap();
    assert!(lines.len() >= 10, "{} lines", lines.len());
    for l in lines {
        assert_eq!(l["quad"].as_array().unwrap().len(), 4);
        let conf = l["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&conf));
        let chars = l["chars"].as_array().unwrap();
        assert_eq!(chars.len(), l["text"].as_str().unwrap().chars().count());
        // Character boxes lie inside the line box's horizontal extent (1 px slack).
        let xs = |q: &serde_json::Value| {
            q.as_array()
                .unwrap()
                .iter()
                .map(|p| p["x"].as_f64().unwrap())
                .collect::<Vec<_>>()
        };
        let lx = xs(&l["quad"]);
        let (lo, hi) = (
            lx.iter().cloned().fold(f64::MAX, f64::min),
            lx.iter().cloned().fold(f64::MIN, f64::max),
        );
        for c in chars {
            for x in xs(&c["quad"]) {
                assert!(
                    x >= lo - 1.0 && x <= hi + 1.0,
                    "char box x {x} outside line {lo}..{hi}"
                );
            }
        }
    }
}

#[test]
fn line_mode_reads_a_crop() {
    let out = kestrel()
        .args(["read", "--line"])
        .arg(dev("paddleocr/doc/imgs_words/ch/word_1.jpg"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "韩国小馆");
}

/// A plate crop the classifier wrongly finds upside down: read upright by default (turns
/// verified), turned with `--no-verify-turns`; a threshold outside (0, 1) is refused.
#[test]
fn turn_options_reach_the_engine() {
    let plate = dev("plates_LPRNet_Pytorch/data/test/皖A10D09.jpg");
    let read = |extra: &[&str]| {
        let out = kestrel()
            .args(["read", "--line"])
            .args(extra)
            .arg(&plate)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(read(&[]), "皖A·10D09");
    assert_ne!(read(&["--no-verify-turns"]), "皖A·10D09");
    assert_eq!(read(&["--cls-thresh", "0.5"]), "皖A·10D09");
    let out = kestrel()
        .args(["read", "--line", "--cls-thresh", "1.5"])
        .arg(&plate)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not in (0, 1)"), "{err}");
}

#[test]
fn unreadable_files_fail_with_one_line_and_nonzero_exit() {
    let dir = std::env::temp_dir().join(format!("kestrel-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.jpg");
    std::fs::write(&junk, b"definitely not a jpeg").unwrap();
    let out = kestrel()
        .arg("read")
        .arg(&junk)
        .arg(dir.join("missing.png"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("junk.jpg") && err.contains("missing.png"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Inputs and options that cannot work fail at once with a message that names the problem
/// (each was a hang, a memory fill, a silent empty result or an error from deep inside a
/// model before).
#[test]
fn bad_inputs_and_options_get_clear_errors() {
    let page = dev("paddleocr/doc/imgs/11.jpg");
    let zoo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/zoo");
    let dir = std::env::temp_dir().join(format!("kestrel-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("escape")).unwrap();
    std::fs::write(
        dir.join("escape/manifest.jsonl"),
        r#"{"image": "../../../etc/hostname", "task": "line", "text": "x"}"#,
    )
    .unwrap();
    let det = zoo.join("ppocrv4-det-int8.kmod");
    let det = det.to_str().unwrap();
    let escape = dir.join("escape");
    let drawn = dir.join("out.png");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["read", "--threads", "100000"], "at most 256"),
        (
            vec!["read", "--rec-model", det],
            "'det' model was given as the 'rec' model",
        ),
        (
            vec!["read", "--cls-model", det],
            "'det' model was given as the 'cls' model",
        ),
        (vec!["read", "--max-side", "8"], "at least 32"),
        (vec!["read", "--allowed-chars", "\u{1f600}"], "dictionary"),
        (
            vec![
                "read",
                "--draw",
                drawn.to_str().unwrap(),
                "--font",
                "/no/such/font.ttf",
            ],
            "cannot read the font",
        ),
        (
            vec!["eval", escape.to_str().unwrap()],
            "inside the manifest's folder",
        ),
    ];
    for (args, want) in cases {
        let mut cmd = kestrel();
        cmd.args(&args);
        if args[0] == "read" {
            cmd.arg(&page);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // `doc` answers every image on stdout, a failed one with its error.
    let out = kestrel()
        .args(["doc", "bank-card"])
        .arg(dir.join("missing.png"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        line["error"].as_str().unwrap().contains("missing.png"),
        "{line}"
    );
    if Path::new("/dev/zero").exists() {
        for args in [vec!["read", "/dev/zero"], vec!["info", "/dev/zero"]] {
            let out = kestrel().args(&args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("not a regular file"), "{args:?}: {err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn draw_writes_a_picture() {
    let dir = std::env::temp_dir().join(format!("kestrel-draw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_png = dir.join("out.png");
    let out = kestrel()
        .args(["read", "--draw"])
        .arg(&out_png)
        .arg(dev("paddleocr/doc/imgs/11.jpg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&out_png).unwrap();
    let src = image::open(dev("paddleocr/doc/imgs/11.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (src.width() * 2, src.height()));
}

#[test]
fn eval_scores_a_manifest_and_writes_failures() {
    let dir = std::env::temp_dir().join(format!("kestrel-eval-{}", std::process::id()));
    let out = kestrel()
        .args(["eval", "--quiet", "--json", "--failures"])
        .arg(&dir)
        .arg(dev("paddleocr"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sums = doc["summaries"].as_array().unwrap();
    let line = sums
        .iter()
        .find(|s| s["source"] == "paddleocr" && s["task"] == "line")
        .unwrap();
    assert_eq!(line["records"], 21);
    assert!(line["line_accuracy"].as_f64().unwrap() > 0.7, "{line}");
    assert!(line["cer"].as_f64().unwrap() < 0.1, "{line}");
    assert!(dir.join("index.html").exists());
    // Sharding splits the same records.
    let half = |i: &str| {
        let o = kestrel()
            .args(["eval", "--quiet", "--json", "--shard", i])
            .arg(dev("paddleocr"))
            .output()
            .unwrap();
        let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        d["records"].as_array().unwrap().len()
    };
    assert_eq!(half("0/2") + half("1/2"), 22);
}

#[test]
fn serve_starts_on_loopback_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let mut child = kestrel()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(
        first.contains("serving kestrel.v1.Ocr on 127.0.0.1:"),
        "{first}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(exit.success(), "exit {exit:?}: {rest}");
    assert!(rest.contains("shutting down"), "{rest}");
}

#[test]
fn synth_renders_readable_lines_deterministically() {
    let base = std::env::temp_dir().join(format!("kestrel-synth-{}", std::process::id()));
    let render = |dir: &Path| {
        let out = kestrel()
            .args(["synth", "lines", "--count", "24", "--seed", "77", "-o"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (a, b) = (base.join("a"), base.join("b"));
    render(&a);
    render(&b);
    let manifest = std::fs::read_to_string(a.join("manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 24);
    assert_eq!(
        manifest,
        std::fs::read_to_string(b.join("manifest.jsonl")).unwrap()
    );
    for i in [0, 11, 23] {
        let name = format!("{i:05}.png");
        assert_eq!(
            std::fs::read(a.join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap(),
            "{name} differs between two renders with the same seed"
        );
    }
    // The renders are real text: the engine reads them (in the dev-set manifest format).
    let out = kestrel()
        .args(["eval", "--quiet", "--json"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = doc["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "all" && s["task"] == "line")
        .cloned()
        .unwrap();
    eprintln!("{all}");
    assert_eq!(all["records"], 24);
    assert!(all["cer"].as_f64().unwrap() < 0.15, "{all}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn info_prints_the_stored_int8_plan() {
    let zoo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/zoo");
    let meta = |file: &str, key: &str| {
        let out = kestrel()
            .args(["info", "--meta", key])
            .arg(zoo.join(file))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The recogniser's table ranks its 24 int8 convolutions and 9 int8 matrix products; the
    // plan keeps none fp32.
    let (ok, table) = meta("ppocrv4-rec-int8.kmod", "kestrel.sensitivity");
    assert!(ok);
    let rows = |prefix: &str| table.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(rows("p2o.Conv"), 24, "{table}");
    assert_eq!(rows("p2o.MatMul"), 9, "{table}");
    assert_eq!(
        meta("ppocrv4-rec-int8.kmod", "kestrel.fp32_layers")
            .1
            .trim(),
        ""
    );
    let (ok, q) = meta("ppocrv4-det-int8.kmod", "kestrel.quantisation");
    assert!(ok && q.starts_with("48 convolutions int8"), "{q}");
    // The fp32 files carry no plan; asking for it is a clear error.
    let (ok, _) = meta("ppocrv4-det-fp32.kmod", "kestrel.sensitivity");
    assert!(!ok);
}

#[test]
fn convert_with_gptq_follows_the_bit_options() {
    // The classifier on two real crops: 4-bit convolutions, one layer at 6, the MatMul at 5;
    // the plan is stored and printed per layer; a bad bit count is a clear error.
    let tmp = std::env::temp_dir().join(format!("kestrel-gptq-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out_file = tmp.join("cls.kmod");
    let onnx = dev("../../models-src/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let crops = [
        "plates_LPRNet_Pytorch/data/test/皖A10D09.jpg",
        "synthetic_renders/images/line1_sans.png",
    ];
    let convert = |extra: &[&str]| {
        kestrel()
            .arg("convert")
            .arg(&onnx)
            .args(["--kind", "cls", "--int8", "--calib"])
            .args(crops.iter().map(|c| dev(c)))
            .args(["--gptq", "--weight-bits", "4"])
            .args(extra)
            .arg("-o")
            .arg(&out_file)
            .output()
            .unwrap()
    };
    let out = convert(&["--matmul-bits", "5", "--layer-bits", "Conv@4=6"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("GPTQ (per layer"), "{log}");
    let info = kestrel()
        .args(["info", "--meta", "kestrel.gptq"])
        .arg(&out_file)
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&info.stdout);
    assert!(plan.contains("Conv@4=6,"), "{plan}");
    assert!(plan.contains("=5"), "the MatMul at 5 bits: {plan}");
    let bits: Vec<&str> = plan
        .trim_start_matches("weight bits ")
        .split(';')
        .next()
        .unwrap()
        .split(',')
        .filter_map(|e| e.rsplit_once('=').map(|(_, b)| b))
        .collect();
    assert!(bits.len() > 20, "{plan}");
    assert!(bits.iter().all(|b| ["4", "5", "6"].contains(b)), "{plan}");
    let out = convert(&["--layer-bits", "Conv@4=9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be in 2..=8"));
    let out = convert(&["--layer-bits", "Conv@999=5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'Conv@999' is not an int8 convolution"));
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn convert_with_int8_depthwise_quantises_every_convolution() {
    // The classifier on two real crops with its depthwise convolutions int8 too (inputs
    // quantised per channel), rounded by GPTQ: every convolution is int8 and in the plan.
    let tmp = std::env::temp_dir().join(format!("kestrel-dw-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out_file = tmp.join("cls.kmod");
    let out = kestrel()
        .arg("convert")
        .arg(dev("../../models-src/ch_ppocr_mobile_v2.0_cls_infer.onnx"))
        .args(["--kind", "cls", "--int8", "--int8-depthwise", "--calib"])
        .arg(dev("plates_LPRNet_Pytorch/data/test/皖A10D09.jpg"))
        .arg(dev("synthetic_renders/images/line1_sans.png"))
        .args(["--gptq", "--weight-bits", "6", "-o"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = |key: &str| {
        let info = kestrel()
            .args(["info", "--meta", key])
            .arg(&out_file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&info.stdout).trim().to_string()
    };
    let q = meta("kestrel.quantisation");
    let int8: usize = q.split(' ').next().unwrap().parse().unwrap();
    assert!(q.contains("fp32: 0 depthwise;") && int8 > 42, "{q}");
    let plan = meta("kestrel.gptq");
    assert_eq!(plan.matches("=6").count(), int8, "{plan}");
    std::fs::remove_dir_all(&tmp).ok();
}
