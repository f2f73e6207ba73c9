"""Small hand-written data files in the formats recfair reads (never real data)."""

from __future__ import annotations

from pathlib import Path

import pytest


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(name="write")
def write_fixture():
    """``write(path, text, encoding="utf-8")`` creates a file (and its folder) and returns its path."""
    return write


ATOMIC_INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t10\t4\t100\n"
    "1\t20\t3\t200\n"
    "2\t10\t5\t150\n"
    "3\t30\t2\t120\n"
    "2\t30\t1\t300\n"
)
ATOMIC_USER = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t24\tM\ttechnician\t85711\n"
    "2\t53\tF\tother\t94043\n"
    "3\t33\tF\twriter\t05201\n"
    "4\t40\tM\tartist\t11111\n"
)
ATOMIC_ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tToy Story\t1995\tAnimation Children's Comedy\n"
    "20\tLord of the Rings, The \"Fellowship\"\t2001\tFantasy\n"
    "30\tunkonwn\tunkonwn\tunknown\n"
)


@pytest.fixture
def atomic_dir(tmp_path: Path) -> Path:
    d = tmp_path / "toy"
    write(d / "toy.inter", ATOMIC_INTER)
    write(d / "toy.user", ATOMIC_USER)
    write(d / "toy.item", ATOMIC_ITEM)
    return d


ML100K_DATA = "1\t10\t4\t881250949\n2\t10\t5\t881250950\n1\t20\t3\t881250951\n"
ML100K_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n"
_FLAGS = {"10": [0, 0, 0, 1, 1, 1] + [0] * 13, "20": [0] * 8 + [1] + [0] * 10}
ML100K_ITEM = (
    "10|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(map(str, _FLAGS["10"])) + "\n"
    "20|Café au lait (1996)|||http://y|" + "|".join(map(str, _FLAGS["20"])) + "\n"
)


@pytest.fixture
def ml100k_raw(tmp_path: Path) -> Path:
    d = tmp_path / "ml-100k-raw"
    write(d / "u.data", ML100K_DATA)
    write(d / "u.user", ML100K_USER)
    write(d / "u.item", ML100K_ITEM, encoding="latin-1")
    return d


ML1M_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"
ML1M_MOVIES = (
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "661::Star Wars: Episode IV - A New Hope (1977)::Action|Adventure|Sci-Fi\n"
)


@pytest.fixture
def ml1m_raw(tmp_path: Path) -> Path:
    d = tmp_path / "ml-1m"
    write(d / "ratings.dat", ML1M_RATINGS, "latin-1")
    write(d / "users.dat", ML1M_USERS, "latin-1")
    write(d / "movies.dat", ML1M_MOVIES, "latin-1")
    return d


LATEST_RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,2.5,964982224\n"
LATEST_MOVIES = (
    "movieId,title,genres\n"
    '1,"American President, The (1995)",Comedy|Drama|Romance\n'
    "3,Some Short (2015),(no genres listed)\n"
)


@pytest.fixture
def mllatest_raw(tmp_path: Path) -> Path:
    d = tmp_path / "ml-latest-small"
    write(d / "ratings.csv", LATEST_RATINGS)
    write(d / "movies.csv", LATEST_MOVIES)
    return d
