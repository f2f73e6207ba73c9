"""Range checks for the numbers a run is made from, shared by the CLI, run folders and studies.

Each check raises one :class:`~recfair.errors.RecfairError` saying what was
wrong, where (an option or a file) and what is allowed — before any work starts.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from recfair.errors import RecfairError

#: Seeds are accepted in [0, 2**32): every random generator recfair uses takes them.
SEED_LIMIT = 2**32

BAD_SEED = "{where}: seed must be an integer in [0, 2**32). Got {value} instead."
BAD_CANDIDATES = "{where}: the number of candidates must be a positive int. Got {value} instead."
FEW_CANDIDATES = "{where}: the number of candidates ({n}) must be at least k ({k})."
UNKNOWN_NAMES = "{where}: unknown {what} {names}. Choose from: {valid}."
PENALTY_NEEDS_LAMBDA = "--penalty {spec} needs its weight: add --lambda λ (e.g. --lambda 0.1)."
LAMBDA_NEEDS_PENALTY = "--lambda {lam} has no effect without --penalty SPEC; add a penalty or drop --lambda."
BAD_LAMBDA = "--lambda must be a finite number ≥ 0. Got {lam} instead."
BAD_MIN_VALID = "--min-valid-rate must be in [0, 1]. Got {value} instead."


def check_seed(seed, where: str = "--seed") -> int:
    """A seed in [0, 2**32)."""
    ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT
    if not ok:
        raise RecfairError(BAD_SEED.format(where=where, value=seed))
    return int(seed)


def check_candidates(n, k: int | None = None, where: str = "--candidates") -> int:
    """A positive candidate count, at least ``k`` when given."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RecfairError(BAD_CANDIDATES.format(where=where, value=n))
    if k is not None and n < k:
        raise RecfairError(FEW_CANDIDATES.format(where=where, n=n, k=k))
    return int(n)


def check_run_values(seed, n_candidates, *, where: str) -> None:
    """Range-check the numbers stored in a ``run.json``."""
    check_seed(seed, where=f"{where}: split.seed")
    check_candidates(n_candidates, where=f"{where}: n_candidates")


def split_names(raw: str | None) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``."""
    return [s.strip() for s in (raw or "").split(",") if s.strip()]


def check_names(names: Iterable[str], valid: Sequence[str], *, what: str, where: str) -> list[str]:
    """Every name must be one of ``valid``; the error lists the unknown ones and the valid ones."""
    names = list(names)
    bad = [n for n in names if n not in valid]
    if bad:
        raise RecfairError(UNKNOWN_NAMES.format(where=where, what=what, names=", ".join(repr(b) for b in bad),
                                                valid=", ".join(valid)))
    return names


def check_penalty_weight(spec: str | None, lam: float | None) -> float:
    """A penalty needs an explicit ``--lambda`` ≥ 0, and ``--lambda`` needs a penalty."""
    import math

    if spec is None:
        if lam is not None:
            raise RecfairError(LAMBDA_NEEDS_PENALTY.format(lam=lam))
        return 0.0
    if lam is None:
        raise RecfairError(PENALTY_NEEDS_LAMBDA.format(spec=spec))
    if not math.isfinite(lam) or lam < 0:
        raise RecfairError(BAD_LAMBDA.format(lam=lam))
    return float(lam)


def check_rate(value: float, message: str = BAD_MIN_VALID) -> float:
    """A share in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise RecfairError(message.format(value=value))
    return float(value)
