"""`siren-inr bench`: parse the arguments, compose each variant's train config, run siren_inr.bench, print."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from siren_inr.cli.command import run_command
from siren_inr.errors import SirenInrError

VARIANTS = ("reference", "default", "fast")
CPU_CASES = ["siren128", "siren256", "coin"]
GPU_CASES = ["siren256", "siren512", "coin"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Benchmark the fit against a plain PyTorch loop run in "
                                     "its own process (ms/step side by side, GFLOP/s against the machine's sgemm, "
                                     "PSNR at fixed steps, peak memory).")
    parser.add_argument("--cases", default=None,
                        help="comma list of standard cases: siren128, siren256, coin (COIN's 10x28 at 768x512 RGB), "
                        "siren512 on a GPU (default: siren128,siren256,coin; on a GPU siren256,siren512,coin)")
    parser.add_argument("--kodak", default=None, help="the image of the coin case, e.g. a Kodak PNG "
                        "(default: scikit-image's astronaut resized to 768x512)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="instead of --cases: square sizes of --image with --overrides")
    parser.add_argument("--image", default="cameraman", help="the image of --sizes (default cameraman)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per fit (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="leading steps left out of the timing (default 5)")
    parser.add_argument("--repeats", type=int, default=1, help="fits per variant, order alternated (default 1)")
    parser.add_argument("--variants", default="reference,default,fast",
                        help="comma list of reference, default, fast (default all)")
    parser.add_argument("--fast", nargs="*", default=["trainer=fast"],
                        help="the overrides that make (c) (default: trainer=fast)")
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="siren-inr train overrides for (b) and (c) of every case, e.g. model.hidden_features=16 "
                        "(the reference follows the model sizes)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of (b) and (c) (default: the project's choice); the plain loop "
                        "always keeps torch's default")
    parser.add_argument("--device", default="auto", help="auto, cpu or gpu")
    parser.add_argument("--timing", default="auto", choices=("auto", "lockstep", "blocks"),
                        help="lockstep: a reference step between every two steps, each timed (CPU default); "
                        "blocks: each variant's steps timed as one block, one sync at each end (GPU default)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-step peak memory phase")
    parser.add_argument("--large-sizes", type=int, nargs="*", default=[],
                        help="also fit these sizes for one epoch full batch and in mini-batches, reporting peak memory")
    parser.add_argument("--large-batch", type=int, default=16384, help="pixels per step for --large-sizes")
    parser.add_argument("--batched", type=int, default=0,
                        help="also fit this many copies of the image at once (one bmm per layer) and report ms per "
                        "image-step (a block timed after the interleaved variants)")
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers to this JSON file")
    return parser


def _plan(args, device):
    """(options, [(Case, {variant: TrainJob})], [(Case, TrainJob)], fast label) from the parsed arguments."""
    from siren_inr.bench.cases import select_cases, square_cases
    from siren_inr.bench.suite import BenchOptions
    from siren_inr.cli.config import train_job

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not set(variants) - {"reference"}:
        raise SirenInrError(f"--variants {args.variants!r}; accepted: a comma list of {', '.join(VARIANTS)} "
                            "naming default or fast (the reference runs beside them)")
    if args.steps < 2 or args.warmup < 0 or args.warmup >= args.steps - 1:
        raise SirenInrError(f"--steps {args.steps} --warmup {args.warmup}; accepted: steps >= 2 and "
                            "0 <= warmup < steps - 1")
    if args.repeats < 1:
        raise SirenInrError(f"--repeats {args.repeats}; accepted: a positive integer")
    if args.threads is not None and args.threads < 1:
        raise SirenInrError(f"--threads {args.threads}; accepted: a positive integer")
    for size in (args.sizes or []) + list(args.large_sizes):
        if size < 8:
            raise SirenInrError(f"size {size}; accepted: at least 8 pixels")
    gpu = device.type == "cuda"
    if args.sizes:
        cases = square_cases(args.sizes, args.image, [])
    else:
        names = args.cases.split(",") if args.cases else (GPU_CASES if gpu else CPU_CASES)
        cases = select_cases([n.strip() for n in names if n.strip()], args.kodak, gpu)
    timing = args.timing if args.timing != "auto" else ("blocks" if gpu else "lockstep")
    options = BenchOptions(steps=args.steps, warmup=args.warmup, variants=variants, repeats=args.repeats,
                           memory=not args.no_memory, batched=args.batched, timing=timing)
    # The plain loop steps Adam at a constant lr: the project's variants too, so that their PSNR can be compared.
    common = ["progress=none", "optim.lr_schedule=none", f"trainer.accelerator={'gpu' if gpu else 'cpu'}"]
    if args.threads:
        common.append(f"trainer.num_threads={args.threads}")
    plan = []
    for case in cases:
        base = case.overrides + list(args.overrides) + common + [f"num_epochs={args.steps}"]
        plan.append((case, {v: train_job(base + (list(args.fast) if v == "fast" else []))
                            for v in variants if v != "reference"}))
    large = []
    for case in square_cases(list(args.large_sizes), args.image, list(args.overrides)):
        for batch in (None, args.large_batch):
            extra = [] if batch is None else [f"data.batch_size={batch}", f"data.eval_chunk_size={batch}"]
            large.append((case, train_job(list(args.overrides) + common + ["num_epochs=1"] + extra)))
    return options, plan, large, " ".join(args.fast) or "trainer=default"


def _bench(argv: list[str], prog: str) -> int:
    from siren_inr.bench.runner import bench_device, run_bench

    args = _parser(prog).parse_args(argv)
    device = bench_device(args.device)
    options, plan, large, fast_label = _plan(args, device)
    report = run_bench(plan, options, device, large, fast_label)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


def main(argv: list[str], prog: str = "siren-inr bench") -> int:
    """Entry point of `siren-inr bench`."""
    return run_command(argv, prog, lambda name: _parser(name).format_help().rstrip("\n"),  # as argparse prints it
                       lambda args: _bench(args, prog))
