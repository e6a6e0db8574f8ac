"""refnet's benchmarks against PyTorch on CPU: ``python -m benchmarks`` (see ``cli``).

Modules: ``timing`` (interleaved rounds, medians and spreads), ``cases`` (what is timed,
and the check that both sides compute the same thing), ``threads`` and ``machine`` (what
it ran on), ``report`` (Markdown, JSON, chart), ``cli`` (the command line). The
``kernels_*.py`` scripts are focused measurements of kernel variants.
"""
