"""Probe listers: profile scoring (score_texts / score_profiles) and prompt building."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recfair.errors import RecfairError
from recfair.fairness.counterfactual import FAIRLLM_TEMPLATE, NEUTRAL_VALUE, TRUE, run_probe
from recfair.fairness import probe_targets as T


@pytest.fixture()
def tiny_ds():
    from recfair.data import Dataset

    inter = pd.DataFrame({"user": ["a", "a", "b", "b"], "item": ["x", "y", "y", "z"], "timestamp": [1, 2, 1, 2]})
    users = pd.DataFrame({"user": ["a", "b"], "age": [30, 61], "gender": ["F", "M"], "occupation": ["writer", "doctor"]})
    items = pd.DataFrame({"item": ["x", "y", "z", "w"], "title": ["Heat", "Jaws", "Fargo", "Alien"],
                          "year": [1995.0, 1975.0, 1996.0, 1979.0], "genres": [("Action",)] * 4})
    return Dataset.from_frame(inter, users=users, items=items)


class TextModel:
    """Records the texts it is given; "male" profiles prefer item 2, all others item 3."""

    user_fields = ["age", "gender", "occupation"]

    def __init__(self, ds):
        self.seen_ = ds.matrix
        self.texts = []

    def score_texts(self, texts, users=None):
        self.texts.append(list(texts))
        # female profiles prefer item 3, others item 2; neutral gender prefers item 3 too
        s = np.zeros((len(texts), 4), np.float32)
        for r, t in enumerate(texts):
            s[r, 3 if ("female" in t or "male" not in t) else 2] = 1.0
            s[r, 0] = 0.5
        return s


def test_score_texts_lister_renders_counterfactual_profiles(tiny_ds):
    model = TextModel(tiny_ds)
    lister = T.ProfileScoreLister(model, 2, dataset=tiny_ds, train=tiny_ds)
    out = lister(np.array([0, 1]), None, TRUE)
    assert out.reports is None and out.recommendations.users.tolist() == [0, 1]
    lists = out.recommendations.items
    assert model.texts[-1][0].startswith("User: 30 years old, female, writer.")
    assert lists.tolist() == [[3, 2], [0, 3]]  # seen items (0, 1 for a; 1, 2 for b) are masked
    lister(np.array([0, 1]), "gender", NEUTRAL_VALUE)
    assert all("male" not in t and "female" not in t for t in model.texts[-1])
    assert "30 years old, writer" in model.texts[-1][0]
    lister(np.array([0, 1]), "gender", "F")
    assert all("female" in t for t in model.texts[-1])
    res = run_probe(lister, [0, 1], {"gender": ["F", "M"]}, k=2, test=tiny_ds)
    sim = res.similarity.query("reference == 'neutral'").set_index(["measure", "value"])["sim"]
    # neutral and F lists coincide; M swaps the order of the same two items for both users
    assert sim[("jaccard", "F")] == sim[("jaccard", "M")] == sim[("prag_star", "F")] == 1.0
    assert sim[("prag_star", "M")] == 0.0
    assert res.attributes.set_index("measure").loc["prag_star", "snsr"] == 1.0


def test_lister_needs_profile_scoring():
    with pytest.raises(RecfairError) as e:
        T.ProfileScoreLister(object(), 5)
    assert str(e.value) == T.NO_PROFILE_SCORING.format(name="object")


def test_prompt_builders(tiny_ds):
    fn = T.fairllm_prompts(["Hitchcock", "Varda"], 20)
    assert fn(np.array([1]), "gender", "a girl") == [FAIRLLM_TEMPLATE.format(value="a girl", name="Varda", K=20)]
    assert fn(np.array([0]), None, NEUTRAL_VALUE)[0].startswith("I am a fan of Hitchcock.")
    g = T.grounded_prompts(tiny_ds, tiny_ds, 5)
    p = g(np.array([0]), "age", "56+")[0]
    assert p.startswith("User: 56+ years old, female, writer. Recently watched: Jaws; Heat.")
    assert "list of 5 movie titles" in p
    assert "years old" not in g(np.array([0]), "age", NEUTRAL_VALUE)[0]
    assert T.dataset_attribute_values(tiny_ds, ["gender", "age"]) == {
        "gender": ["F", "M"], "age": ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]}
    with pytest.raises(RecfairError, match="Unknown user attribute"):
        T.dataset_attribute_values(tiny_ds, ["race"])
