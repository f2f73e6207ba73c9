"""Errors raised by recfair.

Every error a user can trigger with bad input is a :class:`RecfairError` (or a
subclass).  The CLI turns these into a one-line message and exit code 2; the
library lets them propagate.  Messages that tests assert verbatim live here as
module constants.
"""

from __future__ import annotations

from typing import Any


class RecfairError(ValueError):
    """Base class of every user-facing recfair error (bad input, bad config)."""


class DataError(RecfairError):
    """Malformed or inconsistent input data.

    Parameters
    ----------
    message:
        What is wrong and what was expected.
    path, line, column:
        Where, when known.  They are prefixed to the message as
        ``path:line: column 'x': message``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path, self.line, self.column, self.detail = path, line, column, message
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        if column is not None:
            where += f"column '{column}': "
        super().__init__(where + message)


class NotFittedError(RecfairError):
    """A model was used before ``fit`` (or ``load``)."""


class ColdStartError(RecfairError):
    """A model was asked about users or items it cannot represent."""


class IntegrityError(RecfairError):
    """A stored artefact or its data no longer matches what was recorded when it was written."""


class MissingDependencyError(RecfairError, ImportError):
    """An optional dependency is not installed."""


MISSING_EXTRA = "{feature} needs the optional dependency '{package}'. Install it with: pip install 'recfair[{extra}]'"

NOT_FITTED = "This {name} is not fitted yet. Call fit(train) or {name}.load(dir) first."

COLD_USERS = (
    "{name} cannot recommend to users it was not trained on ({n} given, e.g. user index {example}). "
    "Use a model that reads user profiles or histories (lm-frozen, lm-finetune, lm-classifier, lm-hybrid) for cold-start users."
)

COLD_ITEMS = (
    "{name} cannot score items it was not trained on ({n} items have no training interaction). "
    "Use a model that reads item text (lm-frozen, lm-finetune, lm-hybrid) for cold-start items."
)

BAD_PARAM = "The '{param}' parameter of {owner} must be {expected}. Got {value!r} instead."


def require(package: str, *, extra: str, feature: str) -> Any:
    """Import and return an optional dependency, or raise one exact message."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            MISSING_EXTRA.format(feature=feature, package=package, extra=extra)
        ) from exc


def check_param(value: Any, param: str, owner: str, expected: str, ok: bool) -> None:
    """Raise the uniform bad-parameter error when ``ok`` is false."""
    if not ok:
        raise RecfairError(BAD_PARAM.format(param=param, owner=owner, expected=expected, value=value))


def check_positive_int(value: Any, param: str, owner: str) -> int:
    """Return ``value`` as an ``int`` if it is a positive int (bools refused), else raise :data:`BAD_PARAM`.

    ``param`` and ``owner`` name the parameter and the function or class it
    belongs to in the message, e.g. ``check_positive_int(k, "k", "ndcg")``.
    """
    ok = isinstance(value, (int,)) and not isinstance(value, bool) and value > 0
    check_param(value, param, owner, "a positive int", ok)
    return int(value)


def check_nonneg_float(value: Any, param: str, owner: str) -> float:
    """Return ``value`` as a ``float`` if it is an int or float ≥ 0 (bools refused), else raise :data:`BAD_PARAM`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    check_param(value, param, owner, "a non-negative number", ok)
    return float(value)


def check_fraction(value: Any, param: str, owner: str, *, closed: bool = False) -> float:
    """Return ``value`` as a ``float`` if it lies in ``(0, 1)`` (``[0, 1]`` with ``closed=True``), else raise :data:`BAD_PARAM`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        0 <= value <= 1 if closed else 0 < value < 1
    )
    check_param(value, param, owner, "a number in [0, 1]" if closed else "a number strictly between 0 and 1", ok)
    return float(value)
