#!/usr/bin/env bash
# Rebuilds the compact model set in models/zoo (*-compact.kmod, `--precision compact`) from the
# source ONNX models in ../shared/models-src: int8 models whose weights GPTQ rounds to fewer
# bits (detector and classifier 4 bits; recogniser per layer, the fewest bits from 3 to 8 whose
# output error on the calibration inputs is at most 3e-4; its matrix products int8 too), then
# arithmetic-coded, with the weights of layers that compute in fp32 stored as 8-bit codes.
# Same calibration images as the int8 models (models/build_zoo.sh); deterministic for a given
# build and font. Trade-off and measurements: models/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
src=../shared/models-src
cargo build --release -p ocr-services --bin kestrel
k=target/release/kestrel
source models/calib/render.sh
tmp=target/compact
mkdir -p "$tmp"
$k convert "$src/ch_PP-OCRv4_det_infer.onnx" --kind det --int8 \
  --calib "$calib/pages" "${det_dev[@]}" --calib-method percentile \
  --sensitivity-inputs 6 --prune-channels 0.5 --prune-max-changed 0.002 \
  --gptq --weight-bits 4 --gptq-damp 0.01 -o "$tmp/det.kmod"
$k convert "$src/ch_PP-OCRv4_rec_infer.onnx" --kind rec --int8 \
  --calib "$calib/lines" "${rec_dev[@]}" --calib-method mse \
  --int8-matmul --gptq --weight-bits 8 --matmul-bits 8 --gptq-max-error 3e-4 \
  -o "$tmp/rec.kmod"
$k convert "$src/ch_ppocr_mobile_v2.0_cls_infer.onnx" --kind cls --int8 \
  --calib "$calib/lines" "${rec_dev[@]}" --calib-method percentile \
  --gptq --weight-bits 4 -o "$tmp/cls.kmod"
$k compress "$tmp/det.kmod" --fp32-weight-bits 8 -o models/zoo/ppocrv4-det-compact.kmod
$k compress "$tmp/rec.kmod" --fp32-weight-bits 8 -o models/zoo/ppocrv4-rec-compact.kmod
$k compress "$tmp/cls.kmod" --fp32-weight-bits 8 -o models/zoo/ppocr-mobile-v2-cls-compact.kmod
