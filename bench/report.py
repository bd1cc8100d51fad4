"""Turn one run's results into bench/report.md and a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The targets, reported against (never asserted in tests: timing is the machine's): gateway
# throughput against the floor at c=32, and what the gateway adds at c=1 beyond what the
# floor adds.
TARGET_GATEWAY_FLOOR = 0.55
TARGET_EXTRA_P50_MS = 1.5
TARGET_EXTRA_P99_MS = 4.0
TARGET_REPLAY_DIRECT = 0.9
COSTED = ("floor", "gateway", "replay")
SIDES_RATIOS = ("direct", "floor", "gateway", "replay")

SIDES = ("direct", "floor", "gateway", "replay")


def modes(results: dict[str, Any]) -> list[str]:
    return [k for k in results if k.startswith("c=")]


def per_s_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return float(a["per_s"] / b["per_s"]) if b["per_s"] else 0.0


def markdown(results: dict[str, Any]) -> str:
    store = (
        "PostgreSQL, local"
        if results.get("meta", {}).get("store") == "postgresql"
        else "SQLite, WAL, synchronous=FULL"
    )
    lines = [
        "# Submit path: gateway vs. direct provider calls",
        "",
        f"Logitrail sandbox and `gateway serve` ({store}, JSON logs at "
        "info) as separate processes on loopback; every ratio compares numbers from the same run.",
        "Direct = create + confirm with a cached token; replay = the same POST again with its "
        "Idempotency-Key.",
        "Floor = the same POST to an empty aiohttp relay (bench/floor.py: pydantic validation, "
        "translation, the same create + confirm; no auth, store or logging), measured in the "
        "same run: the cost of the extra hop alone.",
        "",
        "| mode | side | requests | errors | per s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in modes(results):
        for side in SIDES:
            r = results[mode][side]
            lines.append(
                f"| {mode} | {side} | {r['requests']} | {r['errors']} | {r['per_s']:.0f} | "
                f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} |"
            )
    lines += [
        "",
        "| mode | per s gateway/direct | floor/direct | gateway/floor | replay/direct | "
        "gateway added p50 ms | gateway added p99 ms | floor added p50 ms | floor added p99 ms |"
        " gateway − floor added p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode in modes(results):
        d, f, g, r = (results[mode][side] for side in SIDES_RATIOS)
        lines.append(
            f"| {mode} | {per_s_ratio(g, d):.2f}× | {per_s_ratio(f, d):.2f}× | "
            f"{per_s_ratio(g, f):.2f}× | {per_s_ratio(r, d):.2f}× | "
            f"{g['p50_ms'] - d['p50_ms']:.2f} | "
            f"{g['p99_ms'] - d['p99_ms']:.2f} | {f['p50_ms'] - d['p50_ms']:.2f} | "
            f"{f['p99_ms'] - d['p99_ms']:.2f} | {g['p50_ms'] - f['p50_ms']:.2f} | "
            f"{g['p99_ms'] - f['p99_ms']:.2f} |"
        )
    lines += [
        "",
        f"Targets: gateway ≥ {TARGET_GATEWAY_FLOOR}× floor at c=32; at c=1 the gateway adds at "
        f"most {TARGET_EXTRA_P50_MS} ms p50 and {TARGET_EXTRA_P99_MS} ms p99 more than the floor "
        f"adds; replay ≥ {TARGET_REPLAY_DIRECT}× direct at c=32; zero errors. "
        "The floor is an empty aiohttp relay measured in the same run: no relay in this stack "
        "does better, so the gateway's own cost is the gap between its row and the floor's.",
        "",
        *cost_table(results),
        f"Provider orders: {results['provider_orders']}, duplicates: {results['duplicates']}. "
        f"Run took {results['meta']['seconds']} s.",
        "",
    ]
    if results.get("pyspy_top"):
        lines += ["## Gateway profile (py-spy, all threads, share of samples)", "", "```"]
        lines += results["pyspy_top"]
        lines += ["```", ""]
    if results.get("profile_top"):
        lines += ["## Gateway profile (cProfile, by self time)", "", "```"]
        lines += results["profile_top"]
        lines += ["```", ""]
    return "\n".join(lines)


def cost_table(results: dict[str, Any]) -> list[str]:
    """What each side cost its own process per order (CPU: all its threads; the store's counts:
    the gateway on SQLite only)."""
    kinds = sorted(
        {
            k.removesuffix("_per_order")
            for mode in modes(results)
            for side in COSTED
            for k in results[mode][side]
            if k.endswith("_per_order") and k != "cpu_ms_per_order"
        }
    )
    if not any("cpu_ms_per_order" in results[m]["gateway"] for m in modes(results)):
        return []
    lines = [
        "Cost per order to the side's own process: CPU ms (user + system, every thread, from "
        "/proc/<pid>/stat) and what the store ran (SQLite: statements in transactions and inline "
        "reads, reads on the reader thread, transactions, COMMITs = fsyncs).",
        "",
        "| mode | side | CPU ms/order | " + " | ".join(f"{k}/order" for k in kinds) + " |",
        "|---|---|---|" + "---|" * len(kinds),
    ]
    for mode in modes(results):
        for side in COSTED:
            r = results[mode][side]
            if "cpu_ms_per_order" not in r:
                continue
            counts = " | ".join(
                f"{r[f'{k}_per_order']:.2f}" if f"{k}_per_order" in r else "–" for k in kinds
            )
            lines.append(f"| {mode} | {side} | {r['cpu_ms_per_order']:.3f} | {counts} |")
    return [*lines, ""]


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 (only `make bench` installs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.2
    for ax, metric, label in (
        (axes[0], "per_s", "requests / s"),
        (axes[1], "p99_ms", "p99 latency, ms (p50 hatched)"),
    ):
        for n, side in enumerate(SIDES):
            xs = [i + (n - (len(SIDES) - 1) / 2) * width for i in range(len(modes(results)))]
            values = [results[m][side][metric] for m in modes(results)]
            # One colour per side in both panels (the hatched bars must not advance the cycle).
            ax.bar(xs, values, width, label=side, color=f"C{n}")
            if metric == "p99_ms":
                ax.bar(
                    xs,
                    [results[m][side]["p50_ms"] for m in modes(results)],
                    width,
                    fill=False,
                    hatch="//",
                )
        ax.set_xticks(range(len(modes(results))), modes(results))
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(
        "POST /v1/orders through the gateway vs. the same create+confirm direct "
        "and through an empty relay (floor)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
