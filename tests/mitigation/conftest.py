import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from mitigation_fixtures import random_split, synth_dataset, taste_data  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def synth_split():
    return random_split(synth_dataset())


@pytest.fixture(scope="session")
def taste_split():
    return random_split(taste_data())


@pytest.fixture(scope="session")
def bpr_params():
    return dict(embedding_size=16, epochs=20, seed=0, runtime={"progress": False})


@pytest.fixture(scope="session")
def synth_bpr(synth_split, bpr_params):
    from recfair.models.classic.mf import BPRRecommender

    return BPRRecommender(**bpr_params).fit(synth_split.train)


@pytest.fixture(scope="session")
def synth_candidates(synth_bpr, synth_split):
    users = np.flatnonzero(synth_split.test.user_counts > 0)
    return synth_bpr.recommend(users, k=50)
