//! The C SDK end to end: builds `sdk/` (the `no_std` C-ABI library) with cargo, compiles
//! `examples/c/kestrel_read.c` with the system C compiler, and runs it on real images with the
//! committed models: a text line, a page, coded and encrypted models, and bad inputs. Prints the
//! stripped library's size.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dev(rel: &str) -> PathBuf {
    root().join("../shared/eval/dev").join(rel)
}

fn zoo(file: &str) -> PathBuf {
    root().join("models/zoo").join(file)
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the library and the example once; returns the example binary and the library dir.
fn build(tmp: &Path) -> (PathBuf, PathBuf) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = root().join("sdk/Cargo.toml");
    let out = Command::new(cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        // From sdk/, so that cargo reads sdk/.cargo/config.toml (size-first code generation).
        .current_dir(root().join("sdk"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo");
    check(&out, "building the SDK");
    let lib_dir = root().join("sdk/target/release");
    let so = lib_dir.join("libkestrel.so");
    let size = std::fs::metadata(&so).expect("libkestrel.so").len();
    eprintln!("libkestrel.so (stripped, x86-64): {size} bytes");
    let exe = tmp.join("kestrel_read");
    let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(root().join("examples/c/kestrel_read.c"))
        .arg(format!("-I{}", root().join("sdk/include").display()))
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lkestrel")
        .output()
        .expect("run the C compiler");
    check(&out, "compiling examples/c/kestrel_read.c");
    (exe, lib_dir)
}

/// Writes an image as a binary PPM (P6), the format the C example reads.
fn to_ppm(src: &Path, dst: &Path) {
    let img = image::open(src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .to_rgb8();
    let mut bytes = format!("P6\n{} {}\n255\n", img.width(), img.height()).into_bytes();
    bytes.extend_from_slice(img.as_raw());
    std::fs::write(dst, bytes).expect("write ppm");
}

fn run(exe: &Path, lib_dir: &Path, models: [&Path; 3], image: &Path, extra: &[&str]) -> Output {
    Command::new(exe)
        .args(models)
        .arg(image)
        .args(extra)
        .env("LD_LIBRARY_PATH", lib_dir)
        .output()
        .expect("run kestrel_read")
}

#[test]
fn the_c_example_reads_real_images_through_the_sdk() {
    let tmp = std::env::temp_dir().join(format!("kestrel-c-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (exe, lib_dir) = build(&tmp);
    let (det, rec, cls) = (
        zoo("ppocrv4-det-int8.kmod"),
        zoo("ppocrv4-rec-int8.kmod"),
        zoo("ppocr-mobile-v2-cls-int8.kmod"),
    );
    let models = [det.as_path(), rec.as_path(), cls.as_path()];

    // A rendered text line, read as one line: the C program checks the text itself.
    let line = tmp.join("line.ppm");
    to_ppm(&dev("synthetic_renders/images/line1_sans.png"), &line);
    let label = "中华人民共和国成立于1949年10月1日。";
    let out = run(
        &exe,
        &lib_dir,
        models,
        &line,
        &["--line", "--expect", label],
    );
    check(&out, "reading a line");

    // A plate crop the classifier is sure is upside down (it is not): the SDK reads a turned
    // line both ways and keeps the more confident reading, as the engine does.
    let plate = tmp.join("plate.ppm");
    to_ppm(&dev("plates_LPRNet_Pytorch/data/test/皖A10D09.jpg"), &plate);
    let out = run(&exe, &lib_dir, models, &plate, &["--line"]);
    check(&out, "reading a plate");
    let text: String = String::from_utf8_lossy(&out.stdout)
        .splitn(6, ' ')
        .nth(5)
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    assert_eq!(text, "皖A10D09");

    // A page: detection, reading order and recognition. Most labelled lines come out exactly
    // (the labels keep spaces the recogniser does not emit, so compare without them).
    let page = tmp.join("page.ppm");
    to_ppm(&dev("synthetic_renders/images/doc_clean.png"), &page);
    let out = run(&exe, &lib_dir, models, &page, &[]);
    check(&out, "reading a page");
    let manifest = std::fs::read_to_string(dev("synthetic_renders/manifest.jsonl")).unwrap();
    let record: serde_json::Value = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["image"] == "images/doc_clean.png")
        .expect("doc_clean in the manifest");
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let read: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| squash(l.splitn(6, ' ').nth(5).unwrap_or("")))
        .collect();
    let labels: Vec<String> = record["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| squash(l.as_str().unwrap()))
        .collect();
    let exact = labels.iter().filter(|l| read.contains(l)).count();
    assert!(
        exact * 10 >= labels.len() * 8,
        "{exact} of {} lines exact: {read:?}",
        labels.len()
    );
    // Reading order: the first and last labelled lines come first and last.
    assert_eq!(read.first(), labels.first());
    assert_eq!(read.last(), labels.last());

    // The compact set (GPTQ weights of 3-8 bits, arithmetic-coded, fp32 layers' weights as
    // codes dequantised at load) reads the same line.
    let compact = [
        zoo("ppocrv4-det-compact.kmod"),
        zoo("ppocrv4-rec-compact.kmod"),
        zoo("ppocr-mobile-v2-cls-compact.kmod"),
    ];
    let out = run(
        &exe,
        &lib_dir,
        compact.each_ref().map(|p| p.as_path()),
        &line,
        &["--line", "--expect", label],
    );
    check(&out, "reading a line with the compact models");

    // Arithmetic-coded and encrypted models load with the key and read the same text...
    let key_hex = "4b".repeat(32);
    let key_file = tmp.join("model.key");
    std::fs::write(&key_file, &key_hex).unwrap();
    let coded = tmp.join("cls-coded.kmod");
    let sealed = tmp.join("rec.sealed");
    let opts = ocr_models::compress::CompressOptions::default();
    let (bytes, _) = ocr_models::compress::compress(&std::fs::read(&cls).unwrap(), &opts).unwrap();
    std::fs::write(&coded, bytes).unwrap();
    let key = ocr_core::runtime::sealed::parse_hex_key(&key_hex).unwrap();
    let sealed_bytes = seal(&std::fs::read(&rec).unwrap(), &key);
    std::fs::write(&sealed, sealed_bytes).unwrap();
    let secured = [det.as_path(), sealed.as_path(), coded.as_path()];
    let key_arg = key_file.to_str().unwrap();
    let out = run(
        &exe,
        &lib_dir,
        secured,
        &line,
        &["--line", "--key", key_arg, "--expect", label],
    );
    check(&out, "reading with coded and encrypted models");
    // ...and fail clearly without the key or with a wrong one.
    let out = run(&exe, &lib_dir, secured, &line, &["--line"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("encrypted"));
    std::fs::write(&key_file, "4c".repeat(32)).unwrap();
    let out = run(
        &exe,
        &lib_dir,
        secured,
        &line,
        &["--line", "--key", key_arg],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong key"));

    // Bad inputs are status codes with messages: swapped models, a truncated model.
    let out = run(&exe, &lib_dir, [&rec, &det, &cls], &line, &["--line"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a det model"));
    let cut = tmp.join("cut.kmod");
    let det_bytes = std::fs::read(&det).unwrap();
    std::fs::write(&cut, &det_bytes[..det_bytes.len() / 2]).unwrap();
    let out = run(&exe, &lib_dir, [&cut, &rec, &cls], &line, &["--line"]);
    assert_eq!(out.status.code(), Some(1));
    // The runtime's messages are static in the SDK (`_` for names and numbers; no `core::fmt`
    // in the library), behind the SDK's "which model: what kind" prefix.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("status 2: det: malformed model: truncated: payload ends at _"),
        "{stderr}"
    );
    // The SDK leaves out the int8 depthwise kernels: a classifier converted with them is
    // refused at load, not run wrong.
    let onnx =
        std::fs::read(root().join("../shared/models-src/ch_ppocr_mobile_v2.0_cls_infer.onnx"));
    let calibration: Vec<ocr_core::runtime::Tensor> = (0..2)
        .map(|k| {
            let data = (0..3 * 48 * 192).map(|i| ((i * 7 + k * 13) % 255) as f32 / 127.5 - 1.0);
            ocr_core::runtime::Tensor::new(vec![1, 3, 48, 192], data.collect()).unwrap()
        })
        .collect();
    let opts = ocr_models::ConvertOptions {
        kind: ocr_models::ModelKind::parse("cls"),
        int8: Some(ocr_models::Int8Options {
            depthwise: true,
            ..ocr_models::Int8Options::new(calibration, ocr_models::quantize::CalibMethod::MinMax)
        }),
        ..Default::default()
    };
    let (bytes, _) = ocr_models::convert(&onnx.unwrap(), &opts).unwrap();
    let dw_cls = tmp.join("cls-int8-depthwise.kmod");
    std::fs::write(&dw_cls, bytes).unwrap();
    let out = run(&exe, &lib_dir, [&det, &rec, &dw_cls], &line, &["--line"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("status 2") && err.contains("int8-depthwise"),
        "{err}"
    );
    std::fs::remove_dir_all(&tmp).ok();
}

fn seal(model: &[u8], key: &[u8; 32]) -> Vec<u8> {
    ocr_core::runtime::sealed::seal(model, key, &[1; 12]).unwrap()
}
