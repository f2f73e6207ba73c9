"""The Hugging Face backend on a tiny randomly initialised GPT-2 saved to a temp folder."""

from __future__ import annotations

import numpy as np
import pytest

from recfair.errors import RecfairError
from recfair.models.generative.hf import MULTI_TOKEN_SEP, NOT_A_MODEL, HFBackend, display_titles
from tests.helpers.lists import item_lists

TITLES = ["Heat", "Heat Wave", "Toy Story", "Toy Story Two", "Alien", "Aliens", "Heat", "Jaws", "Jaws Two", "Fargo",
          "Casablanca", "Vertigo"]
PROMPTS = ["I am a fan of Heat ;", "I am a fan of Jaws . Recommend", "Toy Story Aliens", "Fargo Fargo Fargo"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = sorted({w for t in TITLES for w in t.split()} | {w for p in PROMPTS for w in p.split()})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[EOS]", "[UNK]", ";", *[w for w in words if w != ";"]])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="[EOS]", pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=16, n_layer=1, n_head=2,
                     eos_token_id=1, pad_token_id=0, bos_token_id=1)
    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.mark.parametrize("beams", [1, 3])
def test_constrained_lists_are_catalogue_items(tiny_lm, beams):
    be = HFBackend(tiny_lm, TITLES, separator=";", num_beams=beams, batch_size=3, device="cpu")
    seen = [np.array([0, 7]), np.array([]), np.array([2, 3, 4]), np.array([9])]
    recs, reports = be.generate_report(PROMPTS, 4, seen)
    lists = item_lists(recs)
    assert be.calls == len(PROMPTS)
    for lst, s, rep in zip(lists, seen, reports):
        assert len(lst) == 4 and len(set(lst)) == 4
        assert all(0 <= i < len(TITLES) for i in lst)
        assert not set(lst) & set(s.tolist())
        assert rep.items == lst and rep.hallucinated == [] and rep.duplicates == []
    again, _ = be.generate_report(PROMPTS, 4, seen)
    assert item_lists(again) == lists  # deterministic


def test_whole_catalogue_then_stop(tiny_lm):
    be = HFBackend(tiny_lm, TITLES, separator=";", device="cpu")
    lists = item_lists(be.generate(PROMPTS[:2], len(TITLES) + 3))
    for lst in lists:
        assert sorted(lst) == list(range(len(TITLES)))  # both "Heat" items, nothing more


def test_free_text_mode_reports(tiny_lm):
    be = HFBackend(tiny_lm, TITLES, constrained=False, device="cpu")
    recs, reports = be.generate_report(PROMPTS[:2], 2, [np.array([0]), np.array([])])
    lists = item_lists(recs)
    for lst, rep in zip(lists, reports):
        assert lst == rep.items and len(lst) <= 2
        assert len(rep.raw) >= len(rep.items) + len(rep.hallucinated) + len(rep.duplicates)
        assert 0 not in lst


def test_errors(tmp_path, tiny_lm):
    with pytest.raises(RecfairError) as e:
        HFBackend(tmp_path, TITLES)
    assert str(e.value) == NOT_A_MODEL.format(path=tmp_path)
    with pytest.raises(RecfairError) as e:
        HFBackend(tiny_lm, TITLES, separator="Toy Story")
    assert str(e.value) == MULTI_TOKEN_SEP.format(sep="Toy Story", n=2)


def test_display_titles():
    assert display_titles(["Heat", "Jaws"], [1995.0, float("nan")]) == ["Heat (1995)", "Jaws"]


@pytest.mark.gpu
def test_constrained_on_gpu_matches_cpu(tiny_lm):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu = item_lists(HFBackend(tiny_lm, TITLES, separator=";", device="cpu").generate(PROMPTS, 4))
    gpu = item_lists(HFBackend(tiny_lm, TITLES, separator=";", device="cuda").generate(PROMPTS, 4))
    for a, b in zip(cpu, gpu):
        assert len(b) == 4 and len(set(b)) == 4
    assert sum(a == b for a, b in zip(cpu, gpu)) >= len(PROMPTS) - 1  # float differences may flip a near-tie
