"""What the figures were measured on: CPU, cores, NumPy and its BLAS, torch, threads, date."""

from __future__ import annotations

import datetime
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks.threads import available_cores, blas_info


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform module)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def torch_info(torch: Any) -> dict[str, Any]:
    """torch's version, threads and CPU back-ends (None if torch is not there)."""
    capability = None
    if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability"):
        capability = torch.backends.cpu.get_cpu_capability()
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "mkl": bool(torch.backends.mkl.is_available()),
        "cpu_capability": capability,
    }


def source_version() -> dict[str, Any] | None:
    """The git commit of the refnet being timed, and the files under refnet/ that differ
    from it (None outside a git checkout)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "refnet"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "modified": [line[3:] for line in status.splitlines()]}


def machine_info(torch: Any | None) -> dict[str, Any]:
    """Everything that identifies the run's machine and software, JSON-ready."""
    import numpy as np

    import refnet

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "available_cores": available_cores(),
        # Other processes' load at the start (1, 5, 15 min): this machine is shared.
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": {"version": np.__version__, "blas": blas_info()},
        "refnet_threads": refnet.get_num_threads(),  # its threaded elementwise kernels
        "torch": None if torch is None else torch_info(torch),
    }


def describe(info: dict[str, Any]) -> str:
    """One paragraph for the report and the terminal."""
    blas = info["numpy"]["blas"]
    blas_name = " ".join(str(v) for v in (blas.get("library"), blas.get("version")) if v)
    parts = [
        f"{info['cpu']}, {info['available_cores']} cores available "
        f"({info['logical_cpus']} logical CPUs)",
        f"Python {info['python']}",
        f"NumPy {info['numpy']['version']} on {blas_name or 'an unknown BLAS'} "
        f"({blas['threads']} BLAS threads, from {blas['source']}; refnet's elementwise "
        f"kernels {info['refnet_threads']})",
    ]
    if info["torch"] is None:
        parts.append("torch not installed: refnet only")
    else:
        t = info["torch"]
        parts.append(f"torch {t['version']} ({t['threads']} threads)")
    load = info.get("load_average")
    if load:
        parts.append(f"load average {load[0]:.2f} at the start")
    return "; ".join(parts) + f"; {info['date']}"


# ---------------------------------------------------------------------- other processes


def _cpu_jiffies() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [float(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (sum(values) - idle) / hz, sum(values) / hz


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


class BackgroundLoad:
    """The share of the machine's CPU time used by *other* processes over an interval.

    Our own CPU time is subtracted from the machine's busy time, so a value near 0 means
    the cores were ours; 0.5 on a 2-core machine means one core was busy elsewhere.
    None where /proc/stat does not exist.
    """

    def __init__(self) -> None:
        self._start = _cpu_jiffies()
        self._own = _own_cpu()

    def share(self) -> float | None:
        end = _cpu_jiffies()
        if self._start is None or end is None:
            return None
        total = end[1] - self._start[1]
        if total <= 0:
            return None
        others = (end[0] - self._start[0]) - (_own_cpu() - self._own)
        return min(1.0, max(0.0, others / total))


def wait_for_idle(limit_s: float, threshold: float = 0.1, window_s: float = 2.0) -> float | None:
    """Wait (at most ``limit_s``) until other processes use under ``threshold`` of the CPU
    over ``window_s``; return the last share measured (None without /proc/stat)."""
    deadline = time.monotonic() + limit_s
    while True:
        probe = BackgroundLoad()
        time.sleep(window_s)
        share = probe.share()
        if share is None or share < threshold or time.monotonic() >= deadline:
            return share
