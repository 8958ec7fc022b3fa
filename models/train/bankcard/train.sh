#!/usr/bin/env bash
# Reproduces the committed bank-card recogniser (models/zoo/bankcard-rec-int8.kmod) from scratch:
# renders the synthetic crops (fixed seeds), trains (fixed seed, 2 CPU threads), exports ONNX
# and converts it with Kestrel's own converter (int8, calibrated on synthetic crops and the
# training split). Needs the pinned Python environment in requirements.txt. About 30 minutes
# on 2 CPU cores. Seeds 2001-2003 are training seeds; the generated evaluation set uses 9001.
set -euo pipefail
cd "$(dirname "$0")/../../.."
dev=../shared/eval/dev
work=target/cardrec
steps=${STEPS:-8000}
cargo build --release -p ocr-services --bin kestrel
k=target/release/kestrel
rm -rf "$work"
$k synth card-numbers -o "$work/train" --count 20000 --seed 2001
$k synth card-numbers -o "$work/val" --count 500 --seed 2002
$k synth card-numbers -o "$work/calib" --count 200 --seed 2003
python3 models/train/bankcard/train.py --synth "$work/train/manifest.jsonl" \
  --synth-val "$work/val/manifest.jsonl" --dev "$dev" \
  --split models/train/bankcard/dev-train-split.txt --out "$work/out" --steps "$steps"
mapfile -t real < <(awk '!/^#/ && NF == 2 { print $2 }' models/train/bankcard/dev-train-split.txt \
  | sed "s|^|$dev/|")
cp "$work/out/train_log.jsonl" models/train/bankcard/train_log.jsonl
$k convert "$work/out/card-rec.onnx" --kind rec --charset models/train/bankcard/digits.txt \
  --meta preprocess.min_width=64 --int8 --calib "$work/calib" "${real[@]}" --calib-method mse \
  -o "$work/out/bankcard-rec-int8-8bit.kmod"
# 4-bit weight levels (the int8 kernels run them unchanged), arithmetic-coded: 202 KB -> 88 KB
# at the same accuracy (models/README.md).
$k compress "$work/out/bankcard-rec-int8-8bit.kmod" --int8-weight-bits 4 \
  -o models/zoo/bankcard-rec-int8.kmod
