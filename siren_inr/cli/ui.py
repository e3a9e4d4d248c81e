"""`siren-inr ui [experiment_name=...] [tracking.uri=...] [port=5000] [host=127.0.0.1] [browser=true]`: the MLflow UI
on the results (tracking/server.py starts, watches and stops the server)."""

from __future__ import annotations

from siren_inr.cli.command import run_command
from siren_inr.cli.hydra_support import print_error
from siren_inr.errors import SirenInrError

SETTINGS = {"tracking.uri": None, "port": "5000", "host": "127.0.0.1", "browser": "true", "experiment_name": None}
HELP = """usage: {prog} [experiment_name=NAME] [tracking.uri=sqlite:///mlruns/mlflow.db] [port=5000] [host=127.0.0.1] \
[browser=true]
Serves the store with one worker; prints and opens the URL of the runs of experiment_name (default:
the experiment used last), final PSNR and SSIM shown, best first. The server's log goes to ui.log
beside the store."""


def _parse(argv: list[str]) -> dict[str, str | None]:
    settings = dict(SETTINGS)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in settings:
            raise SirenInrError(f"unknown setting {arg!r}; accepted: experiment_name=..., tracking.uri=..., "
                                "port=..., host=..., browser=true|false")
        settings[key] = value
    if settings["browser"] not in ("true", "false"):
        raise SirenInrError(f"browser={settings['browser']!r}; accepted: true or false")
    return settings


def _serve(argv: list[str]) -> int:
    from siren_inr.tracking.server import ServerDidNotStart, prepare_ui, serve_ui

    settings = _parse(argv)
    name = settings["experiment_name"]
    server = prepare_ui(settings["tracking.uri"], name, settings["host"], settings["port"])

    def announce() -> None:
        print(f"MLflow UI for {server.uri}: {server.url}", flush=True)
        which = f"experiment {name!r}" if name else "the experiment used last"
        print(f"(the runs of {which}, final PSNR and SSIM shown, best first; the server's log: {server.log_file}; "
              "Ctrl-C stops the server)", flush=True)
        if not server.start_page:
            print("(no start page in this install: run pages may open in GenAI mode; reinstall siren-inr, or see "
                  "docs/mlflow_ui.md for the click)", flush=True)
        if settings["browser"] == "true":
            import webbrowser

            webbrowser.open(server.url)

    try:
        return serve_ui(server, announce)
    except ServerDidNotStart as err:  # not a bad setting: exit 1, as a server that stopped
        print_error(str(err))
        return 1


def main(argv: list[str], prog: str = "siren-inr ui") -> int:
    """Serve the MLflow UI on the store until interrupted."""
    return run_command(argv, prog, HELP, _serve)
