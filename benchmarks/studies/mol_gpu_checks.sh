#!/usr/bin/env bash
# MOL's two checks (auxiliary heads against SynthME truth, composite LOSO) at a scale where MOL trains,
# for a machine with a GPU (device tool). On the 2-core CPU a joint step cost seconds (docs/models/mol.md,
# "What was measured"), so these runs were cut to 8-2000 steps there; here they run at the config's /
# paper's step counts.
#
#   DEVICE=cuda bash benchmarks/studies/mol_gpu_checks.sh            # everything (never timed on a GPU yet)
#   DEVICE=cuda STAGE=aux bash benchmarks/studies/mol_gpu_checks.sh  # only the auxiliary-head check
#   DEVICE=cuda STAGE=loso bash benchmarks/studies/mol_gpu_checks.sh # only the LOSO; re-running resumes it
#                                                    # (finished fold runs are kept), so it can be split over
#                                                    # several 10-minute device calls
#   DEVICE=cpu LOSO_STEPS=1 AUX_STEPS=2 SEEDS='[0]' AUX_SCALE='--align 72 --size 64 --frames 2 --batch 2' \
#       bash benchmarks/studies/mol_gpu_checks.sh                    # smoke test of the commands on a CPU
#
# Writes under $OUT (default runs/mol_gpu): synthme_small/ (generated if absent; or SYNTH=an existing
# SynthME small seed-0 tree; a tiny tree is enough for the smoke test), cache/ (or CACHE=...), aux.json,
# runs/mol_s$LOSO_STEPS/ and compare.txt (MOL beside the MiER-CvT / STSTNet runs if RUNS_MIER /
# RUNS_STSTNET name them; otherwise MOL alone). Nothing here chooses anything on a test subject:
# fixed step counts, last step kept; the aux curve is recorded, never used to pick a step.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
MERKIT=${MERKIT:-.venv/bin/merkit}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-runs/mol_gpu}
LOSO_STEPS=${LOSO_STEPS:-1000}
AUX_STEPS=${AUX_STEPS:-1000}
SEEDS=${SEEDS:-[0, 1, 2]}
AUX_SCALE=${AUX_SCALE:---align 144 --size 128 --frames 8 --batch 32}
AUX_VARIANTS=${AUX_VARIANTS:-joint,no_mer,no_fld,no_mer_fld,no_ofe,no_mer_ofe}
STAGE=${STAGE:-all}
mkdir -p "$OUT"
SYNTH=${SYNTH:-$OUT/synthme_small}
CACHE=${CACHE:-$OUT/cache}
[ -f "$SYNTH/manifest.json" ] || "$MERKIT" synth --preset small --seed 0 --out "$SYNTH"

# 1. Auxiliary heads against SynthME truth at the paper's scale (Tables XIV / XV rows).
if [ "$STAGE" = all ] || [ "$STAGE" = aux ]; then
# shellcheck disable=SC2086  # AUX_SCALE is a list of options
"$PY" -m benchmarks.studies.mol_aux --root "$SYNTH" --cache "$CACHE" $AUX_SCALE --steps "$AUX_STEPS" \
    --lr 1e-4 --threads 4 --device "$DEVICE" --eval-every 100 --variants "$AUX_VARIANTS" --out "$OUT/aux.json"
fi
[ "$STAGE" = aux ] && exit 0

# 2. Composite LOSO, joint loss, the config's 64 px clips, $LOSO_STEPS fixed steps per fold, 3 seeds.
"$MERKIT" -v train --config configs/mol/synthme_small.toml \
    --set data.synth_root="$SYNTH" --set features.cache_dir="$CACHE" \
    --set run.out_dir="$OUT/runs/mol_s$LOSO_STEPS" --set "run.seeds=$SEEDS" --set train.device="$DEVICE" \
    --set train.steps="$LOSO_STEPS" \
    --set "method.options={lambda_of: 10.0, lambda_ldm: 0.1, align_size: 72, crop_size: 64, max_clips: 2, flow: tvl1_fast}" \
    --no-progress
RUNS=("MOL ($LOSO_STEPS steps)=$OUT/runs/mol_s$LOSO_STEPS")
[ -n "${RUNS_MIER:-}" ] && RUNS+=("MiER-CvT=$RUNS_MIER")
[ -n "${RUNS_STSTNET:-}" ] && RUNS+=("STSTNet=$RUNS_STSTNET")
"$PY" -m benchmarks.studies.compare_runs "${RUNS[@]}" | tee "$OUT/compare.txt"
