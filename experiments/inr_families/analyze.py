"""Tables and figure of the inr_families experiment, read back from its MLflow store.

    python3 analyze.py lr   --store sqlite:///.../mlruns/mlflow.db --out results   # the learning-rate search
    python3 analyze.py main --store sqlite:///.../mlruns/mlflow.db --out results   # the comparison

Times are those of the metric points: each `train/psnr` point is stamped when it is logged, so a run's
seconds at step s are (stamp(s) - stamp(0)), the fit's wall clock including the full-image evaluations at
the logged steps (the same number for every family). Parameters are counted on the rebuilt network;
multiplications per pixel are those of the matrix products of one forward pass (torch's FLOP counter / 2;
a complex product counts its four real ones) plus, for the hash grid, its interpolation (per level: d scalings,
2^d (d - 1) corner-weight products and 2^d F weightings); elementwise activations are not counted.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from siren_inr.models import build_model, hparams_for_image  # noqa: E402

ORDER = ["siren", "finer", "wire", "gauss", "nerf", "hash_grid"]
SEARCHED = ("first_bias_scale", "scale_0")  # family settings searched besides the rate (FINER's k, WIRE's s_0)


def _runs(client: MlflowClient, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise SystemExit(f"no experiment {experiment!r} in the store")
    runs = client.search_runs([found.experiment_id], filter_string="attributes.status = 'FINISHED'",
                              max_results=5000)
    return [r for r in runs if "final/psnr" in r.data.metrics]


def _image_name(path: str) -> str:
    return Path(path).stem.replace("_crop256", "")


def _model(run) -> tuple[str, torch.nn.Module, int]:
    params = run.data.params
    name = params["model.name"]
    hparams = {k[len("model."):]: yaml.safe_load(v) for k, v in params.items()
               if k.startswith("model.") and k != "model.name"}
    channels = 1 if _image_name(params["data.image"]) == "cameraman" else 3
    model = build_model(name, hparams_for_image(name, hparams, 256, 256, channels))
    return name, model, channels


def count_cost(name: str, model: torch.nn.Module) -> tuple[int, float]:
    """Parameters and multiplications per pixel (see the module docstring)."""
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 2))
    mults = counter.get_total_flops() / 2
    if name == "hash_grid":
        enc = model.encoding
        d, features = enc.in_features, enc.tables[0].shape[0]
        mults += len(enc.tables) * (d + 2**d * (d - 1) + 2**d * features)
    return params, mults


def _curve(client: MlflowClient, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    steps = np.array([m.step for m in points])
    values = np.array([m.value for m in points])
    seconds = (np.array([m.timestamp for m in points]) - points[0].timestamp) / 1000.0
    return steps, seconds, values


def _fmt(values: list[float], digits: int) -> str:
    arr = np.asarray(values, dtype=float)
    std = arr.std(ddof=1) if arr.size > 1 else float("nan")
    return f"{arr.mean():.{digits}f} ± {std:.{digits}f}"


def lr_search(client: MlflowClient, out: Path) -> None:
    rows = []
    for run in _runs(client, "inr_families_lr"):
        params = run.data.params
        extra = ", ".join(f"{key}={params[f'model.{key}']}" for key in SEARCHED if f"model.{key}" in params)
        rows.append({"model": params["model.name"], "setting": extra, "lr": float(params["optim.lr"]),
                     "PSNR (dB)": round(run.data.metrics["final/psnr"], 2),
                     "SSIM": round(run.data.metrics["final/ssim"], 4)})
    table = pd.DataFrame(rows).sort_values(["model", "setting", "lr"]).reset_index(drop=True)
    best = table.loc[table.groupby("model")["PSNR (dB)"].idxmax()]
    table["chosen"] = table.index.isin(best.index)
    table.to_csv(out / "lr_search.csv", index=False)
    (out / "lr_search.md").write_text(table.to_markdown(index=False) + "\n")
    print(table.to_markdown(index=False))


def main(client: MlflowClient, out: Path) -> None:
    records = []
    curves: dict[tuple[str, str], list] = defaultdict(list)
    costs = {}
    for run in _runs(client, "inr_families"):
        name, model, channels = _model(run)
        image = _image_name(run.data.params["data.image"])
        costs.setdefault((name, channels), count_cost(name, model))
        steps, seconds, psnr = _curve(client, run.info.run_id, "train/psnr")
        _, _, ssim = _curve(client, run.info.run_id, "train/ssim")
        records.append({"model": name, "image": image, "seed": int(run.data.params["seed"]),
                        "lr": float(run.data.params["optim.lr"]), "psnr": run.data.metrics["final/psnr"],
                        "ssim": run.data.metrics["final/ssim"], "steps": int(run.data.metrics["final/steps"]),
                        "seconds": float(seconds[-1]), "t": seconds, "curve_psnr": psnr, "curve_ssim": ssim,
                        "params": costs[(name, channels)][0], "mults": costs[(name, channels)][1]})
        curves[(name, image)].append((seconds, psnr))
    if not records:
        raise SystemExit("no finished runs in experiment 'inr_families'")
    models = [m for m in ORDER if any(r["model"] == m for r in records)]
    models += sorted({r["model"] for r in records} - set(models))
    images = ["cameraman"] + sorted({r["image"] for r in records} - {"cameraman"})
    # Equal time: the shortest fit of all runs, so that every run has reached it.
    budget = min(r["seconds"] for r in records)
    for r in records:
        r["psnr_t"] = float(np.interp(budget, r["t"], r["curve_psnr"]))
        r["ssim_t"] = float(np.interp(budget, r["t"], r["curve_ssim"]))
    frame = pd.DataFrame([{k: v for k, v in r.items() if not isinstance(v, np.ndarray)} for r in records])
    frame.sort_values(["model", "image", "seed"]).to_csv(out / "runs.csv", index=False)

    def table(psnr_key: str, ssim_key: str) -> pd.DataFrame:
        rows = []
        for m in models:
            sub = frame[frame.model == m]
            row = {"model": m, "lr": f"{sub.lr.iloc[0]:g}", "params (grey / RGB)": "/".join(
                str(costs[(m, c)][0]) for c in (1, 3) if (m, c) in costs),
                "mult/pixel (RGB)": int(costs.get((m, 3), costs.get((m, 1)))[1]),
                "s/step": f"{(sub.seconds / sub.steps).mean():.3f}"}
            for image in images:
                row[f"{image} PSNR"] = _fmt(sub[sub.image == image][psnr_key].tolist(), 2)
            # Per seed, the mean over the images; then mean ± std over the seeds.
            per_seed = sub.groupby("seed")
            row["mean PSNR"] = _fmt(per_seed[psnr_key].mean().tolist(), 2)
            row["mean SSIM"] = _fmt(per_seed[ssim_key].mean().tolist(), 3)
            row["runs"] = len(sub)
            rows.append(row)
        return pd.DataFrame(rows)

    steps = int(frame.steps.max())
    eq_steps, eq_time = table("psnr", "ssim"), table("psnr_t", "ssim_t")
    eq_steps.to_csv(out / "equal_steps.csv", index=False)
    eq_time.to_csv(out / "equal_time.csv", index=False)
    text = (f"# inr_families results\n\n{len(frame)} runs; PSNR in dB, mean ± sample std over seeds "
            f"{sorted(frame.seed.unique().tolist())}.\n\n## Equal steps ({steps} steps)\n\n"
            + eq_steps.to_markdown(index=False)
            + f"\n\n## Equal wall-clock time ({budget:.1f} s of fitting, the shortest run's)\n\n"
            + eq_time.to_markdown(index=False) + "\n")
    (out / "tables.md").write_text(text)
    print(text)
    _figure(curves, models, images, out / "psnr_vs_seconds.png")


def _figure(curves, models, images, path: Path) -> None:
    groups = [("cameraman", ["cameraman"]), ("Kodak crops (mean of 4)", [i for i in images if i != "cameraman"])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False)
    for ax, (title, members) in zip(axes, groups):
        for m in models:
            runs = [c for image in members for c in curves.get((m, image), [])]
            if not runs:
                continue
            end = min(t[-1] for t, _ in runs)
            grid = np.linspace(0, end, 60)
            # Mean over the images of a seed index first is not needed: every run is one (image, seed) pair.
            stack = np.stack([np.interp(grid, t, p) for t, p in runs])
            mean, std = stack.mean(0), stack.std(0)
            (line,) = ax.plot(grid, mean, label=m)
            ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("seconds of fitting (1 CPU thread, shared machine)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["lr", "main"])
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(args.store)
    (lr_search if args.what == "lr" else main)(client, out)
