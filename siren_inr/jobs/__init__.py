"""Orchestration: the only layer that composes fitting, tracking, compression and analysis into one job."""
