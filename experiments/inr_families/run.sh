#!/usr/bin/env bash
# Today's INR families at a matched parameter budget (~3.5k parameters), on cameraman and four Kodak
# 256x256 centre crops, three seeds, as one Hydra multirun; then analyze.py writes the tables and figure.
#   ./run.sh search    the learning-rate search (cameraman, seed 0; search1 then search2) -> results/lr_search.*
#   ./run.sh main      the comparison multirun (the rates are those in conf/family/*.yaml)
#   ./run.sh analyze   tables and figure from the store into results/
#   ./run.sh all       search, main, analyze (set the chosen rates in conf/family/ between search and main)
# Settings are environment variables: FAMILIES, SEEDS, BATCH (pixels per step), EPOCHS, LOG_EVERY, KODAK (the
# Kodak folder, never copied into the repository), CROPS (where the 256x256 crops are written), NICE.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
STAGE=${1:-all}
KODAK=${KODAK:-/work/shared/data/kodak}
CROPS=${CROPS:-/tmp/inr_families_crops}
FAMILIES=${FAMILIES:-siren,finer,wire,gauss,nerf,hash_grid}
SEEDS=${SEEDS:-0,1,2}
BATCH=${BATCH:-2048}        # 32 random-pixel batches per epoch of a 256x256 image
EPOCHS=${EPOCHS:-6}         # 6 x 32 = 192 steps
LOG_EVERY=${LOG_EVERY:-32}  # full-image PSNR/SSIM every 32 steps (7 points per run)
NICE=${NICE:-10}
STORE="sqlite:///$HERE/mlruns/mlflow.db"
COMMON=(--config-dir "$HERE/conf" data.sidelength=256 data.batch_size="$BATCH" num_epochs="$EPOCHS"
        log_every_n_steps="$LOG_EVERY" optim.lr_schedule=none trainer=cpu trainer.num_threads=1 progress=none tracking.uri="$STORE")

crops() {  # native-resolution 256x256 centre crops (no resampling), outside the repository
  mkdir -p "$CROPS"
  python3 - "$KODAK" "$CROPS" <<'PY'
import sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for name in ("kodim01", "kodim05", "kodim15", "kodim23"):
    image = Image.open(src / f"{name}.png").convert("RGB")
    left, top = (image.width - 256) // 2, (image.height - 256) // 2
    image.crop((left, top, left + 256, top + 256)).save(dst / f"{name}_crop256.png")
PY
}

# The recorded search: cameraman, seed 0, the same steps as the comparison, the grids below.
LR3=(optim.lr=3e-4,1e-3,3e-3)
sweep() { nice -n "$NICE" siren-inr train -m "${COMMON[@]}" seed=0 data.image=cameraman \
            experiment_name=inr_families_lr hydra.sweep.dir="multirun/lr_$1" "${@:2}"; }
search1() {
  # Run as one multirun over five families with the settings of the time: FINER at the paper's k = 20,
  # WIRE at s_0 = 10 (the registry default then); spelled out here so that the same cells are rerun.
  sweep mlp +family=siren,gauss,nerf "${LR3[@]}"
  sweep finer_k20 +family=finer model.first_bias_scale=20 "${LR3[@]}"
  sweep wire_s10 +family=wire model.scale_0=10 "${LR3[@]}"
  sweep hash +family=hash_grid optim.lr=3e-3,1e-2,3e-2
}
search2() {
  # Second round, after the first: gauss, nerf and hash_grid were best at the top of their grids;
  # FINER at k = 20 and WIRE at s_0 = 10 failed (see README.md), so FINER at k = 1 and WIRE at the
  # authors' image setting s_0 = 30 with the authors' range of rates.
  sweep edge +family=gauss,nerf optim.lr=1e-2
  sweep hash_edge +family=hash_grid optim.lr=1e-1
  sweep finer_k1 +family=finer model.first_bias_scale=1 "${LR3[@]}"
  sweep wire_s30 +family=wire model.scale_0=30 optim.lr=5e-3,1e-2,2e-2
  sweep wire_s30_low +family=wire model.scale_0=30 optim.lr=2e-3  # after 5e-3 came out best
}

main() {
  crops
  local images="cameraman,$CROPS/kodim01_crop256.png,$CROPS/kodim05_crop256.png,$CROPS/kodim15_crop256.png,$CROPS/kodim23_crop256.png"
  nice -n "$NICE" siren-inr train -m "${COMMON[@]}" seed="$SEEDS" data.image="$images" +family="$FAMILIES" \
    experiment_name=inr_families hydra.sweep.dir=multirun/main
}

case "$STAGE" in
  search) search1; search2; python3 analyze.py lr --store "$STORE" --out results ;;
  search1) search1 ;;
  search2) search2; python3 analyze.py lr --store "$STORE" --out results ;;
  main) main ;;
  analyze) python3 analyze.py main --store "$STORE" --out results ;;
  all) search1; search2; python3 analyze.py lr --store "$STORE" --out results; main; python3 analyze.py main --store "$STORE" --out results ;;
  *) echo "usage: $0 [search|main|analyze|all]" >&2; exit 2 ;;
esac
