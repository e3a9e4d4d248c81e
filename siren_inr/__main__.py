"""`python -m siren_inr <command> ...` — the same as the `siren-inr` console script."""

import sys

from siren_inr.cli.main import main

sys.exit(main())
