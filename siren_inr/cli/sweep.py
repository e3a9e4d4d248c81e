"""Sweeps: the Hydra callback that prepares the store and the sweep's parent run, and the per-job sweep context."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from siren_inr.cli.hydra_support import FAILURES_ENV, print_error
from siren_inr.errors import SirenInrError

# Overrides that never make runs differ in their numbers, so they do not go into run names.
QUIET_KEYS = ("experiment_name", "tracking.uri", "progress", "show", "debug", "run_name")


def swept_keys(overrides: list[str]) -> list[str]:
    """Keys of the overrides that take several values (a,b / range() / choice() / interval())."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


def run_name_for(overrides: list[str], keys: list[str]) -> str | None:
    """'model=siren,seed=1': the job's values of the swept keys (what differs between the runs of a sweep)."""
    shown = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in keys and not o.startswith(QUIET_KEYS)]
    return ",".join(shown) or None


class SweepTracking(Callback):
    """Before the jobs of a multirun start: create the store once and open the parent run; close it at the end."""

    def __init__(self) -> None:
        self._record = None

    def on_multirun_start(self, config, **kwargs) -> None:
        from omegaconf import OmegaConf

        from siren_inr.tracking.store import resolve_tracking_uri
        from siren_inr.tracking.sweeps import start_sweep

        overrides = list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
        try:
            uri = resolve_tracking_uri(config.tracking.uri)
            # Parallel jobs that find no store all try to create its schema, and all but one fail:
            # creating it here, once, before any job starts, avoids the race.
            self._record = start_sweep(uri, str(config.experiment_name), config.hydra.sweep.dir,
                                       swept_keys=swept_keys(overrides), overrides=overrides)
        except SirenInrError as err:
            print_error(str(err))
            sys.exit(2)
        atexit.register(self._abandon)
        print(f"sweep {self._record.sweep_id}: parent run {self._record.parent_run_id} -> {uri}", flush=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        from siren_inr.tracking.sweeps import finish_sweep

        if self._record is None:
            return
        failures = os.environ.get(FAILURES_ENV)
        failed_jobs = len(Path(failures).read_text().splitlines()) if failures and Path(failures).is_file() else 0
        summary = finish_sweep(self._record, failed_jobs)
        best = (f", best final psnr {summary.best_psnr_db:.2f} dB (run {summary.best_run_id})"
                if summary.best_psnr_db is not None else "")
        print(f"sweep {self._record.sweep_id}: {summary.finished} run(s) finished, {summary.failed} failed{best}; "
              f"select it with: siren-inr analyze sweep={self._record.sweep_id}", flush=True)
        self._record = None

    def _abandon(self) -> None:
        # The sweep died before on_multirun_end (a job raised, Ctrl-C): never leave the parent RUNNING.
        from siren_inr.tracking.sweeps import abandon_sweep

        if self._record is not None:
            try:
                abandon_sweep(self._record)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass


def apply_sweep_context(job, sweep_dir: str | Path) -> None:
    """Nest a multirun job's run under its sweep's parent run and name it by the swept values."""
    from siren_inr.tracking.store import resolve_tracking_uri
    from siren_inr.tracking.sweeps import job_tags, read_sweep_record

    record = read_sweep_record(sweep_dir)
    if record is None:
        return
    job.tags.update(job_tags(record, resolve_tracking_uri(job.tracking_uri), job.experiment_name))
    if not job.run_name:
        job.run_name = run_name_for(job.overrides, record.swept_keys)


# --- Optuna ---------------------------------------------------------------------------------------------------
# hydra-optuna-sweeper 1.3 pins optuna<3, so the search is driven here: each trial composes the train config
# with the sampled values and runs one tracked fit, nested under the sweep's parent run.

METRICS = ("final/psnr", "final/ssim", "final/mse")


def _suggest(trial, key: str, spec) -> object:
    """One sampled value for an override key from its range spec ({low, high[, log, step]} or {choices})."""
    if not isinstance(spec, dict):
        raise SirenInrError(f"hparams_search.params.{key}={spec!r}; accepted: {{low, high[, log]}} or {{choices: [...]}}")
    if "choices" in spec:
        choices = list(spec["choices"])
        if not choices:
            raise SirenInrError(f"hparams_search.params.{key}.choices is empty")
        return trial.suggest_categorical(key, choices)
    if "low" not in spec or "high" not in spec or not spec["low"] < spec["high"]:
        raise SirenInrError(f"hparams_search.params.{key}={dict(spec)}; accepted: low < high, or choices")
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
        return trial.suggest_int(key, low, high, log=log, step=int(spec.get("step", 1)))
    return trial.suggest_float(key, float(low), float(high), log=log, step=spec.get("step"))


def search_space(tree: dict, prefix: str = "") -> dict[str, dict]:
    """{'optim': {'lr': {low, high}}} -> {'optim.lr': {low, high}}: a dict with low/high/choices is a range."""
    space = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not ({"low", "high", "choices"} & set(value)):
            space.update(search_space(value, f"{name}."))
        else:
            space[name] = value
    return space


def _sampler(name: str, seed: int):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SirenInrError(f"hparams_search.sampler={name!r}; accepted: tpe, random")


def optuna_main(argv: list[str], prog: str = "siren-inr train") -> int:
    """`siren-inr train -m hparams_search=<name> ...`: an Optuna study whose trials are tracked fits."""
    import time

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from siren_inr.cli.hydra_support import conf_dir, report_exception

    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    sweep_dir_arg = [a.split("=", 1)[1] for a in overrides if a.startswith("hydra.sweep.dir=")]
    overrides = [a for a in overrides if not a.startswith(("hydra.", "hydra/"))]
    debug = any(a in ("debug=true", "debug=True") for a in overrides)
    try:
        if swept_keys(overrides):
            raise SirenInrError("hparams_search chooses the swept values itself; give single values, not lists "
                                f"({', '.join(swept_keys(overrides))})")

        def composed(extra: list[str]):
            GlobalHydra.instance().clear()
            with initialize_config_dir(str(conf_dir()), version_base=None):
                return compose("train", overrides=[*overrides, *extra])

        base = composed([])
        search = OmegaConf.to_container(base.hparams_search, resolve=True)
        metric, direction = str(search["metric"]), str(search["direction"])
        if metric not in METRICS:
            raise SirenInrError(f"hparams_search.metric={metric!r}; accepted: {', '.join(METRICS)}")
        if direction not in ("maximize", "minimize"):
            raise SirenInrError(f"hparams_search.direction={direction!r}; accepted: maximize, minimize")
        n_trials = search["n_trials"]
        if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
            raise SirenInrError(f"hparams_search.n_trials={n_trials!r}; accepted: a positive integer")
        params = search_space(search.get("params") or {})
        if not params:
            raise SirenInrError("hparams_search.params is empty; name at least one setting to tune")
        if str(base.trainer.strategy).startswith("ddp"):
            raise SirenInrError("hparams_search runs its trials in this process; use trainer=cpu or trainer=gpu "
                                "(spread trials over processes with a shared hparams_search.storage)")
        return _run_study(composed, base, overrides, search, params, metric, direction, n_trials,
                          sweep_dir_arg[0] if sweep_dir_arg else time.strftime("multirun/%Y-%m-%d/%H-%M-%S"), debug)
    except (SirenInrError, MemoryError) as err:
        report_exception(err, debug)
        return 2


def _run_study(composed, base, overrides: list[str], search: dict, params: dict, metric: str, direction: str,
               n_trials: int, sweep_dir: str, debug: bool) -> int:
    """Ask Optuna for n_trials settings, fit and track each, tell Optuna the metric; 1 when a trial failed."""
    import optuna

    from siren_inr.cli.hydra_support import report_exception
    from siren_inr.cli.config import job_from_config
    from siren_inr.jobs.train import run_train_job
    from siren_inr.tracking.store import resolve_tracking_uri
    from siren_inr.tracking.run import TrackedRun
    from siren_inr.tracking.sweeps import abandon_sweep, finish_sweep, job_tags, start_sweep, sweep_id_for

    uri = resolve_tracking_uri(base.tracking.uri)
    experiment = str(base.experiment_name)
    sweep_id = str(search.get("study_name") or sweep_id_for(sweep_dir))

    record = start_sweep(uri, experiment, sweep_dir, sweep_id=sweep_id, swept_keys=list(params), kind="optuna",
                         overrides=[f"hparams_search.params.{k}={v}" for k, v in params.items()],
                         extra_tags={"optuna_metric": metric, "optuna_direction": direction})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=_sampler(str(search["sampler"]), int(search["seed"])),
                                study_name=sweep_id, storage=search.get("storage") or None, load_if_exists=True)
    parent = TrackedRun(uri, record.parent_run_id, "", experiment)
    print(f"sweep {sweep_id}: Optuna study of {n_trials} trial(s), {direction} {metric}; parent run "
          f"{record.parent_run_id} -> {uri}", flush=True)
    failed = 0
    try:
        for _ in range(n_trials):
            trial = study.ask()
            values = {key: _suggest(trial, key, spec) for key, spec in params.items()}
            trial_overrides = [f"{key}={value}" for key, value in values.items()]
            try:
                job = job_from_config(composed(trial_overrides))
                job.output_dir = Path(sweep_dir) / str(trial.number)
                job.overrides = [*overrides, *trial_overrides]
                job.tags.update({**job_tags(record, uri, experiment), "sweep_dir": str(Path(sweep_dir).resolve()),
                                 "hydra_job_num": trial.number, "optuna_trial": trial.number})
                job.run_name = f"trial {trial.number}: " + ",".join(trial_overrides)
                result = run_train_job(job)
            except (SirenInrError, MemoryError) as err:
                failed += 1
                print_error(f"trial {trial.number} ({','.join(trial_overrides)}) failed: "
                            f"{report_exception(err, debug)}", prefix="warning")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            value = result.final[metric.split("/", 1)[1]]
            study.tell(trial, value)
            print(f"trial {trial.number}: {metric} {value:.4f} with {' '.join(trial_overrides)} (run {result.run_id})",
                  flush=True)
            parent.log_metrics({"optuna/best_value": study.best_value, "optuna/value": value}, step=trial.number)
    except BaseException:
        abandon_sweep(record)
        raise
    summary = finish_sweep(record, failed)
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if completed:
        best = study.best_trial
        parent.set_tags({f"best.{key}": value for key, value in best.params.items()} |
                        {"best_trial": best.number, "best_value": best.value})
        print(f"sweep {sweep_id}: best {metric} {best.value:.4f} at trial {best.number}: "
              + " ".join(f"{k}={v}" for k, v in best.params.items())
              + f"; {summary.finished} run(s) finished, {summary.failed} failed; "
              f"compare them with: siren-inr analyze sweep={sweep_id}", flush=True)
    return 1 if failed else 0
