"""CPU study of the INR codecs (issue 12): latent vs coin vs siren_pe on 256x256 centre crops of 4 Kodak images.

    nice -n 10 python3 experiments/kodak_rd/latent_cpu/run.py latent    # one codec per process
    nice -n 10 python3 experiments/kodak_rd/latent_cpu/run.py coin siren_pe
    python3 experiments/kodak_rd/latent_cpu/summarize.py                 # classical anchors, BD tables

One torch thread. Each point appends one JSON line to results.jsonl (points already there are skipped, so an
interrupted run resumes) and its .inr file to inr/. Every file is decoded by the codec's own decoder
before its numbers are written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from siren_inr.compression import inr_codecs
from siren_inr.compression.codec import decode_inr, image_quality
from siren_inr.data import load_image

HERE = Path(__file__).resolve().parent
KODAK = Path(os.environ.get("KODAK", Path(__file__).resolve().parents[4] / "shared" / "data" / "kodak"))
IMAGES = ["kodim01.png", "kodim05.png", "kodim15.png", "kodim23.png"]
CROP = 256
# Points per codec: (label, settings overrides). Sizes of the network codecs bracket the latent codec's rates.
POINTS = {
    "latent": [(f"lam={lam:g}", {"refine": 0, "train": {"lam": lam, "steps": 400}}) for lam in (0.01, 0.002)],
    "coin": [(f"{d}x{w}", {"hidden_layers": d, "hidden_features": w, "steps": 300,
                          "qat": {"steps": 50, "lr": 1e-5, "eval_every": 25}}) for d, w in ((4, 20), (4, 32))],
    "siren_pe": [(f"{d}x{w}", {"hidden_layers": d, "hidden_features": w, "steps": 300, "num_frequencies": 6,
                              "qat": {"steps": 50, "lr": 1e-5, "eval_every": 25}}) for d, w in ((3, 20), (3, 30))],
}


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The central side x side pixels."""
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return np.ascontiguousarray(image[top : top + side, left : left + side])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("codecs", nargs="+", choices=sorted(POINTS))
    parser.add_argument("--images", nargs="*", default=IMAGES)
    parser.add_argument("--out", default=str(HERE / "results.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["image"], r["codec"], r["point"]) for r in map(json.loads, out.read_text().splitlines())}
    (HERE / "inr").mkdir(exist_ok=True)
    for codec in args.codecs:
        for label, overrides in POINTS[codec]:
            for name in args.images:
                if (name, codec, label) in done:
                    continue
                image = centre_crop(load_image(str(KODAK / name), None), CROP)
                started = time.perf_counter()
                data, reconstruction, info = inr_codecs.encode(codec, image, inr_codecs.settings_for(codec, overrides))
                seconds = time.perf_counter() - started
                decoded = decode_inr(data)
                assert np.array_equal(decoded.image_u8, reconstruction), "decode differs from the encoder's image"
                psnr, ssim = image_quality(decoded.image, image)
                path = HERE / "inr" / f"{Path(name).stem}_{codec}_{label}.inr"
                path.write_bytes(data)
                row = {"image": name, "codec": codec, "point": label, "bpp": 8 * len(data) / (CROP * CROP),
                       "psnr_db": psnr, "ssim": ssim, "num_bytes": len(data), "seconds": seconds,
                       **{k: v for k, v in info.items() if k not in ("bpp", "psnr_db", "ssim", "num_bytes")}}
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(f"{name} {codec} {label}: {row['bpp']:.3f} bpp {psnr:.2f} dB ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
