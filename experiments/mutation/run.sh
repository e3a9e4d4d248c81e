#!/usr/bin/env bash
# The mutation study of experiments/mutation/README.md: mutants of chosen functions of siren_inr/fit/ and
# siren_inr/compression/, each run against the (non-slow) tests that cover it, in a scratch worktree.
#   bash experiments/mutation/run.sh /work/mut OUT.jsonl      (the worktree at the commit to measure)
# The targets name the functions where they were at the measured commit (37564bd); since 0a2925a the schedule is
# siren_inr/fit/core.py:adam_with_schedule,adam_for_fit (edit the second --target to re-run on a later commit).
set -euo pipefail
cd "$(dirname "$0")/../.."
WT=${1:?scratch worktree}
OUT=${2:?output jsonl}
M="nice -n 19 python3 scripts/mutate.py --worktree $WT --out $OUT --seed 0 ${EXTRA:-}"
$M --max 14 --target siren_inr/fit/module.py:INRFitModule.configure_optimizers \
   --target siren_inr/fit/batched.py:adam_with_schedule,images_per_chunk,step_bytes_per_image \
   --tests tests/fit/test_fit.py tests/fit/test_batched.py
$M --max 14 --target siren_inr/compression/network/codecs.py:fit_network,network_multiplications_per_pixel \
   --tests tests/compression/test_inr_codecs.py
$M --max 12 --target siren_inr/compression/quantize.py:grid_params,quantize_uniform,dequantize,num_groups,QuantSettings.bits_for \
   --tests tests/compression/test_quantize.py
$M --max 10 --target siren_inr/compression/bd.py:rd_front,bd_metrics,mean_curves \
   --tests tests/compression/test_bd.py
