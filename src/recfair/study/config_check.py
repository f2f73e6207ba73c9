"""The meaning of a study config: models, grids, mitigations, groups and data, checked before anything runs.

:func:`check_study` returns ``(key path, message)`` pairs, one per problem;
:mod:`recfair.study.config` turns them into lines with file and TOML line.
The grid helpers (:func:`model_grid`, :func:`mitigation_variants`) are the
ones the runner expands cells with, so what is checked is what runs.
"""

from __future__ import annotations

import itertools
import os
import typing
from pathlib import Path
from typing import Any

from recfair.errors import RecfairError
from recfair.models.config import DID_YOU_MEAN, closest_key

__all__ = [
    "NOT_SUPPORTED", "build_mitigation", "check_study", "load_study_data", "mitigation_models",
    "mitigation_variants", "model_grid", "resolve_data_name",
]

NOT_SUPPORTED = "the [{section}] section is not supported yet; remove it"
UNKNOWN_MODEL = "unknown model {name!r}.{hint} Choose one of: {choices}."
MODEL_UNAVAILABLE = "model {name!r} cannot be imported ({error}); install its extra"
NOT_A_MODEL = "baseline {name!r} is not one of the study's models ({choices})"
NO_PENALTY = "model {name!r} takes no in-processing penalty (models that do: {choices})"
NOT_IN_STUDY = "model {name!r} is not one of the study's models ({choices})"
NO_LAMBDA = "{stage} mitigation {name!r} takes no lambda (its parameters: {valid})"
NO_GROUPS = "{stage} mitigation {name!r} takes no groups (its parameters: {valid})"
NO_DATA = "data path {path} cannot be read ({why}); give a built-in name ({builtin}) or a readable file or folder"
CANNOT_PROBE = "probe backend {backend!r} cannot probe model {name!r} (study models it can probe: {choices})"
NOT_A_SEED = "probe seed {seed} is not one of the study's seeds {seeds}"
STAGE_REGISTRY = {"pre": "reweigher", "in": "penalty", "post": "reranker"}


def resolve_data_name(name: str, base_dir: Path) -> str:
    """A built-in name as is; a path made absolute against ``base_dir``."""
    from recfair.data.loaders import BUILTIN_DATASETS

    if name.lower() in BUILTIN_DATASETS:
        return name.lower()
    path = Path(name).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


_DATA_CACHE: dict[str, Any] = {}


def load_study_data(name: str, options: dict[str, Any]) -> Any:
    """Load a data set once per process (keyed by name and options)."""
    import json

    from recfair.data import load_dataset

    key = json.dumps([name, options], sort_keys=True, default=str)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_dataset(name, **options)
    return _DATA_CACHE[key]


def _grid_values(field: Any, value: Any) -> list[Any]:
    """A list value is a grid unless the field itself takes a list (then a list of lists is)."""
    takes_list = field is not None and typing.get_origin(field.annotation) in (list, tuple)
    if isinstance(value, list) and (not takes_list or (value and isinstance(value[0], list))):
        return value
    return [value]


def model_grid(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every grid point of a model's parameters, resolved (defaults filled, JSON values)."""
    from recfair.models.config import validate_config
    from recfair.models.registry import get_model_class

    cls = get_model_class(name)
    fields = cls.Config.model_fields
    keys = list(params)
    axes = [_grid_values(fields.get(k), params[k]) for k in keys]
    out = []
    for combo in itertools.product(*axes):
        point = validate_config(cls.Config, dict(zip(keys, combo)), owner=f"model '{name}'")
        out.append(point.model_dump(mode="json"))
    return out


def build_mitigation(m: Any, lam: float | None) -> Any:
    """The component of mitigation ``m`` (a :class:`~recfair.study.config.MitigationConfig`) at weight ``lam``."""
    from recfair.mitigation.registry import get_mitigation_class, make_penalty, make_reranker, make_reweigher

    stage = STAGE_REGISTRY[m.stage]
    cls = get_mitigation_class(stage, m.name)
    fields = cls.Config.model_fields
    params = dict(m.params)
    valid = ", ".join(fields)
    if lam is not None and "lambda_" not in fields:
        raise RecfairError(NO_LAMBDA.format(stage=m.stage, name=m.name, valid=valid))
    if m.stage == "in":
        spec = f"{m.name}:{m.groups}" if m.groups else m.name
        return make_penalty(spec, lambda_=1.0 if lam is None else lam, **params)
    if m.stage == "pre":
        spec = f"{m.name}:{m.groups}" if m.groups else m.name
        if lam is not None:
            params["lambda_"] = lam
        return make_reweigher(spec, **params)
    if m.groups is not None:
        if "groups" not in fields:
            raise RecfairError(NO_GROUPS.format(stage=m.stage, name=m.name, valid=valid))
        params["groups"] = m.groups
    if lam is not None:
        params["lambda_"] = lam
    return make_reranker(m.name, **params)


def mitigation_variants(m: Any) -> list[tuple[float | None, dict[str, Any]]]:
    """``(λ, resolved parameters)`` for each λ of mitigation ``m``."""
    lams = m.lambda_ if isinstance(m.lambda_, list) else [m.lambda_]
    return [(lam, build_mitigation(m, lam).get_params()) for lam in lams]


def mitigation_models(m: Any, models: list[str]) -> list[str]:
    """The study models mitigation ``m`` applies to (penalties: models that accept one)."""
    from recfair.models.registry import get_model_class

    chosen = list(m.models) if m.models else list(models)
    if m.stage == "in" and not m.models:
        chosen = [name for name in chosen if getattr(get_model_class(name), "accepts_penalty", False)]
    return chosen


def _check_models(config: Any) -> list[tuple[tuple, str]]:
    from recfair.models.registry import MODELS, get_model_class, model_names

    problems = []
    for name, params in config.models.items():
        loc = ("models", name)
        if name not in MODELS:
            close = closest_key(name, model_names())
            hint = DID_YOU_MEAN.format(close=close) if close else ""
            problems.append((loc, UNKNOWN_MODEL.format(name=name, hint=hint, choices=", ".join(model_names()))))
            continue
        try:
            get_model_class(name)
            model_grid(name, params)
        except ImportError as exc:
            problems.append((loc, MODEL_UNAVAILABLE.format(name=name, error=exc)))
        except RecfairError as exc:
            problems.append((loc + _bad_key(str(exc), params), str(exc)))
    if config.baseline not in config.models:
        problems.append((("baseline",), NOT_A_MODEL.format(name=config.baseline, choices=", ".join(config.models))))
    return problems


def _bad_key(message: str, params: dict[str, Any]) -> tuple:
    """The parameter a validation message names (for the TOML line), if any."""
    for key in params:
        if f"'{key}'" in message:
            return (key,)
    return ()


def _check_mitigations(config: Any) -> list[tuple[tuple, str]]:
    from recfair.models.registry import MODELS, get_model_class

    problems = []
    known = [m for m in config.models if m in MODELS]
    for i, m in enumerate(config.mitigations):
        loc = ("mitigations", i)
        try:
            mitigation_variants(m)
        except RecfairError as exc:
            key = "lambda" if "lambda" in str(exc) else "name"
            problems.append((loc + (key,), str(exc)))
        for name in m.models or ():
            if name not in config.models:
                problems.append((loc + ("models",), NOT_IN_STUDY.format(name=name, choices=", ".join(config.models))))
            elif m.stage == "in" and name in known and not getattr(get_model_class(name), "accepts_penalty", False):
                takes = [n for n in known if getattr(get_model_class(n), "accepts_penalty", False)]
                problems.append((loc + ("models",), NO_PENALTY.format(name=name, choices=", ".join(takes) or "none")))
    return problems


def _check_probe(config: Any) -> list[tuple[tuple, str]]:
    """The probed model is in the study and can be probed by the backend; probed seeds are study seeds."""
    from recfair.models.registry import MODELS, get_model_class

    p = config.probe
    if p is None:
        return []
    if p.model not in config.models:
        return [(("probe", "model"), NOT_IN_STUDY.format(name=p.model, choices=", ".join(config.models)))]
    problems = []
    cls = get_model_class(p.model) if p.model in MODELS else None
    need = ("generate_ids",) if p.backend == "builtin" else ("score_profiles", "score_texts")
    if cls is not None and not any(hasattr(cls, attr) for attr in need):
        able = [n for n in config.models if n in MODELS and any(hasattr(get_model_class(n), a) for a in need)]
        problems.append((("probe", "model"), CANNOT_PROBE.format(name=p.model, backend=p.backend,
                                                                 choices=", ".join(able) or "none")))
    for seed in p.seeds or ():
        if seed not in config.seeds:
            problems.append((("probe", "seeds"), NOT_A_SEED.format(seed=seed, seeds=config.seeds)))
    return problems


def _check_data(config: Any, base_dir: Path) -> list[tuple[tuple, str]]:
    """Data sets readable and loadable; every group spec assignable on every data set."""
    from recfair.data.loaders import BUILTIN_DATASETS
    from recfair.fairness.groups import parse_groups

    problems = []
    for i, data in enumerate(config.data):
        name = resolve_data_name(data.name, base_dir)
        if name not in BUILTIN_DATASETS:
            why = "no such file or folder" if not os.path.exists(name) else (
                "permission denied" if not os.access(name, os.R_OK) else None)
            if why:
                problems.append((("data", i, "name"), NO_DATA.format(path=name, why=why,
                                                                      builtin=", ".join(BUILTIN_DATASETS))))
                continue
        try:
            ds = load_study_data(name, data.options)
        except (RecfairError, OSError, TypeError, ValueError) as exc:
            problems.append((("data", i, "name"), f"cannot load data set {data.name!r}: {exc}"))
            continue
        for side, key in (("user", "groups"), ("item", "item_groups")):
            for j, spec in enumerate(getattr(config.audit, key)):
                try:
                    for gs in parse_groups(spec, side=side):
                        gs.assign(ds, side)
                except RecfairError as exc:
                    problems.append((("audit", key, j), f"group {spec!r} on data set {data.name!r}: {exc}"))
        for j, m in enumerate(config.mitigations):
            if m.groups is None:
                continue
            try:
                for gs in parse_groups(m.groups, side="user"):
                    gs.assign(ds, "user")
            except RecfairError as exc:
                problems.append((("mitigations", j, "groups"), f"group {m.groups!r} on data set {data.name!r}: {exc}"))
        if config.probe is not None:
            from recfair.fairness.probe_targets import dataset_attribute_values

            try:
                dataset_attribute_values(ds, config.probe.groups)
            except RecfairError as exc:
                problems.append((("probe", "groups"), f"probe groups on data set {data.name!r}: {exc}"))
    return problems


def check_study(config: Any, base_dir: Path) -> list[tuple[tuple, str]]:
    """Every problem of a schema-valid study config, as ``(key path, message)`` pairs."""
    problems = []
    problems += _check_models(config)
    problems += _check_probe(config)
    problems += _check_mitigations(config)
    if not problems:
        problems += _check_data(config, base_dir)
    return problems
