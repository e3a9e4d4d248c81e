"""A small mutation tester: break one thing in a function, run the tests that cover it, see whether they notice.

    git worktree add -f --detach /work/mut HEAD
    nice -n 19 python3 scripts/mutate.py --worktree /work/mut \
        --target siren_inr/compression/quantize.py:quantize_tensor,dequantize \
        --tests tests/compression/test_quantize.py --max 20 --out experiments/mutation/quantize.jsonl

Each mutant changes one AST node of one named function in the scratch worktree (never this checkout):
a comparison flipped (< to >=, == to !=, ...), + and - swapped, * and / swapped, a numeric constant tweaked
(n -> n + 1, x -> 2x, 0 -> 1), a boolean negated, a `return <value>` turned into `return None`. The function is
rewritten with ast.unparse (the rest of the file stays byte for byte), the tests run once with the worktree first
on PYTHONPATH, and the file is put back. A mutant is killed when the tests fail (or time out); it survives when they
pass. The unmutated tests must pass first, or nothing is measured.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

COMPARE_FLIPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq,
                 ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
               ast.Pow: ast.Mult}
SYMBOLS = {ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
           ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
           ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**"}


@dataclass(frozen=True)
class Mutant:
    """One change: the n-th node (in ast.walk order) of one function, and what it becomes."""

    path: str
    function: str
    node_index: int
    kind: str
    line: int
    description: str


def find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The (first) function or method called `name`; Class.method names a method."""
    owner, _, func = name.rpartition(".")
    for node in ast.walk(tree):
        if owner and isinstance(node, ast.ClassDef) and node.name == owner:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == func:
                    return item
        if not owner and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func:
            return node
    raise SystemExit(f"no function {name!r}")


def _tweak(value):
    """A numeric constant's mutant (strings and None are left alone)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return 1.0 if value == 0 else value * 2
    return None


def mutations_of(func: ast.AST, path: str, function: str):
    """Every mutant of one function, as (Mutant, apply) where apply(node) changes a copied node in place."""
    for index, node in enumerate(ast.walk(func)):
        line = getattr(node, "lineno", func.lineno)
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                if type(op) in COMPARE_FLIPS:
                    new = COMPARE_FLIPS[type(op)]

                    def apply(n, k=k, new=new):
                        n.ops[k] = new()
                    yield Mutant(path, function, index, "compare", line,
                                 f"{SYMBOLS[type(op)]} -> {SYMBOLS[new]}"), apply
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAPS:
            new = BINOP_SWAPS[type(node.op)]

            def apply(n, new=new):
                n.op = new()
            yield Mutant(path, function, index, "arith", line, f"{SYMBOLS[type(node.op)]} -> {SYMBOLS[new]}"), apply
        elif isinstance(node, ast.Constant):
            new_value = _tweak(node.value)
            if new_value is not None:

                def apply(n, v=new_value):
                    n.value = v
                yield Mutant(path, function, index, "constant", line, f"{node.value!r} -> {new_value!r}"), apply
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):

            def apply(n):
                n.value = None
            yield Mutant(path, function, index, "return-none", line, "return ... -> return None"), apply
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield Mutant(path, function, index, "negation", line, "not x -> x"), None


def mutated_source(source: str, mutant: Mutant, apply) -> str:
    """The file with one function rewritten with the mutation in place."""
    tree = ast.parse(source)
    func = find_function(tree, mutant.function)
    start = min([func.lineno] + [d.lineno for d in func.decorator_list]) - 1
    end = func.end_lineno
    copied = copy.deepcopy(func)
    target = list(ast.walk(copied))[mutant.node_index]
    if mutant.kind == "negation":  # `not x` becomes `x`: the node is replaced in its parent
        parent = next(p for p in ast.walk(copied) for c in ast.iter_child_nodes(p) if c is target)
        for field, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field, target.operand)
            elif isinstance(value, list):
                value[:] = [target.operand if item is target else item for item in value]
    else:
        apply(target)
    ast.fix_missing_locations(copied)
    lines = source.splitlines(keepends=True)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    new = textwrap.indent(ast.unparse(copied), indent) + "\n"
    return "".join(lines[:start]) + new + "".join(lines[end:])


def run_tests(worktree: Path, tests: list[str], timeout: float, deselect: str = "") -> tuple[str, float]:
    """'pass', 'fail' or 'timeout', and the seconds the run took."""
    env = {**os.environ, "PYTHONPATH": str(worktree) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    marker = ["-m", f"not {deselect}"] if deselect else []
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *marker, *tests],
                              cwd=worktree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - started
    return ("pass" if done.returncode == 0 else "fail"), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, check the baseline, run the mutants, print and write one line per mutant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worktree", type=Path, required=True, help="a scratch git worktree (files are changed)")
    parser.add_argument("--target", action="append", required=True,
                        help="path/in/repo.py:func1,Class.method,... (repeatable)")
    parser.add_argument("--tests", nargs="+", required=True, help="test files or node ids, relative to the worktree")
    parser.add_argument("--deselect-marker", default="slow", help="run the tests with -m 'not <this>' ('': all)")
    parser.add_argument("--kinds", default="compare,arith,constant,return-none,negation")
    parser.add_argument("--max", type=int, default=0, help="a seeded random sample of this many mutants (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, help="append one JSON line per mutant here")
    parser.add_argument("--survivors-of", type=Path,
                        help="only the mutants that survived in this earlier --out file (to check new tests)")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    args = parser.parse_args(argv)

    worktree = args.worktree.resolve()
    if worktree == Path(__file__).resolve().parents[1]:
        raise SystemExit("--worktree must be a scratch copy, not this checkout")
    kinds = set(args.kinds.split(","))
    candidates = []
    for target in args.target:
        path, _, names = target.partition(":")
        source = (worktree / path).read_text()
        tree = ast.parse(source)
        for name in names.split(","):
            for mutant, apply in mutations_of(find_function(tree, name), path, name):
                if mutant.kind in kinds:
                    candidates.append((mutant, apply))
    if args.max and len(candidates) > args.max:
        candidates = sorted(random.Random(args.seed).sample(candidates, args.max),
                            key=lambda c: (c[0].path, c[0].line, c[0].node_index))
    if args.survivors_of:
        keys = ("path", "function", "node_index", "kind", "description")
        earlier = [json.loads(line) for line in args.survivors_of.read_text().splitlines() if line.strip()]
        survived = {tuple(r[k] for k in keys) for r in earlier if r["status"] == "survived"}
        candidates = [c for c in candidates if tuple(c[0].__dict__[k] for k in keys) in survived]
    if args.list:
        for mutant, _ in candidates:
            print(f"{mutant.path}:{mutant.line} {mutant.function} {mutant.kind}: {mutant.description}")
        return 0

    baseline, seconds = run_tests(worktree, args.tests, args.timeout, args.deselect_marker)
    print(f"baseline: {baseline} ({seconds:.0f} s), {len(candidates)} mutants", flush=True)
    if baseline != "pass":
        raise SystemExit("the unmutated tests do not pass; nothing measured")
    survivors = 0
    for number, (mutant, apply) in enumerate(candidates, 1):
        file = worktree / mutant.path
        original = file.read_text()
        try:
            file.write_text(mutated_source(original, mutant, apply))
            outcome, seconds = run_tests(worktree, args.tests, args.timeout, args.deselect_marker)
        finally:
            file.write_text(original)
        status = "survived" if outcome == "pass" else "killed"
        survivors += status == "survived"
        record = {**mutant.__dict__, "status": status, "outcome": outcome, "seconds": round(seconds, 1),
                  "tests": args.tests}
        print(f"[{number}/{len(candidates)}] {status:8s} {mutant.path}:{mutant.line} {mutant.function} "
              f"{mutant.kind}: {mutant.description} ({seconds:.0f} s)", flush=True)
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
    print(f"{len(candidates) - survivors} killed, {survivors} survived of {len(candidates)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
