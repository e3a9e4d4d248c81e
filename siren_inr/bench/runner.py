"""The whole benchmark: the machine's sgemm rate, every case side by side, the large-image check; printed as it goes."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from siren_inr.bench.probes import machine_description
from siren_inr.bench.reference import PlainLoopProcess
from siren_inr.bench.report import large_table, results_table
from siren_inr.bench.suite import BenchOptions, VariantResult, bench_case, bench_large
from siren_inr.errors import SirenInrError


def bench_device(name: str) -> torch.device:
    """The device for --device auto|cpu|gpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "gpu", "cuda"):
        raise SirenInrError(f"--device {name!r}; accepted: auto, cpu, gpu")
    if name != "cpu" and not torch.cuda.is_available():
        raise SirenInrError(f"--device {name}: no CUDA device here; accepted: cpu, auto")
    return torch.device("cpu" if name == "cpu" else "cuda")


def run_bench(plan: list, options: BenchOptions, device: torch.device, large: list = (),
              fast_label: str = "trainer=fast", out=None) -> dict:
    """Run every case of `plan` ([(Case, {variant: TrainJob})]) and `large` ([(Case, TrainJob)]); return all numbers.

    The machine's fp32 sgemm throughput is measured by the plain process before the first case and after the
    last; the larger of the two is the peak each variant's GFLOP/s is divided by.
    """
    from siren_inr.fit.trainer import quiet_lightning

    out = out or sys.stdout
    quiet_lightning()
    machine = machine_description(device)
    print(f"machine: {machine}", file=out, flush=True)
    report: dict = {"machine": machine, "device": device.type, "steps": options.steps, "warmup": options.warmup,
                    "repeats": options.repeats, "timing": options.timing, "fast": fast_label,
                    "project_threads": torch.get_num_threads(), "results": [], "large": []}
    results: list[VariantResult] = []
    with PlainLoopProcess() as plain, tempfile.TemporaryDirectory(prefix="siren-bench-") as tmp:
        info = plain.info()
        sgemm = [plain.sgemm_gflops(device=device.type)]
        report["plain_process"] = {"torch": info["torch"], "threads": info["threads"]}
        print(f"plain process: torch {info['torch']}, {info['threads']} threads; fp32 sgemm 2048³: "
              f"{sgemm[0]:.1f} GFLOP/s", file=out, flush=True)
        for case, jobs in plan:
            rows = bench_case(case, jobs, options, plain, device, Path(tmp), max(sgemm))
            results += rows
            print(results_table(rows, options.steps, fast_label), file=out, flush=True)
        sgemm.append(plain.sgemm_gflops(device=device.type))
        peak = max(sgemm)
        for r in results:  # against the better of the two sgemm measurements
            r.sgemm_fraction = r.gflops / peak if r.gflops else None
        large_rows = [bench_large(case, job, device, Path(tmp)) for case, job in large]
    report["sgemm_gflops"] = sgemm
    report["results"] = [asdict(r) for r in results]
    report["large"] = [asdict(r) for r in large_rows]
    print("", file=out)
    print(f"## {machine}; {options.steps} steps, first {options.warmup} left out; fp32 sgemm peak "
          f"{peak:.1f} GFLOP/s (plain process, {info['threads']} threads)", file=out)
    print(results_table(results, options.steps, fast_label), file=out)
    if large_rows:
        print("", file=out)
        print(large_table(large_rows), file=out)
    out.flush()
    return report
