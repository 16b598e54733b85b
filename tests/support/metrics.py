"""The metric names the bridge exports, and the pattern that finds them in a query."""

from __future__ import annotations

import re

from metrics.definitions import REGISTRY

NAME = re.compile(r"pms_bridge_[a-z_]+")


def exported() -> set[str]:
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(sample.name for sample in metric.samples)
        if metric.type == "counter":
            names.add(metric.name + "_total")
        if metric.type == "histogram":
            names.update(metric.name + s for s in ("_bucket", "_count", "_sum"))
    return names
