"""How far a rounding-level change moves COIN's 10x28 fit after 100 steps (issue 11's PSNR-parity target).

The benchmark's COIN case (same image, same seed-0 weights, constant Adam lr: by default the main job's 1e-3, where
the bench ran this case before it took COIN's own 2e-4) fitted four ways, PSNR every 10 steps:

  plain              the benchmark's plain loop (siren_inr/bench/plain_loop.py), in this process
  plain, perturbed   the same loop from weights multiplied by (1 + 1e-7 * N(0, 1)): a change of float rounding size
  tiled              the project's default CPU step (siren_inr/fit/tiled.py)
  plain, float64     the plain loop in double precision: the fit both fp32 paths approximate

If the fit is sensitive to its rounding (Adam spikes on this deep omega-30 net), the perturbed plain loop drifts
from the plain one as much as the tiled step does, and neither is closer to the float64 fit.

    python experiments/benchmark/parity_coin.py --out experiments/benchmark/results/cpu_coin_parity
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from siren_inr.bench.cases import standard_cases
from siren_inr.bench.plain_loop import PlainFit
from siren_inr.bench.probes import linear_layers
from siren_inr.data import PixelField
from siren_inr.fit.cpu import tune_allocator
from siren_inr.models import build_model
from siren_inr.fit.tiled import TiledSirenStep, tiled_mse
from siren_inr.seeding import seed_all

HPARAMS = {"in_features": 2, "out_features": 3, "hidden_features": 28, "hidden_layers": 9}


def psnr(net_out: torch.Tensor, values: torch.Tensor) -> float:
    """The plain loop's PSNR (its `psnr` command): [0, 1] range, prediction clamped."""
    pred = ((net_out + 1.0) * 0.5).clamp(0, 1)
    truth = ((values + 1.0) * 0.5).clamp(0, 1)
    return 10.0 * torch.log10(1.0 / torch.mean((pred.double() - truth.double()) ** 2)).item()


def plain_run(net, field, steps: int, every: int, lr: float, perturb: float = 0.0,
              dtype=torch.float32) -> dict[int, float]:
    linears = [(m.weight.detach().clone(), m.bias.detach().clone()) for m in linear_layers(net)]
    if perturb:
        gen = torch.Generator().manual_seed(5)
        linears = [(w * (1 + perturb * torch.randn(w.shape, generator=gen)),
                    b * (1 + perturb * torch.randn(b.shape, generator=gen))) for w, b in linears]
    sizes = {"in": 2, "out": 3, "width": 28, "hidden_layers": 9, "omega_0": 30.0, "first_omega_0": 30.0}
    fit = PlainFit({"sizes": sizes, "linears": [(w.to(dtype), b.to(dtype)) for w, b in linears],
                    "coords": field.coords.to(dtype), "values": field.values.to(dtype), "lr": lr})
    fit.net.to(dtype)
    fit.optimizer = torch.optim.Adam(fit.net.parameters(), lr=lr)
    out = {}
    for step in range(steps + 1):
        if step % every == 0:
            with torch.no_grad():
                out[step] = psnr(fit.net(fit.coords), fit.values)
        if step < steps:
            fit._step()
    return out


def tiled_run(net, field, steps: int, every: int, lr: float) -> dict[int, float]:
    import copy

    net = copy.deepcopy(net)
    engine = TiledSirenStep(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    out = {}
    for step in range(steps + 1):
        if step % every == 0:
            with torch.no_grad():
                out[step] = psnr(net(field.coords), field.values)
        if step < steps:
            loss = tiled_mse(engine, field.coords, field.values)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", default=None, help="a Kodak image for the COIN case (else astronaut)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="Adam lr, constant (default 1e-3: train.yaml's; the bench's COIN case uses COIN's 2e-4)")
    parser.add_argument("--no-float64", action="store_true", help="skip the (slow) double-precision fit")
    parser.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md")
    args = parser.parse_args()
    tune_allocator()
    case = standard_cases(args.kodak)["coin"]
    field = PixelField.from_image(case.load())
    seed_all(0)
    net = build_model("siren", **HPARAMS)
    runs = {"plain": plain_run(net, field, args.steps, args.every, args.lr)}
    print("plain", runs["plain"], flush=True)
    runs["plain, perturbed 1e-7"] = plain_run(net, field, args.steps, args.every, args.lr, perturb=1e-7)
    print("perturbed", runs["plain, perturbed 1e-7"], flush=True)
    runs["tiled (project default)"] = tiled_run(net, field, args.steps, args.every, args.lr)
    print("tiled", runs["tiled (project default)"], flush=True)
    if not args.no_float64:
        runs["plain, float64"] = plain_run(net, field, args.steps, args.every, args.lr, dtype=torch.float64)
        print("float64", runs["plain, float64"], flush=True)
    steps = sorted(runs["plain"])
    lines = [f"{case.name}, seed 0, Adam lr {args.lr:g}, PSNR dB every {args.every} steps", "",
             "| step | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(f"{runs[name][s]:.2f}" for name in runs) + " |" for s in steps]
    print("\n".join(lines))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"case": case.name, "lr": args.lr, "psnr_db": runs},
                                                            indent=2))
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
