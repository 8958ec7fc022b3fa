//! The committed model files (`models/zoo`), embedded so the default engine needs no path and
//! no download. The int8 models are the default; the fp32 ones are the reference they were
//! quantised from; the compact ones trade a little accuracy for a third of the int8 size
//! (`models/README.md` says how all three are built).

use super::engine::Precision;

/// The PP-OCRv4 detector (int8, calibrated).
pub static DET: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-det-int8.kmod");
/// The PP-OCRv4 recogniser (int8, calibrated), with its dictionary.
pub static REC: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-rec-int8.kmod");
/// The PP-OCR mobile v2 0/180 classifier (int8, calibrated).
pub static CLS: &[u8] = include_bytes!("../../../models/zoo/ppocr-mobile-v2-cls-int8.kmod");

/// The PP-OCRv4 detector (fp32).
pub static DET_FP32: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-det-fp32.kmod");
/// The PP-OCRv4 recogniser (fp32), with its dictionary.
pub static REC_FP32: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-rec-fp32.kmod");
/// The PP-OCR mobile v2 0/180 classifier (fp32).
pub static CLS_FP32: &[u8] = include_bytes!("../../../models/zoo/ppocr-mobile-v2-cls-fp32.kmod");

/// The PP-OCRv4 detector, compact (4-bit GPTQ weights, coded).
pub static DET_COMPACT: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-det-compact.kmod");
/// The PP-OCRv4 recogniser, compact (3-8-bit GPTQ weights per layer, coded).
pub static REC_COMPACT: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-rec-compact.kmod");
/// The 0/180 classifier, compact (4-bit GPTQ weights, coded).
pub static CLS_COMPACT: &[u8] =
    include_bytes!("../../../models/zoo/ppocr-mobile-v2-cls-compact.kmod");

/// The committed (detector, recogniser, classifier) files of a precision.
pub fn models(precision: Precision) -> [&'static [u8]; 3] {
    match precision {
        Precision::Int8 => [DET, REC, CLS],
        Precision::Fp32 => [DET_FP32, REC_FP32, CLS_FP32],
        Precision::Compact => [DET_COMPACT, REC_COMPACT, CLS_COMPACT],
    }
}
