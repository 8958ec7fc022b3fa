# Sourced by models/build_zoo.sh and models/build_compact.sh (from the repository root, with
# $k the kestrel binary): renders the synthetic calibration images into target/calib (fixed
# seeds) and lists the documented dev-set calibration split (models/calib/dev-calibration.txt,
# which `kestrel eval` leaves out of every score) as the arrays det_dev and rec_dev.
dev=../shared/eval/dev
calib=target/calib
rm -rf "$calib"
$k synth lines -o "$calib/lines" --count 120 --seed 1001
$k synth pages -o "$calib/pages" --count 16 --seed 1002
dev_split() { awk -v kind="$1" '!/^#/ && $1 == kind { print substr($0, length(kind) + 2) }' \
  models/calib/dev-calibration.txt | sed "s|^|$dev/|"; }
mapfile -t det_dev < <(dev_split det)
mapfile -t rec_dev < <(dev_split rec)
