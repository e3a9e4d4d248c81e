"""Committed results against a fresh run: equal numbers match, a changed number or run is reported."""

from __future__ import annotations

import shutil

import pandas as pd

from siren_inr.analysis.report import analyze_records
from siren_inr.analysis.verify import compare_result_folders, main


def test_compare_result_folders(tmp_path, record_factory):
    records = [record_factory("siren", 0, 3.0, size=16), record_factory("relu", 0, 12.0, size=16)]
    analyze_records(records, tmp_path / "a")
    # A fresh run has new run ids and wall times but the same numbers.
    records[0].run_id, records[0].end_time_ms = "f" * 32, 99_999
    analyze_records(records, tmp_path / "b")
    assert compare_result_folders(tmp_path / "a", tmp_path / "b") == []
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0

    shutil.copytree(tmp_path / "b", tmp_path / "c")
    table = pd.read_csv(tmp_path / "c" / "comparison.csv")
    table.loc[table["run_name"] == "relu-0", "psnr_db"] += 1e-3
    table.to_csv(tmp_path / "c" / "comparison.csv", index=False)
    differences = compare_result_folders(tmp_path / "a", tmp_path / "c")
    assert len(differences) == 1 and "relu-0: psnr_db" in differences[0]
    assert main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1

    (tmp_path / "c" / "benford_summary.csv").unlink()
    assert any("missing" in d for d in compare_result_folders(tmp_path / "a", tmp_path / "c"))
