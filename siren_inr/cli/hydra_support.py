"""Hydra glue shared by the subcommands: the config folder, the one compose, Hydra's errors as one line, up-front
validation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from siren_inr.errors import SirenInrError
from siren_inr.tracking.store import nearest_existing

CHECKOUT_CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # running from a checkout without installing
FAILURES_ENV = "SIREN_INR_FAILURES"


def conf_dir() -> Path:
    """The configs' folder: the installed package siren_inr.conf (the checkout's conf/ for an editable install)."""
    try:
        import siren_inr.conf as installed

        folder = Path(installed.__file__).resolve().parent
    except ImportError:
        folder = CHECKOUT_CONF_DIR
    if not (folder / "train.yaml").is_file():
        raise SirenInrError(f"config folder {folder} has no train.yaml; reinstall siren-inr (pip install .)")
    return folder


def one_line(message: str) -> str:
    """Fold a multi-line message into one line."""
    parts = [part.strip() for part in str(message).replace("\t", " ").splitlines() if part.strip()]
    return "; ".join(parts)


def print_error(message: str, prefix: str = "error") -> None:
    """The project's one-line error (or `warning: ...`) on stderr."""
    print(f"{prefix}: {one_line(message)}", file=sys.stderr, flush=True)


def hydra_message(err: BaseException) -> str:
    """Hydra's error and the OmegaConf error it wraps (which names the key and why), as one line."""
    parts, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = one_line(str(err))
        if text and text not in parts and "$VALUE" not in text and not text.startswith("invalid literal"):
            parts.append(text)
        err = err.__cause__ or err.__context__
    return "; ".join(parts)


def quoting_hint(overrides: list[str]) -> str:
    """'' or, for an unquoted value with non-ASCII characters (Hydra's grammar reads only ASCII there), how to
    quote it: '; quote a value with non-ASCII characters for Hydra: 'data.image="é.png"''."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep and not value.isascii() and not (value[:1] in "'\"" and value[:1] == value[-1:] and len(value) > 1):
            return (f"; quote a value with non-ASCII characters for Hydra, e.g. '{key}=\"{value}\"' (single quotes "
                    "round it for the shell)")
    return ""


def compose(overrides: list[str], config_name: str, return_hydra_config: bool = False):
    """The composed config (a DictConfig) of conf/<config_name>.yaml for `overrides`: the one place that asks Hydra
    to compose (every command, the up-front validation, the run folder's check, the tests). A config Hydra refuses
    is a SirenInrError 'bad setting: ...' in one line. return_hydra_config: with Hydra's own `hydra` node (the run's
    folder)."""
    from siren_inr.cli.schema import register_schemas  # imports torch: the schemas are the library's dataclasses

    register_schemas()
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(conf_dir()), version_base=None):
            return hydra_compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)
    except Exception as err:  # Hydra's parser/composer raise their own types
        raise SirenInrError(f"bad setting: {hydra_message(err)}{quoting_hint(list(overrides))}") from None
    finally:
        GlobalHydra.instance().clear()


# Hydra flags that take a value in the next argument, and those that choose another config (then Hydra validates).
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--experimental-rerun"}
_OTHER_CONFIG_FLAGS = ("--config-name", "-cn", "--config-dir", "-cd", "--config-path", "-cp")


def plain_overrides(argv: list[str]) -> list[str] | None:
    """The key=value overrides in argv without Hydra's flags and their values; None if another config is chosen."""
    overrides, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            if "=" not in arg or arg.split("=")[0] in ("job", "hydra", "all"):
                continue
        if arg.startswith(_OTHER_CONFIG_FLAGS):
            return None
        if arg.startswith("-"):
            skip = arg in _FLAGS_WITH_VALUE
            continue
        if not arg.startswith(("hydra.", "hydra/", "+hydra", "~hydra")):
            overrides.append(arg)
    return overrides


def expand_for_validation(overrides: list[str]) -> list[list[str]]:
    """Override lists covering every value of every sweep (one sweep varied at a time)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    base, sweeps = [], []
    for raw, override in zip(overrides, parsed):
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
            sweeps.append((override.get_key_element(), values))
            base.append(f"{override.get_key_element()}={values[0]}" if values else raw)
        else:
            base.append(raw)
    combos = [base]
    for index, (key, values) in enumerate(sweeps):
        for value in values[1:]:
            variant = list(base)
            position = [i for i, o in enumerate(base) if o.startswith(f"{key}=")][0]
            variant[position] = f"{key}={value}"
            combos.append(variant)
    return combos


def validate_overrides(config_name: str, argv: list[str], check=None) -> None:
    """Compose the config for every swept value before any job starts (and folder is made), and pass each to
    `check` (which raises SirenInrError on a bad value); raise SirenInrError on the first problem."""
    overrides = plain_overrides(argv)
    if overrides is None:
        return
    try:
        combos = expand_for_validation(overrides)
    except Exception as err:  # Hydra's parser raises its own types
        raise SirenInrError(f"cannot parse the overrides: {one_line(err)}{quoting_hint(overrides)}") from None
    for combo in combos:
        cfg = compose(combo, config_name)
        if check is not None:
            check(cfg)


def check_output_folder(config_name: str, argv: list[str]) -> None:
    """Refuse in one line, before Hydra starts, a run folder (hydra.run.dir, or hydra.sweep.dir under -m; by default
    outputs/<date>/<time> in the working folder) that cannot be created: a read-only or special file system, a file
    in its path. Creates nothing (a scratch folder made to try is removed)."""
    import tempfile

    overrides = plain_overrides(argv)
    if overrides is None:
        return
    hydra_args = [a for a in argv if a.startswith("hydra.")]
    key = "sweep" if any(a in ("-m", "--multirun") for a in argv) else "run"
    try:
        cfg = compose(expand_for_validation(overrides)[0] + hydra_args, config_name, return_hydra_config=True)
        folder = Path(str(cfg.hydra[key].dir)).absolute()
    except Exception:  # the config was validated already; a folder it cannot name is Hydra's to report
        return
    existing = nearest_existing(folder)
    why = None
    if not existing.is_dir():
        why = f"{existing} is not a folder"
    else:
        try:
            tempfile.TemporaryDirectory(dir=existing).cleanup()
        except OSError as err:
            why = err.strerror or str(err)
    if why is not None:
        raise SirenInrError(f"hydra.{key}.dir={folder}: the run's folder cannot be created there ({why}); "
                            f"give a writable folder, e.g. hydra.{key}.dir=/tmp/siren-inr-run")


def record_failure(message: str) -> None:
    """Note a failed multirun job where the parent process can see it."""
    path = os.environ.get(FAILURES_ENV)
    if path:
        with open(path, "a") as handle:
            handle.write(one_line(message) + "\n")

