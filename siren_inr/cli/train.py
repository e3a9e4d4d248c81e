"""`siren-inr train [overrides] [-m]`: compose the config with Hydra, then run one tracked fit per job."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from siren_inr.cli.command import out_of_memory, report_exception, run_command
from siren_inr.cli.hydra_support import (FAILURES_ENV, check_output_folder, conf_dir, print_error, record_failure,
                                         validate_overrides)
from siren_inr.errors import SirenInrError

# The file Lightning's DDP launcher runs for ranks 1..N-1 (siren_inr/jobs/launch.py): this one, run as a script.
SCRIPT = str(Path(__file__).resolve())

_HELP = """usage: siren-inr train [key=value ...] [-m]

Fits a network to an image and records the run in MLflow (default store: ./mlruns).
Common settings (every setting, with its default, is listed below):
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


def _check_job(cfg) -> None:
    """Every value of a composed config checked, its image read and its store looked at, before Hydra creates the
    run's folder (a refused job leaves no outputs/<date>/<time>/)."""
    from siren_inr.cli.config import job_from_config
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

    from siren_inr.jobs.sweep import apply_sweep_context, run_name_for
    from siren_inr.names import HYDRA_JOB_NUM_TAG, SWEEP_DIR_TAG, SWEEP_ID_TAG
    from siren_inr.tracking.sweeps import sweep_id_for

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


def _prepare_ddp_relaunch(job, multirun: bool) -> None:
    """The ranks that Lightning's DDP launcher starts run this job alone, in its folder (not the whole sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import flag_override

    from siren_inr.jobs.launch import prepare_ddp_relaunch

    hc = HydraConfig.get()
    if prepare_ddp_relaunch(str(job.fit.strategy), SCRIPT, multirun, list(hc.overrides.task)) and multirun:
        with flag_override(hc, ["readonly", "struct"], [False, False]):
            hc.run.dir = hc.runtime.output_dir


def task(cfg) -> float | None:
    """One Hydra job: a tracked fit. Returns the final PSNR (for sweepers that optimise it)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from siren_inr.cli.config import job_from_config, recorded_job
    from siren_inr.jobs.train import run_train_job

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    debug = bool(cfg.get("debug", False))
    try:
        job = job_from_config(cfg)
        _hydra_context(job)
        if cfg.get("resume"):
            from siren_inr.jobs.rerun import resume_job

            job = resume_job(str(cfg.resume), job, list(HydraConfig.get().overrides.task), recorded_job)
        _prepare_ddp_relaunch(job, multirun)
        result = run_train_job(job)
    except Exception as err:  # one line for user and resource errors, the traceback for bugs
        if not (isinstance(err, SirenInrError) or out_of_memory(err)) and multirun:
            raise
        message = report_exception(err, debug)
        if multirun:
            record_failure(f"job {HydraConfig.get().job.num} ({','.join(HydraConfig.get().overrides.task)}): {message}")
            return None
        sys.exit(2 if isinstance(err, SirenInrError) else 1)
    if result.run_id:
        final = result.final
        print(f"run {result.run_id}: final psnr {final['psnr']:.2f} dB, ssim {final['ssim']:.4f}, "
              f"mse {final['mse']:.3g} -> {result.tracking_uri}", flush=True)
        if cfg.get("show"):
            _show(result.output_dir / "images" / "comparison.png")
    return result.final["psnr"]


def _run(argv: list[str], prog: str) -> int:
    """Validate the overrides, then hand them to Hydra (single run or -m multirun)."""
    import hydra

    from siren_inr.jobs.launch import relaunch_as

    _CHECKED_STORES.clear()  # looked at again by every command: a store may have changed since
    validate_overrides("train", argv, check=_check_job)
    check_output_folder("train", argv)
    if any(a.startswith("hparams_search=") and a != "hparams_search=null" for a in argv):
        from siren_inr.cli.sweep import optuna_main  # Optuna drives the trials (hydra-optuna-sweeper pins optuna<3)

        return optuna_main(argv, prog)
    from siren_inr.cli.schema import register_schemas

    register_schemas()  # for Hydra's own composition below too (a --config-name skips the validation's)
    failures = tempfile.NamedTemporaryFile("w", prefix="siren-inr-failures-", suffix=".txt", delete=False)
    failures.close()
    os.environ[FAILURES_ENV] = failures.name
    relaunch_as(SCRIPT, argv)
    try:
        hydra.main(config_path=str(conf_dir()), config_name="train", version_base=None)(task)()
        failed = Path(failures.name).read_text().splitlines()
    finally:
        Path(failures.name).unlink(missing_ok=True)
    if failed:
        print_error(f"{len(failed)} job(s) failed: " + " | ".join(failed))
        return 1
    return 0


def main(argv: list[str] | None = None, prog: str = "siren-inr train") -> int:
    """Entry point of `siren-inr train` (also the script the DDP ranks run)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from siren_inr.jobs.launch import die_with_launcher

    die_with_launcher()  # a DDP rank started by a fit in this program ends with the process that started it
    from siren_inr.cli.settings_help import settings_help

    return run_command(argv, prog, lambda _: f"{_HELP}\n\n{settings_help('train', argv)}",
                       lambda args: _run(args, prog))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
