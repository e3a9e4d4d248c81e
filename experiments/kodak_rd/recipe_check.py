"""Which learning-rate recipe takes a COIN-sized SIREN furthest in a fixed number of steps (CPU evidence).

The GPU acceptance run (run_gpu_acceptance.sh) cannot afford COIN's 50,000 steps per image inside one
lent-GPU session, so it fits fewer steps; this picks the recipe for those steps. A Kodak image is halved to
384x256 (a 768x512 step costs ~2 s on this 2-core CPU) and COIN's "10x28" network (9 hidden layers x 28
here) is fitted full-batch with each recipe from the same initial weights; one JSON line per fit, with the
full-image PSNR every 100 steps.

    OMP_NUM_THREADS=1 python experiments/kodak_rd/recipe_check.py kodim23 2000 coin cos_1e-3 >> results.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.transform import resize

from siren_inr.data import PixelField, load_image
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model

RECIPES = {
    "coin": dict(lr=2e-4),  # COIN: constant 2e-4
    "cos_5e-4": dict(lr=5e-4, lr_schedule="cosine", lr_min=1e-5),
    "cos_1e-3": dict(lr=1e-3, lr_schedule="cosine", lr_min=1e-5),
    "cos_2e-3": dict(lr=2e-3, lr_schedule="cosine", lr_min=1e-5),
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="Kodak image stem, e.g. kodim23")
    parser.add_argument("steps", type=int)
    parser.add_argument("recipes", nargs="+", choices=sorted(RECIPES))
    parser.add_argument("--kodak", type=Path, default=Path("../shared/data/kodak"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    image = load_image(str(args.kodak / f"{args.image}.png"))
    half = resize(image, (image.shape[0] // 2, image.shape[1] // 2), anti_aliasing=True).astype(np.float32)
    field = PixelField.from_image(half)
    hparams = {"in_features": 2, "out_features": 3, "hidden_features": 28, "hidden_layers": 9}
    for name in args.recipes:
        torch.manual_seed(0)
        settings = FitSettings(num_epochs=args.steps, progress="none", log_every_n_steps=100, accelerator="cpu",
                               last_ckpt_every_n_epochs=10**9, **RECIPES[name])
        start = time.time()
        fitted = fit_model("siren", hparams, field, settings)
        history = [[row["step"], round(row["train_psnr"], 3)] for row in fitted.history]
        print(json.dumps({"image": args.image, "size": list(half.shape[:2]), "recipe": name, "steps": args.steps,
                          "final_psnr": round(fitted.final["psnr"], 3), "seconds": round(time.time() - start),
                          "history": history}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
