"""`siren-inr bench`: the fit against a plain PyTorch restatement of the reference loop, side by side.

Three ways to fit the same image from the same initial weights with the same optimizer:
  reference  a plain PyTorch SIREN fit written here (3 x 256 sines, omega 30, Adam, full batch, fp32,
             the loss read on the host every step);
  default    the `siren-inr train` library path with its default settings (Lightning, history rows
             with PSNR/SSIM every 25 steps, a real MLflow logger on a temporary SQLite store, checkpoints);
  fast       the same path with `trainer=fast`.
Timing is interleaved so machine noise hits all variants alike: on CPU one reference step runs between
every two steps of the project's fit ("lockstep"), each timed on its own; on a GPU (where a host clock
per step would add syncs) the variants run in alternating blocks timed with one sync at each end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field as dc_field
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from siren_inr.errors import SirenInrError

VARIANTS = ("reference", "default", "fast")
MIB = 1024.0 ** 2


# --- memory -------------------------------------------------------------------------------------------

class MemoryProbe:
    """Peak tensor memory of a stretch of work, above what was live at its start.

    GPU: the CUDA caching allocator's peak statistics. CPU: PyTorch's profiler records every tensor
    allocation and free (profile_memory=True); replaying them in time order gives the exact peak of
    live tensor bytes. (The process RSS high-water mark was tried first: Linux updates it lazily and
    it read 8 to 20 MiB for identical 40 MiB steps.) Python objects and allocator slack are not counted.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self._start = 0
        self._profiler = None

    @property
    def available(self) -> bool:
        """Whether peaks can be measured here."""
        return True

    def start(self) -> None:
        """Begin a stretch."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return
        from torch.profiler import ProfilerActivity, profile

        self._profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        self._profiler.__enter__()

    def peak_growth_bytes(self) -> int:
        """Peak bytes above the stretch's start (ends the stretch)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self._start
        profiler, self._profiler = self._profiler, None
        if profiler is None:
            return 0
        profiler.__exit__(None, None, None)
        events = [e for e in profiler.profiler.kineto_results.events() if e.name() == "[memory]"]
        events.sort(key=lambda e: e.start_ns())
        live = peak = 0
        for event in events:
            live += event.nbytes()
            peak = max(peak, live)
        return peak


# --- (a) the reference loop ---------------------------------------------------------------------------

class ReferenceSiren(nn.Module):
    """The reference network restated in plain PyTorch: sin(30 (W x + b)) layers and a linear output."""

    def __init__(self, in_features: int, out_features: int, hidden_features: int, hidden_layers: int,
                 omega_0: float = 30.0, first_omega_0: float | None = None):
        super().__init__()
        sizes = [in_features] + [hidden_features] * (hidden_layers + 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(hidden_features, out_features)
        self.omega_0 = omega_0
        self.first_omega_0 = omega_0 if first_omega_0 is None else first_omega_0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.hidden):
            x = torch.sin((self.first_omega_0 if i == 0 else self.omega_0) * layer(x))
        return self.out(x)

    def load_linears(self, linears: list[nn.Linear]) -> "ReferenceSiren":
        """Copy weights from the project's network, layer by layer, so both start identical."""
        mine = list(self.hidden) + [self.out]
        if len(mine) != len(linears):
            raise ValueError(f"reference has {len(mine)} linear layers, the project's net {len(linears)}")
        with torch.no_grad():
            for dst, src in zip(mine, linears):
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
        return self


class ReferenceRun:
    """The reference fit, advanced one step at a time so it can be interleaved with another fit."""

    def __init__(self, net: ReferenceSiren, coords: torch.Tensor, values: torch.Tensor, lr: float,
                 psnr_steps: set[int], to_image):
        self.net, self.coords, self.values = net, coords, values
        self.optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        self.psnr_steps, self.to_image = psnr_steps, to_image
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []  # process CPU time (all threads): robust to other load on the machine
        self.losses: list[float] = []
        self.psnr: dict[int, float] = {}
        self.steps_done = 0
        self.peak_bytes: list[int] = []

    def step(self, probe: MemoryProbe | None = None) -> None:
        """One full-batch Adam step; the loss is read on the host, as the reference does every step."""
        if probe is not None:
            probe.start()
        sync = self.coords.is_cuda
        start, cpu_start = time.perf_counter(), time.process_time()
        out = self.net(self.coords)
        loss = torch.mean((out - self.values) ** 2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.losses.append(loss.item())
        if sync:
            torch.cuda.synchronize()
        self.ms.append((time.perf_counter() - start) * 1e3)
        self.cpu_ms.append((time.process_time() - cpu_start) * 1e3)
        if probe is not None:
            self.peak_bytes.append(probe.peak_growth_bytes())
        if self.steps_done in self.psnr_steps:
            self.psnr[self.steps_done] = self._psnr(out.detach())
        self.steps_done += 1

    def finish(self) -> None:
        """PSNR of the final weights (step == steps done), outside any timed stretch."""
        if self.steps_done in self.psnr_steps:
            with torch.no_grad():
                self.psnr[self.steps_done] = self._psnr(self.net(self.coords))

    def _psnr(self, out: torch.Tensor) -> float:
        from siren_inr.metrics.quality import psnr_db

        return psnr_db(self.to_image(out.float()), self.to_image(self.values))


# --- interleaving with the project's fit -----------------------------------------------------------

class Lockstep(pl.Callback):
    """Runs one reference step between every two steps of the host fit and times both separately.

    The host's step time is everything from the end of one reference step to the start of the next:
    its training step, backward, optimizer step, every callback, logger and epoch hook in between.
    """

    def __init__(self, reference: ReferenceRun | None, probe: MemoryProbe | None = None):
        self.reference, self.probe = reference, probe
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.peak_bytes: list[int] = []
        self.closing_ms: float | None = None
        self._t0: float | None = None
        self._cpu0 = 0.0

    def _stop(self) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = self._stop()
        if self._t0 is not None:
            self.ms.append((now - self._t0) * 1e3)
            self.cpu_ms.append((time.process_time() - self._cpu0) * 1e3)
            if self.probe is not None:
                self.peak_bytes.append(self.probe.peak_growth_bytes())
        if self.reference is not None:
            self.reference.step(self.probe)
        if self.probe is not None:
            self.probe.start()
        self._t0 = self._stop()
        self._cpu0 = time.process_time()

    def on_train_end(self, trainer, pl_module):
        # The last interval also holds the closing full-image evaluation and the final checkpoint.
        if self._t0 is not None:
            self.closing_ms = (self._stop() - self._t0) * 1e3


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


# --- configuration of the project's variants --------------------------------------------------------

def compose_job(overrides: list[str]):
    """The TrainJob `siren-inr train <overrides>` would run (composed with Hydra, built by the train CLI)."""
    from hydra import compose, initialize_config_dir

    from siren_inr.cli.hydra_support import conf_dir
    from siren_inr.cli.config import job_from_config

    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="train", overrides=list(overrides))
    return job_from_config(cfg)


@dataclass
class BenchOptions:
    """What to measure."""

    sizes: list[int]
    steps: int = 100
    warmup: int = 5
    image: str = "cameraman"
    variants: tuple[str, ...] = VARIANTS
    repeats: int = 1
    device: str = "auto"
    fast_overrides: list[str] = dc_field(default_factory=lambda: ["trainer=fast"])
    overrides: list[str] = dc_field(default_factory=list)  # for every project variant (e.g. a narrower model)
    memory: bool = True
    memory_steps: int = 3
    large_sizes: list[int] = dc_field(default_factory=list)
    large_batch: int = 16384
    batched: int = 0  # also fit this many copies of the image at once (fit_batched); 0 = skip
    timing: str = "auto"  # lockstep (CPU default) | blocks (GPU default)


@dataclass
class VariantResult:
    """Timings, quality and memory of one variant at one size."""

    variant: str
    size: int
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
    closing_ms: float | None = None
    step_peak_mib: float | None = None
    settings: dict = dc_field(default_factory=dict)
    raw_ms: list[float] = dc_field(default_factory=list)  # every timed step (lockstep) or block (GPU), in order


def _timing(options: BenchOptions, device: torch.device) -> str:
    if options.timing == "auto":
        return "blocks" if device.type == "cuda" else "lockstep"
    return options.timing


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name in ("gpu", "cuda") and not torch.cuda.is_available():
        raise SirenInrError(f"--device {name}: no CUDA device here; accepted: cpu, auto")
    if name not in ("cpu", "gpu", "cuda"):
        raise SirenInrError(f"--device {name!r}; accepted: auto, cpu, gpu")
    return torch.device("cpu" if name == "cpu" else "cuda")


def _settings_for(variant: str, options: BenchOptions, device: torch.device, steps: int):
    overrides = list(options.overrides) + (list(options.fast_overrides) if variant == "fast" else [])
    overrides += [f"num_epochs={steps}", "progress=none",
                  f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}"]
    job = compose_job(overrides)
    return job


@contextlib.contextmanager
def _tracked_logger(root: Path, name: str):
    """A real MLflow run in a temporary SQLite store and its Lightning logger (tracking costs count)."""
    from siren_inr.tracking.run import tracked_run
    from siren_inr.tracking.store import artifact_root_for, ensure_store

    uri = f"sqlite:///{root / 'mlflow.db'}"
    ensure_store(uri)
    with tracked_run(uri, "bench", run_name=name, artifact_location=artifact_root_for(uri)) as run:
        yield run.lightning_logger()


def _linears(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def _run_project(variant: str, options: BenchOptions, field, device: torch.device, init_state: dict,
                 psnr_steps: set[int], lockstep: bool, workdir: Path):
    """One fit of a project variant; returns (module, its timing callback, the reference run beside it)."""
    from siren_inr.fit.module import INRFitModule
    from siren_inr.fit.trainer import fit_module
    from siren_inr.models import hparams_for_image

    job = _settings_for(variant, options, device, options.steps)
    hparams = hparams_for_image(job.model_name, job.model_hparams, field.height, field.width, field.channels)
    module = INRFitModule(job.model_name, hparams, job.fit.as_dict(), field)
    module.net.load_state_dict(init_state)
    reference = ReferenceSiren(2, field.channels, hparams["hidden_features"], hparams["hidden_layers"],
                               hparams.get("hidden_omega_0", 30.0), hparams.get("first_omega_0", 30.0))
    reference = reference.load_linears(_linears(module.net)).to(device)
    ref_run = ReferenceRun(reference, field.coords.to(device), field.values.to(device), job.fit.lr, psnr_steps,
                           field.to(device).to_image)
    timer = Lockstep(ref_run) if lockstep else BlockTimer(options.warmup)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{variant}-", dir=workdir))
    with _tracked_logger(run_dir, variant) as logger:
        fit_module(module, field, job.fit, loggers=[logger], callbacks=[timer],
                   checkpoint_dir=run_dir / "checkpoints", default_root_dir=run_dir)
    if not lockstep:
        # GPU timing: the reference in its own block right after, same steps.
        for _ in range(options.steps):
            ref_run.step()
    ref_run.finish()
    return module, job, timer, ref_run


def _project_memory(module, job, field, steps: int, device: torch.device, workdir: Path) -> float | None:
    """Largest peak growth of one training step of an already built (and, if compiled, warm) module."""
    from siren_inr.fit.trainer import fit_module

    probe = MemoryProbe(device)
    if not probe.available:
        return None
    settings = job.fit
    settings.num_epochs = steps
    module.train()  # evaluate() left it in eval mode
    timer = Lockstep(None, probe)
    fit_module(module, field, settings, callbacks=[timer], default_root_dir=workdir)
    peaks = timer.peak_bytes[1:] or timer.peak_bytes  # the first step may hold a recompile
    return max(peaks) / MIB if peaks else None


def _reference_memory(field, hparams: dict, steps: int, device: torch.device) -> float | None:
    probe = MemoryProbe(device)
    if not probe.available:
        return None
    net = ReferenceSiren(2, field.channels, hparams["hidden_features"], hparams["hidden_layers"]).to(device)
    run = ReferenceRun(net, field.coords.to(device), field.values.to(device), 1e-4, set(), field.to_image)
    for _ in range(steps):
        run.step(probe)
    return max(run.peak_bytes[1:] or run.peak_bytes) / MIB


def bench_size(size: int, options: BenchOptions, device: torch.device, workdir: Path) -> list[VariantResult]:
    """All variants at one image size."""
    from siren_inr.data import PixelField, load_image
    from siren_inr.models import build_model
    from siren_inr.models import hparams_for_image

    field = PixelField.from_image(load_image(options.image, size))
    base = compose_job(list(options.overrides))
    hparams = hparams_for_image(base.model_name, base.model_hparams, field.height, field.width, field.channels)
    if base.model_name != "siren" or not hparams.get("outermost_linear", True):
        raise SirenInrError(f"model {base.model_name!r} (outermost_linear={hparams.get('outermost_linear')}): the "
                            "reference loop is a SIREN with a linear output; accepted: model.name=siren, "
                            "model.outermost_linear=true")
    pl.seed_everything(base.seed, verbose=False)
    init_state = {k: v.clone() for k, v in build_model(base.model_name, **hparams).state_dict().items()}
    psnr_steps = set(range(0, options.steps + 1, base.fit.log_every_n_steps)) | {options.steps}
    lockstep = _timing(options, device) == "lockstep"
    project = [v for v in options.variants if v != "reference"]
    runs: dict[str, list] = {v: [] for v in project}
    modules = {}
    for rep in range(options.repeats):
        order = project if rep % 2 == 0 else project[::-1]
        for variant in order:
            module, job, timer, ref_run = _run_project(variant, options, field, device, init_state, psnr_steps,
                                                       lockstep, workdir)
            runs[variant].append((timer, ref_run, module))
            modules[variant] = (module, job)
    results = []
    ref_all: dict[str, list[float]] = {"ms": [], "cpu": []}
    ref_psnr: dict[int, float] = {}
    for variant in project:
        own, ref = {"ms": [], "cpu": [], "pair": []}, {"ms": [], "cpu": []}
        closing = []
        for timer, ref_run, module in runs[variant]:
            w = options.warmup
            if lockstep:
                # timer.ms[i] is the host's step i, run right after reference step i.
                n = len(timer.ms)
                own["ms"] += timer.ms[w:n]
                own["cpu"] += timer.cpu_ms[w:n]
                own["pair"] += [b / a for a, b in zip(ref_run.ms[w:n], timer.ms[w:n])]
                ref["ms"] += ref_run.ms[w:n]
                ref["cpu"] += ref_run.cpu_ms[w:n]
                closing.append(timer.closing_ms)
            else:
                own["ms"].append(timer.ms_per_step)
                ref["ms"].append(statistics.fmean(ref_run.ms[w:]))
            ref_psnr = ref_run.psnr
        ref_all["ms"] += ref["ms"]
        ref_all["cpu"] += ref["cpu"]
        module = runs[variant][-1][2]
        psnr = {row["step"]: row["train_psnr"] for row in module.history if row["step"] in psnr_steps}
        own_med, own_mean = statistics.median(own["ms"]), statistics.fmean(own["ms"])
        ref_med, ref_mean = statistics.median(ref["ms"]), statistics.fmean(ref["ms"])
        cpu_med = statistics.median(own["cpu"]) if own["cpu"] else None
        ref_cpu_med = statistics.median(ref["cpu"]) if ref["cpu"] else None
        closing = [c for c in closing if c is not None]
        results.append(VariantResult(
            variant=variant, size=size, ms_median=own_med, ms_mean=own_mean, ms_steps=len(own["ms"]), psnr_db=psnr,
            reference_ms_median=ref_med, reference_ms_mean=ref_mean, ratio_median=own_med / ref_med,
            ratio_mean=own_mean / ref_mean, cpu_ms_median=cpu_med, reference_cpu_ms_median=ref_cpu_med,
            ratio_cpu_median=cpu_med / ref_cpu_med if cpu_med and ref_cpu_med else None,
            ratio_paired_median=statistics.median(own["pair"]) if own["pair"] else None,
            closing_ms=statistics.median(closing) if closing else None,
            settings={k: v for k, v in modules[variant][1].fit.as_dict().items()
                      if k in ("precision", "matmul_precision", "compile", "compile_mode", "fused_sine",
                               "deterministic", "log_every_n_steps")}, raw_ms=own["ms"]))
    if "reference" in options.variants and ref_all["ms"]:
        med, mean = statistics.median(ref_all["ms"]), statistics.fmean(ref_all["ms"])
        cpu = statistics.median(ref_all["cpu"]) if ref_all["cpu"] else None
        results.insert(0, VariantResult("reference", size, med, mean, len(ref_all["ms"]), dict(ref_psnr), med, mean,
                                        1.0, 1.0, cpu, cpu, 1.0 if cpu else None, 1.0, raw_ms=ref_all["ms"]))
    if options.batched > 1:
        reference_ms = next((r.ms_median for r in results if r.variant == "reference"), None)
        results.append(_bench_batched(field, hparams, init_state, options, device, base.fit.lr, reference_ms))
    if options.memory:
        by_name = {r.variant: r for r in results}
        if "reference" in by_name:
            by_name["reference"].step_peak_mib = _reference_memory(field, hparams, options.memory_steps, device)
        for variant in project:
            module, job = modules[variant]
            by_name[variant].step_peak_mib = _project_memory(module, job, field, options.memory_steps, device,
                                                             workdir)
    return results


def _bench_batched(field, hparams: dict, init_state: dict, options: BenchOptions, device: torch.device, lr: float,
                   reference_ms: float | None) -> VariantResult:
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
    fit_batched(fresh(), coords, values, steps=max(1, options.warmup), lr=lr)
    result = fit_batched(fresh(), coords, values, steps=options.steps, lr=lr, read_every=options.steps)
    ms = result.seconds * 1e3 / options.steps / k
    with torch.no_grad():
        net = result.nets[0].to(device)
        psnr = {options.steps: psnr_db(field.to(device).to_image(net(coords)), field.to(device).image())}
    ratio = ms / reference_ms if reference_ms else float("nan")
    return VariantResult(f"batched x{k}", field.height, ms, ms, options.steps, psnr, reference_ms or float("nan"),
                         reference_ms or float("nan"), ratio, ratio)


# --- large images: memory set by the batch, not the image -------------------------------------------

@dataclass
class LargeResult:
    """Peak memory of a short default-path fit at one size, full batch or mini-batch."""

    size: int
    batch_size: int | None
    steps: int
    fit_peak_mib: float | None
    ms_per_step: float


def bench_large(size: int, batch_size: int | None, options: BenchOptions, device: torch.device,
                workdir: Path) -> LargeResult:
    """One epoch of the default path (with its logging-step evaluation and the closing one)."""
    from siren_inr.data import PixelField, load_image
    from siren_inr.fit.module import INRFitModule
    from siren_inr.fit.trainer import fit_module
    from siren_inr.models import hparams_for_image

    field = PixelField.from_image(load_image(options.image, size))
    overrides = ["num_epochs=1", "progress=none", f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}"]
    if batch_size is not None:
        overrides += [f"data.batch_size={batch_size}", f"data.eval_chunk_size={batch_size}"]
    job = compose_job(overrides)
    hparams = hparams_for_image(job.model_name, job.model_hparams, field.height, field.width, field.channels)
    module = INRFitModule(job.model_name, hparams, job.fit.as_dict(), field)
    probe = MemoryProbe(device)
    timer = Lockstep(None)
    probe.start()
    start = time.perf_counter()
    fit_module(module, field, job.fit, callbacks=[timer], default_root_dir=workdir)
    seconds = time.perf_counter() - start
    peak = probe.peak_growth_bytes() / MIB if probe.available else None
    steps = module.steps_per_epoch
    return LargeResult(size, batch_size, steps, peak, seconds * 1e3 / steps)


# --- report --------------------------------------------------------------------------------------------

def machine_description(device: torch.device) -> str:
    """One line naming the machine the numbers come from."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__} (CPU)"


def format_table(results: list[VariantResult], steps: int, fast_label: str = "trainer=fast") -> str:
    """Markdown table of the main benchmark."""
    lines = ["| size | variant | median ms/step | mean ms/step | CPU ms/step | ratio: median | ratio: mean | "
             f"ratio: CPU time | ratio: paired steps | PSNR dB @ ≤{steps // 2} | PSNR dB @ {steps} | step peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        early = [s for s in r.psnr_db if s <= steps // 2]
        mid = r.psnr_db[max(early)] if early else None
        end = r.psnr_db.get(steps)
        mem = f"{r.step_peak_mib:.0f}" if r.step_peak_mib is not None else "n/a"
        label = {"reference": "(a) reference loop", "default": "(b) siren-inr train default",
                 "fast": f"(c) {fast_label}"}.get(r.variant, f"(d) {r.variant}, per image")
        lines.append(f"| {r.size}² | {label} | {r.ms_median:.1f} | {r.ms_mean:.1f} | {_f(r.cpu_ms_median, 1)} | "
                     f"{r.ratio_median:.3f} | {r.ratio_mean:.3f} | {_f(r.ratio_cpu_median, 3)} | "
                     f"{_f(r.ratio_paired_median, 3)} | {_f(mid)} | {_f(end)} | {mem} |")
    return "\n".join(lines)


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_large(results: list[LargeResult]) -> str:
    """Markdown table of the large-image memory check."""
    lines = ["| size | batch (pixels/step) | steps | peak MiB during the fit | ms/step |", "|---|---|---|---|---|"]
    for r in results:
        batch = "full" if r.batch_size is None else str(r.batch_size)
        mem = f"{r.fit_peak_mib:.0f}" if r.fit_peak_mib is not None else "n/a"
        lines.append(f"| {r.size}² | {batch} | {r.steps} | {mem} | {r.ms_per_step:.0f} |")
    return "\n".join(lines)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Benchmark the fit against the reference loop "
                                     "(median ms/step, PSNR at fixed steps, peak memory, ratios to the reference).")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="image sides in pixels (default: 64 128 on CPU, 256 512 on a GPU)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per fit (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="leading steps left out of the timing (default 5)")
    parser.add_argument("--repeats", type=int, default=1, help="fits per variant, order alternated (default 1)")
    parser.add_argument("--image", default="cameraman", help="scikit-image name or image file (default cameraman)")
    parser.add_argument("--variants", default="reference,default,fast",
                        help="comma list of reference, default, fast (default all)")
    parser.add_argument("--fast", nargs="*", default=["trainer=fast"],
                        help="the overrides that make (c) (default: trainer=fast)")
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="siren-inr train overrides for (b) and (c), e.g. model.hidden_features=16 (the reference "
                        "follows the model sizes)")
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
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return parser


def _options(args) -> BenchOptions:
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
    for size in (args.sizes or []) + list(args.large_sizes):
        if size < 8:
            raise SirenInrError(f"size {size}; accepted: at least 8 pixels")
    return BenchOptions(sizes=args.sizes or [], steps=args.steps, warmup=args.warmup, image=args.image,
                        variants=variants, repeats=args.repeats, device=args.device, fast_overrides=list(args.fast),
                        overrides=list(args.overrides), batched=args.batched,
                        timing=args.timing,
                        memory=not args.no_memory, large_sizes=list(args.large_sizes), large_batch=args.large_batch)


def run_bench(options: BenchOptions, out=None) -> dict:
    """Run every part of the benchmark; print the tables as they complete; return all numbers."""
    out = out or sys.stdout
    from siren_inr.fit.trainer import quiet_lightning

    quiet_lightning()
    device = _device(options.device)
    sizes = options.sizes or ([256, 512] if device.type == "cuda" else [64, 128])
    machine = machine_description(device)
    fast_label = " ".join(options.fast_overrides) or "trainer=default"
    print(f"machine: {machine}", file=out, flush=True)
    report: dict = {"machine": machine, "device": device.type, "steps": options.steps, "warmup": options.warmup,
                    "repeats": options.repeats, "image": options.image, "timing": _timing(options, device),
                    "fast_overrides": options.fast_overrides, "results": [], "large": []}
    with tempfile.TemporaryDirectory(prefix="siren-bench-") as tmp:
        results: list[VariantResult] = []
        for size in sizes:
            results += bench_size(size, options, device, Path(tmp))
            print(format_table([r for r in results if r.size == size], options.steps, fast_label), file=out,
                  flush=True)
        report["results"] = [asdict(r) for r in results]
        large = []
        for size in options.large_sizes:
            for batch in (None, options.large_batch):
                large.append(bench_large(size, batch, options, device, Path(tmp)))
        report["large"] = [asdict(r) for r in large]
    print("", file=out)
    print(f"## {machine}; {options.steps} steps, first {options.warmup} left out", file=out)
    print(format_table(results, options.steps, fast_label), file=out)
    if large:
        print("", file=out)
        print(format_large(large), file=out)
    out.flush()
    return report


def main(argv: list[str], prog: str = "siren-inr bench") -> int:
    """Entry point of `siren-inr bench`."""
    from siren_inr.cli.hydra_support import print_error

    args = _parser(prog).parse_args(argv)
    try:
        options = _options(args)
        if args.threads:
            torch.set_num_threads(args.threads)
        report = run_bench(options)
    except SirenInrError as err:
        print_error(str(err))
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0
