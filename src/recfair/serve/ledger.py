"""The server's exposure ledger: amortized-exposure state shared by every request, kept on disk.

The algorithm is :class:`recfair.mitigation.amortized.AmortizedExposureReRanker`;
this module owns its *state* while serving.  One state per item grouping
(``popularity``, ``tiers``) holds the cumulative attention of each group over every
list the server has answered with ``"method": "amortized"``.  Requests update it
one at a time (a lock), so the running shares are those of one sequence of lists.

The state is written atomically (temporary file + rename, :func:`atomic_write_text`)
to ``STATE_DIR/amortized-exposure.json`` at most every ``flush_seconds`` when it
changed, on reset, on reload and on shutdown; a restarted server continues from it.
It belongs to the server, not to a model: a reload to another cell keeps it.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from recfair.errors import RecfairError
from recfair.recommendations import Recommendations

log = logging.getLogger(__name__)

__all__ = ["BAD_LEDGER", "ExposureLedger", "LEDGER_FILE", "LEDGER_FORMAT"]

LEDGER_FILE = "amortized-exposure.json"
LEDGER_FORMAT = 1
BAD_LEDGER = "{path}: unreadable exposure state ({error}); delete it or fix it to start from zero."


class ExposureLedger:
    """Thread-safe cumulative exposure per item grouping, persisted as JSON.

    Parameters
    ----------
    path:
        The JSON file (its folder is created); ``None`` keeps the state in memory only.
    flush_seconds:
        Longest time a changed state stays unwritten while the server runs.
    """

    def __init__(self, path: str | Path | None, flush_seconds: float = 1.0) -> None:
        self.path = None if path is None else Path(path)
        self.flush_seconds = float(flush_seconds)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one write at a time, so a later snapshot is never overwritten by an earlier one
        self._states: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.path is not None and self.path.is_file():
            self._states = self._read(self.path)

    @staticmethod
    def _read(path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            states = data["states"]
            if not isinstance(states, dict) or not all(isinstance(s, dict) for s in states.values()):
                raise ValueError("'states' must map item groupings to states")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise RecfairError(BAD_LEDGER.format(path=path, error=exc)) from exc
        return states

    # --------------------------------------------------------------- use
    def rerank(self, reranker: Any, candidates: Recommendations, train: Any, k: int) -> Recommendations:
        """Re-rank with ``reranker`` (an amortized-exposure re-ranker) continuing the shared state."""
        key = reranker.item_groups
        with self._lock:
            state = self._states.get(key)
            reranker.reset() if state is None else reranker.load_state(state)
            out = reranker.rerank(candidates, train, k)
            self._states[key] = reranker.state()
            self._dirty = True
        return out

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{item_groups: {"exposure", "shares", "lists"}}`` (a copy)."""
        with self._lock:
            out = {}
            for key, state in self._states.items():
                exposure = {g: float(v) for g, v in state.get("exposure", {}).items()}
                total = sum(exposure.values())
                shares = {g: v / total for g, v in exposure.items()} if total > 0 else {}
                out[key] = {"item_groups": key, "exposure": exposure, "shares": shares,
                            "lists": int(state.get("lists", 0))}
            return out

    def reset(self, item_groups: str | None = None) -> list[str]:
        """Forget the state of one item grouping (or all); write at once; return what was reset."""
        with self._lock:
            keys = list(self._states) if item_groups is None else [k for k in self._states if k == item_groups]
            for key in keys:
                del self._states[key]
            self._dirty = True
        self.flush()
        return keys

    # ----------------------------------------------------------- persist
    def flush(self) -> bool:
        """Write the state if it changed since the last write; return whether it wrote."""
        from recfair.runs.artifacts import atomic_write_text

        if self.path is None:
            return False
        with self._write_lock:
            with self._lock:
                if not self._dirty:
                    return False
                text = json.dumps({"format": LEDGER_FORMAT, "states": self._states}, indent=1, sort_keys=True)
                self._dirty = False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, text)
        return True

    def start(self) -> None:
        """Start the background writer (idempotent)."""
        if self.path is None or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="recfair-ledger", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except OSError as exc:  # a full disk must not stop serving; the next flush retries
                self._dirty = True
                log.warning("could not write the exposure state to %s: %s", self.path, exc)

    def stop(self) -> None:
        """Stop the background writer and write the last state."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
