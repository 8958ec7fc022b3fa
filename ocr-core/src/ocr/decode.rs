//! Decoding: image bytes to an upright RGB image, with limits that refuse decompression bombs
//! before they allocate.

use super::OcrError;
use image::{ImageDecoder, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// Size limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width or height.
    pub max_side: u32,
    /// Largest accepted pixel count.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_side: 20_000,
            max_pixels: 80_000_000,
        }
    }
}

/// Decodes JPEG, PNG, WebP or BMP bytes into RGB, applying the EXIF orientation.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, OcrError> {
    if bytes.is_empty() {
        return Err(OcrError::Decode("no bytes".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| OcrError::Decode(e.to_string()))?;
    match reader.format() {
        None => return Err(OcrError::Decode("unknown image format".into())),
        // The JPEG decoder fills what a cut-off file lacks with grey and succeeds.
        Some(image::ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            return Err(OcrError::Decode(
                "truncated JPEG: no end-of-image marker after the last scan".into(),
            ));
        }
        Some(_) => {}
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| OcrError::Decode(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(OcrError::Empty(format!("{w}x{h}")));
    }
    if w > limits.max_side || h > limits.max_side || w as u64 * h as u64 > limits.max_pixels {
        return Err(OcrError::TooLarge(format!(
            "{w}x{h} pixels (limits: side {}, {} pixels)",
            limits.max_side, limits.max_pixels
        )));
    }
    let mut dec_limits = Limits::default();
    dec_limits.max_image_width = Some(limits.max_side);
    dec_limits.max_image_height = Some(limits.max_side);
    // RGBA16 is the largest buffer a decoder makes: 8 bytes a pixel, plus headroom.
    dec_limits.max_alloc = Some(limits.max_pixels * 8 + (64 << 20));
    decoder
        .set_limits(dec_limits)
        .map_err(|e| OcrError::TooLarge(e.to_string()))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img =
        image::DynamicImage::from_decoder(decoder).map_err(|e| OcrError::Decode(e.to_string()))?;
    img.apply_orientation(orientation);
    Ok(flatten_alpha(img))
}

/// True when JPEG bytes hold an end-of-image marker (`FF D9`) after their last start-of-scan
/// marker (`FF DA`): what a file cut off inside its image data lacks. Neither pair can occur
/// inside entropy-coded data (an `FF` there is followed by `00` or a restart marker), and an
/// embedded thumbnail's markers come before the main image's scans; bytes after the end
/// marker (padding, appended data) are allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    matches!((last(0xD9), last(0xDA)), (Some(end), Some(scan)) if end > scan)
}

/// RGB pixels of an image; transparent images are composited over white, as a viewer shows
/// them (dropping alpha would turn dark text on a transparent background into black on black).
fn flatten_alpha(img: image::DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let blend = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_png() {
        let img = decode(&png(7, 5), &DecodeLimits::default()).unwrap();
        assert_eq!(img.dimensions(), (7, 5));
        assert_eq!(img.get_pixel(3, 3).0, [10, 20, 30]);
    }

    #[test]
    fn transparent_pixels_become_white() {
        let img = image::RgbaImage::from_fn(2, 1, |x, _| {
            image::Rgba(if x == 0 { [0, 0, 0, 0] } else { [0, 0, 0, 255] })
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        let rgb = decode(&out.into_inner(), &DecodeLimits::default()).unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 0]);
    }

    /// A JPEG cut anywhere inside its image data is an error, not an image padded with grey;
    /// the whole file, and the file with bytes appended after its end, decode.
    #[test]
    fn refuses_truncated_jpegs() {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        let jpeg = out.into_inner();
        let limits = DecodeLimits::default();
        assert_eq!(decode(&jpeg, &limits).unwrap().dimensions(), (64, 48));
        let mut padded = jpeg.clone();
        padded.extend_from_slice(&[0; 100]);
        assert!(decode(&padded, &limits).is_ok());
        for keep in [jpeg.len() - 2, jpeg.len() * 3 / 4, jpeg.len() / 2] {
            match decode(&jpeg[..keep], &limits) {
                Err(OcrError::Decode(m)) => assert!(m.contains("truncated"), "{m}"),
                other => panic!("{keep} of {} bytes: {:?}", jpeg.len(), other.map(|_| ())),
            }
        }
    }

    #[test]
    fn refuses_garbage_and_empty() {
        assert!(matches!(
            decode(&[], &DecodeLimits::default()),
            Err(OcrError::Decode(_))
        ));
        assert!(matches!(
            decode(b"not an image at all", &DecodeLimits::default()),
            Err(OcrError::Decode(_))
        ));
        let mut truncated = png(40, 40);
        truncated.truncate(truncated.len() / 2);
        assert!(decode(&truncated, &DecodeLimits::default()).is_err());
    }

    /// A PNG header that claims 50000 x 50000 pixels is refused before any pixel is decoded.
    #[test]
    fn refuses_a_decompression_bomb_header() {
        let mut bytes = png(1, 1);
        // IHDR width and height live at bytes 16..24; the CRC no longer matches, which a
        // decoder may report first: either way it must be an error, not an allocation.
        bytes[16..20].copy_from_slice(&50_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&50_000u32.to_be_bytes());
        let r = decode(&bytes, &DecodeLimits::default());
        assert!(
            matches!(r, Err(OcrError::TooLarge(_)) | Err(OcrError::Decode(_))),
            "{r:?}"
        );
        let small = DecodeLimits {
            max_side: 100,
            max_pixels: 10_000,
        };
        assert!(matches!(
            decode(&png(200, 10), &small),
            Err(OcrError::TooLarge(_))
        ));
    }
}
