"""`siren-inr train [overrides] [-m]`: compose the config with Hydra, then run one tracked fit per job."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from siren_inr.cli.hydra_support import (FAILURES_ENV, conf_dir, print_error,
                                         record_failure, report_exception, validate_overrides)
from siren_inr.cli.config import job_from_config
from siren_inr.jobs.sweep import apply_sweep_context, run_name_for
from siren_inr.names import HYDRA_JOB_NUM_TAG, SWEEP_DIR_TAG, SWEEP_ID_TAG
from siren_inr.tracking.sweeps import sweep_id_for
from siren_inr.errors import SirenInrError

_HELP = """usage: siren-inr train [key=value ...] [-m]

Fits a network to an image and records the run in MLflow (default store: ./mlruns).
Common settings (see conf/train.yaml for all):
  model=siren|relu|tanh|nerf|rbf|mixed|fourier|finer|wire|gauss|hash_grid|siren_pe
                 model.hidden_features=256 model.hidden_layers=3
  data.image=cameraman|astronaut|...|path/to/file.png   data.sidelength=256|null   data.batch_size=null|N
  num_epochs=100  optim.lr=1e-3  optim.lr_schedule=cosine|none|exponential|step  seed=0  +experiment=reference
  trainer=default|cpu|gpu|ddp|ddp_gpu  experiment_name=siren-inr  tracking.uri=null|http://...
  ckpt_path=path.ckpt (resume)   evaluate=true ckpt_path=path.ckpt (no training)   debug=true
  resume=<run_id>  continue a killed run from its last checkpoint, in the same MLflow run
  -m / --multirun with comma lists sweeps (e.g. -m model=siren,relu seed=0,1,2)
  -m hparams_search=siren_optuna  Optuna search of lr, omega_0 and width for the best final PSNR
Hydra's own flags work too: --cfg job, --info, hydra/launcher=joblib ..."""


def _job_from_record(config: dict):
    from omegaconf import OmegaConf

    return job_from_config(OmegaConf.create(config))


def _check_job(cfg) -> None:
    """Every value of a composed config checked, its image read and its store looked at, before Hydra creates the
    run's folder (a refused job leaves no outputs/<date>/<time>/)."""
    from siren_inr.jobs.train import load_job_image
    from siren_inr.tracking.store import precheck_store, resolve_tracking_uri

    job = job_from_config(cfg)
    if cfg.get("hparams_search") is None and not cfg.get("resume"):
        load_job_image(job)
    uri = resolve_tracking_uri(job.tracking_uri)
    if uri not in _CHECKED_STORES:  # once per store, not once per swept value
        precheck_store(uri)
        _CHECKED_STORES.add(uri)


_CHECKED_STORES: set[str] = set()


def _hydra_context(job) -> None:
    """Fill output dir, overrides, run name and sweep tags from the running Hydra job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    job.output_dir = Path(hc.runtime.output_dir)
    job.overrides = list(hc.overrides.task)
    if hc.mode == RunMode.MULTIRUN:
        sweep_dir = Path(hc.sweep.dir)
        job.tags[SWEEP_ID_TAG] = sweep_id_for(sweep_dir)
        job.tags[SWEEP_DIR_TAG] = str(sweep_dir.resolve())
        job.tags[HYDRA_JOB_NUM_TAG] = hc.job.num
        apply_sweep_context(job, sweep_dir)  # parent run of the sweep; run name = the model and swept values
    if not job.run_name:
        job.run_name = run_name_for(job.model_name, job.overrides)


def _show(figure: Path) -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
        print_error("show=true but there is no display; the figures are in the run's artifacts", prefix="warning")
        return
    import matplotlib.pyplot as plt
    from PIL import Image

    plt.imshow(Image.open(figure))
    plt.axis("off")
    plt.show()


_ENV_BEFORE_DDP: dict | None = None  # this process's environment before a sweep job launched DDP ranks


def _reset_after_ddp_job() -> None:
    """Undo what the previous sweep job's DDP launch left in this process: its process group, its rank variables."""
    global _ENV_BEFORE_DDP
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key in set(os.environ) - set(_ENV_BEFORE_DDP):
        del os.environ[key]  # LOCAL_RANK, MASTER_PORT, ...: left set, the next job would think it is a DDP worker
    _ENV_BEFORE_DDP = None


def _prepare_ddp_relaunch(job, multirun: bool) -> None:
    """Make the command Lightning's DDP launcher re-runs for ranks 1..N-1 a single run of this job, in its folder."""
    global _ENV_BEFORE_DDP
    if multirun and _ENV_BEFORE_DDP is not None:
        _reset_after_ddp_job()
    strategy = str(job.fit.strategy)
    if not strategy.startswith("ddp") or "spawn" in strategy or "LOCAL_RANK" in os.environ:
        return  # no subprocess launch (or torchrun / SLURM started every rank already)
    if multirun:
        _ENV_BEFORE_DDP = dict(os.environ)
    import __main__
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import flag_override

    if getattr(__main__, "__spec__", None) is not None:
        # `python -m siren_inr train ...`: Lightning would re-run the dispatcher without its subcommand;
        # without a spec it re-runs sys.argv[0], which main() set to this file.
        __main__.__spec__ = None
    if multirun:
        # Otherwise the other ranks would re-run the whole sweep (-m and every swept value) in outputs/.
        # (A joblib/submitit worker's argv[0] is the launcher's own module, so name this file explicitly.)
        hc = HydraConfig.get()
        sys.argv = [str(Path(__file__).resolve()), *hc.overrides.task]
        with flag_override(hc, ["readonly", "struct"], [False, False]):
            hc.run.dir = hc.runtime.output_dir


def task(cfg) -> float | None:
    """One Hydra job: a tracked fit. Returns the final PSNR (for sweepers that optimise it)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from siren_inr.jobs.train import run_train_job

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    debug = bool(cfg.get("debug", False))
    try:
        job = job_from_config(cfg)
        _hydra_context(job)
        if cfg.get("resume"):
            from siren_inr.jobs.rerun import resume_job

            job = resume_job(str(cfg.resume), job, list(HydraConfig.get().overrides.task), _job_from_record)
        _prepare_ddp_relaunch(job, multirun)
        result = run_train_job(job)
    except Exception as err:  # one line for user and resource errors, the traceback for bugs
        import torch

        if not isinstance(err, (SirenInrError, torch.OutOfMemoryError, MemoryError)) and multirun:
            raise
        message = report_exception(err, debug)
        if multirun:
            record_failure(f"job {HydraConfig.get().job.num} ({','.join(HydraConfig.get().overrides.task)}): {message}")
            return None
        sys.exit(2 if isinstance(err, SirenInrError) else 1)
    if result.run_id:
        final = result.final
        print(f"run {result.run_id}: final psnr {final['psnr']:.2f} dB, ssim {final['ssim']:.4f}, mse {final['mse']:.3g} "
              f"-> {result.tracking_uri}", flush=True)
        if cfg.get("show"):
            _show(result.output_dir / "images" / "comparison.png")
    return result.final["psnr"]


def main(argv: list[str] | None = None, prog: str = "siren-inr train") -> int:
    """Validate the overrides, then hand them to Hydra (single run or -m multirun)."""
    import hydra

    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(_HELP)
        return 0
    _CHECKED_STORES.clear()  # looked at again by every command: a store may have changed since
    try:
        validate_overrides("train", argv, check=_check_job)
    except SirenInrError as err:
        print_error(str(err))
        return 2
    if any(a.startswith("hparams_search=") and a != "hparams_search=null" for a in argv):
        from siren_inr.cli.sweep import optuna_main  # Optuna drives the trials (hydra-optuna-sweeper pins optuna<3)

        return optuna_main(argv, prog)
    failures = tempfile.NamedTemporaryFile("w", prefix="siren-inr-failures-", suffix=".txt", delete=False)
    failures.close()
    os.environ[FAILURES_ENV] = failures.name
    # argv[0] must be a script Lightning's DDP launcher can re-run for the other ranks.
    sys.argv = [str(Path(__file__).resolve()), *argv]
    try:
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base=None)(task)()
        failed = Path(failures.name).read_text().splitlines()
    finally:
        Path(failures.name).unlink(missing_ok=True)
    if failed:
        print_error(f"{len(failed)} job(s) failed: " + " | ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
