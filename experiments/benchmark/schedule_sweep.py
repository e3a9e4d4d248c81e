"""Time to quality: how many steps each learning-rate schedule needs to reach a target PSNR.

Runs the project's fit path (fit_model, the settings `siren-inr train` builds) on one image, once per
schedule, reading full-image PSNR every --every steps, and writes one JSON record per schedule plus a
Markdown table. A schedule is `lr:kind[:param]`: kind none (constant), cosine (param = final lr as a
fraction of lr, default 0), exponential (param = total decay factor over the fit, default 0.01).

    python experiments/benchmark/schedule_sweep.py --size 64 --steps 150 \
        --schedules 1e-4:none 1e-3:cosine 1e-3:exponential:0.01 --out results/schedules_64.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from siren_inr.data import PixelField, load_image
from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model


class StopAtTarget(pl.Callback):
    """End the fit at the first history row that reaches the target (the schedule keeps its full length)."""

    def __init__(self, target_db: float):
        self.target_db = target_db

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        history = pl_module.history
        if history and history[-1]["train_psnr"] >= self.target_db:
            trainer.should_stop = True


def parse_schedule(text: str, steps: int) -> dict:
    """'1e-3:cosine:0.01' -> the FitSettings fields of that schedule over `steps` steps."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[1] not in ("none", "cosine", "exponential"):
        raise SirenInrError(f"schedule {text!r}; accepted: lr:none, lr:cosine[:final_fraction], "
                            "lr:exponential[:total_factor]")
    lr = float(parts[0])
    kind = parts[1]
    fields = {"lr": lr, "lr_schedule": kind, "num_epochs": steps}
    if kind == "cosine":
        fields["lr_min"] = lr * (float(parts[2]) if len(parts) == 3 else 0.0)
    if kind == "exponential":
        fields["lr_gamma"] = float(parts[2]) if len(parts) == 3 else 0.01
    return fields


def steps_to(history: list[dict], target_db: float) -> int | None:
    """First logged step whose PSNR reaches target_db (None if never)."""
    for row in history:
        if row["train_psnr"] >= target_db:
            return int(row["step"])
    return None


def run(image: str, size: int, steps: int, schedules: list[str], every: int, target_db: float, seed: int,
        out: Path | None = None, accelerator: str = "cpu", stop_at_target: bool = False) -> list[dict]:
    """One fit per schedule from the same initial weights; returns one record each (written to out as they come)."""
    field = PixelField.from_image(load_image(image, size))
    hparams = {"in_features": 2, "out_features": field.channels, "hidden_features": 256, "hidden_layers": 3}
    records = []
    for text in schedules:
        pl.seed_everything(seed, verbose=False)
        settings = FitSettings(**parse_schedule(text, steps), log_every_n_steps=every,
                               progress="lines" if stop_at_target else "none",
                               accelerator=accelerator, last_ckpt_every_n_epochs=steps)
        start = time.perf_counter()
        result = fit_model("siren", hparams, field, settings,
                           callbacks=[StopAtTarget(target_db)] if stop_at_target else ())
        record = {"stopped_at_target": stop_at_target, "schedule": text, "image": image, "size": size, "steps": steps,
                  "seed": seed, "device": result.device,
                  "target_db": target_db, "steps_to_target": steps_to(result.history, target_db),
                  "final_psnr_db": result.final["psnr"], "best_psnr_db": max(r["train_psnr"] for r in result.history),
                  "seconds": time.perf_counter() - start,
                  "curve": [(int(r["step"]), round(r["train_psnr"], 3)) for r in result.history]}
        print(json.dumps({k: v for k, v in record.items() if k != "curve"}), flush=True)
        records.append(record)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(records, indent=1))
    return records


def table(records: list[dict]) -> str:
    """Markdown table, one row per schedule."""
    lines = ["| size | steps | schedule | steps to {0:g} dB | PSNR at end dB | best PSNR dB |".format(
        records[0]["target_db"]), "|---|---|---|---|---|---|"]
    for r in records:
        reached = r["steps_to_target"] if r["steps_to_target"] is not None else f"> {r['steps']}"
        lines.append(f"| {r['size']}² | {r['steps']} | {r['schedule']} | {reached} | {r['final_psnr_db']:.2f} | "
                     f"{r['best_psnr_db']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="cameraman")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=10, help="read PSNR every this many steps")
    parser.add_argument("--target", type=float, default=40.0, help="target PSNR in dB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu")
    parser.add_argument("--stop-at-target", action="store_true",
                        help="end each fit once it reaches the target (the schedule still spans --steps)")
    parser.add_argument("--schedules", nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the records")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = run(args.image, args.size, args.steps, args.schedules, args.every, args.target, args.seed, args.out,
                  args.accelerator, args.stop_at_target)
    print(table(records))


if __name__ == "__main__":
    main()
