"""What every benchmark shares: where things are, which machine it ran on, how results are written.

Benchmarks run as modules from anywhere once the project is installed (`make setup`):
``python -m benchmarks.asr``. Each result file names the command that wrote it (``command()``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from catalog import CatalogSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEMO_DB = CatalogSettings().db  # the demo shop `make catalog` builds
CACHE = ROOT / "models" / "cache"


def shared_data(*parts: str) -> Path:
    """A folder or file under ../shared/data (``$SHOPKEEPER_SHARED`` overrides ../shared)."""
    return Path(os.environ.get("SHOPKEEPER_SHARED", ROOT.parent / "shared")).joinpath("data", *parts)


def cpu_name() -> str:
    """The CPU as /proc/cpuinfo names it, with its family: speed differs twofold between AMD's Zen 1
    (family 23) and Zen 3 (family 25) at 2 cores each."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line)
    except OSError:
        return platform.machine()
    info = {k.strip(): v.strip() for k, v in info.items()}
    name = info.get("model name", platform.machine())
    return f"{name} (family {info.get('cpu family', '?')}, model {info.get('model', '?')})"


def machine() -> str:
    """One line for a result's header: CPU, cores, Python."""
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def command(module: str, *args: str) -> str:
    """How a result was made, as a shopkeeper would type it: ``python -m benchmarks.<module> ...``."""
    return " ".join(["python -m", module, *args])


def sweep_parser(doc: str | None, result: str) -> argparse.ArgumentParser:
    """The command line the setting sweeps share: --model, and --out defaulting to results/``result``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--out", type=Path, default=RESULTS / result)
    return parser


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a share k/n (sound near 0 and 1, unlike the normal approximation)."""
    if n == 0:
        return 0.0, 0.0
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * ((p * (1 - p) / n + z**2 / (4 * n * n)) ** 0.5) / (1 + z**2 / n)
    return centre - half, centre + half


def write_result(path: Path, text: str) -> Path:
    """Write a result file (making its folder) and say where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return path
