#!/usr/bin/env bash
# Regenerates the committed synthetic documents (kestrel synth, fixed seeds, the system CJK
# font fonts-wqy-zenhei and the DejaVu fonts), stored as JPEG to keep the repository small.
# Seeds 7001-7004 are used nowhere else.
set -euo pipefail
cd "$(dirname "$0")"
k=../../target/release/kestrel
tmp=$(mktemp -d)
$k synth id-cards -o "$tmp/id" --count 2 --seed 7001
$k synth bank-cards -o "$tmp/bank" --count 1 --seed 7002
$k synth waybills -o "$tmp/waybill" --count 1 --seed 7003
$k synth business-licenses -o "$tmp/license" --count 1 --seed 7004
python3 - "$tmp" <<'PY'
import json, sys
from PIL import Image
tmp = sys.argv[1]
out = []
for sub, prefix in (("id", "id-card"), ("bank", "bank-card"), ("waybill", "waybill"),
                    ("license", "business-license")):
    for line in open(f"{tmp}/{sub}/manifest.jsonl", encoding="utf-8"):
        r = json.loads(line)
        name = f"{prefix}-{r['image'].replace('.png', '.jpg')}"
        Image.open(f"{tmp}/{sub}/{r['image']}").convert("RGB").save(name, quality=85)
        r["image"] = name
        out.append(json.dumps(r, ensure_ascii=False))
open("manifest.jsonl", "w", encoding="utf-8").write("\n".join(out) + "\n")
PY
rm -rf "$tmp"
