//! Compression and encryption over the committed int8 models: lossless coding must give back the
//! same graph and the same outputs, lossy weight storage must stay within half a quantisation
//! step per weight, and an encrypted model must load only with its key.

use ocr_core::runtime::format::{self, ConstData};
use ocr_core::runtime::sealed::{self, KEY_LEN, NONCE_LEN};
use ocr_core::runtime::{Error, Model, Session, Tensor};
use ocr_models::compress::{CompressOptions, compress};
use std::path::PathBuf;

fn zoo(file: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run(model: Model, input: &Tensor) -> Vec<f32> {
    let mut s = Session::new(model);
    s.run(&[input]).expect("run")[0].data().to_vec()
}

/// A real rendered text line (`../shared/eval/dev`), 48 x 192, BGR scaled to [-1, 1].
fn line_input() -> Tensor {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval/dev/synthetic_renders/images/line1_sans.png");
    let img = image::open(&p).expect("dev line image").to_rgb8();
    let (h, w) = (48u32, 192u32);
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut data = vec![0f32; 3 * (h * w) as usize];
    for (x, y, px) in img.enumerate_pixels() {
        for c in 0..3 {
            // Tensor channel c is BGR order: pixel channel 2 - c.
            data[(c * h as usize + y as usize) * w as usize + x as usize] =
                px.0[2 - c] as f32 / 127.5 - 1.0;
        }
    }
    Tensor::new(vec![1, 3, h as usize, w as usize], data).unwrap()
}

#[test]
fn lossless_coding_keeps_every_tensor_and_every_output() {
    for (file, input) in [
        ("ppocr-mobile-v2-cls-int8.kmod", line_input()),
        ("bankcard-rec-int8.kmod", line_input()),
        ("bankcard-rec-int8-pen.kmod", line_input()),
        ("ppocrv4-det-int8.kmod", {
            let data = (0..3 * 64 * 64).map(|i| ((i % 29) as f32 - 14.0) / 14.0);
            Tensor::new(vec![1, 3, 64, 64], data.collect()).unwrap()
        }),
    ] {
        let raw = zoo(file);
        let (coded, report) = compress(&raw, &CompressOptions::default()).unwrap();
        // The bank-card models are committed coded already: coding it again changes nothing.
        if file.starts_with("bankcard") {
            assert_eq!(coded, raw, "{file}");
        } else {
            assert!(coded.len() < raw.len(), "{file}: {} bytes", coded.len());
        }
        assert!(report.int8_elements > 0);
        assert_eq!(
            format::decode(&coded).unwrap(),
            format::decode(&raw).unwrap()
        );
        let a = run(Model::from_bytes(&raw).unwrap(), &input);
        let b = run(Model::from_bytes(&coded).unwrap(), &input);
        assert_eq!(a, b, "{file}");
    }
}

#[test]
fn lossy_weights_stay_within_half_a_step() {
    let raw = zoo("ppocr-mobile-v2-cls-int8.kmod");
    let opts = CompressOptions {
        fp32_weight_bits: Some(8),
        int8_weight_bits: Some(4),
        keep_exact: vec![],
    };
    let (small, report) = compress(&raw, &opts).unwrap();
    assert!(report.rounded_fp32.0 > 0 && report.requantised_int8.0 > 0);
    assert!(small.len() < raw.len() * 2 / 3, "{} bytes", small.len());
    let before = format::decode(&raw).unwrap();
    let after = format::decode(&small).unwrap();
    let (mut rounded, mut requantised) = (0, 0);
    for (b, a) in before.constants.iter().zip(&after.constants) {
        assert_eq!(b.shape, a.shape);
        match (&b.data, &a.data) {
            (ConstData::F32(x), ConstData::F32(y)) if x != y => {
                rounded += 1;
                // Per-channel steps are at most max|w| / 127 of the whole tensor.
                let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (u, v) in x.iter().zip(y) {
                    assert!((u - v).abs() <= max / 254.0 + 1e-6);
                }
            }
            (ConstData::I8(_), ConstData::I8(y)) => {
                let q = a.quant.as_ref().expect("int8 weights keep their scales");
                if y.iter().all(|c| (-7..=7).contains(c)) && b.data != a.data {
                    requantised += 1;
                }
                assert_eq!(q.scales.len(), b.quant.as_ref().unwrap().scales.len());
            }
            _ => {}
        }
    }
    assert_eq!(rounded, report.rounded_fp32.0);
    assert_eq!(requantised, report.requantised_int8.0);
    // On a real upright line every variant still says upright; with only the fp32 layers'
    // weights rounded to 8 bits the probabilities barely move.
    let upright = |v: &[f32]| v[0] > v[1];
    assert!(upright(&run(
        Model::from_bytes(&small).unwrap(),
        &line_input()
    )));
    let (w8, _) = compress(
        &raw,
        &CompressOptions {
            fp32_weight_bits: Some(8),
            ..Default::default()
        },
    )
    .unwrap();
    let a = run(Model::from_bytes(&raw).unwrap(), &line_input());
    let b = run(Model::from_bytes(&w8).unwrap(), &line_input());
    assert!(upright(&a) && upright(&b), "{a:?} vs {b:?}");
    assert!((a[0] - b[0]).abs() < 0.02, "{a:?} vs {b:?}");
    assert!(
        compress(
            &raw,
            &CompressOptions {
                int8_weight_bits: Some(8),
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn encrypted_models_load_only_with_their_key() {
    let raw = zoo("ppocr-mobile-v2-cls-int8.kmod");
    let (coded, _) = compress(&raw, &CompressOptions::default()).unwrap();
    let key = [0x5au8; KEY_LEN];
    let sealed = sealed::seal(&coded, &key, &[3; NONCE_LEN]).unwrap();
    let plain = run(Model::from_bytes(&raw).unwrap(), &line_input());
    let opened = Model::from_sealed_bytes(&sealed, &key).unwrap();
    assert_eq!(run(opened, &line_input()), plain);
    // Without a key, with a wrong key, or altered: clear errors.
    assert!(matches!(Model::from_bytes(&sealed), Err(Error::Input(_))));
    let mut wrong = key;
    wrong[0] ^= 1;
    let err = Model::from_sealed_bytes(&sealed, &wrong).err().unwrap();
    assert!(err.to_string().contains("wrong key"), "{err}");
    let mut tampered = sealed.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 4;
    assert!(Model::from_sealed_bytes(&tampered, &key).is_err());
    // A plain file loads through the same call.
    assert!(Model::from_sealed_bytes(&raw, &key).is_ok());
}

/// Flipped bytes in coded weights (checksums recomputed so they reach the decoder) give an
/// error or a model with wrong weights, never a panic; truncations are errors.
#[test]
fn corrupt_coded_weights_never_panic() {
    let (coded, _) = compress(
        &zoo("ppocr-mobile-v2-cls-int8.kmod"),
        &CompressOptions {
            fp32_weight_bits: Some(8),
            ..Default::default()
        },
    )
    .unwrap();
    let payload_start = u64::from_le_bytes(coded[24..32].try_into().unwrap()) as usize;
    let (mut errors, mut loaded) = (0, 0);
    for i in (payload_start..coded.len()).step_by(211) {
        let mut b = coded.clone();
        b[i] ^= 0xa5;
        format::reseal(&mut b).unwrap();
        match Model::from_bytes(&b) {
            Ok(m) => {
                loaded += 1;
                let _ = Session::new(m).run(&[&line_input()]);
            }
            Err(_) => errors += 1,
        }
    }
    eprintln!("{errors} rejected, {loaded} loaded with altered weights");
    assert!(errors + loaded > 100);
    for n in (0..coded.len()).step_by(1009) {
        assert!(Model::from_bytes(&coded[..n]).is_err());
    }
}

#[test]
fn a_layer_to_keep_exact_must_exist() {
    let raw = zoo("ppocr-mobile-v2-cls-int8.kmod");
    let opts = CompressOptions {
        fp32_weight_bits: Some(8),
        int8_weight_bits: None,
        keep_exact: vec!["no-such-layer".into()],
    };
    let err = compress(&raw, &opts).unwrap_err();
    assert!(err.contains("no-such-layer"), "{err}");
}
