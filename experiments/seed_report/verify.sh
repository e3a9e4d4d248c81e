#!/usr/bin/env bash
# Run the experiment again into a scratch folder and compare its numbers (final metrics, steps, parameter
# counts, Benford statistics; matched by run name) with the committed results/. Exit 0 when they match.
set -euo pipefail
cd "$(dirname "$0")"
FRESH=$(mktemp -d)
RESULTS="$FRESH/results" ./run.sh
python -m siren_inr.analysis.verify results "$FRESH/results"
