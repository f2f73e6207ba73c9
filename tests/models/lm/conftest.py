"""Fixtures for the large-model tests: small themed data, one torch thread.

The tiny random BERT (``tiny_bert``) and the isolated embedding cache live in
``tests/models/conftest.py`` (the conformance suite uses them too).
"""

from __future__ import annotations

import pytest
import torch

from lm_fixtures import themed_dataset

@pytest.fixture(scope="session")
def themes() -> Dataset:
    return themed_dataset()


@pytest.fixture(scope="session")
def themes_split(themes):
    from recfair.data.split import make_split

    return make_split(themes, "user-temporal", test_size=0.2)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: these tiny models are faster so on a shared 2-core machine (restored after)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
