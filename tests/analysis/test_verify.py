"""verify.py matches runs by the settings their names state, in the naming of before and after 'model first'."""

from __future__ import annotations

import pandas as pd

from siren_inr.analysis.verify import compare_result_folders, run_key


def test_run_names_of_both_forms_name_the_same_settings():
    assert run_key("model=siren,seed=0") == run_key("siren seed=0") == "model=siren seed=0"
    assert run_key("model=relu") == run_key("relu")
    assert run_key("siren seed=0") != run_key("siren seed=1")
    assert run_key("relu seed=0") != run_key("siren seed=0")


def test_folders_with_old_and_new_names_compare_by_settings(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, names, psnr in ((old, ["model=siren,seed=0", "model=relu,seed=0"], [30.0, 20.0]),
                                (new, ["relu seed=0", "siren seed=0"], [20.0, 30.5])):
        folder.mkdir()
        pd.DataFrame({"run_name": names, "psnr_db": psnr, "ssim": 0.9, "mse": 1e-3, "steps": 10,
                      "num_parameters": 100}).to_csv(folder / "comparison.csv", index=False)
        columns = ("pixels_gt_mad", "pixels_rec_mad", "pixels_rec_conformity", "pixels_js_gt_rec_bits", "dct_gt_mad",
                   "dct_rec_mad", "dct_rec_conformity", "dct_js_gt_rec_bits")
        pd.DataFrame({"label": names, **{c: 0.01 for c in columns}}).to_csv(folder / "benford_summary.csv",
                                                                              index=False)
    differences = compare_result_folders(old, new)
    assert any("model=siren seed=0" in line and "30.0 vs 30.5" in line for line in differences), differences
    assert not any("runs differ" in line for line in differences)
