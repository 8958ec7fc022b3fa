//! The committed model files (`models/zoo`), embedded so the default engine needs no path and
//! no download.

/// The PP-OCRv4 detector (fp32).
pub static DET: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-det-fp32.kmod");
/// The PP-OCRv4 recogniser (fp32), with its dictionary.
pub static REC: &[u8] = include_bytes!("../../../models/zoo/ppocrv4-rec-fp32.kmod");
/// The PP-OCR mobile v2 0/180 classifier (fp32).
pub static CLS: &[u8] = include_bytes!("../../../models/zoo/ppocr-mobile-v2-cls-fp32.kmod");
