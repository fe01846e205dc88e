#!/usr/bin/env bash
# Seed 002, Table 2 directions on SynthME `small`, honest composite LOSO, seeds 0 1 2, one core.
#
# Reduced CPU scale (fixed from the cost of one fold, before any score was seen; the same for every row):
#   64 px faces and flow images (paper: 224), 10 pre-training + 10 fine-tuning epochs, fixed schedule
#   (last epoch kept; fit + validation subjects all train), batch 16, Adam 1e-3 both phases,
#   TV-L1 (paper's flow), mask "mer", HSV flow images, sklearn SVC row with C = 1 (no validation set
#   to choose C under the fixed schedule). One in-process worker, one torch thread.
# L2 (third argument, default the paper's 0.2): at this scale 0.2 makes every row's output constant within
#   a fold (docs/models/shufflenet_me.md, "Findings on SynthME"), so the directions were measured with 0 as well.
#
# Method options go to [method] options (method flow_pretrain_finetune); the configs' [train] section supplies
#   Adam (no weight decay), the plateau lr schedule and equal-per-class epochs.
# Usage: benchmarks/studies/shufflenet_table2.sh OUT_DIR [SYNTHME_ROOT] [L2]
#   EPOCHS=1 SIZE=32 SEEDS=0 benchmarks/studies/shufflenet_table2.sh ...   (a smoke run; defaults 10, 64, "0, 1, 2")
# then:  .venv/bin/python -m benchmarks.studies.compare_runs "ROW=OUT_DIR/ROW" ...   (from the repository root)
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [SYNTHME_ROOT] [L2]}
synth=${2:-data/synthme_small}
l2=${3:-0.2}
epochs=${EPOCHS:-10}
size=${SIZE:-64}
seeds=${SEEDS:-0, 1, 2}
here=$(cd "$(dirname "$0")/../.." && pwd)
merkit="$here/.venv/bin/merkit"
common=(--no-progress
  --set data.source=synth --set "data.synth_root=$synth"
  --set "features.cache_dir=$out/cache" --set features.workers=1
  --set "train.epochs=$epochs" --set train.batch_size=16 --set train.lr=0.001 --set train.schedule=fixed
  --set train.threads=1 --set run.executor=inprocess --set run.workers=1 --set "run.seeds=[$seeds]")
opts="size: $size, mask: mer, flow_image: hsv, pretrain_epochs: $epochs, pretrain_lr: 0.001, l2: $l2"
# row name | config | method.options (the cbam row's cbam_position = conv5 is its config's [model] options)
rows=(
  "hinge|shufflenet_me/table2_shufflenet|{pretrain: true, head: hinge, $opts}"
  "nopretrain|shufflenet_me/table2_no_pretrain|{pretrain: false, head: hinge, $opts}"
  "nosvm|shufflenet_me/table2_no_svm|{pretrain: true, head: softmax, $opts}"
  "cbam|shufflenet_me/table2_cbam|{pretrain: true, head: hinge, $opts}"
  "vit|shufflenet_me/table2_vit|{pretrain: true, head: hinge, $opts}"
  "vit_svc|shufflenet_me/vit_svc|{pretrain: true, head: svc, svc_C: [1.0], $opts}"
)
mkdir -p "$out"
for row in "${rows[@]}"; do
  IFS="|" read -r name config options <<<"$row"
  echo "== $name $(date -u +%H:%M:%S) $(uptime)"
  /usr/bin/time -f "$name: %e s wall, %U s user, %S s sys" "$merkit" train --config "$here/configs/$config.toml" \
    "${common[@]}" --set "method.options=$options" --set "run.out_dir=$out/$name" --set "run.method_name=$name" \
    > "$out/$name.log" 2>&1 || { echo "$name failed, see $out/$name.log"; tail -5 "$out/$name.log"; exit 1; }
  tail -1 "$out/$name.log"
done
echo "== done $(date -u +%H:%M:%S) $(uptime)"
