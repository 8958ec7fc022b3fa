//! Line-level split computation: read on the device, send only the lines the device is unsure
//! of to a server's `Recognize` (which may run a more accurate model), and account for what
//! went up.

use anyhow::{Context, Result};
use image::RgbImage;
use ocr_core::ocr::{Char, Engine, Page, ReadOptions, rectify};
use ocr_proto::v1 as pb;
use ocr_proto::v1::ocr_client::OcrClient;
use std::io::Cursor;
use tonic::transport::Channel;

/// What the device kept and what it sent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct OffloadStats {
    /// Lines on the page.
    pub lines: usize,
    /// Lines sent to the server.
    pub offloaded: usize,
    /// Bytes of line images sent.
    pub bytes_sent: usize,
    /// Bytes of the whole image (what a cloud-only reader would send).
    pub image_bytes: usize,
    /// Why the server's answer is missing, when the call failed (unreachable, timed out,
    /// refused): the unsure lines then keep the device's readings.
    pub remote_error: Option<String>,
    /// Lines that were to go to the server and keep the device's readings because the call
    /// failed.
    pub kept_after_failure: usize,
}

impl OffloadStats {
    /// Share of lines settled on the device.
    pub fn kept_on_device(&self) -> f64 {
        if self.lines == 0 {
            1.0
        } else {
            1.0 - self.offloaded as f64 / self.lines as f64
        }
    }
}

/// Reads `img` (decoded from a file of `image_bytes` bytes) locally and re-recognises lines
/// with confidence below `threshold` remotely. A failed call leaves the device's readings in
/// place and says why in [`OffloadStats::remote_error`]: the page is read either way.
pub async fn read_with_offload(
    engine: &Engine,
    client: &mut OcrClient<Channel>,
    token: Option<&str>,
    (img, image_bytes): (&RgbImage, usize),
    opts: &ReadOptions,
    threshold: f32,
) -> Result<(Page, OffloadStats)> {
    let mut page = engine.read(img, opts)?;
    let mut stats = OffloadStats {
        lines: page.lines.len(),
        image_bytes,
        ..Default::default()
    };
    let unsure: Vec<usize> = (0..page.lines.len())
        .filter(|&i| page.lines[i].confidence < threshold)
        .collect();
    if unsure.is_empty() {
        return Ok((page, stats));
    }
    let mut crops = Vec::with_capacity(unsure.len());
    let mut encoded = Vec::with_capacity(unsure.len());
    for &i in &unsure {
        // The line's quad starts at the text's top-left, so this crop is upright.
        let crop = rectify::crop(img, &page.lines[i].quad);
        let mut png = Cursor::new(Vec::new());
        crop.image
            .write_to(&mut png, image::ImageFormat::Png)
            .context("encode line crop")?;
        let png = png.into_inner();
        stats.bytes_sent += png.len();
        encoded.push(png);
        crops.push(crop);
    }
    let pb_opts = pb::ReadOptions {
        max_side: 0,
        no_classify: true,
        no_verify_turns: true,
        cls_thresh: 0.0,
        allowed_chars: opts.allowed_chars.clone().unwrap_or_default(),
    };
    let mut req = tonic::Request::new(pb::RecognizeRequest {
        lines: encoded,
        options: Some(pb_opts),
    });
    if let Some(t) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().context("token")?,
        );
    }
    let remote = match client.recognize(req).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            // Nothing reached the server.
            stats.bytes_sent = 0;
            stats.kept_after_failure = unsure.len();
            stats.remote_error = Some(format!("{} ({:?})", status.message(), status.code()));
            return Ok((page, stats));
        }
    };
    for ((&i, crop), line) in unsure.iter().zip(&crops).zip(remote.lines) {
        let local = &mut page.lines[i];
        local.text = line.text;
        local.confidence = line.confidence;
        // Remote character boxes are in the crop's pixels; map them back onto the page.
        local.chars = line
            .chars
            .into_iter()
            .map(|c| {
                let xs: Vec<f32> = c
                    .quad
                    .map(|q| q.points.iter().map(|p| p.x).collect())
                    .unwrap_or_default();
                let (x0, x1) = (
                    xs.iter().copied().fold(f32::MAX, f32::min),
                    xs.iter().copied().fold(0.0, f32::max),
                );
                Char {
                    text: c.text,
                    confidence: c.confidence,
                    quad: crop.span_quad(x0.min(x1), x1),
                    alternative: None,
                }
            })
            .collect();
        stats.offloaded += 1;
    }
    Ok((page, stats))
}
