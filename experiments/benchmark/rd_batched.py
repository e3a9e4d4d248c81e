"""Issue 11, "many images at once": the RD study's COIN ladder fitted batched against one image at a time.

For each ladder point, the same images (centre crops of one size) are fitted twice through the rd job's own
`fit_images`: with `batch_images=false` (one `fit_model` per image: Lightning loop, history rows, trainer set-up,
closing evaluation) and with `batch_images=true` (`fit_batched`: one loop and one Adam for all images, on a
CPU each image's step in pixel tiles). Reported: wall seconds per image-step of each and their ratio, and
the largest difference of the fitted PSNR between the two (the fits must agree within float rounding).

    python experiments/benchmark/rd_batched.py --kodak ../shared/data/kodak --images 8 --size 256 --steps 100 \
        --out experiments/benchmark/results/cpu_rd_batched
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from siren_inr.data import load_image
from siren_inr.fit.cpu import tune_allocator
from siren_inr.fit.settings import FitSettings
from siren_inr.jobs.rd import RDSettings, centre_crop
from siren_inr.jobs.rd_points import fit_images

SKIMAGE_RGB = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
               "colorwheel")
LADDER = ((4, 20), (4, 30), (9, 28), (9, 40), (12, 49))


def load_images(kodak: Path | None, count: int, size: int) -> tuple[list[str], list[np.ndarray]]:
    """`count` RGB crops in [0, 1] (the rd job's loader and centre crop): the first Kodak images of the folder,
    else scikit-image's colour images (square-resized to `size` first when smaller)."""
    if kodak is not None:
        files = sorted(kodak.glob("*.png"))[:count]
        if len(files) < count:
            raise SystemExit(f"--kodak {kodak}: {len(files)} PNG files, --images {count} asked")
        sources = [str(f) for f in files]
    else:
        sources = list(SKIMAGE_RGB[:count])
    images = []
    for source in sources:
        image = load_image(source)
        if min(image.shape[:2]) < size:
            if kodak is not None:
                raise SystemExit(f"--size {size}: {source} is {image.shape[1]}x{image.shape[0]}")
            image = load_image(source, size)
        images.append(centre_crop(image[..., :3], size))
    return [Path(s).name for s in sources], images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", type=Path, default=None, help="a folder of Kodak PNGs (else scikit-image images)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100, help="fit steps per image and point")
    parser.add_argument("--points", default=",".join(f"{d}x{w}" for d, w in LADDER),
                        help="ladder points, hidden_layers x width (default: rd's ladder)")
    parser.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md")
    args = parser.parse_args()
    tune_allocator()  # as every siren-inr command does
    names, images = load_images(args.kodak, args.images, args.size)
    points = [tuple(int(v) for v in p.split("x")) for p in args.points.split(",")]
    rows = []
    for index, (depth, width) in enumerate(points):
        measured = {}
        for batch in ((False, True) if index % 2 == 0 else (True, False)):  # alternate which goes first
            settings = RDSettings(folder=".", ladder=[(depth, width)], batch_images=batch,
                                  fit=FitSettings(num_epochs=args.steps, lr=2e-4, progress="none"))
            start = time.perf_counter()
            fitted = fit_images(images, depth, width, settings)
            seconds = time.perf_counter() - start
            measured[batch] = {"seconds": seconds, "ms_per_image_step": seconds * 1e3 / (len(images) * args.steps),
                               "psnr_db": [f[1] for f in fitted], "together": max(f[3] for f in fitted)}
        one, many = measured[False], measured[True]
        rows.append({"point": f"{depth}x{width}", "one_at_a_time_ms": one["ms_per_image_step"],
                     "batched_ms": many["ms_per_image_step"],
                     "ratio": many["ms_per_image_step"] / one["ms_per_image_step"],
                     "images_together": many["together"],
                     "max_psnr_difference_db": float(np.max(np.abs(np.subtract(one["psnr_db"], many["psnr_db"])))),
                     "mean_psnr_db": float(np.mean(many["psnr_db"]))})
        print(rows[-1], flush=True)
    total_one = sum(r["one_at_a_time_ms"] for r in rows)
    total_many = sum(r["batched_ms"] for r in rows)
    lines = [f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
             f"torch {torch.__version__}; {len(images)} images ({', '.join(names)}), {args.size}² crops, "
             f"{args.steps} steps per fit, lr 2e-4", "",
             "| point | one at a time ms/image-step | batched ms/image-step | ratio | images together | "
             "max |ΔPSNR| dB | mean PSNR dB |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['point']} | {r['one_at_a_time_ms']:.1f} | {r['batched_ms']:.1f} | {r['ratio']:.3f} | "
              f"{r['images_together']} | {r['max_psnr_difference_db']:.4f} | {r['mean_psnr_db']:.2f} |" for r in rows]
    lines.append(f"| whole ladder | {total_one:.1f} | {total_many:.1f} | {total_many / total_one:.3f} | | | |")
    print("\n".join(lines))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(
            {"images": names, "size": args.size, "steps": args.steps, "rows": rows,
             "ladder_ratio": total_many / total_one}, indent=2))
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
