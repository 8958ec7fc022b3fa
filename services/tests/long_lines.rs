//! Lines too long for the recogniser's widest input (48 x 3200): read in pieces cut between
//! characters, not squeezed. Real rendered lines of the dev set, repeated side by side.

use ocr_core::ocr::{Engine, ReadOptions};
use ocr_services::eval::metrics::{edit_distance, normalize};
use std::path::PathBuf;

#[test]
fn a_line_wider_than_the_recogniser_reads_in_pieces() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/eval/dev/synthetic_renders/images");
    let engine = Engine::new_default().unwrap();
    // At 48 pixels high these are 8,663 and 9,664 pixels wide: squeezed to 3,200, the first
    // read as one character and the second lost or garbled a tenth of its characters.
    for (file, text, copies) in [
        ("line5_small.png", "小字号文本识别测试，字号十六像素。", 25),
        (
            "line2_serif.png",
            "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
            12,
        ),
    ] {
        let line = image::open(root.join(file)).unwrap().to_rgb8();
        let (w, h) = line.dimensions();
        let mut long = image::RgbImage::new(w * copies, h);
        for i in 0..copies {
            image::imageops::replace(&mut long, &line, i64::from(i * w), 0);
        }
        let read = engine
            .recognize_line(&long, &ReadOptions::default())
            .unwrap();
        let want = text.repeat(copies as usize);
        let (got, want) = (normalize(&read.text), normalize(&want));
        let errors = edit_distance(&got, &want);
        assert!(
            errors * 50 <= want.len(),
            "{file}: {errors} errors in {} characters: {}",
            want.len(),
            got.iter().collect::<String>()
        );
        let joined: String = read.chars.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            read.text, joined,
            "{file}: the text is its characters joined"
        );
        // Character boxes stay on the line, in reading order.
        let xs: Vec<f32> = read.chars.iter().map(|c| c.quad[0].x).collect();
        assert!(
            xs.windows(2).all(|p| p[0] <= p[1]),
            "{file}: boxes out of order"
        );
        assert!(
            xs.last().is_some_and(|&x| x <= long.width() as f32),
            "{file}"
        );
    }
}
