"""The names a run is recorded under: metric keys, tag keys, artifact folders. Every writer and reader imports them."""

from __future__ import annotations

# Metric histories, logged every few steps of a fit.
TRAIN_LOSS = "train/loss"
TRAIN_PSNR = "train/psnr"
TRAIN_SSIM = "train/ssim"
HISTORY_METRICS = (TRAIN_LOSS, TRAIN_PSNR, TRAIN_SSIM)
# history.csv column -> metric key
HISTORY_COLUMNS = {"train_loss": TRAIN_LOSS, "train_psnr": TRAIN_PSNR, "train_ssim": TRAIN_SSIM}

# Final metrics of a fit (on [0, 1], data_range 1).
FINAL_PSNR = "final/psnr"
FINAL_SSIM = "final/ssim"
FINAL_MSE = "final/mse"
FINAL_METRICS = (FINAL_PSNR, FINAL_SSIM, FINAL_MSE)
FINAL_SECONDS = "final/seconds"
FINAL_STEPS = "final/steps"

# Tags.
RUN_KIND_TAG = "run_kind"  # "sweep", "analysis", "rd", ... for runs that are not fits
PARENT_TAG = "mlflow.parentRunId"
SWEEP_ID_TAG = "sweep_id"
SWEEP_DIR_TAG = "sweep_dir"
HYDRA_JOB_NUM_TAG = "hydra_job_num"
RERUN_OF_TAG = "rerun_of"
SOURCE_RUN_TAG = "source_run_id"
OUTPUT_DIR_TAG = "output_dir"
CHECKPOINT_DIR_TAG = "checkpoint_dir"
CKPT_PATH_TAG = "ckpt_path"
RESUMED_FROM_TAG = "resumed_from_step"
MODE_TAG = "mode"  # train, evaluate, compress
NOTE_TAG = "mlflow.note.content"  # the run's one-line description with its headline numbers (the UI's Description)

# Artifact paths inside a run.
CONFIG_FOLDER = "config"
HISTORY_FOLDER = "history"
HISTORY_ARTIFACT = "history/history.csv"
IMAGES_FOLDER = "images"
PLOTS_FOLDER = "plots"
CHECKPOINTS_FOLDER = "checkpoints"
LAST_CKPT_ARTIFACT = "checkpoints/last.ckpt"
ANALYSIS_FOLDER = "analysis"
COMPRESSED_FOLDER = "compressed"
