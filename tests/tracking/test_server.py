"""tracking/server.py: the UI server's log file and a server that never answers (serving: tests/cli/test_ui.py)."""

from __future__ import annotations

import os
import sys

import pytest

from siren_inr.errors import SirenInrError
from siren_inr.tracking import server
from siren_inr.tracking.server import ServerDidNotStart, UiServer, log_path, serve_ui


def test_log_goes_beside_the_store_or_to_the_temp_folder(tmp_path):
    assert log_path(tmp_path / "mlflow.db") == tmp_path / "ui.log"
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    if os.access(read_only, os.W_OK):
        pytest.skip("root writes to a read-only folder")
    try:
        assert log_path(read_only / "mlflow.db").parent != read_only
    finally:
        read_only.chmod(0o700)


def test_a_server_that_exits_is_reported_with_its_code_and_log(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "ui_command", lambda uri, port, host: [
        sys.executable, "-c", "print('address already taken'); raise SystemExit(3)"])
    up = []
    ui = UiServer(uri="sqlite:///x.db", host="127.0.0.1", port=1, url="http://127.0.0.1:1/",
                  log_file=tmp_path / "ui.log")
    with pytest.raises(ServerDidNotStart, match=r"did not start on 127.0.0.1:1 \(exit code 3\); see .*ui.log"):
        serve_ui(ui, lambda: up.append(True))
    assert not up
    assert "address already taken" in (tmp_path / "ui.log").read_text()


def test_an_unwritable_log_is_one_error(tmp_path):
    ui = UiServer(uri="sqlite:///x.db", host="127.0.0.1", port=1, url="", log_file=tmp_path / "missing" / "ui.log")
    with pytest.raises(SirenInrError, match="cannot write the server log"):
        serve_ui(ui, lambda: None)
