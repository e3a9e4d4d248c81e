"""`siren-inr analyze`: read tracked runs back from MLflow and write plots, tables, Benford files and report.md."""

from __future__ import annotations

import os
import re
from pathlib import Path

from siren_inr.cli.command import run_command
from siren_inr.cli.hydra_support import print_error
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_positive_int

CONFIG_NAME = "analyze"
# Values that are names or ids, not numbers or lists: read from the raw argument so that Hydra's grammar
# neither rejects them (spaces and quotes in a filter) nor retypes them (an all-digit id would lose leading zeros).
RAW_KEYS = ("filter", "sweep", "experiment_name", "runs", "out", "title", "tracking.uri")


def _strip_quotes(text: str) -> str:
    text = text.strip()
    # An MLflow filter never starts with a quote, so a leading quote is the user's shell-style quoting.
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _parse_run_ids(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [_strip_quotes(part) for part in text.split(",") if part.strip()]


def split_overrides(argv: list[str]) -> tuple[list[str], dict[str, object]]:
    """Hydra overrides for compose, and the raw values of the name/id settings taken verbatim."""
    overrides: list[str] = []
    raw: dict[str, object] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if sep and key in RAW_KEYS:
            raw[key] = _parse_run_ids(value) if key == "runs" else (_strip_quotes(value) or None)
            if raw[key] in ("null", "None"):
                raw[key] = None
        else:
            overrides.append(arg)
    return overrides, raw


def compose_config(argv: list[str]) -> dict:
    """Compose conf/analyze.yaml (its schema, cli/schema.py: AnalyzeConfig) with the command-line overrides into a
    plain dict."""
    import dataclasses

    from omegaconf import OmegaConf

    from siren_inr.cli.config import compose
    from siren_inr.cli.schema import AnalyzeConfig

    overrides, raw = split_overrides(argv)
    try:
        cfg = OmegaConf.to_container(compose(overrides, CONFIG_NAME), resolve=True)
    except SirenInrError as err:
        unknown = re.search(r"(?:Could not override|Key) '([^']+)'", str(err))
        if not (unknown and ("Could not override" in str(err) or "not in struct" in str(err))):
            raise  # a value of the wrong type: Hydra's line names it, as for every command
        names = [f.name for f in dataclasses.fields(AnalyzeConfig)]
        accepted = ", ".join(name if name != "tracking" else "tracking.uri" for name in names)
        raise SirenInrError(f"unknown setting {unknown.group(1)!r}; accepted settings: {accepted}") from None
    for key, value in raw.items():
        if key == "tracking.uri":
            cfg["tracking"]["uri"] = value
        else:
            cfg[key] = value
    _check_values(cfg)
    return cfg


def default_experiment() -> str:
    """The experiment `siren-inr train` logs to when none is given (its schema's default, or what conf/ states)."""
    from siren_inr.cli.settings_help import command_settings

    return str(next(s.value for s in command_settings("train") if s.key == "experiment_name"))


def _help(prog: str) -> str:
    from siren_inr.cli.settings_help import settings_help

    return (f"usage: {prog} [key=value ...]\n\n"
            "Reads tracked runs back from MLflow and writes their histories, tables, galleries, Benford statistics\n"
            "and report.md/report.html; logs the comparison back to MLflow as an analysis run.\n"
            "Examples:\n"
            f"  {prog}                                      # the latest run of the default experiment\n"
            f"  {prog} experiment_name=zoo out=reports/zoo  # every run of an experiment\n"
            f"  {prog} runs=[<id>,<id>]\n"
            f"  {prog} filter=\"params.`model.name` = 'siren'\"\n"
            f"  {prog} sweep=<sweep id>\n\n"
            f"{settings_help(CONFIG_NAME)}")


def _analyze(cfg: dict) -> int:
    from siren_inr.analysis.pipeline import Selection, analyze

    # Per-artifact download bars would bury the report's path; this only silences them.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    runs = cfg.get("runs") or []
    if isinstance(runs, str):
        runs = [runs]
    selection = Selection(experiment_name=_optional_str(cfg.get("experiment_name")),
                          run_ids=[str(r) for r in runs], sweep_id=_optional_str(cfg.get("sweep")),
                          filter_string=_optional_str(cfg.get("filter")), max_runs=int(cfg["max_runs"]))
    outcome = analyze(selection, Path(cfg["out"]), tracking_uri=(cfg.get("tracking") or {}).get("uri"),
                      log_to_mlflow=cfg["log_to_mlflow"], title=_optional_str(cfg.get("title")),
                      default_experiment=default_experiment())
    for run_id, why in outcome.skipped:
        print_error(f"run {run_id} not analysed: {why}", prefix="warning")
    for message in outcome.warnings:
        print_error(message, prefix="warning")
    count = len(outcome.outputs.run_ids)
    print(f"analysed {count} run{'s' if count != 1 else ''}: {outcome.outputs.report}")
    if outcome.analysis_run_id:
        print(f"logged to MLflow as analysis run {outcome.analysis_run_id} "
              f"(experiment {outcome.analysis_experiment!r})")
    return 0


def main(argv: list[str], prog: str = "siren-inr analyze") -> int:
    """Entry point: compose settings, analyse the selected runs, print where the report is."""
    return run_command(argv, prog, _help, _analyze, config=compose_config)


def _check_values(cfg: dict) -> None:
    """Raise SirenInrError naming the first setting whose value the schema's types let through but analyze refuses."""
    check_positive_int("max_runs", cfg.get("max_runs"))
    if not cfg.get("out"):
        raise SirenInrError("out is empty; accepted: a folder path for the report")


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
