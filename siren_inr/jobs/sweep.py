"""Sweeps: a multirun job's place in its sweep (parent run, run name) and the Optuna driver whose trials are fits.

hydra-optuna-sweeper 1.3 pins optuna<3, so the search is driven here: each trial asks the caller for the TrainJob
of the sampled values (the CLI composes the config) and runs it as one tracked fit under the sweep's parent run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from siren_inr.errors import SirenInrError
from siren_inr.jobs.train import TrainJob, run_train_job
from siren_inr.names import FINAL_METRICS, FINAL_PSNR, HYDRA_JOB_NUM_TAG, SWEEP_DIR_TAG
from siren_inr.tracking.run import TrackedRun
from siren_inr.tracking.store import resolve_tracking_uri
from siren_inr.tracking.sweeps import (abandon_sweep, finish_sweep, job_tags, read_sweep_record, start_sweep,
                                       sweep_id_for)
from siren_inr.validation import check_choice, check_positive_int, is_int

if TYPE_CHECKING:
    import optuna

# Overrides that never make runs differ in their numbers, so they do not go into run names.
QUIET_KEYS = ("experiment_name", "tracking.uri", "progress", "show", "debug", "run_name")


def run_name_for(model_name: str, overrides: list[str], keys: list[str] | None = None) -> str:
    """'siren', 'relu optim.lr=5e-4', 'siren seed=2': the model, then the settings that differ.

    keys: only these override keys (a sweep's swept keys); None: every override that changes the numbers.
    """
    shown = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key.startswith(QUIET_KEYS) or key == "model" or (keys is not None and key not in keys):
            continue
        shown.append(override.lstrip("+"))
    return " ".join([model_name, *shown])


def apply_sweep_context(job: TrainJob, sweep_dir: str | Path) -> None:
    """Nest a multirun job's run under its sweep's parent run and name it by the swept values."""
    record = read_sweep_record(sweep_dir)
    if record is None:
        return
    job.tags.update(job_tags(record, resolve_tracking_uri(job.tracking_uri), job.experiment_name))
    if not job.run_name:
        job.run_name = run_name_for(job.model_name, job.overrides, record.swept_keys)


@dataclass
class OptunaSearch:
    """`hparams_search`: an Optuna study whose trials are tracked fits (conf/hparams_search/)."""

    metric: str = FINAL_PSNR  # what a trial returns: final/psnr, final/ssim or final/mse
    direction: str = "maximize"  # maximize (psnr, ssim) or minimize (mse)
    n_trials: int = 20  # trials this process runs
    sampler: str = "tpe"  # tpe (Bayesian) or random
    seed: int = 0  # sampler seed: the same seed proposes the same trials
    study_name: str | None = None  # None: the sweep id; name it to continue or share a study
    storage: str | None = None  # None: in memory; e.g. sqlite:///optuna.db to continue or share it
    params: dict = field(default_factory=dict)  # setting -> {low, high[, log, step]} or {choices: [...]}

    def validate(self) -> "OptunaSearch":
        """Raise SirenInrError naming the first bad value."""
        check_choice("hparams_search.metric", self.metric, FINAL_METRICS)
        check_choice("hparams_search.direction", self.direction, ("maximize", "minimize"))
        check_positive_int("hparams_search.n_trials", self.n_trials)
        check_choice("hparams_search.sampler", self.sampler, ("tpe", "random"))
        if not search_space(self.params):
            raise SirenInrError("hparams_search.params is empty; name at least one setting to tune")
        for key, spec in search_space(self.params).items():
            _check_range(key, spec)
        return self


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


def _check_range(key: str, spec) -> None:
    if not isinstance(spec, dict):
        raise SirenInrError(f"hparams_search.params.{key}={spec!r}; "
                            "accepted: {low, high[, log]} or {choices: [...]}")
    if "choices" in spec:
        if not list(spec["choices"]):
            raise SirenInrError(f"hparams_search.params.{key}.choices is empty")
    elif "low" not in spec or "high" not in spec or not spec["low"] < spec["high"]:
        raise SirenInrError(f"hparams_search.params.{key}={dict(spec)}; accepted: low < high, or choices")


def _suggest(trial, key: str, spec: dict) -> object:
    """One sampled value for an override key from its range spec."""
    if "choices" in spec:
        return trial.suggest_categorical(key, list(spec["choices"]))
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if all(is_int(v) for v in (low, high)):
        return trial.suggest_int(key, low, high, log=log, step=int(spec.get("step", 1)))
    return trial.suggest_float(key, float(low), float(high), log=log, step=spec.get("step"))


def _sampler(name: str, seed: int):
    import optuna

    return optuna.samplers.TPESampler(seed=seed) if name == "tpe" else optuna.samplers.RandomSampler(seed=seed)


@dataclass
class StudyOutcome:
    """How an Optuna study ended: its sweep id, how many trials failed, its best trial (None: none completed)."""

    sweep_id: str
    failed_trials: int
    best: optuna.trial.FrozenTrial | None = None


def run_optuna_study(search: OptunaSearch, base: TrainJob, make_trial_job: Callable[[list[str]], TrainJob],
                     overrides: list[str], sweep_dir: str, *, say: Callable[[str], None] = print,
                     on_failure: Callable[[int, list[str], BaseException], None] | None = None) -> StudyOutcome:
    """Ask Optuna for n_trials settings, fit and track each (nested under the sweep's parent run), tell Optuna the
    metric. `make_trial_job(trial_overrides)` builds a trial's TrainJob; a trial's SirenInrError or MemoryError
    fails that trial only (reported through on_failure)."""
    import optuna

    search.validate()
    if str(base.fit.strategy).startswith("ddp"):
        raise SirenInrError("hparams_search runs its trials in this process; use trainer=cpu or trainer=gpu "
                            "(spread trials over processes with a shared hparams_search.storage)")
    params = search_space(search.params)
    uri = resolve_tracking_uri(base.tracking_uri)
    experiment = base.experiment_name
    sweep_id = str(search.study_name or sweep_id_for(sweep_dir))
    record = start_sweep(uri, experiment, sweep_dir, sweep_id=sweep_id, swept_keys=list(params), kind="optuna",
                         overrides=[f"hparams_search.params.{k}={v}" for k, v in params.items()],
                         extra_tags={"optuna_metric": search.metric, "optuna_direction": search.direction})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=search.direction, sampler=_sampler(search.sampler, search.seed),
                                study_name=sweep_id, storage=search.storage or None, load_if_exists=True)
    parent = TrackedRun(uri, record.parent_run_id, "", experiment)
    say(f"sweep {sweep_id}: Optuna study of {search.n_trials} trial(s), {search.direction} {search.metric}; "
        f"parent run {record.parent_run_id} -> {uri}")
    failed = 0
    try:
        for _ in range(search.n_trials):
            trial = study.ask()
            values = {key: _suggest(trial, key, spec) for key, spec in params.items()}
            trial_overrides = [f"{key}={value}" for key, value in values.items()]
            try:
                job = make_trial_job(trial_overrides)
                job.output_dir = Path(sweep_dir) / str(trial.number)
                job.overrides = [*overrides, *trial_overrides]
                job.tags.update({**job_tags(record, uri, experiment), SWEEP_DIR_TAG: str(Path(sweep_dir).resolve()),
                                 HYDRA_JOB_NUM_TAG: trial.number, "optuna_trial": trial.number})
                job.run_name = f"{job.model_name} trial {trial.number} " + " ".join(trial_overrides)
                result = run_train_job(job)
            except (SirenInrError, MemoryError) as err:
                failed += 1
                if on_failure is not None:
                    on_failure(trial.number, trial_overrides, err)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            value = result.final[search.metric.split("/", 1)[1]]
            study.tell(trial, value)
            say(f"trial {trial.number}: {search.metric} {value:.4f} with {' '.join(trial_overrides)} "
                f"(run {result.run_id})")
            parent.log_metrics({"optuna/best_value": study.best_value, "optuna/value": value}, step=trial.number)
    except BaseException as err:
        abandon_sweep(record, job_failed=not isinstance(err, (KeyboardInterrupt, SystemExit)))
        raise
    summary = finish_sweep(record, failed)
    outcome = StudyOutcome(sweep_id, failed)
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        best = outcome.best = study.best_trial
        parent.set_tags({f"best.{key}": value for key, value in best.params.items()} |
                        {"best_trial": best.number, "best_value": best.value})
        say(f"sweep {sweep_id}: best {search.metric} {best.value:.4f} at trial {best.number}: "
            + " ".join(f"{k}={v}" for k, v in best.params.items())
            + f"; {summary.finished} run(s) finished, {summary.failed} failed; "
            f"compare them with: siren-inr analyze sweep={sweep_id}")
    return outcome
