"""Trustworthy artefact folders: atomic replacement, checksum manifests, fault points.

A folder of artefacts (a run, a study cell) is written in three moves so that a
kill at any moment leaves either the old folder or the new one, never a mix:

1. everything is written into ``.{name}.tmp-{pid}`` beside the target and
   flushed to disk (:func:`atomic_folder`);
2. an existing target is renamed to ``.{name}.old-{pid}``, the new folder is
   renamed into place, the old one is deleted;
3. a reader calls :func:`recover` first: if the target is missing because a
   kill fell between the two renames, the old folder is put back.

``manifest.json`` records the recfair version, a UTC timestamp, caller
metadata (a data fingerprint, …) and the SHA-256 and size of every file;
:func:`verify_manifest` refuses a folder whose files no longer match, naming
the file.  Files are created with ``open``/``mkdir``, so the user's umask
applies (no ``tempfile.mkdtemp`` and its 0700).

:func:`fault_point` lets tests kill the process (SIGKILL) at a named step:
set ``RECFAIR_FAULT_AT`` to the step's name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import threading
import shutil
import signal
from pathlib import Path
from typing import Any, Iterator

from recfair.errors import IntegrityError, RecfairError

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
FAULT_ENV = "RECFAIR_FAULT_AT"

#: The named write steps, in order (tests kill the process at each).
WRITE_STEPS = ("files-written", "manifest-written", "old-moved-aside", "new-in-place", "old-removed")

NO_MANIFEST = "{path}: no {file} (written by an older recfair or not by recfair); re-create it"
BAD_MANIFEST = "{path}: {file} is unreadable ({error}); the folder cannot be trusted, re-create it"
FILE_MISSING = "{path}: artefact '{name}' listed in {file} is missing"
FILE_CHANGED = "{path}: artefact '{name}' changed since it was written ({what}); re-create the folder"
EXISTS = "{path} already exists; pass --force to replace it"
NOT_A_FOLDER = "{path} exists and is not a folder; choose another output path"
FOREIGN_FOLDER = "{path} is a non-empty folder that recfair did not write (no {file}); choose another output path"


def fault_point(step: str) -> None:
    """Kill this process with SIGKILL when ``$RECFAIR_FAULT_AT`` names ``step`` (fault-injection tests)."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def now_utc() -> str:
    """The current time as an ISO-8601 UTC string (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a flushed temporary file and an atomic rename.

    The temporary name carries the process and the thread, so two threads writing the
    same file at once do not rename each other's temporary file away (the last rename wins).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def _files(folder: Path) -> list[str]:
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST_FILE:
            out.append(p.relative_to(folder).as_posix())
    return out


def _entry(folder: Path, rel: str) -> dict[str, Any]:
    p = folder / rel
    return {"sha256": sha256_file(p), "bytes": p.stat().st_size}


def write_manifest(folder: str | os.PathLike, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Checksum every file under ``folder`` and write ``manifest.json`` (with ``meta``); return it."""
    from recfair import __version__

    folder = Path(folder)
    manifest = {"format": MANIFEST_FORMAT, "recfair": __version__, "created": now_utc(), **(meta or {}),
                "files": {rel: _entry(folder, rel) for rel in _files(folder)}}
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's manifest, or :class:`IntegrityError` when it is missing or unreadable."""
    folder = Path(folder)
    f = folder / MANIFEST_FILE
    if not f.is_file():
        raise IntegrityError(NO_MANIFEST.format(path=folder, file=MANIFEST_FILE))
    try:
        manifest = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(manifest.get("files"), dict):
            raise ValueError("no 'files' table")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise IntegrityError(BAD_MANIFEST.format(path=folder, file=MANIFEST_FILE, error=exc)) from exc
    return manifest


def verify_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """Check every file the manifest lists (size, then SHA-256); return the manifest.

    Raises :class:`IntegrityError` naming the first file that is missing or changed.
    Files not listed (e.g. an ``audit/`` folder written later) are not checked.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    for rel, want in sorted(manifest["files"].items()):
        p = folder / rel
        if not p.is_file():
            raise IntegrityError(FILE_MISSING.format(path=folder, name=rel, file=MANIFEST_FILE))
        size = p.stat().st_size
        if size != want.get("bytes"):
            what = f"{size} bytes, recorded {want.get('bytes')}"
            raise IntegrityError(FILE_CHANGED.format(path=folder, name=rel, what=what))
        if sha256_file(p) != want.get("sha256"):
            raise IntegrityError(FILE_CHANGED.format(path=folder, name=rel, what="checksum differs"))
    return manifest


def update_manifest(folder: str | os.PathLike, relpaths: list[str], meta: dict[str, Any] | None = None) -> dict:
    """Re-checksum ``relpaths`` (added or rewritten files) into an existing, verified manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for rel in relpaths:
        manifest["files"][rel] = _entry(folder, rel)
    manifest.update(meta or {})
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _siblings(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"), key=lambda p: p.stat().st_mtime)


def recover(target: str | os.PathLike) -> Path:
    """Put an old folder back if a kill fell between moving it aside and renaming the new one in."""
    target = Path(target)
    if not target.exists():
        old = _siblings(target, "old") if target.parent.is_dir() else []
        if old:
            os.replace(old[-1], target)
    return target


def check_target(target: str | os.PathLike, *, force: bool, marker: str) -> Path:
    """Refuse an output folder before any work: a file, a foreign folder, or an existing one without ``force``.

    ``marker`` is the file that marks a folder this kind of writer made (e.g. ``run.json``).
    """
    target = recover(target)
    if target.exists() and not target.is_dir():
        raise RecfairError(NOT_A_FOLDER.format(path=target))
    if target.is_dir() and any(target.iterdir()):
        if not (target / marker).is_file() and not (target / MANIFEST_FILE).is_file():
            raise RecfairError(FOREIGN_FOLDER.format(path=target, file=marker))
        if not force:
            raise RecfairError(EXISTS.format(path=target))
    return target


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, meta: dict[str, Any] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success, checksum it and swap it into place.

    On an exception the temporary folder is removed and ``target`` is untouched.
    Stale temporary folders of earlier, killed writers are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    for stale in _siblings(target, "tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    os.mkdir(tmp)  # honours the umask
    try:
        yield tmp
        fault_point("files-written")
        write_manifest(tmp, meta)
        for p in tmp.rglob("*"):
            if p.is_file():
                fsync_path(p)
        fault_point("manifest-written")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
        fault_point("old-moved-aside")
    os.replace(tmp, target)
    fault_point("new-in-place")
    shutil.rmtree(old, ignore_errors=True)
    for stale in _siblings(target, "old"):
        shutil.rmtree(stale, ignore_errors=True)
    fault_point("old-removed")
