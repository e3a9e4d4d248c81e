"""`siren-inr bench`: the project's fit measured against a plain PyTorch loop in its own process, side by side.

Modules: plain_loop (the reference loop, a standalone script), reference (its process, driven step by step),
probes (memory peaks, FLOP counts, the machine), cases (the standard benchmark cases), suite (the runs),
report (the tables).
"""
