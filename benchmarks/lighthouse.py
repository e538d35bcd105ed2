"""The web studio measured by Lighthouse (Google's page audit, as in Chrome's dev tools): a fresh
`ungated serve` (a temporary UNGATED_HOME, SQLite, the built-in model) with one clip made so the
feed is not empty, then Lighthouse's default (mobile: a mid-range phone on a slow 4G network,
simulated) on the create view (/) and the feed (/feed), categories performance, accessibility and
best practices, in Debian's Chromium (headless).

    (cd benchmarks/lighthouse && npm ci)   # Lighthouse, pinned in benchmarks/lighthouse/package-lock.json
    python benchmarks/lighthouse.py [--runs 3] [--keep DIR]

Each page is audited --runs times and the median score of each category is printed (Lighthouse's
performance score varies a little from run to run); --keep writes each run's JSON report there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.service

from tests.service import Server  # noqa: E402

LIGHTHOUSE = ROOT / "benchmarks" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CATEGORIES = ("performance", "accessibility", "best-practices")
PAGES = {"create": "/", "feed": "/feed"}


def one_clip(base: str) -> None:
    made = httpx.post(f"{base}/api/videos", json={"prompt": "a large yellow star bouncing on a purple background",
                                                  "steps": 4}, timeout=30).json()["data"][0]
    deadline = time.monotonic() + 120
    while (video := httpx.get(f"{base}/api/videos/{made['id']}").json())["status"] != "completed":
        assert video["status"] in ("queued", "in_progress") and time.monotonic() < deadline, video
        time.sleep(0.3)


def audit(url: str, report: Path) -> dict:
    subprocess.run([str(LIGHTHOUSE), url, f"--only-categories={','.join(CATEGORIES)}", "--output=json",
                    f"--output-path={report}", "--chrome-flags=--headless=new --no-sandbox", "--quiet"],
                   check=True, env={**os.environ, "CHROME_PATH": CHROMIUM})
    result = json.loads(report.read_text())
    failing = [f"{audit['id']} ({audit['score']})" for audit in result["audits"].values()
               if audit.get("score") is not None and audit["score"] < 0.9
               and audit.get("scoreDisplayMode") in ("binary", "numeric", "metricSavings")]
    return {"scores": {c: round(100 * result["categories"][c]["score"]) for c in CATEGORIES},
            "metrics": {m: result["audits"][m]["displayValue"] for m in (
                "first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift",
                "speed-index")},
            "failing": failing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="a folder for each run's JSON report")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        sys.exit("Lighthouse is not installed: (cd benchmarks/lighthouse && npm ci)")
    with tempfile.TemporaryDirectory() as home_name:
        home = Path(home_name)
        server = Server(home, f"sqlite:///{home / 'store.db'}").start()
        try:
            one_clip(server.base)
            for path in PAGES.values():  # a server in use has served its pages before
                httpx.get(server.base + path).raise_for_status()
            reports = args.keep or home / "reports"
            reports.mkdir(parents=True, exist_ok=True)
            for name, path in PAGES.items():
                runs = [audit(server.base + path, reports / f"{name}-{run}.json") for run in range(args.runs)]
                scores = {c: statistics.median(run["scores"][c] for run in runs) for c in CATEGORIES}
                print(f"{name} ({path}): " + ", ".join(f"{c} {scores[c]:.0f}" for c in CATEGORIES)
                      + f"  [runs: {'; '.join(' '.join(str(v) for v in run['scores'].values()) for run in runs)}]")
                middle = sorted(runs, key=lambda run: run["scores"]["performance"])[len(runs) // 2]
                print("    " + ", ".join(f"{m} {v}" for m, v in middle["metrics"].items()))
                if middle["failing"]:
                    print("    below 0.9: " + ", ".join(sorted(set(middle["failing"]))))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
