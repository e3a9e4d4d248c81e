"""What each part of the version-3 latent codec buys, on the study's 256 px Kodak crops: one component taken away
at a time, a 3-point lambda ladder per image, BD-rate of each variant against the full codec (per image and on the
mean curve; positive: the component saves that much rate).

    # encode (resumable: points already in --out are skipped; split the images over two cores if you like)
    OMP_NUM_THREADS=1 python3 experiments/kodak_rd/latent_v3/ablation.py run --folder ../shared/data/kodak \
        --images kodim01 kodim05 kodim15 kodim23 --steps 500 --out experiments/kodak_rd/latent_v3/ablation.jsonl
    # the table
    python3 experiments/kodak_rd/latent_v3/ablation.py report --out experiments/kodak_rd/latent_v3/ablation.jsonl

Every point is a real file, decoded exactly; its PSNR and bpp are measured on the decoded pixels and the file's
bytes. Variants that need no code change are settings of conf/inr_codec/latent.yaml; the others change one part
inside this process only (a frozen upsampler, a preset without inter-grid features or without the 3x3 stage,
uniform noise in place of soft-round + Gaussian noise):

    full              the codec as shipped (sine synthesis, omega 4, lop)
    relu              ReLU synthesis in place of the sine
    adam              AdamW for the networks in place of SOAP
    no_warmup         one network initialisation (no warm-up candidates)
    no_final          no final phase with frozen latents
    no_gain           latent gain 1 (latents move 16x slower)
    uniform_noise     y + U(-0.5, 0.5) in training in place of the soft-round + Gaussian noise schedule
    fixed_upsampler   the upsampling cascade kept at its bicubic start (not learned)
    no_inter          the ARM without inter-grid features (same-grid causal context only)
    no_spatial        the synthesis without its 3x3 residual stage
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import pandas as pd
import torch

from siren_inr.compression import inr_codecs
from siren_inr.compression.bd import bd_metrics, mean_curves
from siren_inr.compression.latent import synthesis, training
from siren_inr.data import load_image
from siren_inr.jobs.rd import centre_crop

from probe import append_row, done_points, encode_row  # this folder's probe.py (the script's folder is on sys.path)

LAMBDAS = (0.01, 0.004, 0.001)  # the study's ladder (the peer's)


@contextlib.contextmanager
def _preset(name: str, **changes):
    """Register a variant of lop under `name` while the block runs (the file records the preset by name)."""
    base = synthesis.PRESETS["lop"]
    synthesis.PRESETS[name] = synthesis.Preset(changes.get("context", base.context),
                                               changes.get("features", base.features),
                                               changes.get("layers", base.layers))
    try:
        yield {"preset": name}
    finally:
        del synthesis.PRESETS[name]


@contextlib.contextmanager
def _settings(settings: dict):
    yield settings


@contextlib.contextmanager
def _uniform_noise():
    original = training.noisy_latents
    training.noisy_latents = lambda latents, temperature, sigma: [y + (torch.rand_like(y) - 0.5) for y in latents]
    try:
        yield {}
    finally:
        training.noisy_latents = original


@contextlib.contextmanager
def _fixed_upsampler():
    original = synthesis.Upsampler.__init__

    def frozen(self, levels):
        original(self, levels)
        for parameter in self.parameters():
            parameter.requires_grad_(False)  # no gradient: the optimizers and the clip skip it, weights stay bicubic

    synthesis.Upsampler.__init__ = frozen
    try:
        yield {}
    finally:
        synthesis.Upsampler.__init__ = original


VARIANTS = {
    "full": lambda: _settings({}),
    "relu": lambda: _settings({"synthesis": "relu"}),
    "adam": lambda: _settings({"train": {"optimizer": "adam"}}),
    "no_warmup": lambda: _settings({"train": {"candidates": 1}}),
    "no_final": lambda: _settings({"train": {"final_fraction": 0.0}}),
    "no_gain": lambda: _settings({"train": {"gain": 1.0}}),
    "uniform_noise": _uniform_noise,
    "fixed_upsampler": _fixed_upsampler,
    "no_inter": lambda: _preset("lop_no_inter", features=0),
    "no_spatial": lambda: _preset("lop_no_spatial", layers=synthesis.PRESETS["lop"].layers[:-1]),
}


def run(args: argparse.Namespace) -> None:
    done = done_points(args.out)
    for image_name in args.images:
        image = centre_crop(load_image(str(args.folder / f"{image_name}.png"), None), args.crop)
        for name in args.variants:
            for lam in LAMBDAS:
                if (image_name, lam, args.steps, name) not in done:
                    with VARIANTS[name]() as changes:
                        overrides = inr_codecs.merged(changes, {"train": {"lam": lam, "steps": args.steps}})
                        append_row(args.out, encode_row(image, image_name, name, overrides))


def report(args: argparse.Namespace) -> None:
    rows = pd.DataFrame(map(json.loads, args.out.read_text().splitlines()))
    rows = rows.rename(columns={"variant": "codec", "lambda": "point"})
    for key in ("ssim", "num_bytes"):  # not read here; mean_curves averages them
        rows[key] = rows[key] if key in rows else float("nan")
    out = []
    for steps, part in rows.groupby("steps"):
        images = sorted(part["image"].unique())
        full = part[part["codec"] == "full"]
        means = mean_curves(part)
        for name in VARIANTS:
            if name == "full" or name not in set(part["codec"]):
                continue
            row = {"steps": steps, "variant": name}
            for image in images:
                a, t = full[full["image"] == image], part[(part["codec"] == name) & (part["image"] == image)]
                row[image] = bd_metrics(a, t, anchor_name="full", test_name=name)["bd_rate_percent"]
            row["mean_curve"] = bd_metrics(means[means["codec"] == "full"], means[means["codec"] == name],
                                           anchor_name="full", test_name=name)["bd_rate_percent"]
            row["mean_of_images"] = float(pd.Series([row[i] for i in images]).mean())
            out.append(row)
    table = pd.DataFrame(out)
    print("BD-rate (%) of each variant against the full codec (akima; positive: the part saves that much rate)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:+.1f}"))
    if args.csv:
        table.to_csv(args.csv, index=False, float_format="%.2f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    encode = sub.add_parser("run")
    encode.add_argument("--folder", required=True, type=Path)
    encode.add_argument("--images", nargs="+", required=True)
    encode.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    encode.add_argument("--steps", type=int, default=500)
    encode.add_argument("--crop", type=int, default=256)
    encode.add_argument("--out", type=Path, required=True)
    table = sub.add_parser("report")
    table.add_argument("--out", type=Path, required=True)
    table.add_argument("--csv", type=Path)
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
