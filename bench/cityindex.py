"""``python -m bench --only cityindex``: the SQLite city index beside the in-memory one it
replaced (issue 21), each in fresh interpreters.

Per implementation, medians over ``runs`` fresh processes:

- ``import_ms``: importing the index module;
- ``first_search_ms``: the first ``search("Paris")`` after the module is loaded (opens the
  database, or reads and parses the whole file for the old index);
- ``rss_added_mb``: resident memory that first search added (``/proc/self/statm``);

then, in the last process, warm throughput (one thread, calls per second for 1 s):

- ``lookups_per_s_repeated``: 10 common names over and over (what a busy instance sees);
- ``lookups_per_s_distinct``: every city's name once (34 006 different names: no answer
  is asked twice, so the SQLite index's LRU never helps);
- ``suggestions_per_s``: six typos ("Pariss", "Londn", ...) over and over.

The old index is ``bench/city_index_dicts.py``, a verbatim copy of the module before issue
21, kept only for this comparison.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

IMPLEMENTATIONS = {
    "sqlite": "shared.adapters.city_index",
    "dicts_before_issue_21": "bench.city_index_dicts",
}

_CHILD = r"""
import gzip, json, os, sys, time
sys.path.insert(0, os.getcwd())
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
import shared.domain.weather  # both import it: not part of the difference
started = time.perf_counter()
module = __import__(MODULE, fromlist=["CityIndex"])
imported = time.perf_counter()
index = module.CityIndex()
before = rss_mb()
started_search = time.perf_counter()
found = index.search("Paris")
first = time.perf_counter() - started_search
after = rss_mb()
assert found and found[0].id == "2988507", found
result = {"import_ms": (imported - started) * 1000, "first_search_ms": first * 1000,
          "rss_added_mb": after - before}
if WARM:
    def rate(call, items):
        count, begun = 0, time.perf_counter()
        while time.perf_counter() - begun < 1.0:
            for item in items:
                call(item)
            count += len(items)
        return count / (time.perf_counter() - begun)
    common = ["Paris", "London", "new york", "São Paulo", "Berlin", "springfield",
              "Tokyo", "münchen", "cologne", "zocca"]
    source = os.path.join("data", "cities15000.json.gz")
    every = [row[1] for row in json.loads(gzip.decompress(open(source, "rb").read()))]
    typos = ["Pariss", "Londn", "Amsterdm", "Berln", "Sao Paolo", "Mnchester"]
    begun = time.perf_counter()
    for name in every:
        index.search(name)
    result["lookups_per_s_repeated"] = rate(index.search, common)
    result["lookups_per_s_distinct"] = len(every) / (time.perf_counter() - begun)
    result["suggestions_per_s"] = rate(index.suggest, typos)
print(json.dumps(result))
"""


def _child(module: str, warm: bool) -> dict[str, float]:
    code = _CHILD.replace("MODULE", repr(module)).replace("WARM", repr(warm))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        timeout=300,
    )  # fmt: skip
    parsed: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def bench_cityindex(runs: int = 5) -> dict[str, Any]:
    from shared.adapters.city_index import DEFAULT_CITY_INDEX_PATH
    from shared.adapters.city_index_build import SOURCE_PATH, ensure

    ensure()
    results: dict[str, Any] = {
        "database_mb": round(DEFAULT_CITY_INDEX_PATH.stat().st_size / 1e6, 2),
        "source_json_gz_mb": round(SOURCE_PATH.stat().st_size / 1e6, 2),
        "runs": runs,
    }
    for name, module in IMPLEMENTATIONS.items():
        samples = [_child(module, warm=(i == runs - 1)) for i in range(runs)]
        figures: dict[str, float] = {}
        for key in ("import_ms", "first_search_ms", "rss_added_mb"):
            figures[key] = round(statistics.median(s[key] for s in samples), 2)
        for key, value in samples[-1].items():
            if key not in figures:
                figures[key] = round(value, 1)
        results[name] = figures
    return results


if __name__ == "__main__":
    print(json.dumps(bench_cityindex(), indent=2))
