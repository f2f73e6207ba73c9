"""The study layer: a study's store (DuckDB + cell folders); config and runner come next.

>>> from recfair.study import Store        # doctest: +SKIP
>>> with Store("runs/study") as store:      # doctest: +SKIP
...     print(store.status())
"""

from recfair.study.store import STATUS_COLUMNS, STORE_FILE, Store

__all__ = ["STATUS_COLUMNS", "STORE_FILE", "Store"]
