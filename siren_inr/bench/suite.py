"""The benchmark's runs: each case fitted by the plain reference loop and by the project's variants, side by side.

  reference  plain_loop.py in its own `python` process (torch's defaults, the user's start-up environment);
  default    the `siren-inr train` library path with the TrainJob the command composed (Lightning, history
             rows with PSNR/SSIM every 25 steps, a real MLflow logger on a temporary SQLite store, checkpoints);
  fast       the same path with `trainer=fast` (or whatever overrides the command was given).
All start from the same weights. On CPU one reference step runs between every two steps of the project's fit
("lockstep"), each timed on its own, so a burst of load from elsewhere lands on both; on a GPU (where a host
clock per step would add syncs) the variants run in blocks timed with one sync at each end.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import pytorch_lightning as pl
import torch

from siren_inr.bench.cases import Case
from siren_inr.bench.plain_loop import PlainFit
from siren_inr.bench.probes import MIB, MemoryProbe, net_layer_sizes, step_flops
from siren_inr.bench.reference import PlainLoopProcess, siren_sizes
from siren_inr.errors import SirenInrError
from siren_inr.names import CHECKPOINTS_FOLDER, PSNR_COLUMN, STEP_COLUMN

VARIANTS = ("reference", "default", "fast")


@dataclass
class BenchOptions:
    """What to measure."""

    steps: int = 100
    warmup: int = 5
    variants: tuple[str, ...] = VARIANTS
    repeats: int = 1
    memory: bool = True
    memory_steps: int = 3
    batched: int = 0  # also fit this many copies of the image at once (fit_batched); 0 = skip
    timing: str = "lockstep"  # lockstep (CPU) | blocks (GPU)


@dataclass
class VariantResult:
    """Timings, quality, arithmetic rate and memory of one variant on one case."""

    case: str
    variant: str
    height: int
    width: int
    ms_median: float
    ms_mean: float
    ms_steps: int
    psnr_db: dict[int, float]
    reference_ms_median: float  # the reference steps interleaved with this variant
    reference_ms_mean: float
    ratio_median: float
    ratio_mean: float
    cpu_ms_median: float | None = None  # process CPU time per step (lockstep timing only)
    reference_cpu_ms_median: float | None = None
    ratio_cpu_median: float | None = None
    ratio_paired_median: float | None = None  # median over steps of (this step / the reference step beside it)
    gflop_per_step: float | None = None  # matmul arithmetic of one step
    gflops: float | None = None  # achieved at the median step time
    sgemm_fraction: float | None = None  # gflops / the machine's measured sgemm throughput
    closing_ms: float | None = None
    step_peak_mib: float | None = None
    settings: dict = dc_field(default_factory=dict)
    raw_ms: list[float] = dc_field(default_factory=list)  # every timed step (lockstep) or block (GPU), in order


class Lockstep(pl.Callback):
    """Runs one reference step between every two steps of the host fit and times both separately.

    The host's step time is everything from the end of one reference step to the start of the next:
    its training step, backward, optimizer step, every callback, logger and epoch hook in between.
    """

    def __init__(self, plain: PlainLoopProcess | None, psnr_steps: set[int] = frozenset(),
                 probe: MemoryProbe | None = None):
        self.plain, self.psnr_steps, self.probe = plain, psnr_steps, probe
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.peak_bytes: list[int] = []
        self.reference: list[dict] = []
        self.reference_psnr: dict[int, float] = {}
        self.closing_ms: float | None = None
        self._t0: float | None = None
        self._cpu0 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = time.perf_counter()
        if self._t0 is not None:
            self.ms.append((now - self._t0) * 1e3)
            self.cpu_ms.append((time.process_time() - self._cpu0) * 1e3)
            if self.probe is not None:
                self.peak_bytes.append(self.probe.peak_growth_bytes())
        if self.plain is not None:
            step = len(self.reference)
            if step in self.psnr_steps:
                self.reference_psnr[step] = self.plain.psnr()
            self.reference.append(self.plain.step())
        if self.probe is not None:
            self.probe.start()
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()

    def on_train_end(self, trainer, pl_module):
        # The last interval also holds the closing full-image evaluation and the final checkpoint.
        if self._t0 is not None:
            self.closing_ms = (time.perf_counter() - self._t0) * 1e3
        if self.plain is not None and len(self.reference) in self.psnr_steps:
            self.reference_psnr[len(self.reference)] = self.plain.psnr()


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class BlockTimer(pl.Callback):
    """Times steps [warmup, end) of a fit as one block, with one device sync at each end (GPU timing)."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self._start: float | None = None
        self._count = 0
        self.ms_per_step: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            _sync()
            self._start = time.perf_counter()
        if self._start is not None:
            self._count += 1

    def on_train_epoch_end(self, trainer, pl_module):
        # Callbacks' epoch-end hooks run before the module's, so the closing evaluation is not in the block.
        if trainer.current_epoch + 1 == trainer.max_epochs and self._start is not None and self.ms_per_step is None:
            _sync()
            self.ms_per_step = (time.perf_counter() - self._start) * 1e3 / max(1, self._count)


@contextlib.contextmanager
def _tracked_logger(root: Path, name: str):
    """A real MLflow run in a temporary SQLite store and its Lightning logger (tracking costs count)."""
    from siren_inr.tracking.run import tracked_run
    from siren_inr.tracking.store import artifact_root_for, ensure_store

    uri = f"sqlite:///{root / 'mlflow.db'}"
    ensure_store(uri)
    with tracked_run(uri, "bench", run_name=name, artifact_location=artifact_root_for(uri)) as run:
        yield run.lightning_logger()


def check_siren(job) -> None:
    """The reference loop is a SIREN with a linear output: refuse other networks."""
    hp = job.model_hparams
    if job.model_name != "siren" or not hp.get("outermost_linear", True):
        raise SirenInrError(f"model {job.model_name!r} (outermost_linear={hp.get('outermost_linear')}): the reference "
                            "loop is a SIREN with a linear output; accepted: model=siren, model.outermost_linear=true")


def _project_fit(job, field, device: torch.device, init_state: dict, timer: pl.Callback, workdir: Path, name: str):
    """One fit of a project variant from `init_state`, tracked in a throwaway store; returns the module."""
    from siren_inr.fit.module import INRFitModule
    from siren_inr.fit.trainer import fit_module
    from siren_inr.models import hparams_for_image

    hparams = hparams_for_image(job.model_name, job.model_hparams, field.height, field.width, field.channels)
    module = INRFitModule(job.model_name, hparams, job.fit.as_dict(), field)
    module.net.load_state_dict(init_state)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    with _tracked_logger(run_dir, name) as logger:
        fit_module(module, field, job.fit, loggers=[logger], callbacks=[timer],
                   checkpoint_dir=run_dir / CHECKPOINTS_FOLDER, default_root_dir=run_dir)
    return module


def history_every(settings, steps: int) -> int:
    """Steps between the fit's history rows (its PSNR points)."""
    if hasattr(settings, "history_every"):
        return settings.history_every(steps)
    return int(settings.log_every_n_steps)


def _settings_summary(job) -> dict:
    fit = job.fit.as_dict()
    return {k: fit[k] for k in ("precision", "matmul_precision", "compile", "compile_mode", "fused_sine",
                                "deterministic", "num_threads", "log_every_n_steps") if k in fit}


def bench_case(case: Case, jobs: dict[str, object], options: BenchOptions, plain: PlainLoopProcess,
               device: torch.device, workdir: Path, sgemm_gflops: float | None = None) -> list[VariantResult]:
    """Every variant of one case. `jobs` maps each project variant to the TrainJob it runs (composed by the caller)."""
    from siren_inr.data import PixelField
    from siren_inr.models import build_model, hparams_for_image
    from siren_inr.seeding import seed_all

    field = PixelField.from_image(case.load())
    project = [v for v in options.variants if v != "reference"]
    base = jobs[project[0]]
    for job in jobs.values():
        check_siren(job)
    hparams = hparams_for_image(base.model_name, base.model_hparams, field.height, field.width, field.channels)
    seed_all(base.seed)
    net = build_model(base.model_name, **hparams)
    init_state = {k: v.clone() for k, v in net.state_dict().items()}
    flops = step_flops(net_layer_sizes(net), field.num_pixels)
    psnr_steps = set(range(0, options.steps + 1, history_every(base.fit, options.steps))) | {options.steps}
    lockstep = options.timing == "lockstep"
    sizes = siren_sizes(hparams, field.channels)
    runs: dict[str, list] = {v: [] for v in project}
    for rep in range(options.repeats):
        for variant in (project if rep % 2 == 0 else project[::-1]):
            job = jobs[variant]
            plain.load(net, sizes, field.coords, field.values, job.fit.lr, device.type)
            timer = Lockstep(plain, psnr_steps) if lockstep else BlockTimer(options.warmup)
            module = _project_fit(job, field.to(device) if device.type == "cuda" else field, device, init_state,
                                  timer, workdir, variant)
            reference_block = None
            if not lockstep:
                reference_block = plain.steps(options.steps) / options.steps
                timer.reference_psnr = {options.steps: plain.psnr()}
            runs[variant].append((timer, module, reference_block))
    results: list[VariantResult] = []
    ref_all: dict[str, list[float]] = {"ms": [], "cpu": []}
    ref_psnr: dict[int, float] = {}
    w = options.warmup
    for variant in project:
        own, ref, closing = {"ms": [], "cpu": [], "pair": []}, {"ms": [], "cpu": []}, []
        for timer, module, reference_block in runs[variant]:
            if lockstep:
                n = len(timer.ms)  # timer.ms[i] is the host's step i, run right after reference step i
                ref_ms = [r["ms"] for r in timer.reference[w:n]]
                own["ms"] += timer.ms[w:n]
                own["cpu"] += timer.cpu_ms[w:n]
                own["pair"] += [b / a for a, b in zip(ref_ms, timer.ms[w:n])]
                ref["ms"] += ref_ms
                ref["cpu"] += [r["cpu_ms"] for r in timer.reference[w:n]]
                closing.append(timer.closing_ms)
            else:
                own["ms"].append(timer.ms_per_step)
                ref["ms"].append(reference_block)
            ref_psnr = timer.reference_psnr
        ref_all["ms"] += ref["ms"]
        ref_all["cpu"] += ref["cpu"]
        module = runs[variant][-1][1]
        psnr = {row[STEP_COLUMN]: row[PSNR_COLUMN] for row in module.history if row[STEP_COLUMN] in psnr_steps}
        results.append(_result(case, variant, field, own, ref, psnr, flops, sgemm_gflops, closing,
                               _settings_summary(jobs[variant])))
    if "reference" in options.variants and ref_all["ms"]:
        same = {"ms": ref_all["ms"], "cpu": ref_all["cpu"], "pair": [1.0] * len(ref_all["ms"])}
        results.insert(0, _result(case, "reference", field, same, ref_all, dict(ref_psnr), flops, sgemm_gflops, [],
                                  {"process": "plain python, torch defaults"}))
    if options.batched > 1:
        reference_ms = next((r.ms_median for r in results if r.variant == "reference"), None)
        results.append(_bench_batched(case, field, hparams, init_state, options, device, base.fit, reference_ms))
    if options.memory:
        by_name = {r.variant: r for r in results}
        if "reference" in by_name:
            by_name["reference"].step_peak_mib = _reference_memory(net, sizes, field, options.memory_steps, device)
        for variant in project:
            by_name[variant].step_peak_mib = _project_memory(runs[variant][-1][1], jobs[variant], field,
                                                             options.memory_steps, device, workdir)
    return results


def _result(case: Case, variant: str, field, own: dict, ref: dict, psnr: dict, flops: float,
            sgemm_gflops: float | None, closing: list, settings: dict) -> VariantResult:
    own_med, own_mean = statistics.median(own["ms"]), statistics.fmean(own["ms"])
    ref_med, ref_mean = statistics.median(ref["ms"]), statistics.fmean(ref["ms"])
    cpu_med = statistics.median(own["cpu"]) if own["cpu"] else None
    ref_cpu_med = statistics.median(ref["cpu"]) if ref["cpu"] else None
    gflops = flops / (own_med / 1e3) / 1e9
    closing = [c for c in closing if c is not None]
    return VariantResult(
        case=case.name, variant=variant, height=field.height, width=field.width, ms_median=own_med,
        ms_mean=own_mean, ms_steps=len(own["ms"]), psnr_db=psnr, reference_ms_median=ref_med,
        reference_ms_mean=ref_mean, ratio_median=own_med / ref_med, ratio_mean=own_mean / ref_mean,
        cpu_ms_median=cpu_med, reference_cpu_ms_median=ref_cpu_med,
        ratio_cpu_median=cpu_med / ref_cpu_med if cpu_med and ref_cpu_med else None,
        ratio_paired_median=statistics.median(own["pair"]) if own["pair"] else None,
        gflop_per_step=flops / 1e9, gflops=gflops,
        sgemm_fraction=gflops / sgemm_gflops if sgemm_gflops else None,
        closing_ms=statistics.median(closing) if closing else None, settings=settings, raw_ms=list(own["ms"]))


def _project_memory(module, job, field, steps: int, device: torch.device, workdir: Path) -> float | None:
    """Largest peak growth of one training step of an already built (and, if compiled, warm) module."""
    import copy

    from siren_inr.fit.trainer import fit_module

    probe = MemoryProbe(device)
    settings = copy.deepcopy(job.fit)
    settings.num_epochs = steps
    module.train()  # evaluate() left it in eval mode
    timer = Lockstep(None, probe=probe)
    fit_module(module, field, settings, callbacks=[timer], default_root_dir=workdir)
    peaks = timer.peak_bytes[1:] or timer.peak_bytes  # the first step may hold a recompile
    return max(peaks) / MIB if peaks else None


def _reference_memory(net, sizes: dict, field, steps: int, device: torch.device) -> float:
    """The reference step's peak (tensor bytes do not depend on the process's allocator, so measured here)."""
    from siren_inr.bench.probes import linear_layers

    linears = [(m.weight.detach(), m.bias.detach()) for m in linear_layers(net)]
    fit = PlainFit({"sizes": sizes, "linears": linears, "coords": field.coords, "values": field.values,
                    "lr": 1e-4, "device": device.type})
    probe, peaks = MemoryProbe(device), []
    for _ in range(steps):
        probe.start()
        fit.step()
        peaks.append(probe.peak_growth_bytes())
    return max(peaks[1:] or peaks) / MIB


def _bench_batched(case: Case, field, hparams: dict, init_state: dict, options: BenchOptions, device: torch.device,
                   settings, reference_ms: float | None) -> VariantResult:
    """K copies of the image fitted at once; ms per image-step, timed as one block after a warm-up block."""
    from siren_inr.fit.batched import fit_batched
    from siren_inr.metrics.quality import psnr_db
    from siren_inr.models import build_model

    k = options.batched

    def fresh():
        nets = []
        for _ in range(k):
            net = build_model("siren", **hparams)
            net.load_state_dict(init_state)
            nets.append(net)
        return nets

    coords = field.coords.to(device)
    values = field.values.to(device).expand(k, *field.values.shape).contiguous()
    fit_batched(fresh(), coords, values, steps=max(1, options.warmup), lr=settings.lr)
    result = fit_batched(fresh(), coords, values, steps=options.steps, lr=settings.lr, read_every=options.steps)
    ms = result.seconds * 1e3 / options.steps / k
    with torch.no_grad():
        net = result.nets[0].to(device)
        psnr = {options.steps: psnr_db(field.to(device).to_image(net(coords)), field.to(device).image())}
    ref = reference_ms or float("nan")
    return VariantResult(case.name, f"batched x{k}", field.height, field.width, ms, ms, options.steps, psnr, ref, ref,
                         ms / ref, ms / ref)


@dataclass
class LargeResult:
    """Peak memory of a short default-path fit at one size, full batch or mini-batch."""

    size: int
    batch_size: int | None
    steps: int
    fit_peak_mib: float | None
    ms_per_step: float


def bench_large(case: Case, job, device: torch.device, workdir: Path) -> LargeResult:
    """One epoch of the default path with `job`'s batch size (its logging-step evaluation and the closing one)."""
    from siren_inr.data import PixelField
    from siren_inr.fit.module import INRFitModule
    from siren_inr.fit.trainer import fit_module
    from siren_inr.models import hparams_for_image

    field = PixelField.from_image(case.load())
    hparams = hparams_for_image(job.model_name, job.model_hparams, field.height, field.width, field.channels)
    module = INRFitModule(job.model_name, hparams, job.fit.as_dict(), field)
    probe = MemoryProbe(device)
    probe.start()
    start = time.perf_counter()
    fit_module(module, field, job.fit, callbacks=[Lockstep(None)], default_root_dir=workdir)
    seconds = time.perf_counter() - start
    steps = module.steps_per_epoch
    return LargeResult(case.height, job.fit.batch_size, steps, probe.peak_growth_bytes() / MIB, seconds * 1e3 / steps)
