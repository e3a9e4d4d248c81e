"""`siren-inr rerun <run_id> [key=value ...]`: refit a tracked run from its record and say whether it matches."""

from __future__ import annotations

import sys

from siren_inr.cli.command import run_command
from siren_inr.cli.hydra_support import print_error
from siren_inr.errors import SirenInrError

OPTIONS = {"tracking.uri": None, "progress": None, "psnr_tol_db": "0.05", "rtol": "1e-3", "debug": "false"}

_HELP = """usage: {prog} <run_id> [tracking.uri=...] [progress=auto|bar|lines|none] [psnr_tol_db=0.05] [rtol=1e-3]

Fits the run again from its recorded config (config/config.yaml: model, data, seed, optimiser, trainer) into a
new MLflow run tagged rerun_of=<run_id> in the same experiment, then compares the metric histories
(train/loss, train/psnr, train/ssim at every logged step) and the final metrics:
  - bit for bit when both fits ran on the CPU with trainer.deterministic=true;
  - otherwise within |Δpsnr| <= psnr_tol_db dB and relative differences <= rtol (loss, SSIM, MSE).
The verdict is printed and recorded on the new run (tags rerun_match, rerun_history_match, rerun_final_match,
metrics rerun/max_abs_diff/<key>). A run recorded with other package versions, at another git commit or from
a dirty tree still reruns, with a warning. Exit status: 0 when it matches, 1 when it differs, 2 on bad input.
tracking.uri: the store holding the run (default ./mlruns/mlflow.db); the rerun goes to the same store."""


def _parse(argv: list[str]) -> tuple[str, dict[str, str]]:
    positional = [a for a in argv if "=" not in a]
    options = dict(OPTIONS)
    for arg in argv:
        if "=" in arg:
            key, value = arg.split("=", 1)
            if key not in OPTIONS:
                raise SirenInrError(f"unknown setting {key!r}; accepted: {', '.join(OPTIONS)}")
            options[key] = value
    if len(positional) != 1:
        raise SirenInrError(f"give exactly one run id (got {len(positional)}: {' '.join(positional) or 'none'})")
    for key in ("psnr_tol_db", "rtol"):
        try:
            if float(options[key]) < 0:
                raise ValueError
        except ValueError:
            raise SirenInrError(f"{key}={options[key]!r}; accepted: a number >= 0") from None
    return positional[0], options


def rerun(run_id: str, options: dict[str, str]) -> int:
    """Refit the run, compare, record, print the verdict; returns the exit status."""
    from siren_inr.cli.config import recorded_job
    from siren_inr.jobs.rerun import rerun as rerun_job
    from siren_inr.tracking.rerun import Tolerance

    tolerance = Tolerance(psnr_db=float(options["psnr_tol_db"]), rtol=float(options["rtol"]))
    result = rerun_job(run_id, options["tracking.uri"], recorded_job, progress=options["progress"], tolerance=tolerance,
                       on_warning=lambda text: print_error(text, prefix="warning"))
    if result.run_id is None:
        return 0
    print(result.summary, flush=True)
    for problem in result.problems:
        print(f"  {problem}", flush=True)
    return 0 if result.match else 1


def main(argv: list[str] | None = None, prog: str = "siren-inr rerun") -> int:
    """Entry point of `siren-inr rerun`."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def job(args: list[str]) -> int:
        if not args:
            print(_HELP.format(prog=prog))
            raise SirenInrError(f"{prog} needs the id of the run to fit again (the MLflow run id, e.g. from the runs "
                                "table of `siren-inr ui`)")
        return rerun(*_parse(args))

    return run_command(argv, prog, _HELP, job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
