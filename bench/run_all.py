"""Run every benchmark script in bench/ one after another (``make bench``).

Each script prints its own tables; this runner only sequences them and reports
wall time per script.  Full-size runs and timings live here, never in the test suite.

Run: .venv/bin/python bench/run_all.py [--only classic,metrics]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("data", "metrics", "classic", "audit", "audit_speed", "lm", "generative", "mitigation", "serve")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated subset of: " + ", ".join(ORDER))
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(ORDER)
    failed = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        if not script.is_file():
            print(f"== {name}: no {script.name}, skipped")
            continue
        print(f"\n== bench_{name}.py", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"== bench_{name}.py finished in {time.perf_counter() - t0:.1f} s (exit {rc})", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
