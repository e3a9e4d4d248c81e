"""analyze_records writes every output, and report.md links only to files that exist."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from siren_inr.analysis.report import analyze_records, missing_parts
from siren_inr.errors import SirenInrError
from siren_inr.metrics.benford import benford_report, report_to_dict


def test_analyze_records_writes_outputs(tmp_path, zoo_records):
    zoo_records = zoo_records[:2] + zoo_records[3:5]  # two models x two seeds keep it quick
    outputs = analyze_records(zoo_records, tmp_path / "out", title="Zoo", selection="experiment `zoo`",
                              skipped=[("deadbeef", "status FAILED")])
    out = tmp_path / "out"
    for name in ["report.md", "comparison.csv", "comparison.md", "grouped.csv", "grouped.md",
                 "history_overlay.png", "gallery.png", "benford_summary.csv"]:
        assert (out / name).is_file(), name
        assert name in outputs.files
    report = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert links and all((out / link).is_file() for link in links)
    assert "`deadbeef`: status FAILED" in report
    assert report.count("### model=") == 4
    for record in zoo_records:
        run = outputs.runs[record.run_id]
        assert sorted(run.files()) == sorted([f"runs/{record.run_id}/{n}"
                                              for n in ("history.png", "benford.json", "benford.png")])
        written = json.loads((out / run.benford_json).read_text())
        expected = json.loads(json.dumps(report_to_dict(benford_report(record.ground_truth, record.prediction))))
        assert written == expected


def test_single_run_has_no_grouped_table(tmp_path, record_factory):
    outputs = analyze_records([record_factory("siren", 0, 3.0)], tmp_path)
    assert "grouped.csv" not in outputs.files and outputs.settings == []
    assert "## Across seeds" not in (tmp_path / "report.md").read_text()


def test_incomplete_runs_are_named(tmp_path, record_factory):
    record = record_factory("siren", 0, 3.0)
    record.status, record.prediction, record.history = "RUNNING", None, None
    assert missing_parts(record) == ["status RUNNING (needs FINISHED)", "history/history.csv",
                                     "images/reconstruction.png"]
    with pytest.raises(SirenInrError, match=record.run_id):
        analyze_records([record], tmp_path)
    with pytest.raises(SirenInrError, match="no runs"):
        analyze_records([], tmp_path)


def test_colour_images_and_differing_ground_truths(tmp_path, record_factory):
    a, b = record_factory("siren", 0, 3.0), record_factory("relu", 1, 9.0, size=24)
    b.ground_truth = np.repeat(b.ground_truth, 3, axis=2)
    b.prediction = np.repeat(b.prediction, 3, axis=2)
    outputs = analyze_records([a, b], tmp_path)
    data = json.loads((tmp_path / outputs.runs[b.run_id].benford_json).read_text())
    assert len(data["pixels"]["channels"]) == 3
    assert data["channels"] == 3


def test_html_report_embeds_every_figure_of_the_markdown_one(tmp_path, zoo_records):
    import base64
    import re

    outputs = analyze_records(zoo_records, tmp_path / "out", title="Zoo")
    assert "report.html" in outputs.files
    markdown = (tmp_path / "out" / "report.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert linked and len(embedded) == len(linked)
    # Each embedded picture is the very file report.md links, in the same order.
    assert [base64.b64decode(data) for data in embedded] == [(tmp_path / "out" / name).read_bytes()
                                                              for name in linked]
    assert "<table>" in page and "<h1>Zoo</h1>" in page and 'src="runs/' not in page


def test_html_report_never_embeds_a_file_outside_its_folder(tmp_path):
    from siren_inr.analysis.html_report import markdown_to_html

    (tmp_path / "secret.png").write_bytes(b"\x89PNG secret")
    inside = tmp_path / "report"
    inside.mkdir()
    page = markdown_to_html("![x](../secret.png) ![y](missing.png)", inside, "t")
    assert "data:" not in page and 'src="../secret.png"' in page and 'src="missing.png"' in page
