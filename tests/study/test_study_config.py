"""Study config errors: one line per problem naming key, TOML line and what is allowed; exit 2; store untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recfair.cli import main
from recfair.study.config import PRESETS, StudyConfigError, load_study_config, parse_study_config, preset_path
from recfair.study.config_errors import UNKNOWN_KEY
from tests.study.study_config import TINY, write_config


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle.splitlines()[0] in line)


def problems(text: str) -> list[str]:
    with pytest.raises(StudyConfigError) as info:
        parse_study_config(text, "s.toml")
    return info.value.problems


def test_presets_load_and_tiny_config_is_valid():
    for name in PRESETS:
        assert load_study_config(preset_path(name)).models
    cfg = parse_study_config(TINY, "s.toml")
    assert list(cfg.models) == ["popularity", "bpr"] and cfg.metric_columns() == ["ndcg@10", "recall@10", "hit@10"]


@pytest.mark.parametrize("old, new, expected", [
    ('k = 10', 'kk = 10', ["s.toml:{L}: kk: unknown key (= 10). Did you mean 'k'?"]),
    ('k = 10', 'k = "ten"', ["s.toml:{L}: k: Input should be a valid integer"]),
    ('epochs = 2', 'epocs = 2', ["s.toml:{L}: models.bpr.epocs: Unknown parameter 'epocs' (= 2) for model 'bpr'. "
                                 "Did you mean 'epochs'?"]),
    ('[models.popularity]', '[models.popularty]', ["s.toml:{L}: models.popularty: unknown model 'popularty'. "
                                                   "Did you mean 'popularity'?"]),
    ('name = "ugf"', 'name = "ufg"', ["s.toml:{L}: mitigations[1].name: Unknown re-ranker 'ufg'."]),
    ('lambda = [0.5]', 'lambda = [0.5, -1]', ["s.toml:{L}: mitigations[0].lambda: The 'lambda_' parameter of "
                                              "GroupLossGapPenalty must be a non-negative number. Got -1"]),
    ('groups = ["gender", "activity"]', 'groups = ["gender", "nationality"]',
     ["s.toml:{L}: audit.groups[1]: group 'nationality' on data set 'synthetic': Cannot group users by 'nationality'"]),
    ('groups = "gender"', 'groups = "gendre"',
     ["s.toml:{L}: mitigations[0].groups: group 'gendre' on data set 'synthetic': Cannot group users by 'gendre'"]),
    ('name = "synthetic"', 'name = "no/such/file.csv"', ["s.toml:{L}: data[0].name: data path "]),
])
def test_one_line_per_problem(old, new, expected):
    assert old in TINY
    text = TINY.replace(old, new, 1)
    found = problems(text)
    assert len(found) == len(expected), found
    for line, start in zip(found, expected):
        assert line.startswith(start.format(L=line_of(text, new))), line


def test_empty_model_list_and_several_problems_at_once():
    text = TINY.replace("[models.popularity]\n", "").replace("[models.bpr]\nepochs = 2\nembedding_size = 8\n", "")
    text = text.replace("[[mitigations]]", "[[mitigations]]", 1)
    found = problems(text.replace("k = 10", "k = 0") + "\n[simulation]\nrounds = 2\n")
    assert any(p.startswith(f"s.toml:{line_of(TINY, 'k = 10')}: k: Input should be greater than or equal to 1")
               for p in found)
    assert any("models: " in p for p in found)
    assert len(found) == 2  # schema problems are reported before meaning checks


def test_simulation_section_is_parsed_and_checked_with_the_rest():
    text = TINY + "\n[simulation]\nrounds = 2\n[simulation.choice]\nmodel = \"cascade\"\n"
    cfg = parse_study_config(text, "s.toml")
    assert cfg.simulation.rounds == 2 and cfg.simulation.choice.model == "cascade"
    assert parse_study_config(TINY, "s.toml").simulation is None
    found = problems(text.replace("rounds = 2", "rouns = 2"))
    assert len(found) == 1 and found[0].startswith(f"s.toml:{line_of(text, 'rounds = 2')}: simulation.rouns: "
                                                   "unknown key (= 2). Did you mean 'rounds'?")


def test_unknown_key_message_is_a_constant():
    assert "Valid keys" in UNKNOWN_KEY


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_cli_bad_config_exits_2_and_leaves_the_store_alone(tmp_path, capsys):
    good = write_config(tmp_path)
    out = tmp_path / "st"
    with pytest.raises(SystemExit) as info:
        main(["study", "run", str(good), "--out", str(out)]) or (_ for _ in ()).throw(SystemExit(0))
    assert info.value.code in (0, None)
    before = _digest(out)
    bad = write_config(tmp_path, TINY.replace("k = 10", "kk = 10").replace("epochs = 2", "epochs = -2"), "bad.toml")
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["study", "run", str(bad), "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"Error: {bad}:6: kk: unknown key")
    unreadable = tmp_path / "missing.toml"
    with pytest.raises(SystemExit) as info:
        main(["study", "run", str(unreadable), "--out", str(out)])
    assert info.value.code == 2 and "cannot read the study config" in capsys.readouterr().err
    assert _digest(out) == before
