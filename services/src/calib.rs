//! Calibration inputs for int8 conversion: images preprocessed as the engine preprocesses them
//! for each model.

use anyhow::{Context, Result, bail};
use ocr_core::ocr::detect::input_size;
use ocr_core::ocr::preprocess::{Normalize, resize};
use ocr_core::runtime::Tensor;
use ocr_models::ModelKind;
use std::path::{Path, PathBuf};

/// Image files under the given paths (folders are searched recursively), sorted.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        if p.is_dir() {
            for e in std::fs::read_dir(p).with_context(|| format!("cannot list {}", p.display()))? {
                walk(&e?.path(), out)?;
            }
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "png" | "jpg" | "jpeg" | "bmp" | "webp"
            )
        }) {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    out.sort();
    if out.is_empty() {
        bail!("no calibration images found");
    }
    Ok(out)
}

/// Preprocesses calibration images into model inputs for `kind`.
pub fn inputs(kind: ModelKind, files: &[PathBuf]) -> Result<Vec<Tensor>> {
    let (mean, std) = match kind {
        ModelKind::Det => ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        _ => ([0.5; 3], [0.5; 3]),
    };
    let norm = Normalize {
        bgr: true,
        scale: 1.0 / 255.0,
        mean,
        std,
    };
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let bytes = crate::files::read_bounded(f, crate::files::MAX_IMAGE_FILE)
            .with_context(|| format!("cannot read {}", f.display()))?;
        let img = ocr_core::ocr::decode::decode(&bytes, &Default::default())
            .with_context(|| f.display().to_string())?;
        let (iw, ih) = img.dimensions();
        let (w, h, plane_w) = match kind {
            ModelKind::Det => {
                let (w, h) = input_size(iw, ih, 960);
                (w, h, w)
            }
            ModelKind::Rec => {
                let w = ((48.0 * iw as f32 / ih as f32).ceil() as u32).clamp(8, 3200);
                (w, 48, w.div_ceil(8) * 8)
            }
            ModelKind::Cls => (
                ((48.0 * iw as f32 / ih as f32).ceil() as u32).clamp(1, 192),
                48,
                192,
            ),
        };
        let resized = resize(&img, w, h);
        // The classifier sees lines both ways up: calibrate it on both.
        let turned = (kind == ModelKind::Cls).then(|| image::imageops::rotate180(&resized));
        for view in std::iter::once(&resized).chain(turned.as_ref()) {
            let mut data = vec![0f32; 3 * h as usize * plane_w as usize];
            norm.write(view, &mut data, plane_w as usize);
            out.push(Tensor::new(vec![1, 3, h as usize, plane_w as usize], data)?);
        }
    }
    Ok(out)
}
