#!/usr/bin/env bash
# Rebuilds the committed model files in models/zoo from the source ONNX models in
# ../shared/models-src. The converter is deterministic: `cargo test` checks that the committed
# files equal a fresh conversion.
set -euo pipefail
cd "$(dirname "$0")/.."
src=../shared/models-src
cargo build --release -p ocr-services --bin kestrel
k=target/release/kestrel
$k convert "$src/ch_PP-OCRv4_det_infer.onnx" --kind det -o models/zoo/ppocrv4-det-fp32.kmod
$k convert "$src/ch_PP-OCRv4_rec_infer.onnx" --kind rec -o models/zoo/ppocrv4-rec-fp32.kmod
$k convert "$src/ch_ppocr_mobile_v2.0_cls_infer.onnx" --kind cls -o models/zoo/ppocr-mobile-v2-cls-fp32.kmod
