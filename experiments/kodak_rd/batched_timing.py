"""Per image-step time of the rd study's fits: 8 Kodak crops fitted in one batched network vs one at a time.

Both sides run `fit_batched` (one image per call for "one at a time", so the same kernels and optimizer) on
COIN's 10x28 network (9 hidden layers here) at 256x256 centre crops, interleaved over a few rounds; the
ratio of medians is reported (issue 11: target <= 0.5).

    OMP_NUM_THREADS=1 nice python experiments/kodak_rd/batched_timing.py [--steps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from siren_inr.data import PixelField, load_image
from siren_inr.fit.batched import fit_batched
from siren_inr.fit.settings import FitSettings
from siren_inr.jobs.rd import centre_crop
from siren_inr.models import build_model

REPO = Path(__file__).resolve().parents[2]
IMAGES = ["kodim01.png", "kodim02.png", "kodim03.png", "kodim05.png", "kodim07.png", "kodim15.png",
          "kodim20.png", "kodim23.png"]


def main(argv: list[str] | None = None) -> int:
    """Time both ways; print and write a JSON beside the other CPU results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", default=str(REPO / ".." / "shared" / "data" / "kodak"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results_cpu" / "batched_timing.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    fields = [PixelField.from_image(centre_crop(load_image(str(Path(args.kodak) / n), None), args.crop))
              for n in IMAGES]
    settings = FitSettings(lr=2e-4)

    def nets(k: int):
        torch.manual_seed(0)
        return [build_model("siren", in_features=2, out_features=3, hidden_features=28, hidden_layers=9)
                for _ in range(k)]

    values = torch.stack([f.values for f in fields])
    batched_ms, single_ms = [], []
    for _ in range(args.rounds):
        result = fit_batched(nets(len(fields)), fields[0].coords, values, steps=args.steps, settings=settings,
                             read_every=args.steps)
        batched_ms.append(result.seconds * 1e3 / args.steps / len(fields))
        seconds = sum(fit_batched(nets(1), fields[0].coords, values[k : k + 1], steps=args.steps, settings=settings,
                                  read_every=args.steps).seconds for k in range(len(fields)))
        single_ms.append(seconds * 1e3 / args.steps / len(fields))
    out = {"images": len(fields), "crop": args.crop, "net": "siren 9x28 (COIN 10x28)", "steps": args.steps,
           "rounds": args.rounds, "batched_ms_per_image_step": batched_ms, "single_ms_per_image_step": single_ms,
           "ratio_of_medians": statistics.median(batched_ms) / statistics.median(single_ms), "threads": 1}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
