"""Scrape `/metrics` of a test gateway and read samples by name and labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Scrape:
    samples: list[tuple[str, dict[str, str], float]]
    families: dict[str, str]
    """Family name → type, as the exposition declares them."""

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples `name` whose labels include `labels` (0 when there are none)."""
        return sum(
            v
            for n, lab, v in self.samples
            if n == name and all(lab.get(k) == want for k, want in labels.items())
        )

    def samples_of(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(lab, v) for n, lab, v in self.samples if n == name]

    def labels(self, name: str) -> list[dict[str, str]]:
        return [lab for n, lab, _v in self.samples if n == name]


async def scrape(gateway: TestClient[Any, Any]) -> Scrape:
    resp = await gateway.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return parse_exposition(await resp.text())


def parse_exposition(text: str) -> Scrape:
    """A Prometheus text exposition, as `scrape` reads it (for a gateway run as a process)."""
    samples = []
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        samples.extend((s.name, dict(s.labels), s.value) for s in family.samples)
    return Scrape(samples, families)
