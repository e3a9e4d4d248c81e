"""The names a run is recorded under: metric keys, tag keys and values, artifact paths. Every writer and reader
imports them; `tests/test_names.py` fails on a literal copy of one of these strings elsewhere in the package."""

from __future__ import annotations

# Metric histories, logged every few steps of a fit.
TRAIN_LOSS = "train/loss"
TRAIN_PSNR = "train/psnr"
TRAIN_SSIM = "train/ssim"
HISTORY_METRICS = (TRAIN_LOSS, TRAIN_PSNR, TRAIN_SSIM)
# A fit's history rows and history/history.csv: the epoch, one column per history metric, the optimizer step.
EPOCH_COLUMN = "epoch"
STEP_COLUMN = "step"
LOSS_COLUMN = "train_loss"
PSNR_COLUMN = "train_psnr"
SSIM_COLUMN = "train_ssim"
# history column -> metric key
HISTORY_COLUMNS = {LOSS_COLUMN: TRAIN_LOSS, PSNR_COLUMN: TRAIN_PSNR, SSIM_COLUMN: TRAIN_SSIM}
HISTORY_CSV_COLUMNS = (EPOCH_COLUMN, *HISTORY_COLUMNS, STEP_COLUMN)  # history.csv's header, in order

# Final metrics of a fit (on [0, 1], data_range 1).
FINAL_PREFIX = "final/"
FINAL_PSNR = "final/psnr"
FINAL_SSIM = "final/ssim"
FINAL_MSE = "final/mse"
FINAL_METRICS = (FINAL_PSNR, FINAL_SSIM, FINAL_MSE)  # the image-quality ones: reruns compare them, sweeps rank by one
FINAL_SECONDS = "final/seconds"
FINAL_STEPS = "final/steps"

# Metrics of a compress run (the .inr file written from the fit).
INR_BPP = "inr/bpp"
INR_PSNR = "inr/psnr_db"

# Metrics a resumed fit records about the join of its two segments, and a sweep's parent about its jobs.
RESUME_BACKFILLED_ROWS = "resume/backfilled_rows"
RESUME_OVERLAP_POINTS = "resume/overlap_points"
RESUME_OVERLAP_MAX_ABS_DIFF = "resume/overlap_max_abs_diff"
SWEEP_JOBS_FINISHED = "sweep/jobs_finished"
SWEEP_JOBS_FAILED = "sweep/jobs_failed"
SWEEP_BEST_FINAL_PSNR = "sweep/best_final_psnr"
RERUN_DIFF_PREFIX = "rerun/max_abs_diff/"  # + a compared metric key: a rerun's largest difference from the original

# Tags: what kind of run. A fit has no run_kind; every other run names its kind here.
RUN_KIND_TAG = "run_kind"
SWEEP_KIND = "sweep"  # a sweep's parent run
ANALYSIS_KIND = "analysis"  # the run an analysis logs for itself
RD_STUDY_KIND = "rd-study"  # a rate-distortion study's parent run
RD_POINT_KIND = "rd-point"  # one of its child runs
NOT_FIT_KINDS = frozenset({SWEEP_KIND, ANALYSIS_KIND, RD_STUDY_KIND, RD_POINT_KIND})
# Rate-distortion runs recorded before they carried run_kind name their kind in this tag only (still written,
# so a store holds one tag for old and new rd runs alike).
LEGACY_KIND_TAG = "kind"
LEGACY_KINDS = frozenset({RD_STUDY_KIND, RD_POINT_KIND})  # the values of LEGACY_KIND_TAG that mean a run kind

# Tags: how runs relate.
PARENT_TAG = "mlflow.parentRunId"
SWEEP_ID_TAG = "sweep_id"  # on each fit of a sweep
SWEEP_TAG = "sweep"  # on a sweep's parent: its sweep id (not sweep_id, so `tags.sweep_id = ...` selects fits only)
SWEEP_DIR_TAG = "sweep_dir"
SWEEP_KIND_TAG = "sweep_kind"  # grid | optuna
SWEEP_OVERRIDES_TAG = "sweep_overrides"
SWEPT_KEYS_TAG = "swept_keys"
BEST_RUN_TAG = "best_run_id"  # on a sweep's parent: its fit with the best final PSNR
HYDRA_JOB_NUM_TAG = "hydra_job_num"
RERUN_OF_TAG = "rerun_of"
SOURCE_RUN_TAG = "source_run_id"
ANALYSED_RUNS_TAG = "analysed_runs"  # on an analysis run: the runs it compared, comma-separated
ANALYSED_SWEEP_TAG = "analysed_sweep_id"
SELECTION_TAG = "selection"  # on an analysis run: its selection in words (a tag, and a param of that name)

# Tags: what a fit was and where its files are.
MODEL_TAG = "model"
IMAGE_TAG = "image"
SEED_TAG = "seed"
NUM_PARAMS_TAG = "num_params"
OUTPUT_DIR_TAG = "output_dir"
CHECKPOINT_DIR_TAG = "checkpoint_dir"
CKPT_PATH_TAG = "ckpt_path"
RESUMED_FROM_TAG = "resumed_from_step"
MODE_TAG = "mode"  # train, evaluate, compress
NOTE_TAG = "mlflow.note.content"  # the run's one-line description with its headline numbers (the UI's Description)

# Tags: provenance (what a run needs to be redone) and the process that writes it.
GIT_COMMIT_TAG = "git_commit"
GIT_DIRTY_TAG = "git_dirty"
MLFLOW_GIT_COMMIT_TAG = "mlflow.source.git.commit"
MACHINE_TAG = "host"
PYTHON_TAG = "python"
DEVICE_TAG = "device"
VERSIONS_TAG_PREFIX = "versions."  # + a package's distribution name: its installed version
# A RUNNING run whose process is gone was killed (SIGKILL, power): these tags tell whether it is.
HOST_TAG = "process.host"
PID_TAG = "process.pid"
START_TAG = "process.start_ticks"  # start time in clock ticks since boot (/proc/<pid>/stat): tells pid reuse
BOOT_TAG = "process.boot_id"  # a reboot makes every earlier pid dead
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
USER_TAG = "mlflow.user"
KILLED_REASON_TAG = "killed_reason"
FAILED_REASON_TAG = "failed_reason"

# Tags a rerun leaves on itself: its verdict against the original.
RERUN_MATCH_TAG = "rerun_match"  # exact | within_tolerance | differs
RERUN_HISTORY_MATCH_TAG = "rerun_history_match"
RERUN_FINAL_MATCH_TAG = "rerun_final_match"
RERUN_MODE_TAG = "rerun_mode"  # bit_for_bit | tolerance
RERUN_PROBLEMS_TAG = "rerun_problems"
RERUN_WARNINGS_TAG = "rerun_warnings"

# Experiment tags. MLflow 3's UI shows an experiment of unknown kind as a GenAI one (traces, no runs).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_EXPERIMENT_KIND = "custom_model_development"

# Artifact paths inside a run.
CONFIG_FOLDER = "config"
CONFIG_FILE = "config.yaml"  # in CONFIG_FOLDER: the resolved config
OVERRIDES_FILE = "overrides.yaml"  # in CONFIG_FOLDER: the command-line overrides
HISTORY_FOLDER = "history"
HISTORY_ARTIFACT = f"{HISTORY_FOLDER}/history.csv"
IMAGES_FOLDER = "images"
GROUND_TRUTH_ARTIFACT = f"{IMAGES_FOLDER}/ground_truth.png"
RECONSTRUCTION_ARTIFACT = f"{IMAGES_FOLDER}/reconstruction.png"
RECONSTRUCTION_GRAY_ARTIFACT = f"{IMAGES_FOLDER}/reconstruction_gray.png"
COMPARISON_ARTIFACT = f"{IMAGES_FOLDER}/comparison.png"
PLOTS_FOLDER = "plots"
HISTORY_PLOT_ARTIFACT = f"{PLOTS_FOLDER}/history.png"
CHECKPOINTS_FOLDER = "checkpoints"
LAST_CKPT_NAME = "last.ckpt"
HISTORY_CHECKPOINT_KEY = "history"  # inside a checkpoint: the fit's history rows, so a resumed fit keeps them
LAST_CKPT_ARTIFACT = f"{CHECKPOINTS_FOLDER}/{LAST_CKPT_NAME}"
ANALYSIS_FOLDER = "analysis"
COMPRESSED_FOLDER = "compressed"
