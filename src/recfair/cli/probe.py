"""`recfair probe`: the counterfactual (FaiRLLM / CFaiRLLM-style) fairness probe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from recfair.cli import common as C
from recfair.errors import RecfairError

BACKEND_CHOICES = ("builtin", "hf", "openai", "run")
MODE_CHOICES = ("grounded", "fairllm")
DECODE_CHOICES = ("generate", "rank")

BAD_CHOICE = "Unknown {what} '{value}'. Choose one of: {choices}."
NEEDS = "--backend {backend} needs {option}."
NO_NAMES = "--mode fairllm needs --names: a file with one name per line, or a comma-separated list (e.g. 'Steven Spielberg,Agnès Varda')."
BAD_USERS = "The 'users' parameter of probe must be a positive int. Got {value} instead."


def _choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise RecfairError(BAD_CHOICE.format(what=what, value=value, choices=", ".join(choices)))
    return value


def _names(raw: str | None) -> list[str]:
    if not raw:
        raise RecfairError(NO_NAMES)
    p = Path(raw)
    if p.is_file():
        names = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise RecfairError(NO_NAMES)
    return names


def _summary_tables(result, k: int, valid_by_attribute: dict[str, float] | None = None):
    from rich.table import Table

    t = Table(title=f"Counterfactual sensitivity (K={k}; SNSR = max−min of Sim(a), SNSV = population std)")
    valid = valid_by_attribute or {}
    cols = ("attribute", "measure", "SNSR", "SNSV", "values", "scale") + (("valid-output rate",) if valid else ())
    for col in cols:
        t.add_column(col, justify="left" if col in ("attribute", "measure", "scale") else "right")
    for r in result.attributes.itertuples():
        rate = (f"{valid.get(r.attribute, float('nan')):.4f}",) if valid else ()
        t.add_row(r.attribute, r.measure, f"{r.snsr:.4f}", f"{r.snsv:.4f}", str(r.n_values), r.scale, *rate)
    tables = [t]
    if result.accuracy is not None:
        a = Table(title="Accuracy of each profile's lists against the users' test items")
        cols = list(result.accuracy.columns)
        for c in cols:
            a.add_column(c, justify="left" if c in ("attribute", "value") else "right")
        for row in result.accuracy.itertuples(index=False):
            a.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
        tables.append(a)
    if result.validity is not None:
        v = result.validity
        s = Table(title="Generated output validity (means per prompt)")
        for c in ("prompts", "valid-output rate", "hallucinated", "duplicates", "already seen", "items/list", "errors"):
            s.add_column(c, justify="right")
        s.add_row(str(int(v["n_prompts"].sum())), f"{v['valid_output_rate'].mean():.4f}", f"{v['hallucinated'].mean():.2f}",
                  f"{v['duplicates'].mean():.2f}", f"{v['already_seen'].mean():.2f}", f"{v['items_per_list'].mean():.2f}",
                  str(int(v["errors"].sum())))
        tables.append(s)
    return tables


def check_options(backend, mode, decode, k, users, model, base_url, run, seed, min_valid_rate) -> None:
    """Every probe option, before any data is loaded."""
    from recfair.runs.checks import check_rate, check_seed

    _choice(backend, BACKEND_CHOICES, "backend")
    _choice(mode, MODE_CHOICES, "mode")
    _choice(decode, DECODE_CHOICES, "decode mode")
    check_seed(seed)
    check_rate(min_valid_rate)
    if k < 1:
        raise RecfairError(f"The 'k' parameter of probe must be a positive int. Got {k} instead.")
    if users is not None and users < 1:
        raise RecfairError(BAD_USERS.format(value=users))
    if backend == "hf" and not model:
        raise RecfairError(NEEDS.format(backend=backend, option="--model PATH (a local Hugging Face folder)"))
    if backend == "openai" and not (model and base_url):
        raise RecfairError(NEEDS.format(backend=backend, option="--base-url URL and --model NAME"))
    if backend == "run" and run is None:
        raise RecfairError(NEEDS.format(backend=backend, option="--run DIR"))
    if mode == "fairllm" and backend in ("builtin", "run"):
        raise RecfairError("--mode fairllm needs a free-text backend (hf or openai); builtin/run models read profiles, use --mode grounded.")


def _data(backend, run, dataset, split, test_size, seed):
    """``(dataset, split, trained model or None)`` from a run folder, or the data set loaded and split now."""
    from recfair.runs.probe import NOT_GENERATIVE

    if run is not None:
        from recfair.runs import Run

        r = Run(run)
        trained = r.model
        if backend == "builtin" and not hasattr(trained, "generate_ids"):
            raise RecfairError(NOT_GENERATIVE.format(run=run, kind=type(trained).__name__))
        return r.dataset, r.split, trained
    from recfair.data import load_dataset, make_split

    ds = load_dataset(dataset)
    return ds, make_split(ds, split, test_size=test_size, seed=seed), None


def _train(ds, sp, dataset, split, test_size, seed, params, out, console):
    """Train the built-in generative model (written to OUT/run for reuse with --run)."""
    from recfair.runs.probe import train_builtin

    console.print(f"training the built-in generative model on {ds.name} ({sp.train.n_interactions} interactions)…")
    trained, secs = train_builtin(ds, sp, params, seed=seed, dataset=dataset, protocol=split, test_size=test_size,
                                  out=out / "run")
    console.print(f"trained in {secs:.1f}s; run written to {out / 'run'} (reuse with --run)")
    return trained


def _report(result, k: int, out: Path, min_valid_rate: float, recorder, console) -> None:
    """Save the tables and failures; refuse (exit 2) below the valid-output threshold; else print."""
    from recfair.runs.probe import check_valid_rate, valid_rates

    result.save(out)
    recorder.save(out)
    first = recorder.failures[0]["error"] if recorder.failures else None
    check_valid_rate(result, min_valid_rate, out, first)
    overall, by_attr = valid_rates(result.validity)
    for table in _summary_tables(result, k, by_attr):
        console.print(table)
    calls = result.meta["model_calls"]
    n_units, what = result.meta["n_units"], "names" if result.meta["mode"] == "fairllm" else "users"
    valid = f", valid-output rate {overall:.4f}" if result.validity is not None else ""
    console.print(f"{n_units} {what}, {result.meta['n_lists']} profiles"
                  + (f", {calls} model calls" if calls is not None else "") + f"{valid}; tables written to {out}")


def probe_cmd(
    backend: str = typer.Option("builtin", "--backend", help="builtin | hf | openai | run (a trained run's Recommender)."),
    model: Optional[str] = typer.Option(None, "--model", help="hf: local model folder; openai: model name."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run folder of a trained model (builtin or run backend)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="openai: server URL incl. /v1."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="openai: env variable holding the key."),
    endpoint: str = typer.Option("chat", "--endpoint", help="openai: chat | completions."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="openai: reply cache folder (default OUT/cache)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="openai: seconds per request (default 60)."),
    max_retries: int = typer.Option(3, "--max-retries", help="openai: retries of a failed request (backoff doubles)."),
    dataset: str = typer.Option("ml-100k", "--dataset", help="Data set name or path."),
    split: str = typer.Option("user-temporal", "--split", help="Split protocol (test items give accuracy)."),
    test_size: float = typer.Option(0.2, "--test-size"),
    mode: str = typer.Option("grounded", "--mode", help="grounded (real users, data-set attributes) | fairllm."),
    groups: Optional[str] = typer.Option(None, "--groups", help="User attributes to vary (default: gender,age,occupation; fairllm: all eight)."),
    names: Optional[str] = typer.Option(None, "--names", help="fairllm: file (one per line) or comma list of names."),
    k: int = typer.Option(20, "--k", help="List length K."),
    users: Optional[int] = typer.Option(None, "--users", help="Probe a seeded sample of this many test users (default all)."),
    decode: str = typer.Option("generate", "--decode", help="builtin: generate (constrained decoding) | rank (full softmax)."),
    num_beams: int = typer.Option(1, "--num-beams", help="builtin/hf: beam width (1 = greedy)."),
    param: list[str] = typer.Option([], "--param", help="builtin training hyper-parameter key=value (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the user sample and builtin training."),
    min_valid_rate: float = typer.Option(0.9, "--min-valid-rate", help="Refuse (exit 2) when fewer model outputs are valid."),
    out: Path = typer.Option(..., "--out", help="Folder for the tables."),
) -> None:
    """Counterfactual probe: how do lists change when a sensitive attribute changes?"""
    from recfair.fairness.counterfactual import run_probe
    from recfair.runs.probe import RecordingLister, make_lister, probe_attributes, probe_units, remote_backend

    check_options(backend, mode, decode, k, users, model, base_url, run, seed, min_valid_rate)
    unit_names = _names(names) if mode == "fairllm" else None
    if out.exists() and not out.is_dir():
        raise RecfairError(f"--out {out} is a file; name a folder")
    console = C.console()
    t0 = time.perf_counter()
    params = None
    if backend == "builtin" and run is None:
        from recfair.cli.train import parse_params
        from recfair.models.registry import get_model_class

        params = parse_params(param, get_model_class("generative"))
    ds, sp, trained = _data(backend, run, dataset, split, test_size, seed)
    fields, attrs = probe_attributes(ds, mode, groups)
    if params is not None:
        trained = _train(ds, sp, dataset, split, test_size, seed, params, out, console)
    units = probe_units(sp, mode, len(unit_names or ()), users, seed)
    backend_obj = None
    if backend in ("hf", "openai"):
        backend_obj = remote_backend(backend, ds, model=model, base_url=base_url, api_key_env=api_key_env,
                                     endpoint=endpoint, cache=cache or out / "cache", seed=seed, num_beams=num_beams,
                                     timeout=timeout, max_retries=max_retries)
    lister, backend_obj = make_lister(backend, trained=trained, backend_obj=backend_obj, ds=ds, split=sp, k=k,
                                      decode=decode, num_beams=num_beams, mode=mode, names=unit_names, fields=fields)
    recorder = RecordingLister(lister)
    result = run_probe(recorder, units, attrs, k=k, grounded=(mode == "grounded"),
                       test=sp.test if mode == "grounded" else None)
    result.meta.update({"backend": backend, "mode": mode, "dataset": ds.name, "decode": decode if backend == "builtin" else None,
                        "model_calls": getattr(backend_obj, "calls", None), "cache_hits": getattr(backend_obj, "cache_hits", None),
                        "seconds": round(time.perf_counter() - t0, 3), "seed": seed, "failures": len(recorder.failures),
                        "min_valid_rate": min_valid_rate})
    if mode == "fairllm":
        result.meta["names"] = unit_names
    _report(result, k, out, min_valid_rate, recorder, console)


def register(app: typer.Typer) -> None:
    """Add ``recfair probe`` to ``app``."""
    app.command("probe")(probe_cmd)
