"""Cost of CAP 1.2 parsing, writing and the CAP feed: part of the alert API's 202-to-feed budget (≤ 1 s).

Prints JSON: median and p99 milliseconds per call for a typical alert (the Lützel sample), for a
document near the 256 kB limit, for the hostile samples (refused), and for a CAP feed of 50 active
alerts. Usage: ``.venv/bin/python bench/cap_bench.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from broadcasts.cap import (
    CapError,
    alert_to_json,
    parse_cap_json,
    parse_cap_xml,
    to_cap_xml,
)
from broadcasts.capmodel import CapArea
from broadcasts.feeds import cap_atom_feed
from broadcasts.templates import render_template
from core.paths import PROJECT_ROOT as ROOT

DATA = ROOT / "tests" / "data" / "cap"


def timed(func: Callable[[], object], rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            func()
        except CapError:
            pass
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds

    typical = (DATA / "bomb_luetzel_alert.xml").read_bytes()
    alert = parse_cap_xml(typical)
    typical_json = json.dumps(alert_to_json(alert)).encode()
    polygon = "50.3600,7.5950 50.3660,7.5950 50.3660,7.6100 50.3600,7.6100 50.3600,7.5950"
    big_info = dataclasses.replace(
        alert.infos[0], areas=tuple(CapArea(f"Gebiet {n}", polygons=(polygon,)) for n in range(1500))
    )
    big = to_cap_xml(dataclasses.replace(alert, infos=(big_info,)))
    hostile = [(DATA / "bad" / name).read_bytes() for name in ("xxe.xml", "billion_laughs.xml")]
    now = dt.datetime.now(dt.UTC)
    active = [
        render_template("grossbrand", ort=f"Einsatzstelle {n}", sent=now - dt.timedelta(minutes=n))
        for n in range(50)
    ]

    result = {
        "benchmark": "cap",
        "rounds": rounds,
        "typical_bytes": len(typical),
        "parse_xml_typical": timed(lambda: parse_cap_xml(typical), rounds),
        "parse_json_typical": timed(lambda: parse_cap_json(typical_json), rounds),
        "write_xml_typical": timed(lambda: to_cap_xml(alert), rounds),
        "big_bytes": len(big),
        "parse_xml_big": timed(lambda: parse_cap_xml(big), max(5, rounds // 20)),
        "refuse_hostile": timed(lambda: [parse_cap_xml(doc) for doc in hostile], rounds),
        "cap_feed_50_alerts": timed(
            lambda: cap_atom_feed(active, "https://x.example/cap.atom", "https://x.example/", now=now),
            max(5, rounds // 20),
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
