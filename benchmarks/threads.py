"""How many threads NumPy's BLAS uses, and setting it (and torch's) to the same number.

A fair race runs both libraries at the same thread count. NumPy's matrix products run on
its BLAS's threads (OpenBLAS in the wheels; its elementwise ufuncs are single-threaded);
torch's intra-op pool is ``torch.set_num_threads``.

* With ``threadpoolctl`` (the ``bench`` extra) the BLAS is asked directly and limited at
  run time.
* Without it, the count comes from the environment variables OpenBLAS/MKL/OpenMP read
  at load time (else OpenBLAS's default: one thread per available core), and ``--threads``
  works only by setting those variables before NumPy is imported, which
  :func:`preset_from_argv` does for ``python -m benchmarks``.

Nothing here imports NumPy at module level, so the preset can run before it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_ENV_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
_LIMITER: Any = None  # threadpoolctl's limit, in force until restore_blas()


def preset_from_argv(argv: list[str]) -> None:
    """Set the BLAS thread variables from ``--threads N`` if NumPy is not loaded yet."""
    if "numpy" in sys.modules:
        return
    for i, arg in enumerate(argv):
        value = None
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        if value is not None and value.isdigit() and int(value) > 0:
            for var in _ENV_VARS:
                os.environ[var] = value


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS: library, version, threads, and how the thread count was found."""
    import numpy as np

    tpc = _threadpoolctl()
    if tpc is not None:
        pools = [p for p in tpc.threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            pool = pools[0]
            return {
                "library": pool.get("internal_api"),
                "version": pool.get("version"),
                "architecture": pool.get("architecture"),
                "threads": int(pool["num_threads"]),
                "source": "threadpoolctl",
            }
    library, version = None, None
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        library, version = blas.get("name"), blas.get("version")
    except Exception:  # older NumPy: no dict mode; the name is only informative
        pass
    for var in _ENV_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return {
                "library": library,
                "version": version,
                "threads": int(value),
                "source": f"${var}",
            }
    return {
        "library": library,
        "version": version,
        "threads": available_cores(),
        "source": "default (one per available core)",
    }


def limit_blas(threads: int) -> bool:
    """Limit NumPy's BLAS to ``threads`` at run time; False without threadpoolctl."""
    global _LIMITER
    tpc = _threadpoolctl()
    if tpc is None:
        return False
    restore_blas()
    _LIMITER = tpc.threadpool_limits(limits=threads, user_api="blas")
    return True


def restore_blas() -> None:
    """Undo :func:`limit_blas` (the runner called from Python leaves no trace)."""
    global _LIMITER
    if _LIMITER is not None:
        _LIMITER.restore_original_limits()
        _LIMITER = None
