"""A new user's first session seen in a real browser: a sweep, its analysis and a compress, then `siren-inr ui`,
whose printed URL is opened in headless Chromium (selenium with the distribution's chromium and chromedriver, which
.ci/run installs). What is checked is what the user sees: the runs, their final PSNR and SSIM, best first, in the
UI's Model training mode on every page, no "Default" experiment, and the analysis report's figures drawn.

The store is built by the commands' own entry points in this process (the same code as the console script, without
starting Python three more times); the UI runs as the user starts it, in its own process."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testkit import free_port, smooth_image, store_uri

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)
# Flags for a headless Chromium run as root on a machine without a network: no sandbox (root), no GPU, and no
# background connections (updates, sync, QUIC), which a closed network refuses many at a time.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1600,1000")
FIT = ["data.sidelength=16", "model.hidden_features=8", "model.hidden_layers=1", "num_epochs=20",
       "log_every_n_steps=5", "trainer=cpu", "progress=none"]
PAGE_SECONDS = 60  # the longest wait for one page to show what is checked (a busy 2-core machine)
START_SECONDS = 240  # the longest wait for `siren-inr ui` to print its URL (it waits up to 120 s for the server)


def _browser_paths() -> tuple[str, str]:
    """The Chromium binary and its driver, or a skip that says which is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("no Chromium/chromedriver: selenium is not installed (pip install selenium; .ci/run does it "
                    "through the dev extras)")
    browser = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    driver = next((path for name in DRIVER_NAMES if (path := shutil.which(name))), None)
    if browser is None or driver is None:
        missing = " and ".join(what for what, path in (("chromium", browser), ("chromedriver", driver)) if not path)
        pytest.skip(f"no Chromium/chromedriver: {missing} not found on PATH (.ci/run installs the distribution's "
                    "chromium and chromium-driver where apt-get can)")
    return browser, driver


def _first_session(folder: Path, monkeypatch) -> dict:
    """What a new user does before opening the UI: compress a photo, run a small sweep, analyse the sweep.
    Returns the sweep's fits (run id -> final PSNR) and the analysis run's id."""
    import mlflow

    from siren_inr.cli.analyze import main as analyze_main
    from siren_inr.cli.codec import compress_main
    from siren_inr.cli.train import main as train_main

    monkeypatch.chdir(folder)
    Image.fromarray((smooth_image(16)[..., 0] * 255).round().astype(np.uint8)).save(folder / "tiny.png")
    Image.fromarray((smooth_image(16, channels=3) * 255).round().astype(np.uint8)).save(folder / "photo.png")
    assert compress_main(["photo.png", "photo.inr", "model.hidden_layers=1", "model.hidden_features=8",
                          "num_epochs=10", "qat_steps=2", "trainer=cpu"]) == 0
    assert train_main(["-m", "model=siren,relu", "data.image=tiny.png", *FIT]) == 0
    client = mlflow.MlflowClient(store_uri(folder))
    experiment = client.get_experiment_by_name("siren-inr")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.run_kind = 'sweep'")
    assert analyze_main([f"sweep={parent.data.tags['sweep']}"]) == 0
    fits = client.search_runs([experiment.experiment_id], f"tags.sweep_id = '{parent.data.tags['sweep']}'")
    (analysis,) = client.search_runs([experiment.experiment_id], "tags.mlflow.runName LIKE 'analysis of sweep%'")
    return {"experiment_id": experiment.experiment_id,
            "psnr": {run.info.run_id: run.data.metrics["final/psnr"] for run in fits},
            "names": {run.info.run_id: run.info.run_name for run in fits},
            "analysis": analysis.info.run_id}


def _start_ui(folder: Path) -> tuple[subprocess.Popen, str]:
    """`siren-inr ui browser=false` on a free port, and the URL it prints."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "siren_inr", "ui", f"port={free_port()}", "browser=false"],
                               cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    lines: queue.Queue = queue.Queue()
    process.reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    process.reader.start()
    seen, deadline = [], time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and (process.poll() is None or not lines.empty()):
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("MLflow UI for"):
            return process, line.rsplit(" ", 1)[-1].strip()
    _stop_ui(process)
    pytest.fail(f"siren-inr ui printed no URL within {START_SECONDS} s:\n" + "".join(seen))


def _stop_ui(process: subprocess.Popen) -> None:
    """Ctrl-C as a user stops it (siren-inr ui stops the server it started); then the whole group, whatever is
    left."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.reader.join(timeout=10)  # the pipe's end, once every process of the group is gone
    process.stdout.close()


def _chromium(browser: str, driver_path: str, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def _wait(driver, what: str, check):
    """Poll `check(driver)` until it returns something true; fail naming `what` and saying what the page showed."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def attempt(_):
        try:
            return check(driver)
        except WebDriverException:
            return None

    try:
        return WebDriverWait(driver, PAGE_SECONDS, poll_frequency=0.25).until(attempt)
    except Exception:
        pytest.fail(f"the browser never showed {what}; at {driver.current_url} the page read: "
                    f"{_page_text(driver)[:600]!r}")


def _open(driver, route: str) -> None:
    """Go to a route of the UI inside the page already loaded, as its own links do."""
    driver.execute_script("location.hash = arguments[0]", route)


def _page_text(driver) -> str:
    return driver.execute_script("return document.body ? document.body.innerText : ''") or ""


def _breadcrumb(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('[class*=breadcrumb-link]'))"
        ".map(e => e.innerText.trim()).filter(t => t)")


def _training_mode(driver) -> None:
    """Model training mode, not GenAI: no "Evaluations" in the breadcrumb, no GenAI menu (Evaluation runs)."""
    text = _page_text(driver)
    assert "Evaluations" not in _breadcrumb(driver), _breadcrumb(driver)
    assert "Evaluation runs" not in text and "Prompts & versions" not in text, text[:400]


# The runs table (ag-grid): every rendered row's run id, its position, and the text of each cell by column id.
TABLE = """
const rows = {};
for (const row of document.querySelectorAll('.ag-row[row-id]')) {
  const entry = rows[row.getAttribute('row-id')] ||= {index: Number(row.getAttribute('row-index')), cells: {}};
  for (const cell of row.querySelectorAll('.ag-cell[col-id]')) entry.cells[cell.getAttribute('col-id')] =
    cell.innerText.trim();
}
// Column ids of the headers drawn inside the window (ag-grid also keeps some just outside it).
const headers = Array.from(document.querySelectorAll('.ag-header-cell[col-id]')).filter(h => {
  const box = h.getBoundingClientRect();
  return box.width > 0 && box.left >= 0 && box.right <= window.innerWidth;
}).map(h => h.getAttribute('col-id'));
return {rows, headers};
"""
PSNR, SSIM = "metrics.`final/psnr`", "metrics.`final/ssim`"


def _results_table(driver, fits: dict) -> dict | None:
    table = driver.execute_script(TABLE)
    rows = table["rows"]
    if PSNR not in table["headers"] or SSIM not in table["headers"] or not set(fits) <= set(rows):
        return None
    if any(not rows[run_id]["cells"].get(PSNR, "-").replace(".", "", 1).isdigit() for run_id in fits):
        return None  # the metric cells are not drawn yet
    return table


@pytest.mark.slow
def test_first_session_shows_results_in_a_real_browser(tmp_path, monkeypatch):
    browser, driver_path = _browser_paths()
    session = _first_session(tmp_path, monkeypatch)
    process, url = _start_ui(tmp_path)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    driver = None
    try:
        driver = _chromium(browser, driver_path, profile)
        driver.get(url)
        fits, experiment_id = session["psnr"], session["experiment_id"]

        # The first page: the runs of the experiment used last (the sweep's, whose analysis ended last), final PSNR
        # and SSIM as columns with numbers in them, best PSNR first, in Model training mode.
        table = _wait(driver, "the runs table with final/psnr and final/ssim", lambda d: _results_table(d, fits))
        assert f"#/experiments/{experiment_id}/runs" in driver.current_url
        assert _breadcrumb(driver)[-1] == "siren-inr", _breadcrumb(driver)
        _training_mode(driver)
        rows = table["rows"]
        by_position = sorted(fits, key=lambda run_id: rows[run_id]["index"])
        shown = [float(rows[run_id]["cells"][PSNR]) for run_id in by_position]
        assert shown == sorted(shown, reverse=True), shown
        best = max(fits, key=fits.get)
        assert by_position[0] == best and float(rows[best]["cells"][PSNR]) == pytest.approx(fits[best])
        assert min(rows[run_id]["index"] for run_id in rows) == rows[best]["index"]  # no other run above it
        for run_id in fits:
            assert 0 < float(rows[run_id]["cells"][SSIM]) <= 1

        # A run page opened from the table stays in Model training mode (breadcrumb: experiment > Runs > run).
        driver.find_element("css selector", f".ag-row[row-id='{best}'] a[href*='/runs/{best}']").click()
        _wait(driver, "the best run's page", lambda d: f"/runs/{best}" in d.current_url
              and "final/psnr" in _page_text(d))
        assert session["names"][best] in _page_text(driver).split("\n")
        assert _breadcrumb(driver)[:2] == ["siren-inr", "Runs"], _breadcrumb(driver)
        _training_mode(driver)

        # Back to the runs: the same columns (the shared view is not applied again to a URL with search settings;
        # the start page made it the browser's own view of the experiment).
        driver.back()
        _wait(driver, "the runs table again with final/psnr and final/ssim", lambda d: _results_table(d, fits))
        _training_mode(driver)

        # Compare, as a user opens it: tick the sweep's fits, "Compare".
        for run_id in fits:
            driver.execute_script("arguments[0].click()", driver.find_element(
                "css selector", f".ag-row[row-id='{run_id}'] .ag-cell[col-id='0'] input[type=checkbox]"))
        compare = _wait(driver, "the Compare button", lambda d: [b for b in d.find_elements("tag name", "button")
                                                                 if b.text.strip() == "Compare" and b.is_enabled()])
        compare[0].click()
        _wait(driver, "the Compare page", lambda d: "/compare-runs" in d.current_url
              and f"Comparing {len(fits)} Runs" in _page_text(d))
        _training_mode(driver)

        # The analysis run's report.html in its run page's artifact viewer draws every figure.
        _open(driver, f"#/experiments/{experiment_id}/runs/{session['analysis']}/artifacts/report.html")
        frame = _wait(driver, "report.html in the artifact viewer",
                      lambda d: d.find_elements("css selector", "iframe") and d.find_element("css selector", "iframe"))
        _training_mode(driver)
        driver.switch_to.frame(frame)
        images = _wait(driver, "the report's figures", lambda d: (found := d.execute_script(
            "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)")) and min(found) >= 0
            and found)
        assert len(images) >= 2 and min(images) > 0, images
        driver.switch_to.default_content()

        # The experiments list: the user's experiments, no empty "Default".
        _open(driver, "#/experiments")
        text = _wait(driver, "the experiments list", lambda d: "siren-inr-compress" in _page_text(d) and _page_text(d))
        assert "siren-inr" in text.split("\n") and "Default" not in text.split("\n"), text[:400]
        _training_mode(driver)
    except BaseException:
        if driver is not None:
            driver.save_screenshot(str(tmp_path / "failure.png"))
        raise
    finally:
        if driver is not None:
            driver.quit()
        _stop_ui(process)
