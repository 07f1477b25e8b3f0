"""`schemathesis run --checks all` against a running server, as the contract tests and CI run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).with_name("schemathesis.toml")  # the one per-operation allowance, and why
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
HANG_GUARD_S = 1200  # far above a run's few minutes: only a hung server trips it


def run_all_checks(base_url: str, headers: dict[str, str], examples: int, report_dir: Path) -> str:
    """Every phase and every check, a fixed seed, at most `examples` cases per operation; the output on failure.

    Returns "" when the run is clean, else schemathesis' own report (each failure with a curl to reproduce it).
    """
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        "20",
        "--workers",
        "1",
        "--report-dir",
        str(report_dir),
        *[arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")],
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD_S, cwd=report_dir)
    return "" if done.returncode == 0 else done.stdout[-20_000:] + done.stderr[-5_000:]
