"""names.py is the one home of every recorded name: no module spells one of its strings out, every constant is
used, and no two constants share a value by accident.

The scan reads the package's string constants (docstrings aside). A value with a separator (`final/psnr`,
`process.host`, `rd-study`, `config.yaml`) is flagged wherever it appears. A plain word (`images`, `model`,
`step`) is flagged only where it is used as a name: a subscript or dict key, a `.get()` argument, a path part
(`folder / "images"`), a comparison, or an argument of a logging/tagging/artifact call. What is left after the
allow-lists below fails the test, with its file and line.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

import siren_inr
from siren_inr import names

PACKAGE = Path(siren_inr.__file__).parent
PLAIN_WORD = re.compile(r"[a-z]+\Z")
RECORDING_CALL = re.compile(r"log|tag|artifact|download|metric|param")

# The same word meaning something else in that file: (file, value) -> what it is there.
RD_TABLE = "a column of the rate-distortion study's table (table.csv, bd.csv), not a run's tag or metric"
COINCIDENCES = {
    ("analysis/html_report.py", "image"): "markdown-it's render rule for images",
    ("analysis/rd_reference.py", "image"): RD_TABLE,
    ("analysis/rd_report.py", "image"): RD_TABLE,
    ("compression/bd.py", "image"): RD_TABLE,
    ("compression/bd.py", "images"): RD_TABLE + " (how many images a mean covers)",
    ("compression/bd.py", "kind"): RD_TABLE + " (inr | classical)",
    ("jobs/rd_points.py", "image"): RD_TABLE,
    ("jobs/rd_points.py", "kind"): RD_TABLE + " (inr | classical)",
    ("jobs/rd_points.py", "num_params"): RD_TABLE,
    ("cli/rd.py", "image"): RD_TABLE,
    ("cli/rd.py", "kind"): RD_TABLE + " (inr | classical)",
    ("compression/latent/entry.py", "num_params"): "an INR codec's result info, which becomes an RD table column",
    ("compression/network/codecs.py", "num_params"): "an INR codec's result info, which becomes an RD table column",
    ("jobs/rd.py", "image"): RD_TABLE + "; also the param of an rd point run, named after the column",
    ("jobs/rd.py", "rd-study"): "the study's parent run's name (its kind tag comes from tracking.run.rd_run_tags)",
    ("analysis/verify.py", "model"): "the model part of a README label parsed into settings",
    ("tracking/rerun.py", "model"): "the `model` group of a recorded train config",
    ("cli/codec.py", "model"): "the `model` group of the composed config",
    ("cli/rd.py", "model"): "the `model` group of the composed config",
    ("jobs/compress.py", "model"): "the `model` group of a compress config",
    ("jobs/sweep.py", "model"): "the `model` config group, kept out of a sweep's swept keys",
    ("jobs/train.py", "model"): "the `model` group of the resolved config (the model tag is pending, below)",
    ("cli/codec.py", "seed"): "the composed config's seed setting",
    ("cli/rd.py", "seed"): "the composed config's seed setting",
    ("jobs/compress.py", "seed"): "a compress config's seed setting",
    ("compression/latent/entry.py", "seed"): "a codec's seed setting",
    ("compression/network/codecs.py", "seed"): "a codec's seed setting",
    ("compression/network/codecs.py", "model"): "the `model` group of a codec's train config",
    ("compression/codec.py", "mode"): "QuantSettings.mode inside an .inr file's header",
    ("compression/qat.py", "step"): "a row of QAT's own in-memory history",
    ("compression/latent/train.py", "step"): "a row of the latent codec's own in-memory history",
    ("compression/latent/training.py", "step"): "a row of the latent codec's own in-memory history",
    ("fit/settings.py", "step"): "the lr_schedule value 'step' (StepLR)",
    ("fit/core.py", "step"): "the lr_schedule value 'step' (StepLR), built there",
    ("jobs/sweep.py", "step"): "an Optuna search space's step",
    ("bench/plain_loop.py", "step"): "a command of the reference process's pipe protocol",
    ("bench/plain_loop.py", "device"): "the reference process's spec (its torch device)",
    ("bench/reference.py", "device"): "the reference process's spec (its torch device)",
    ("bench/runner.py", "device"): "a key of the benchmark's JSON report",
    ("bench/suite.py", "device"): "the reference process's spec (its torch device)",
    ("cli/analyze.py", "sweep"): "the analyze command's sweep= option",
    ("cli/ui.py", "host"): "the ui command's host= setting (the server's address)",
    ("cli/rd.py", "output_dir"): "the rd command's output_dir setting",
    ("cli/rd.py", "images"): "the rd command's data.images setting",
}

# Recorded names still spelt out in files that this change could not edit (other engineers were changing them);
# each should import its constant from names.py. Remove an entry once its file does.
PENDING = {
    ("cli/train.py", "images"): "COMPARISON_ARTIFACT",
}

# Constants no module imports yet: only the pending literals above write them.
PENDING_CONSTANTS: dict[str, str] = {}

# Constants that share a value on purpose: the same string in two namespaces.
SHARED_VALUES = {"history": {"HISTORY_FOLDER", "HISTORY_CHECKPOINT_KEY"},  # an artifact folder; a checkpoint key
                 "analysis": {"ANALYSIS_FOLDER", "ANALYSIS_KIND"},  # an artifact folder; a run_kind value
                 "sweep": {"SWEEP_KIND", "SWEEP_TAG"}}  # a run_kind value; a tag key


def recorded_values() -> dict[str, list[str]]:
    """names.py's string values -> the constants holding them."""
    values: dict[str, list[str]] = defaultdict(list)
    for constant, value in vars(names).items():
        if constant.isupper() and isinstance(value, str):
            values[value].append(constant)
    return values


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _used_as_names(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            found.add(id(node.slice))
        elif isinstance(node, ast.Dict):
            found.update(id(key) for key in node.keys if key is not None)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            found.update((id(node.left), id(node.right)))
        elif isinstance(node, ast.Compare):
            found.update(id(side) for side in [node.left, *node.comparators])
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("get", "setdefault", "pop") or RECORDING_CALL.search(name):
                found.update(id(arg) for arg in [*node.args, *(keyword.value for keyword in node.keywords)])
    return found


def literal_names(source: str, values: set[str]) -> list[tuple[int, str]]:
    """(line, value) of each string constant in `source` that spells out one of `values` (see the module doc)."""
    tree = ast.parse(source)
    docstrings, as_names = _docstrings(tree), _used_as_names(tree)
    hits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values):
            continue
        if id(node) in docstrings or (PLAIN_WORD.match(node.value) and id(node) not in as_names):
            continue
        hits.append((node.lineno, node.value))
    return sorted(hits)


def _package_hits() -> dict[tuple[str, str], list[int]]:
    values = set(recorded_values())
    hits: dict[tuple[str, str], list[int]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "names.py":
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for line, value in literal_names(path.read_text(), values):
            hits[(relative, value)].append(line)
    return hits


def test_no_module_spells_out_a_recorded_name():
    hits = _package_hits()
    unexpected = [f"siren_inr/{path}:{lines[0]}: {value!r} is names.{' / names.'.join(recorded_values()[value])}"
                  for (path, value), lines in sorted(hits.items()) if (path, value) not in {**COINCIDENCES, **PENDING}]
    assert unexpected == []
    stale = sorted(key for key in {**COINCIDENCES, **PENDING} if key not in hits)
    assert stale == [], "these allow-list entries match nothing any more; remove them"
    for (path, value), constant in PENDING.items():
        assert getattr(names, constant).startswith(value) or value in getattr(names, constant)


def test_the_scan_flags_names_and_passes_other_words():
    source = '''"""A docstring naming final/psnr and images is prose."""
tags = {"git_commit": 1}
run.log_artifacts(folder, "images")
path = out / "plots" / "x.png"
label = "images"
key = f"{prefix}/final/psnr"
if row.get("step"):
    pass
'''
    values = set(recorded_values())
    assert literal_names(source, values) == [(2, "git_commit"), (3, "images"), (4, "plots"), (7, "step")]


def test_every_constant_is_used():
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "siren_inr.names":
                used.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Name) and path.name == "names.py" and isinstance(node.ctx, ast.Load):
                used.add(node.id)  # a constant built from another
    constants = {name for name in vars(names) if name.isupper()}
    assert sorted(constants - used - set(PENDING_CONSTANTS)) == []
    assert sorted(set(PENDING_CONSTANTS) & used) == [], "imported now: remove it from PENDING_CONSTANTS"


def test_no_two_constants_share_a_value_by_accident():
    shared = {value: set(constants) for value, constants in recorded_values().items() if len(constants) > 1}
    assert shared == SHARED_VALUES


@pytest.mark.parametrize("constant", ["HISTORY_ARTIFACT", "GROUND_TRUTH_ARTIFACT", "RECONSTRUCTION_ARTIFACT",
                                      "COMPARISON_ARTIFACT", "HISTORY_PLOT_ARTIFACT", "LAST_CKPT_ARTIFACT"])
def test_artifact_paths_sit_in_their_folders(constant):
    folder = getattr(names, constant).split("/")[0]
    assert folder in {names.HISTORY_FOLDER, names.IMAGES_FOLDER, names.PLOTS_FOLDER, names.CHECKPOINTS_FOLDER}


def test_one_history_layout():
    assert names.HISTORY_CSV_COLUMNS == ("epoch", "train_loss", "train_psnr", "train_ssim", "step")
    assert list(names.HISTORY_COLUMNS.values()) == list(names.HISTORY_METRICS)
    assert names.FINAL_METRICS == (names.FINAL_PSNR, names.FINAL_SSIM, names.FINAL_MSE)
