//! Corruption sweep over the real converted models: truncations and byte flips must give a
//! typed error (or a model that still plans and runs), never a panic, hang or unbounded
//! allocation.

mod common;

use ocr_core::runtime::format::{self, HEADER_LEN};
use ocr_core::runtime::{Error, Model, Session, Tensor};

/// Input shape that exercises each model quickly.
fn probe_input(kind: &str) -> Tensor {
    let shape = match kind {
        "det" => vec![1, 3, 64, 64],
        "rec" => vec![1, 3, 48, 32],
        _ => vec![1, 3, 48, 64],
    };
    let n = shape.iter().product();
    Tensor::new(
        shape,
        (0..n).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect(),
    )
    .unwrap()
}

/// Loads (and, if that works, plans and runs) possibly corrupt bytes; panics only on a bug.
fn try_everything(kind: &str, bytes: &[u8]) -> Result<(), Error> {
    let model = Model::from_bytes(bytes)?;
    let mut s = Session::new(model);
    // Bound the arena so a corrupted size attribute fails cleanly instead of taking memory.
    s.set_max_arena_floats(1 << 26);
    s.run(&[&probe_input(kind)]).map(|_| ())
}

/// Reseals mutated bytes (checksums recomputed, so they reach the structural checks), then
/// loads and runs them: whether they still ran; otherwise they gave a typed error.
fn still_runs(kind: &str, mut bytes: Vec<u8>) -> bool {
    format::reseal(&mut bytes).is_ok() && try_everything(kind, &bytes).is_ok()
}

fn body_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize
}

#[test]
fn truncations_are_errors() {
    for kind in ["det", "rec", "cls"] {
        let bytes = common::model_bytes(kind);
        let body_end = HEADER_LEN + body_len(bytes);
        // Every cut inside the header and the first 4 KiB, then every 997th byte.
        let cuts = (0..4096.min(bytes.len())).chain((4096..bytes.len()).step_by(997));
        for n in cuts {
            let r = Model::from_bytes(&bytes[..n]);
            assert!(
                matches!(r, Err(Error::Format(_))),
                "{kind}: cut at {n} (body ends {body_end}) gave {:?}",
                r.err()
            );
        }
    }
}

#[test]
fn flipped_bytes_fail_the_checksum() {
    let bytes = common::model_bytes("cls");
    for i in (HEADER_LEN..bytes.len()).step_by(4099) {
        let mut b = bytes.to_vec();
        b[i] ^= 0x5a;
        assert!(
            matches!(Model::from_bytes(&b), Err(Error::Format(_))),
            "flip at {i} not caught"
        );
    }
}

/// With the checksums recomputed, flips reach the structural checks: every third byte of the
/// classifier's body (and a sample of det/rec) must load as an error or as a runnable model.
#[test]
fn resealed_flips_never_panic() {
    for (kind, step) in [("cls", 3), ("rec", 97), ("det", 41)] {
        let bytes = common::model_bytes(kind);
        let body_end = HEADER_LEN + body_len(bytes);
        let (mut errors, mut ok) = (0, 0);
        for i in (0..body_end).step_by(step) {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.to_vec();
                b[i] ^= mask;
                match still_runs(kind, b) {
                    true => ok += 1,
                    false => errors += 1,
                }
            }
        }
        eprintln!("{kind}: {errors} corruptions rejected, {ok} still ran");
        assert!(errors > 0);
    }
}

/// A model that claims a huge constant or count is refused before allocating.
#[test]
fn huge_counts_are_refused() {
    let bytes = common::model_bytes("cls");
    let mut b = bytes.to_vec();
    // The string-table count is the first body field.
    b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    format::reseal(&mut b).unwrap();
    assert!(matches!(Model::from_bytes(&b), Err(Error::Format(_))));
}

/// Wrong input shapes are typed errors.
#[test]
fn wrong_input_shapes_are_errors() {
    let model = common::model("rec");
    let mut s = Session::new(model);
    for shape in [
        vec![1, 3, 48],
        vec![1, 4, 48, 32],
        vec![1, 3, 48, 0],
        vec![2, 3, 1, 1],
    ] {
        let n: usize = shape.iter().product();
        let t = Tensor::new(shape.clone(), vec![0.0; n]).unwrap();
        let r = s.run(&[&t]);
        assert!(
            matches!(r, Err(Error::Input(_) | Error::Shape(_))),
            "{shape:?} gave {:?}",
            r.map(|v| v.len())
        );
    }
    let t = Tensor::new(vec![1, 3, 48, 32], vec![0.0; 3 * 48 * 32]).unwrap();
    assert!(matches!(s.run(&[&t, &t]), Err(Error::Input(_))));
    // A huge input is refused by the arena bound, not by running out of memory.
    s.set_max_arena_floats(1 << 24);
    let big = Tensor::new(vec![1, 3, 48, 100_000], vec![0.0; 3 * 48 * 100_000]).unwrap();
    assert!(matches!(s.run(&[&big]), Err(Error::Limit(_))));
}

/// Per-channel input quantisation is refused where it does not belong: on an int8
/// convolution that is not depthwise, with lists of different lengths, or with a scale of 0.
#[test]
fn misplaced_per_channel_quantisation_is_refused() {
    use ocr_core::runtime::format::Attr;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join("ppocr-mobile-v2-cls-int8.kmod");
    let def = format::decode(&std::fs::read(path).unwrap()).unwrap();
    let grouped = |n: &format::NodeDef| matches!(n.attr("group"), Some(Attr::Int(g)) if *g > 1);
    let pointwise = def
        .nodes
        .iter()
        .position(|n| n.attr("x_scale").is_some() && !grouped(n))
        .expect("an int8 convolution");
    let with = |scales: Vec<f32>, zero_points: Vec<i64>| {
        let mut d = def.clone();
        d.nodes[pointwise].attrs.extend([
            ("x_scales".to_string(), Attr::Floats(scales)),
            ("x_zero_points".to_string(), Attr::Ints(zero_points)),
        ]);
        Model::from_bytes(&format::encode(&d))
    };
    for (scales, zero_points) in [
        (vec![0.1; 4], vec![3; 4]),
        (vec![0.1; 4], vec![3; 3]),
        (vec![0.0; 4], vec![3; 4]),
    ] {
        let r = with(scales.clone(), zero_points.clone());
        assert!(
            matches!(r, Err(Error::Format(_))),
            "{scales:?} {zero_points:?} gave {:?}",
            r.map(|_| ())
        );
    }
    assert!(Model::from_bytes(&format::encode(&def)).is_ok());
}

/// Malformed int8 matrix products in the committed recogniser are refused with a typed error
/// at load: an input scale of 0 or a zero point past 255, weights quantised per row instead of
/// per column, a code of -128, and int8 weights read by a MatMul that is not int8.
#[test]
fn malformed_int8_matmuls_are_refused() {
    use ocr_core::runtime::format::{Attr, ConstData};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join("ppocrv4-rec-int8.kmod");
    let def = format::decode(&std::fs::read(path).unwrap()).unwrap();
    let at = def
        .nodes
        .iter()
        .position(|n| n.op == "MatMul" && n.attr("x_scale").is_some())
        .expect("an int8 MatMul");
    let wv = def.nodes[at].inputs[1].expect("weights");
    let wc = def
        .constants
        .iter()
        .position(|c| c.value == wv)
        .expect("weight constant");
    let set = |d: &mut format::ModelDef, key: &str, v: Attr| {
        let attrs = &mut d.nodes[at].attrs;
        attrs.retain(|(k, _)| k != key);
        attrs.push((key.to_string(), v));
    };
    let mut cases: Vec<(&str, format::ModelDef)> = Vec::new();
    let mut d = def.clone();
    set(&mut d, "x_scale", Attr::Float(0.0));
    cases.push(("input scale 0", d));
    let mut d = def.clone();
    set(&mut d, "x_zero_point", Attr::Int(300));
    cases.push(("zero point 300", d));
    let mut d = def.clone();
    let rows = d.constants[wc].shape[0];
    let q = d.constants[wc].quant.as_mut().expect("weight scales");
    (q.axis, q.scales, q.zero_points) = (0, vec![0.01; rows], vec![0; rows]);
    cases.push(("per-row scales", d));
    let mut d = def.clone();
    if let ConstData::I8(w) = &mut d.constants[wc].data {
        w[7] = -128;
    }
    cases.push(("code -128", d));
    let mut d = def.clone();
    d.nodes[at]
        .attrs
        .retain(|(k, _)| k != "x_scale" && k != "x_zero_point");
    cases.push(("fp32 MatMul reading int8 weights", d));
    for (what, d) in cases {
        match Model::from_bytes(&format::encode(&d)) {
            Err(Error::Format(m) | Error::Unsupported(m)) => eprintln!("{what}: {m}"),
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
    }
    assert!(Model::from_bytes(&format::encode(&def)).is_ok());
}

/// Found by random mutation of the committed files: a quantisation zero point wider than int8
/// is refused at load (it overflowed dequantisation), and a convolution whose weights have a
/// zero dimension loads and fails at run time with a typed error (its weight packing
/// panicked at load).
#[test]
fn odd_constants_are_typed_errors() {
    use ocr_core::runtime::format::ConstData;
    let zoo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("zoo");
    let def =
        format::decode(&std::fs::read(zoo.join("ppocr-mobile-v2-cls-int8.kmod")).unwrap()).unwrap();
    let mut d = def.clone();
    let at = d
        .constants
        .iter()
        .position(|c| c.quant.is_some())
        .expect("a quantised constant");
    d.constants[at].quant.as_mut().unwrap().zero_points[0] = i32::MAX;
    // Stored to be dequantised at load, as the compact files store their fp32 layers.
    let coded = format::encode_with(&d, |i| match i == at {
        true => format::Encoding::CodedDequantised,
        false => format::Encoding::Raw,
    });
    let r = Model::from_bytes(&coded);
    assert!(
        matches!(&r, Err(Error::Format(m)) if m.contains("zero point")),
        "{:?}",
        r.map(|_| ())
    );

    let def =
        format::decode(&std::fs::read(zoo.join("ppocr-mobile-v2-cls-fp32.kmod")).unwrap()).unwrap();
    let conv = def
        .nodes
        .iter()
        .find(|n| n.op == "Conv")
        .expect("a convolution");
    let wv = conv.inputs[1].expect("weights");
    let mut d = def.clone();
    let w = d.constants.iter_mut().find(|c| c.value == wv).unwrap();
    w.shape[1] = 0;
    w.data = ConstData::F32(Vec::new());
    let r = try_everything("cls", &format::encode(&d));
    assert!(
        matches!(r, Err(Error::Shape(_) | Error::Format(_))),
        "{r:?}"
    );
}

/// Seeded random mutations of the committed small models (1-4 bytes each set to 0, 0xff, a
/// flipped bit or a random value, in the header and tables or anywhere; checksums recomputed)
/// load and run to a result or a typed error, never a panic. Wider runs of this sweep (other
/// seeds, 20,000 mutations a file, the det/rec files too) found the two cases above.
#[test]
fn random_mutations_never_panic() {
    let zoo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("zoo");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (file, kind) in [
        ("ppocr-mobile-v2-cls-compact.kmod", "cls"),
        ("ppocr-mobile-v2-cls-int8.kmod", "cls"),
        ("bankcard-rec-int8.kmod", "rec"),
    ] {
        let bytes = std::fs::read(zoo.join(file)).unwrap();
        let tables_end = HEADER_LEN + body_len(&bytes);
        let (mut errors, mut ran) = (0, 0);
        for _ in 0..2000 {
            let mut b = bytes.clone();
            let span = match next() % 2 {
                0 => tables_end,
                _ => b.len(),
            };
            for _ in 0..1 + next() % 4 {
                let i = next() as usize % span;
                b[i] = match next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    2 => b[i] ^ (1 << (next() % 8)),
                    _ => next() as u8,
                };
            }
            match still_runs(kind, b) {
                true => ran += 1,
                false => errors += 1,
            }
        }
        eprintln!("{file}: {errors} mutations rejected, {ran} still ran");
        assert!(errors > 0 && ran > 0, "{file}");
    }
}
