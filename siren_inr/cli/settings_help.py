"""The settings a command's `--help` lists: every field of its schema (cli/schema.py) and of the library's dataclasses
it is built from, with its default and the comment on its declaration, then the values its yaml files state instead.

Read from the source files (ast) and the yaml files, never imported: `--help` waits for neither torch nor Hydra. The
yaml files a command composes, in Hydra's order, are `config_files` (tests/cli/test_config_defaults.py checks them
against Hydra's own composition).
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from siren_inr.cli.groups import INR_CODEC_DEFAULTS_GROUP, MODEL_DEFAULTS_GROUP
from siren_inr.cli.hydra_support import conf_dir

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds siren_inr/
SCHEMA_MODULE = "siren_inr.cli.schema"
SCHEMA_CLASSES = {"train": "TrainConfig", "compress": "CompressConfig", "rd": "RDConfig", "analyze": "AnalyzeConfig"}


class _Unknown(Exception):
    """A default that is not a literal the source states (computed at import): shown as its expression."""


@dataclass(frozen=True)
class Setting:
    """One setting of a command: its dotted key, its value, and what it means."""

    key: str
    value: Any
    doc: str
    shown: str | None = None  # the default's expression, for a default computed at import
    # a group off by default (`X | None = None`): the dataclass X whose fields it has once chosen
    group: tuple[str, ast.ClassDef] | None = None


@dataclass(frozen=True)
class GroupDefaults:
    """An entry of a defaults list that is no yaml file (cli/schema.py registers it): /model_defaults/<option>, a
    model family's name and its constructor's keyword defaults, or /inr_codec_defaults/<option>, an INR codec's
    name and its registered default settings."""

    group: str
    option: str


NAME_DOCS = {MODEL_DEFAULTS_GROUP: "the network family, a name of the model registry (siren_inr/models/)",
             INR_CODEC_DEFAULTS_GROUP: "the INR codec, a name of the codec registry (siren_inr/compression/)"}


@lru_cache(maxsize=None)
def _text(path: Path) -> str:
    """A yaml or source file's text, read once per process (a --help reads each of them several times)."""
    return path.read_text()


# --- which yaml files a command composes ----------------------------------------------------------------------


def _package_of(path: Path, group: str) -> str:
    first = _text(path).splitlines()[:1]
    if first and first[0].startswith("# @package"):
        package = first[0].split("@package", 1)[1].strip()
        return "" if package == "_global_" else package
    return group.replace("/", ".")


def _defaults_list(path: Path) -> list:
    raw = yaml.safe_load(_text(path)) or {}
    return list(raw.get("defaults") or [])


def config_files(config_name: str, overrides: list[str] | tuple[str, ...] = ()
                 ) -> list[tuple[str, Path | GroupDefaults]]:
    """(package, file) of every yaml file `config_name` composes with `overrides` (group=option, +group=option), in
    the order Hydra merges them (a file's own values after its defaults list unless it names _self_ elsewhere); a
    model's or an INR codec's registered defaults, which its yaml file starts from, as a GroupDefaults entry."""
    folder = conf_dir()
    chosen: dict[str, Any] = {}
    added: list[tuple[str, str]] = []
    for override in overrides:
        key, sep, option = override.partition("=")
        group = key.lstrip("+")
        if not sep or not (folder / group).is_dir():
            continue
        if key.startswith("+"):
            added.append((group, option))
        else:
            chosen[group] = None if option == "null" else option

    def walk(path: Path, group: str, package: str) -> list[tuple[str, Path | GroupDefaults]]:
        entries = _defaults_list(path)
        if path == folder / f"{config_name}.yaml":
            entries = entries + [{group_: option} for group_, option in added]
        for entry in entries:  # an `override /group: option` in a group file chooses for the whole config
            if isinstance(entry, dict):
                for key, option in entry.items():
                    if str(key).startswith("override "):
                        chosen.setdefault(str(key).split()[1].lstrip("/"), option)
        files, own_done = [], False
        for entry in entries:
            if entry == "_self_":
                files.append((package, path))
                own_done = True
            elif isinstance(entry, str) and entry.split("/")[:2] in (["", MODEL_DEFAULTS_GROUP],
                                                                    ["", INR_CODEC_DEFAULTS_GROUP]):
                files.append((package, GroupDefaults(entry.split("/")[1], entry.split("/")[2].split("@")[0])))
            elif isinstance(entry, str):
                if group and (folder / group / f"{entry}.yaml").is_file():  # another option of the same group
                    files += walk(folder / group / f"{entry}.yaml", group, package)
            else:
                for key, option in entry.items():
                    key = str(key)
                    if key.startswith("override "):
                        continue
                    option = chosen.get(key, option)
                    if option is None:
                        continue
                    child = folder / key / f"{option}.yaml"
                    files += walk(child, key, _package_of(child, key))
        if not own_done:
            files.append((package, path))
        return files

    return walk(folder / f"{config_name}.yaml", "", "")


def _comments(path: Path) -> dict[str, str]:
    """Dotted key -> the comment on its line in a yaml file, with the comment lines aligned under it."""
    lines = _text(path).splitlines()
    docs, stack = {}, []
    for number, line in enumerate(lines):
        text, _, comment = line.partition(" #")
        if not text.strip() or text.lstrip().startswith(("#", "-")) or ":" not in text:
            continue
        indent = len(text) - len(text.lstrip())
        key = text.strip().split(":", 1)[0].strip()
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        dotted = ".".join(k for _, k in stack)
        if comment.strip():
            column = line.index(" #") + 1
            parts = [comment.strip()]
            for following in lines[number + 1:]:
                if following.strip().startswith("#") and following.index("#") == column:
                    parts.append(following.strip()[1:].strip())
                else:
                    break
            docs[dotted] = " ".join(parts)
    return docs


def _flatten(value: Any, prefix: str, into: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), into)
    elif prefix:
        into[prefix] = value


def stated_values(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, tuple[Any, str]]:
    """Dotted key -> (value, comment) of every setting the yaml files of `config_name` state, the last one winning."""
    stated: dict[str, tuple[Any, str]] = {}
    for package, path in config_files(config_name, overrides):
        if isinstance(path, GroupDefaults):
            stated[f"{package}.name"] = (path.option, NAME_DOCS[path.group])
            read = constructor_settings if path.group == MODEL_DEFAULTS_GROUP else codec_settings
            stated.update({f"{package}.{key}": (value, doc) for key, value, doc in read(path.option)})
            continue
        raw = yaml.safe_load(_text(path)) or {}
        raw = {key: value for key, value in raw.items() if key not in ("defaults", "hydra")}
        flat: dict[str, Any] = {}
        _flatten(raw, package, flat)
        docs = _comments(path)
        for key, value in flat.items():
            local = key[len(package) + 1:] if package else key
            parents = [local.rsplit(".", n)[0] for n in range(local.count(".") + 1)]
            # its own line's comment; else what the setting was documented with before (a registered default's
            # declaration); else its group's comment
            earlier = stated[key][1] if key in stated else ""
            stated[key] = (value, docs.get(local) or earlier or next((docs[p] for p in parents if p in docs), ""))
    return stated


# --- the declared defaults, read from the source ----------------------------------------------------------------


@lru_cache(maxsize=None)
def _module(name: str) -> tuple[ast.Module, dict[int, tuple[int, str]]]:
    path = PACKAGE_ROOT.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    source = _text(path)
    comments = {}  # line -> (column, text, whether the line holds the comment alone)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            alone = token.line.strip().startswith("#")
            comments[token.start[0]] = (token.start[1], token.string[1:].strip(), alone)
    return ast.parse(source), comments


@lru_cache(maxsize=None)
def _registered_models() -> dict[str, tuple[str, ast.ClassDef]]:
    """Registry name -> (module, class) of every `@register_model("name")` class in siren_inr/models/."""
    found = {}
    for path in sorted((PACKAGE_ROOT / "siren_inr" / "models").glob("*.py")):
        module = f"siren_inr.models.{path.stem}"
        for node in _module(module)[0].body:
            if isinstance(node, ast.ClassDef):
                for decorator in node.decorator_list:
                    if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name)
                            and decorator.func.id == "register_model" and decorator.args
                            and isinstance(decorator.args[0], ast.Constant)):
                        found[decorator.args[0].value] = (module, node)
    return found


def constructor_settings(model: str) -> list[tuple[str, Any, str]]:
    """(keyword, default, the comment on its line) of every keyword with a default of the constructor of the model
    family `model`: where its hyperparameters are declared (models.registry.default_hparams at run time)."""
    if model not in _registered_models():
        raise _Unknown(model)
    module, cls = _registered_models()[model]
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    _, comments = _module(module)
    positional = init.args.args[len(init.args.args) - len(init.args.defaults):]
    pairs = list(zip(positional, init.args.defaults))
    pairs += [(arg, default) for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults) if default]
    return [(arg.arg, _plain(ast.literal_eval(default)), _doc(arg, comments)) for arg, default in pairs]


@lru_cache(maxsize=None)
def _registered_codecs() -> dict[str, tuple[str, ast.AST]]:
    """INR codec name -> (module, the expression of its defaults) of every `InrCodec(name=..., defaults=...)` in
    siren_inr/compression/."""
    found = {}
    root = PACKAGE_ROOT / "siren_inr" / "compression"
    for path in sorted(root.rglob("*.py")):
        if "InrCodec(" not in _text(path):  # (parsing every file of compression/ would double a --help's time)
            continue
        module = ".".join(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
        for node in ast.walk(_module(module)[0]):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "InrCodec":
                keywords = {k.arg: k.value for k in node.keywords}
                if isinstance(keywords.get("name"), ast.Constant) and "defaults" in keywords:
                    found[keywords["name"].value] = (module, keywords["defaults"])
    return found


def codec_settings(codec: str) -> list[tuple[str, Any, str]]:
    """(dotted key, default, the comment on its declaration) of every setting of the INR codec `codec`: its settings
    dataclass's fields with its registered defaults (compression/registry.py; inr_codecs.DEFAULTS at run time)."""
    if codec not in _registered_codecs():
        raise _Unknown(codec)
    module, expr = _registered_codecs()[codec]
    defaults = _value(module, expr)
    docs = {setting.key: setting.doc for setting in _declared(*defaults.origin, "")}
    flat: dict[str, Any] = {}
    _flatten(dict(defaults), "", flat)
    return [(key, value, docs.get(key, "")) for key, value in flat.items()]


def _lookup(module: str, name: str) -> tuple[str, ast.AST]:
    """(module, node) of `name` in `module`: a class, or the expression assigned to it (followed through imports)."""
    tree, _ = _module(module)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, node
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return module, node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            if node.value is not None:
                return module, node.value
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("siren_inr"):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _lookup(node.module, alias.name)
    raise _Unknown(name)


def _fields(module: str, cls: ast.ClassDef) -> list[tuple[str, ast.AnnAssign, str, str]]:
    """(name, declaration, module, doc) of a dataclass's fields, its bases' first."""
    out: dict[str, tuple[str, ast.AnnAssign, str, str]] = {}
    for base in cls.bases:
        if isinstance(base, ast.Name):
            try:
                base_module, node = _lookup(module, base.id)
            except _Unknown:
                continue
            if isinstance(node, ast.ClassDef):
                out.update({f[0]: f for f in _fields(base_module, node)})
    _, comments = _module(module)
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = (node.target.id, node, module, _doc(node, comments))
    return list(out.values())


def _doc(node: ast.AnnAssign | ast.arg, comments: dict[int, tuple[int, str, bool]]) -> str:
    """The comment on a field's (or a keyword's) line and the comment lines aligned under it; else the comment block
    above it."""
    if node.end_lineno in comments and not comments[node.end_lineno][2]:
        column, text, _ = comments[node.end_lineno]
        parts, line = [text], node.end_lineno + 1
        while line in comments and comments[line][2] and comments[line][0] == column:
            parts.append(comments[line][1])
            line += 1
        return " ".join(parts)
    parts, line = [], node.lineno - 1
    while line in comments and comments[line][2] and comments[line][0] == node.col_offset:
        parts.insert(0, comments[line][1])
        line -= 1
    text = " ".join(parts)
    name = f"{node.arg if isinstance(node, ast.arg) else node.target.id}: "
    return text[len(name):] if text.startswith(name) else text


class _Defaults(dict):
    """A dataclass's default values, knowing the dataclass (whose fields document them)."""

    origin: tuple[str, ast.ClassDef]


def _class_defaults(module: str, cls: ast.ClassDef, given: dict[str, Any] | None = None) -> dict[str, Any]:
    values = _Defaults()
    values.origin = (module, cls)
    for name, node, field_module, _ in _fields(module, cls):
        try:
            values[name] = _default(field_module, node)
        except _Unknown:  # a field without a default, or one computed at import: not a value here
            continue
    values.update(given or {})
    return values


def _default(module: str, node: ast.AnnAssign) -> Any:
    if node.value is None:
        raise _Unknown(node.target.id)
    return _value(module, node.value)


def _value(module: str, expr: ast.AST) -> Any:
    """The value of a default's expression, where the source states it (literals, names, dataclass defaults)."""
    try:
        return _plain(ast.literal_eval(expr))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(expr, ast.Name):
        if expr.id == "MISSING":
            return "???"
        found_module, node = _lookup(module, expr.id)
        if isinstance(node, ast.ClassDef):
            return (found_module, node)
        if isinstance(node, (ast.Dict, ast.List)) and not (node.keys if isinstance(node, ast.Dict) else node.elts):
            raise _Unknown(expr.id)  # an empty registry, filled at import
        return _value(found_module, node)
    if isinstance(expr, ast.Attribute):
        base = _value(module, expr.value)
        if isinstance(base, tuple) and len(base) == 2 and isinstance(base[1], ast.ClassDef):
            base = _class_defaults(*base)
        if isinstance(base, dict) and expr.attr in base:
            return base[expr.attr]
        raise _Unknown(expr.attr)
    if isinstance(expr, ast.Lambda):
        return _value(module, expr.body)
    if isinstance(expr, ast.Call):
        name = expr.func.id if isinstance(expr.func, ast.Name) else None
        keywords = {k.arg: k.value for k in expr.keywords if k.arg}
        if name == "field":
            if "default" in keywords:
                return _value(module, keywords["default"])
            if "default_factory" in keywords:
                factory = keywords["default_factory"]
                if isinstance(factory, ast.Name) and factory.id in ("list", "dict"):
                    return [] if factory.id == "list" else {}  # an empty list or mapping
                made = _value(module, factory)
                if isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], ast.ClassDef):
                    return _class_defaults(*made)
                return made
        if name in ("asdict", "list", "tuple", "dict") and len(expr.args) == 1 and not keywords:
            inner = _value(module, expr.args[0])
            if isinstance(inner, tuple) and len(inner) == 2 and isinstance(inner[1], ast.ClassDef):
                inner = _class_defaults(*inner)
            return _plain(inner)
        if name is not None:
            cls = _value(module, expr.func)
            if isinstance(cls, tuple) and len(cls) == 2 and isinstance(cls[1], ast.ClassDef) and not expr.args:
                return _class_defaults(*cls, {k: _value(module, v) for k, v in keywords.items()})
    raise _Unknown(ast.unparse(expr))


def _expression(expr: ast.AST | None) -> str:
    """The text of a default computed at import (of field(default_factory=lambda: X), X)."""
    if expr is None:
        return "???"
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "field":
        factory = {k.arg: k.value for k in expr.keywords}.get("default_factory")
        if factory is not None:
            expr = factory.body if isinstance(factory, ast.Lambda) else ast.Call(factory, [], [])
    return ast.unparse(expr)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _nested_class(module: str, node: ast.AnnAssign) -> tuple[str, ast.ClassDef] | None:
    """The dataclass a field's annotation names (DataSpec, OptimSettings, ...), alone or `X | None`."""
    annotation = node.annotation
    if (isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr)
            and isinstance(annotation.right, ast.Constant) and annotation.right.value is None):
        annotation = annotation.left
    if isinstance(annotation, ast.Name):
        try:
            found_module, found = _lookup(module, annotation.id)
        except _Unknown:
            return None
        if isinstance(found, ast.ClassDef):
            return found_module, found
    return None


def declared_settings(module: str, class_name: str, prefix: str = "") -> list[Setting]:
    """Every setting a dataclass declares, nested dataclasses' fields dotted, with its default and its comment."""
    _, cls = _lookup(module, class_name)
    return _declared(module, cls, prefix)


def _declared(module: str, cls: ast.ClassDef, prefix: str) -> list[Setting]:
    settings = []
    for name, node, field_module, doc in _fields(module, cls):
        key = f"{prefix}{name}"
        try:
            value, shown = _default(field_module, node), None
        except _Unknown:
            value, shown = None, _expression(node.value)
        nested = _nested_class(field_module, node) or getattr(value, "origin", None)
        if nested is not None and isinstance(value, dict):
            inner = _declared(*nested, f"{key}.")
            settings += [Setting(s.key, value.get(s.key[len(key) + 1:], s.value), s.doc, s.shown) for s in inner]
        else:
            settings.append(Setting(key, value, doc, shown, nested))
    return settings


# --- the help text -----------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str) and value.startswith("${oc.select:") and value.endswith("}"):
        return "${" + value[len("${oc.select:"):]  # the command's own setting
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def command_settings(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> list[Setting]:
    """The settings of `conf/<config_name>.yaml`: the schema's, with the values (and comments) its yaml files state."""
    declared = declared_settings(SCHEMA_MODULE, SCHEMA_CLASSES[config_name])
    stated = stated_values(config_name, overrides)
    settings = []
    for setting in declared:
        inner = [key for key in stated if key.startswith(setting.key + ".")]
        if inner:  # a chosen group: its dataclass's fields (hparams_search) or, typed Any (model, inr_codec), its keys
            fields = _declared(*setting.group, f"{setting.key}.") if setting.group else []
            for field in fields:
                given = [key for key in inner if key == field.key or key.startswith(field.key + ".")]
                settings += [Setting(key, stated[key][0], stated[key][1] or field.doc) for key in given] or [field]
            given = {s.key for s in settings}
            settings += [Setting(key, stated[key][0], stated[key][1] or setting.doc) for key in inner
                         if key not in given]
            continue
        if setting.key in stated:
            value, comment = stated[setting.key]
            settings.append(Setting(setting.key, value, comment or setting.doc))
        else:
            settings.append(setting)
    return settings


def settings_help(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """A `--help` section: every setting of the command, `key=default`, then what it means."""
    try:
        settings = command_settings(config_name, overrides)
    except (OSError, SyntaxError, yaml.YAMLError, _Unknown):  # an install without the sources: say where they are
        return f"Settings: siren_inr/cli/schema.py and conf/{config_name}.yaml declare them all."
    rows = [(f"{s.key}={s.shown if s.shown is not None else _show(s.value)}", s.doc) for s in settings]
    width = min(44, max(len(left) for left, _ in rows))
    lines = [f"Settings, key=default (declared in siren_inr/cli/schema.py, the library's settings dataclasses and the\n"
             f"model's constructor; conf/{config_name}.yaml and its groups state what differs):"]
    for left, doc in rows:
        lines.append(f"  {left:<{width}}  {doc}".rstrip() if len(left) <= width else f"  {left}\n  {'':<{width}}  {doc}"
                     .rstrip())
    return "\n".join(lines)
