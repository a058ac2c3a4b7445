"""Train the bot for a given shop database: the project's training data with that shop's lookup
tables (``nlu.lookups``), trained by ``rasa train`` into a folder of one's choice.

``make run`` does the same in place for the shop it serves; this is for a second shop beside it
(the end-to-end test and the conversation benchmark on an imported catalogue). Rasa's cache in the
repository keeps whatever did not change, so usually only the NLU trains again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from nlu.lookups import render

ROOT = Path(__file__).resolve().parent.parent


def train_for_shop(db: str | Path, work: Path, name: str = "shop", timeout_s: float = 3600) -> Path:
    """The model archive ``work/<name>.tar.gz``; raises RuntimeError with Rasa's output when training fails."""
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(ROOT / "data", data)
    (data / "nlu" / "lookups.yml").write_text(render(db), encoding="utf-8")
    rasa = Path(sys.executable).parent / "rasa"
    command = [str(rasa), "train", "--data", str(data), "--config", str(ROOT / "config.yml")]
    command += ["--domain", str(ROOT / "domain.yml"), "--out", str(work), "--fixed-model-name", name]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"rasa train failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return work / f"{name}.tar.gz"
