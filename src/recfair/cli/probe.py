"""`recfair probe`: the counterfactual (FaiRLLM / CFaiRLLM-style) fairness probe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

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


def _summary_tables(result, k: int):
    from rich.table import Table

    t = Table(title=f"Counterfactual sensitivity (K={k}; SNSR = max−min of Sim(a), SNSV = population std)")
    for col in ("attribute", "measure", "SNSR", "SNSV", "values", "scale"):
        t.add_column(col, justify="right" if col in ("SNSR", "SNSV", "values") else "left")
    for r in result.attributes.itertuples():
        t.add_row(r.attribute, r.measure, f"{r.snsr:.4f}", f"{r.snsv:.4f}", str(r.n_values), r.scale)
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


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe_cmd(
        backend: str = typer.Option("builtin", "--backend", help="builtin | hf | openai | run (a trained run's Recommender)."),
        model: Optional[str] = typer.Option(None, "--model", help="hf: local model folder; openai: model name."),
        run: Optional[Path] = typer.Option(None, "--run", help="Run folder of a trained model (builtin or run backend)."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="openai: server URL incl. /v1."),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="openai: env variable holding the key."),
        endpoint: str = typer.Option("chat", "--endpoint", help="openai: chat | completions."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="openai: reply cache folder (default OUT/cache)."),
        dataset: str = typer.Option("ml-100k", "--dataset", help="Data set name or path."),
        split: str = typer.Option("user-temporal", "--split", help="Split protocol (test items give accuracy)."),
        test_size: float = typer.Option(0.2, "--test-size"),
        mode: str = typer.Option("grounded", "--mode", help="grounded (real users, data-set attributes) | fairllm."),
        attributes: Optional[str] = typer.Option(None, "--attributes", help="Comma-separated attributes (default: gender,age,occupation; fairllm: all eight)."),
        names: Optional[str] = typer.Option(None, "--names", help="fairllm: file (one per line) or comma list of names."),
        k: int = typer.Option(20, "--k", help="List length K."),
        users: Optional[int] = typer.Option(None, "--users", help="Probe a seeded sample of this many test users (default all)."),
        decode: str = typer.Option("generate", "--decode", help="builtin: generate (constrained decoding) | rank (full softmax)."),
        num_beams: int = typer.Option(1, "--num-beams", help="builtin/hf: beam width (1 = greedy)."),
        param: list[str] = typer.Option([], "--param", help="builtin training hyper-parameter key=value (repeatable)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the split, the user sample and builtin training."),
        out: Path = typer.Option(..., "--out", help="Folder for the tables."),
    ) -> None:
        """Counterfactual probe: how do lists change when a sensitive attribute changes?"""
        import numpy as np
        from rich.console import Console

        from recfair.cli.train import parse_params
        from recfair.fairness.counterfactual import FAIRLLM_ATTRIBUTES, run_probe
        from recfair.models.generative import targets as T

        _choice(backend, BACKEND_CHOICES, "backend")
        _choice(mode, MODE_CHOICES, "mode")
        _choice(decode, DECODE_CHOICES, "decode mode")
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
        console = Console()
        t0 = time.perf_counter()

        trained = None
        if run is not None:
            from recfair.runs import Run

            r = Run(run)
            ds, sp, trained = r.dataset, r.split, r.model
        else:
            from recfair.data import load_dataset, make_split

            ds = load_dataset(dataset)
            sp = make_split(ds, split, test_size=test_size, seed=seed)
        if mode == "fairllm":
            unit_names = _names(names)
            attrs_list = [a.strip() for a in (attributes or ",".join(FAIRLLM_ATTRIBUTES)).split(",") if a.strip()]
            bad = [a for a in attrs_list if a not in FAIRLLM_ATTRIBUTES]
            if bad:
                raise RecfairError(BAD_CHOICE.format(what="FaiRLLM attribute", value=bad[0], choices=", ".join(FAIRLLM_ATTRIBUTES)))
            attrs = {a: list(FAIRLLM_ATTRIBUTES[a]) for a in attrs_list}
            units = np.arange(len(unit_names))
        else:
            attrs_list = [a.strip() for a in (attributes or "gender,age,occupation").split(",") if a.strip()]
            attrs = T.dataset_attribute_values(ds, attrs_list)
            units = np.flatnonzero((sp.test.user_counts > 0) & (sp.train.user_counts > 0))
            if users is not None and users < len(units):
                units = np.sort(np.random.default_rng(seed).choice(units, size=users, replace=False))

        if backend == "builtin" and trained is None:
            from recfair.models.generative.builtin import GenerativeRecommender
            from recfair.runs import RunConfig, write_run

            params = {"seed": seed, **parse_params(param)}
            trained = GenerativeRecommender(**params)
            console.print(f"training the built-in generative model on {ds.name} ({sp.train.n_interactions} interactions)…")
            ts = time.perf_counter()
            trained.fit(sp.train)
            secs = time.perf_counter() - ts
            test_users = np.flatnonzero(sp.test.user_counts > 0)
            cfg = RunConfig("generative", trained.get_params(), dataset, split, test_size, 0.0, seed, 100, {"fit_seconds": round(secs, 3)})
            write_run(out / "run", cfg, trained, trained.recommend(test_users, k=100))
            console.print(f"trained in {secs:.1f}s; run written to {out / 'run'} (reuse with --run)")
        if backend == "builtin" and not hasattr(trained, "generate_ids"):
            raise RecfairError(f"--backend builtin needs a run of the 'generative' model; {run} holds {type(trained).__name__} (use --backend run).")

        backend_obj = None
        if backend == "builtin":
            if decode == "rank":
                lister = T.ProfileScoreLister(trained, k)
            else:
                from recfair.models.generative.backends import BuiltinBackend

                backend_obj = BuiltinBackend(trained, num_beams=num_beams)
                lister = T.PromptLister(backend_obj, k, T.builtin_prompts(trained), T.history_seen(trained))
        elif backend == "run":
            lister = T.ProfileScoreLister(trained, k, dataset=ds, history=sp.train)
        else:
            titles = ds.items["title"].astype(str).tolist() if "title" in ds.items.columns else [str(i) for i in ds.item_ids]
            years = ds.items["year"].tolist() if "year" in ds.items.columns else None
            if backend == "hf":
                from recfair.models.generative.hf import HFBackend

                backend_obj = HFBackend(model, titles, years, num_beams=num_beams)
            else:
                from recfair.models.generative.openai import OpenAIBackend

                backend_obj = OpenAIBackend(base_url, model, titles, years, api_key_env=api_key_env, endpoint=endpoint,
                                            cache_dir=cache or out / "cache", seed=seed)
            if mode == "fairllm":
                prompt_fn = T.fairllm_prompts(unit_names, k)
                seen_fn = None
            else:
                prompt_fn = T.grounded_prompts(ds, sp.train, k, fields=attrs_list)
                m = sp.train.matrix
                seen_fn = lambda us: [m.indices[m.indptr[u] : m.indptr[u + 1]] for u in us]  # noqa: E731
            lister = T.PromptLister(backend_obj, k, prompt_fn, seen_fn)

        result = run_probe(lister, units, attrs, k=k, grounded=(mode == "grounded"),
                           test=sp.test if mode == "grounded" else None)
        result.meta.update({"backend": backend, "mode": mode, "dataset": ds.name, "decode": decode if backend == "builtin" else None,
                            "model_calls": getattr(backend_obj, "calls", None), "cache_hits": getattr(backend_obj, "cache_hits", None),
                            "seconds": round(time.perf_counter() - t0, 3), "seed": seed})
        if mode == "fairllm":
            result.meta["names"] = unit_names
        result.save(out)
        for table in _summary_tables(result, k):
            console.print(table)
        calls = result.meta["model_calls"]
        console.print(f"{len(units)} {'names' if mode == 'fairllm' else 'users'}, {result.meta['n_lists']} profiles"
                      + (f", {calls} model calls" if calls is not None else "") + f"; tables written to {out}")
