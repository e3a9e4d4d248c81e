"""Probes of the latent codec (format version 3) on the study's 256 px Kodak crops: one real, exactly decoded file per
(image, lambda, variant), its PSNR, bpp and R-D cost (MSE + lambda * bpp of the file), appended to a JSONL file.

    OMP_NUM_THREADS=1 python3 experiments/kodak_rd/latent_v3/probe.py --folder ../shared/data/kodak \
        --images kodim01 kodim05 --lambdas 0.004 --steps 1000 \
        --variant relu '{"synthesis": "relu"}' --variant sine4 '{"synthesis": "sine", "omega": 4.0}' \
        --out experiments/kodak_rd/latent_v3/probes.jsonl

A variant is a name and a JSON mapping of latent settings (inr_codec.* of conf/inr_codec/latent.yaml, `train`
nested). Points already in --out are skipped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from siren_inr.compression import inr_codecs
from siren_inr.data import load_image
from siren_inr.jobs.rd import centre_crop


def done_points(out: Path) -> set[tuple]:
    """(image, lambda, steps, variant) of the rows already in `out` (a run skips them)."""
    if not out.is_file():
        return set()
    return {(r["image"], r["lambda"], r["steps"], r["variant"]) for r in map(json.loads, out.read_text().splitlines())}


def encode_row(image, image_name: str, name: str, overrides: dict) -> dict:
    """Encode one point with latent settings `overrides` (train.lam and train.steps included): its row."""
    started = time.perf_counter()
    _, _, info = inr_codecs.encode("latent", image, inr_codecs.settings_for("latent", overrides))
    lam = overrides["train"]["lam"]
    mse = 10 ** (-info["psnr_db"] / 10)
    return {"image": image_name, "lambda": lam, "steps": overrides["train"]["steps"], "variant": name,
            "settings": overrides, "psnr_db": round(info["psnr_db"], 3), "bpp": round(info["bpp"], 4),
            "ssim": round(info["ssim"], 4), "num_bytes": info["num_bytes"], "cost": mse + lam * info["bpp"],
            "multiplications_per_pixel": info["multiplications_per_pixel"],
            "train_seconds": round(info["train_seconds"], 1), "seconds": round(time.perf_counter() - started, 1)}


def append_row(out: Path, row: dict) -> None:
    """Print the row and append it to `out` (JSON lines)."""
    print(json.dumps(row), flush=True)
    with out.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--lambdas", nargs="+", type=float, default=[0.004])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    done = done_points(args.out)
    for image_name in args.images:
        image = centre_crop(load_image(str(args.folder / f"{image_name}.png"), None), args.crop)
        for lam in args.lambdas:
            for name, text in args.variant:
                if (image_name, lam, args.steps, name) not in done:
                    overrides = inr_codecs.merged(json.loads(text), {"train": {"lam": lam, "steps": args.steps}})
                    append_row(args.out, encode_row(image, image_name, name, overrides))

if __name__ == "__main__":
    main()
