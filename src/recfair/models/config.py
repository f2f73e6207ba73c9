"""Typed hyper-parameters of every registered component, and the runtime options.

Each component class (model, penalty, re-weigher, re-ranker, generative backend)
declares its hyper-parameters once, as a :class:`ComponentConfig` subclass held in
its ``Config`` class variable.  That one declaration gives validation with uniform
errors, defaults, ``--param key=value`` parsing, the ``recfair models --params``
table and the study's TOML schema.  Runtime options (:class:`RuntimeOptions`:
threads, device, progress, checkpoint folder) change how a model runs, not what it
learns, and are never saved with it.

Example
-------
>>> from pydantic import Field
>>> class MyConfig(ComponentConfig):
...     k: int = Field(10, ge=1, description="neighbours")
>>> validate_config(MyConfig, {"k": 5}, owner="my-model").k
5
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo

from recfair.errors import BAD_PARAM, RecfairError

#: An unknown hyper-parameter key; ``{hint}`` is :data:`DID_YOU_MEAN` or empty.
UNKNOWN_PARAM = "Unknown parameter '{key}' (= {value!r}) for {owner}.{hint} Valid parameters: {valid}."
#: Appended to :data:`UNKNOWN_PARAM` when a valid key is close to the given one.
DID_YOU_MEAN = " Did you mean '{close}'?"
#: A runtime option passed as a hyper-parameter.
RUNTIME_AS_PARAM = (
    "'{key}' is a runtime option of {owner}, not a hyper-parameter (it is never saved): "
    "pass runtime=RuntimeOptions({key}=...) instead."
)
#: A ``--param`` argument without ``=``.
BAD_ASSIGNMENT = "--param expects key=value (e.g. --param epochs=20); got '{raw}'"
#: ``config=`` of the wrong type.
BAD_CONFIG_TYPE = "config for {owner} must be a {expected} or a dict; got {got}."
#: More positional arguments than a component takes.
TOO_MANY_POSITIONAL = "{owner} takes at most {n} positional parameters ({names}); got {got}. Pass the others by name."
#: A parameter given both positionally and by name.
TWICE = "{owner} got '{key}' both positionally and by name."

_NUMBER_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


class ComponentConfig(BaseModel):
    """Base of every component's hyper-parameter model (unknown keys are errors).

    Values are validated in pydantic's lax mode (``"5"`` is read as 5 for an int
    field, as ``--param`` needs), except that ``True``/``False`` is never a number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        key = _bool_misuse(cls, data)
        if key is not None:
            raise ValueError(f"{key}: a bool is not {_type_name(cls.model_fields[key].annotation)}")
        return data


def _bool_misuse(config_cls: type[BaseModel], data: Any) -> str | None:
    """The first key given True/False where the field takes no bool."""
    if isinstance(data, dict):
        for key, value in data.items():
            field = config_cls.model_fields.get(key)
            if isinstance(value, bool) and field is not None and "true/false" not in _type_name(field.annotation):
                return key
    return None


class RuntimeOptions(BaseModel):
    """How a model runs, not what it learns; never saved with the model.

    ``threads=None`` means the model's ``default_threads`` (or torch's default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(None, ge=1, description="CPU threads for training and scoring")
    device: str | None = Field(None, description="torch device ('cpu', 'cuda', 'cuda:1'); None = automatic")
    progress: bool = Field(True, description="show progress bars")
    checkpoint_dir: Path | None = Field(None, description="folder for training checkpoints")


RUNTIME_KEYS: tuple[str, ...] = tuple(RuntimeOptions.model_fields)

# Field types shared by many components (the parameter vocabulary); a config sets
# only the default, e.g. ``epochs: Epochs = 20``.
Seed = Annotated[int, Field(description="random seed: same seed, same model")]
Epochs = Annotated[int, Field(ge=1, description="maximum training epochs")]
LearningRate = Annotated[float, Field(gt=0, description="optimiser step size")]
Reg = Annotated[float, Field(ge=0, description="L2 regularisation weight")]
BatchSize = Annotated[int, Field(ge=1, description="training examples per mini-batch")]
EmbeddingSize = Annotated[int, Field(ge=1, description="dimension of user and item factors")]
Patience = Annotated[int, Field(ge=1, description="epochs without validation improvement before stopping (with valid only)")]
Fraction = Annotated[float, Field(ge=0, le=1)]

#: The training fields many trained models share, declared once with their bounds and descriptions.
TRAINING_FIELDS: dict[str, Any] = {
    "embedding_size": EmbeddingSize, "epochs": Epochs, "learning_rate": LearningRate, "reg": Reg,
    "batch_size": BatchSize, "patience": Patience, "seed": Seed,
}
#: :func:`training_config` given a key that is not in :data:`TRAINING_FIELDS`.
UNKNOWN_TRAINING_FIELD = "training_config: unknown training field(s) {unknown}; known: {known}."


def training_config(base: type[ComponentConfig], name: str, **defaults: Any) -> type[ComponentConfig]:
    """A subclass of ``base`` declaring the :data:`TRAINING_FIELDS` named in ``defaults``, with those defaults.

    A model's ``Config`` then declares only what is its own, e.g.
    ``class Config(training_config(ComponentConfig, "BPRTraining", epochs=20, seed=0)): ...``.

    >>> Base = training_config(ComponentConfig, "Base", epochs=20, seed=0)
    >>> Base().epochs, Base.model_fields["epochs"].metadata[0].ge
    (20, 1)
    """
    unknown = sorted(set(defaults) - set(TRAINING_FIELDS))
    if unknown:
        raise TypeError(UNKNOWN_TRAINING_FIELD.format(unknown=unknown, known=sorted(TRAINING_FIELDS)))
    fields: dict[str, Any] = {key: (TRAINING_FIELDS[key], value) for key, value in defaults.items()}
    return create_model(name, __base__=base, __module__=base.__module__, **fields)


# ------------------------------------------------------------ descriptions
def _literal_choices(annotation: Any) -> list[Any] | None:
    """The allowed values when ``annotation`` is a Literal (optionally | None)."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return list(typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                out.append(None)
                continue
            sub = _literal_choices(arg)
            if sub is None:
                return None
            out.extend(sub)
        return out
    return None


def _type_name(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is Annotated:  # a bounded member of a union or container, e.g. dict[str, Share]
        inner, *meta = typing.get_args(annotation)
        flat = [m for info in meta for m in (info.metadata if isinstance(info, FieldInfo) else [info])]
        return _with_bounds(_type_name(inner), flat)
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        return f"a mapping of {_type_name(key).split(' ', 1)[-1]} to {_type_name(value)}"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        inner = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return "a list of " + (_type_name(inner[0]).split(" ", 1)[-1] + "s" if inner else "values")
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    names = {int: "an int", float: "a number", bool: "true/false", str: "a string", Path: "a path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


_PLAIN_WORDS = {
    ("an int", (("ge", 1),)): "a positive int",
    ("an int", (("gt", 0),)): "a positive int",
    ("an int", (("ge", 0),)): "a non-negative int",
    ("a number", (("gt", 0),)): "a positive number",
    ("a number", (("ge", 0),)): "a non-negative number",
    ("a number", (("ge", 0), ("le", 1))): "a number in [0, 1]",
    ("a number", (("gt", 0), ("lt", 1))): "a number strictly between 0 and 1",
    ("a number", (("ge", 0), ("lt", 1))): "a number in [0, 1)",
    ("a number", (("gt", 0), ("le", 1))): "a number in (0, 1]",
}


def describe_allowed(field: FieldInfo) -> str:
    """What a field accepts, in words: ``one of mean, max`` or ``a positive int``."""
    choices = _literal_choices(field.annotation)
    if choices is not None:
        return "one of " + ", ".join(str(c) for c in choices)
    return _with_bounds(_type_name(field.annotation), field.metadata)


def _with_bounds(text: str, metadata: list[Any]) -> str:
    """``text`` (a type in words) narrowed by the number bounds found in ``metadata``."""
    bounds: list[tuple[str, Any]] = []
    for meta in metadata:
        for attr, _ in _NUMBER_BOUNDS:
            val = getattr(meta, attr, None)
            if val is not None:
                bounds.append((attr, val))
    if not bounds:
        return text
    base, _, rest = text.partition(" or ")
    plain = _PLAIN_WORDS.get((base, tuple(bounds)))
    if plain is None:
        symbols = dict(_NUMBER_BOUNDS)
        plain = base + " " + " and ".join(f"{symbols[a]} {v}" for a, v in bounds)
    return f"{plain} or {rest}" if rest else plain


def closest_key(key: str, valid: list[str]) -> str | None:
    """The valid key nearest to a misspelt one (difflib), or None."""
    found = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_key_error(key: str, value: Any, valid: list[str], owner: str) -> RecfairError:
    """The one error for a key a config does not declare."""
    if key in RUNTIME_KEYS:
        return RecfairError(RUNTIME_AS_PARAM.format(key=key, owner=owner))
    close = closest_key(key, valid)
    hint = DID_YOU_MEAN.format(close=close) if close else ""
    return RecfairError(
        UNKNOWN_PARAM.format(key=key, value=value, owner=owner, hint=hint, valid=", ".join(valid) or "(none)")
    )


# --------------------------------------------------------------- validation
def validate_config(
    config_cls: type[BaseModel], params: dict[str, Any], *, owner: str
) -> Any:
    """Validate ``params`` against ``config_cls``; raise one :class:`RecfairError`.

    The error names the first offending key, its value and what is allowed; an
    unknown key also names the closest valid key.
    """
    valid = list(config_cls.model_fields)
    for key, value in params.items():
        if key not in config_cls.model_fields:
            raise unknown_key_error(key, value, valid, owner)
    try:
        return config_cls.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else (_bool_misuse(config_cls, params) or "?")
        field = config_cls.model_fields.get(key)
        expected = describe_allowed(field) if field is not None else err["msg"]
        raise RecfairError(
            BAD_PARAM.format(param=key, owner=owner, expected=expected, value=params.get(key, err.get("input")))
        ) from None


def make_config(
    config_cls: type[ComponentConfig], config: Any, params: dict[str, Any], *, owner: str
) -> ComponentConfig:
    """Merge ``config`` (instance, dict or None) and keyword ``params`` into a validated config."""
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, config_cls):
        base = config.model_dump()
    elif isinstance(config, dict):
        base = dict(config)
    else:
        raise RecfairError(
            BAD_CONFIG_TYPE.format(owner=owner, expected=config_cls.__name__, got=type(config).__name__)
        )
    base.update(params)
    return validate_config(config_cls, base, owner=owner)


def make_runtime(runtime: "RuntimeOptions | dict | None", default_threads: int | None = None) -> RuntimeOptions:
    """A :class:`RuntimeOptions` from an instance, a dict or None, threads defaulted."""
    if runtime is None:
        opts = RuntimeOptions()
    elif isinstance(runtime, RuntimeOptions):
        opts = runtime
    elif isinstance(runtime, dict):
        opts = validate_config(RuntimeOptions, runtime, owner="runtime options")
    else:
        raise RecfairError(
            BAD_CONFIG_TYPE.format(owner="runtime", expected="RuntimeOptions", got=type(runtime).__name__)
        )
    if opts.threads is None and default_threads is not None:
        opts = opts.model_copy(update={"threads": default_threads})
    return opts


class Configurable:
    """Mixin: a component whose hyper-parameters are a validated ``Config``.

    ``__init__(*args, config=None, **params)`` validates, stores each field as an
    attribute (``self.k``) and exposes the validated whole as ``self.config``.
    ``args`` fill the fields named in ``positional``, in order (e.g.
    ``RatingUnfairnessPenalty("value", "gender")``).
    """

    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    name: ClassVar[str] = "component"
    #: Hyper-parameters that may also be passed positionally, in this order.
    positional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, config: Any = None, **params: Any) -> None:
        self._apply_config(config, self._name_positional(args, params))

    @classmethod
    def _name_positional(cls, args: tuple[Any, ...], params: dict[str, Any]) -> dict[str, Any]:
        """``params`` plus ``args`` keyed by :attr:`positional` (one error if too many or given twice)."""
        if len(args) > len(cls.positional):
            raise RecfairError(TOO_MANY_POSITIONAL.format(
                owner=cls._owner(), n=len(cls.positional), names=", ".join(cls.positional) or "none", got=len(args)))
        named = dict(zip(cls.positional, args))
        for key in named:
            if key in params:
                raise RecfairError(TWICE.format(owner=cls._owner(), key=key))
        return {**named, **params}

    def _apply_config(self, config: Any, params: dict[str, Any]) -> None:
        cfg = make_config(type(self).Config, config, params, owner=self._owner())
        for key in type(cfg).model_fields:
            setattr(self, key, getattr(cfg, key))

    @classmethod
    def _owner(cls) -> str:
        return cls.__name__

    @property
    def config(self) -> ComponentConfig:
        """The hyper-parameters, re-validated from the attributes (edits are checked)."""
        fields = type(self).Config.model_fields
        return validate_config(type(self).Config, {k: getattr(self, k) for k in fields}, owner=self._owner())

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as JSON-able values (what ``save`` writes)."""
        return self.config.model_dump(mode="json")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({args})"


# ------------------------------------------------------ command-line values
def _coerce(field: FieldInfo, raw: str) -> Any:
    """A ``--param`` string as the value pydantic should validate."""
    text = raw.strip()
    allows_none = "None" in _type_name(field.annotation).split(" or ")
    if allows_none and text.lower() in ("none", "null"):
        return None
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def parse_params(config_cls: type[BaseModel], assignments: list[str], *, owner: str) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` into validated, typed values (only the given keys).

    Numbers and booleans are coerced by the config's field types; ``none``/``null``
    sets an optional field to None; ``[...]`` / ``{...}`` are read as JSON.
    """
    raw: dict[str, Any] = {}
    valid = list(config_cls.model_fields)
    for text in assignments:
        key, sep, value = text.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RecfairError(BAD_ASSIGNMENT.format(raw=text))
        field = config_cls.model_fields.get(key)
        if field is None:
            raise unknown_key_error(key, value, valid, owner)
        raw[key] = _coerce(field, value)
    checked = validate_config(config_cls, raw, owner=owner)
    return {k: getattr(checked, k) for k in raw}


def describe_config(config_cls: type[BaseModel]) -> list[dict[str, str]]:
    """One row per field: name, type / allowed values, default, description."""
    rows = []
    for key, field in config_cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if field.is_required():
            shown = "(required)"
        else:
            shown = "None" if default is None else json.dumps(default, default=str)
        rows.append(
            {
                "name": key,
                "allowed": describe_allowed(field),
                "default": shown,
                "description": field.description or "",
            }
        )
    return rows
