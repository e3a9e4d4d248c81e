"""Benchmark (not a test): seconds per training step of Cool-chic and of this project's latent codec, side by side
in one run on the same crop, preset, step budget and thread count.

    taskset -c 1 python experiments/kodak_rd/coolchic_peer/step_time.py --coolchic ~/Cool-Chic \
        --python ~/cc-venv/bin/python --folder ../shared/data/kodak [--steps 2000] [--preset lop] [--threads 1]

Cool-chic's time is its own training clock (the `time_sec` column of its log at its last iteration: warm-up
candidates, main and final phases, no quantization or bitstream); ours is `train_seconds` of the codec (the same
phases, no quantization or coding). Each runs alone, one after the other. Writes step_time.json in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from siren_inr.compression.latent.network import Architecture
from siren_inr.compression.latent.training import LatentTrainSettings, train_latents
from siren_inr.data import load_image
from siren_inr.data.image import save_png
from siren_inr.jobs.rd import centre_crop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import checkout_version, cpu_model  # noqa: E402


def coolchic_training_seconds(log: str) -> tuple[float, int]:
    """(seconds, iterations) at the last training line of a Cool-chic encode log."""
    best = (0.0, 0)
    for line in log.splitlines():
        parts = line.split()
        if len(parts) >= 8 and re.fullmatch(r"-?[0-9.]+", parts[0]) and parts[7].isdigit():
            seconds, itr = float(parts[6]), int(parts[7])
            if itr >= best[1]:
                best = (max(seconds, best[0]), itr)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coolchic", required=True, type=Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--image", default="kodim01")
    parser.add_argument("--lam", type=float, default=0.004)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--preset", default="lop")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    checkout = args.coolchic.expanduser().resolve()
    work = args.out / "work" / f"step_time_{args.preset}_{args.steps}"
    work.mkdir(parents=True, exist_ok=True)
    crop = centre_crop(load_image(str(args.folder / f"{args.image}.png"), None), args.crop)
    crop_png = save_png(work / "crop.png", crop)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    started = time.perf_counter()
    result = subprocess.run(
        [args.python, str(HERE / "launch.py"), str(checkout), "encode", "--", f"--input={crop_png}",
         f"--output={work / 'bitstream.cool'}", f"--workdir={work}", f"--lmbda={args.lam}", f"--n_itr={args.steps}",
         f"--dec_cfg_residue={checkout / 'cfg/dec/intra' / (args.preset + '.cfg')}"],
        capture_output=True, text=True, env=env, cwd=work, check=True)
    coolchic_wall = time.perf_counter() - started
    (work / "encode.log").write_text(result.stdout + result.stderr)
    cc_seconds, cc_steps = coolchic_training_seconds(result.stdout)
    torch.set_num_threads(args.threads)
    trained = train_latents(crop, Architecture(args.crop, args.crop, 3, preset=args.preset),
                            LatentTrainSettings(lam=args.lam, steps=args.steps))
    row = {"image": args.image, "crop": args.crop, "lambda": args.lam, "steps": args.steps, "preset": args.preset,
           "threads": args.threads, "coolchic": checkout_version(checkout), "cpu": cpu_model(),
           "coolchic_training_seconds": round(cc_seconds, 1), "coolchic_iterations": cc_steps,
           "coolchic_wall_seconds": round(coolchic_wall, 1),
           "coolchic_seconds_per_step": round(cc_seconds / max(cc_steps, 1), 4),
           "ours_training_seconds": round(trained.seconds, 1),
           "ours_seconds_per_step": round(trained.seconds / args.steps, 4),
           "ratio_ours_to_coolchic": round((trained.seconds / args.steps) / (cc_seconds / max(cc_steps, 1)), 3)}
    print(json.dumps(row), flush=True)
    (args.out / "step_time.json").write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
