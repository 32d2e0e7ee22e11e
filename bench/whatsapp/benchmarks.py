"""The WhatsApp app's benchmarks (`make bench`, bench/report.py): what runs, and its part of
docs/whatsapp.md with the sends chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from render import DASH, TIMES, median, mib, range_text

# The page of docs/ these figures go into.
DOC = "whatsapp.md"
# name: the script in this folder
BENCHMARKS = {
    "limits": "limits.py",
    "io": "io_throughput.py",
    "stagger": "stagger.py",
    "webhook": "webhook_ingest.py",
    "reminders": "reminders.py",
    "metrics": "metrics_cost.py",
}
CHART = "whatsapp-sends.png"


def sections(results: dict[str, dict[str, Any]], docs: Path) -> list[str]:
    """This app's part of docs/whatsapp.md, for the benchmarks that ran; the sends chart beside
    it."""
    lines: list[str] = []
    if "io" in results:
        chart(results["io"], docs / CHART)
        lines += _io(results["io"], CHART)
    if "limits" in results:
        lines += _limits(results["limits"])
    if "stagger" in results:
        lines += _stagger(results["stagger"])
    if "webhook" in results:
        lines += _webhook(results["webhook"])
    if "metrics" in results:
        lines += _metrics(results["metrics"])
    if "reminders" in results:
        lines += _reminders(results["reminders"])
    return lines


def chart(io: dict[str, Any], path: Path) -> None:
    """Sends per second per configuration (median, with the range), against the limit."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    configs = io["configs"]
    names = [c["name"].replace(", ", ",\n") for c in configs]
    medians = [median(c["rates"]) for c in configs]
    low = [m - min(c["rates"]) for m, c in zip(medians, configs, strict=True)]
    high = [max(c["rates"]) - m for m, c in zip(medians, configs, strict=True)]
    colours = ["#2b7bba", "#7fb3d5", "#999999"][: len(names)]
    figure, axes = plt.subplots(figsize=(8, 4.2), dpi=110)
    bars = axes.bar(names, medians, yerr=[low, high], capsize=6, color=colours)
    axes.axhline(io["limit"], color="#c0392b", linestyle="--", linewidth=1.2)
    limit_label = f"limit: c / latency = {io['limit']:.0f}/s"
    axes.text(len(names) - 0.5, io["limit"], limit_label, color="#c0392b", ha="right", va="bottom")
    for bar, value in zip(bars, medians, strict=True):
        middle = bar.get_x() + bar.get_width() / 2
        axes.text(middle, value / 2, f"{value:.0f}", ha="center", color="white")
    axes.set_ylabel("sends per second")
    axes.set_ylim(0, io["limit"] * 1.15)
    axes.set_title(
        f"{io['messages']} one-part sends, -c {io['concurrency']}, API latency "
        f"{io['latency'] * 1000:.0f} ms (median of {io['repeat']}; bar: range)"
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _io(io: dict[str, Any], chart_name: str | None) -> list[str]:
    lines = [
        "### The send path against a bare Celery task (`bench/whatsapp/io_throughput.py`)",
        "",
        f"{io['messages']} one-part replies to as many contacts, sent through the WhatsApp"
        f" stand-in answering after {io['latency'] * 1000:.0f} ms by one worker at"
        f" `-c {io['concurrency']}`; each configuration {io['repeat']} times, interleaved. The"
        " bare task (`bench/whatsapp/bare_send.py`) is what a user would write by hand: it POSTs"
        " the same JSON through a `requests.Session` sized to the concurrency, with no database,"
        " `acks_late` off and prefetch 1. CPU is the worker process's own (user + system) per"
        " send; SQL is PostgreSQL's count (pg_stat_statements) of the worker's statements per"
        " send. The ratio compares each run with the bare run of the same repetition.",
        "",
        "| configuration | sends/s | worker CPU per send | SQL per send | vs bare |",
        "|---|---|---|---|---|",
    ]
    for c in io["configs"]:
        sql = DASH if c["statements_per_send"] is None else f"{c['statements_per_send']:.1f}"
        cpu = range_text(c["cpu_ms_per_send"], "{:.1f}")
        ratio = range_text(c["vs_bare"], "{:.2f}")
        lines.append(f"| {c['name']} | {range_text(c['rates'])} | {cpu} ms | {sql} | {ratio} |")
    lines += [f"| limit: c / latency | {io['limit']:.0f} | {DASH} | {DASH} | {DASH} |", ""]
    if chart_name:
        lines += [f"![sends per second per configuration]({chart_name})", ""]
    return lines


def _reminders(re: dict[str, Any]) -> list[str]:
    first = re["cases"][0]
    lines = [
        "### The daily reminder (`bench/whatsapp/reminders.py`)",
        "",
        f"Beat's reminder task for {first['contacts']:,} contacts with a payment due in 3 days,"
        " none of whom wrote (each reminder is a `payment_reminder` template, counting against"
        " the messaging limit), run on one of two worker-io nodes that send at the number's"
        f" level, {first['level']}/s; the stand-in answers after {re['latency'] * 1000:.0f} ms"
        " and enforces the level, the pair rule and the same messaging limit. Time: from the"
        " task's start to the last accepted message, against the ideal, sent / level.",
        "",
        "| messaging limit | reminders | sent | held | failed | time | ideal | time / ideal"
        " | rate | all queued after | stand-in refusals |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in re["cases"]:
        limit = "unlimited" if c["messaging_limit"] is None else f"{c['messaging_limit']:,}"
        refusals = ", ".join(f"{k}: {v}" for k, v in c["refusals"].items()) or "none"
        lines.append(
            f"| {limit} | {c['reminders']:,} | {c['sent']:,} | {c['held']:,} | {c['failed']:,}"
            f" | {c['seconds']:.1f} s | {c['ideal_seconds']:.1f} s | {c['time_ratio']:.3f}"
            f" | {c['rate']:.1f}/s | {c['queued_after']:.1f} s | {refusals} |"
        )
    lines += [
        "",
        "Rate: between the first and the last accepted message. The run queues its reminders in"
        " chunks of 100 while the first ones already go; past the limit, every held reminder"
        " is still claimed once (and held) beside the sends, which is what slows the 2,000"
        " below the level.",
    ]
    return [*lines, ""]


def _limits(li: dict[str, Any]) -> list[str]:
    lines = [
        "### At Meta's limits: broadcast and rush (`bench/whatsapp/limits.py`)",
        "",
        "The WhatsApp stand-in enforces the number's throughput level and the pair rule (6 s,"
        " bursts of 45) as Meta does, and counts every refusal.",
        "",
        f"**Broadcast**: {li['broadcast'][0]['messages']:,} one-part messages to as many"
        " contacts, queued in one transaction, sent by two worker-io nodes (`-c 100` each) on"
        " one number. The rate is between the first and the last message accepted; sustained is"
        " the slowest 10 s window. Sends per core-second: messages over the two worker-io"
        " processes' CPU time, where the workers, not the level, bound the rate (both nodes share"
        " the machine's 2 cores with PostgreSQL, Redis and the stand-in).",
        "",
        "| level | accepted | achieved rate | achieved / allowed | sustained / allowed"
        " | 130429 | sends per core-second | worker-io processes for 1,000/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in li["broadcast"]:
        refused = b["refusals"].get("130429", 0)
        # Below the workers' capacity they mostly wait for turns: CPU per send says little.
        bound = b["rate"] < 0.9 * b["level"]
        per_core = f"{b['sends_per_core_second']:,}" if bound else DASH
        needed = str(b["workers_for_1000"]) if bound else DASH
        lines.append(
            f"| {b['level']:,}/s | {b['accepted']:,} / {b['messages']:,} | {b['rate']:.1f}/s"
            f" | {b['rate'] / b['level']:.3f} | {b['sustained_rate'] / b['level']:.3f}"
            f" | {refused} | {per_core} | {needed} |"
        )
    rushes = li["rush"]
    ru = rushes[0]
    lines += [
        "",
        f"**Rush**: {ru['replies']} replies of {ru['parts']} parts ({ru['spacing']:g} s apart)"
        f" to {ru['replies']} contacts while a CPU flood keeps both worker-cpu processes busy,"
        f" then a second reply of {ru['parts']} parts to each {ru['second_after']:.0f} s later;"
        f" the stand-in answers after {ru['latency'] * 1000:.0f} ms, the number is at"
        " 1,000/s. Lateness: each reply's last part against the earliest moment the pair rule"
        " and the spacing allow it, from when the reply was queued and when the contact's"
        " earlier parts arrived: the second reply waits for the time the first one's burst"
        f" borrowed ({ru['parts']} {TIMES} 6 s). Parts go one after the answer to the one"
        " before, so a part really goes every answer time plus the send's overhead; a worker"
        " carries at most `WHATSAPP_BURSTS_PER_WORKER` bursts, and a reply that does not fit"
        ' one burst at the pace measured goes as two, the short one first ("Meta\'s limits"'
        " above). One burst: replies of the round sent as a single burst.",
        "",
        "| worker-io nodes | first reply: last part late by p50 / max | within 1 s | one burst"
        " | second reply | within 1 s | one burst | in order | 131056 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ru in rushes:
        first, second = ru["rounds"]
        lines.append(
            f"| {ru['worker_io_nodes']} | {first['p50_s']:.2f} / {first['max_s']:.2f} s"
            f" | {first['within_1_s']} / {ru['replies']}"
            f" | {first.get('one_burst', DASH)} / {ru['replies']}"
            f" | {second['p50_s']:.2f} / {second['max_s']:.2f} s"
            f" | {second['within_1_s']} / {ru['replies']}"
            f" | {second.get('one_burst', DASH)} / {ru['replies']}"
            f" | {ru['contacts_in_order']} / {ru['replies']}"
            f" | {ru['refusals'].get('131056', 0)} |"
        )
    delivered = all(ru["delivered"] == ru["expected"] for ru in rushes)
    lines += [
        "",
        f"Every part delivered: {'yes' if delivered else 'no'}; every refusal in the rushes:"
        f" {[ru['refusals'] or 'none' for ru in rushes]}.",
        "",
    ]
    return lines


def _stagger(st: dict[str, Any]) -> list[str]:
    quiet, flood = st["quiet"], st["flood"]
    parts = st["replies"] * st["parts"]
    spacing = st.get("spacing", 2.0)

    def ms(figures: dict[str, float]) -> str:
        return f"{figures['p50_ms']:.0f} / {figures['p99_ms']:.0f} / {figures['max_ms']:.0f} ms"

    def row(label: str, get: Any) -> str:
        return f"| {label} | {get(quiet)} | {get(flood)} |"

    return [
        "### Staggered replies under a CPU flood, and isolation (`bench/whatsapp/stagger.py`)",
        "",
        f"{st['replies']} replies of {st['parts']} parts each, {spacing:g} s apart, to"
        f" {st['replies']}"
        f" contacts, queued in one transaction ({parts} parts), with and without a flood that"
        " keeps both worker-cpu processes busy (`bench/whatsapp/cpu_flood.py`: pure-Python tasks"
        f" back to back on the `cpu` queue). Skew is |received {DASH} (the reply's first part"
        f" received + n {TIMES} {spacing:g} s)| at the stand-in, which answers after"
        f" {st['latency'] * 1000:.0f} ms; it enforces the number's level and the pair rule."
        " Isolation: a one-part reply to a new contact every"
        f" {st['probe_interval'] * 1000:.0f} ms, timed from just before it is queued to its"
        " arrival at the stand-in, first alone, then during the rush.",
        "",
        "| | no flood | CPU flood |",
        "|---|---|---|",
        row("worker-cpu cores busy during the rush", lambda p: f"{p['worker_cpu_cores_busy']:.2f}"),
        row("parts delivered", lambda p: f"{p['rush']['delivered']} / {p['rush']['parts']}"),
        row("parts duplicated", lambda p: str(p["rush"]["duplicated"])),
        row("replies in order", lambda p: f"{p['rush']['replies_in_order']} / {st['replies']}"),
        row("skew p50 / p99 / max", lambda p: ms(p["rush"]["skew"])),
        row("isolation p50 / p99 / max, alone", lambda p: ms(p["isolation_alone"])),
        row("isolation p50 / p99 / max, during the rush", lambda p: ms(p["isolation_during_rush"])),
        "",
    ]


def _webhook(wh: dict[str, Any]) -> list[str]:
    gunicorn = wh["gunicorn"]
    lines = [
        "### Webhook ingest (`bench/whatsapp/webhook_ingest.py`)",
        "",
        "Signed inbound webhooks (each body distinct; texts and statuses like Meta's samples)"
        " POSTed to gunicorn with production settings (`DJANGO_DEBUG=0`), PostgreSQL and Redis,"
        f" {wh['seconds_per_phase']:.0f} s per phase, beside a trivial view through the same"
        f" gunicorn ({gunicorn['workers']} x {gunicorn['threads']} {gunicorn['worker_class']}) and"
        " the same client. CPU per request is web's own, then web + PostgreSQL + Redis; the"
        " client's is shown apart.",
        "",
        "| endpoint | concurrency | requests/s | p50 | p99 | CPU per request (web; all) |",
        "|---|---|---|---|---|---|",
    ]
    for concurrency, phases in wh["concurrency"].items():
        for endpoint in ("trivial", "webhook"):
            phase = phases[endpoint]
            cpu = phase["cpu_ms_per_request"]
            lines.append(
                f"| {endpoint} | {concurrency} | {phase['requests_per_second']:.0f} |"
                f" {phase['p50_ms']:.0f} ms | {phase['p99_ms']:.0f} ms |"
                f" {cpu['web']:.2f}; {cpu['total']:.2f} ms |"
            )
    best = max(
        (phases["webhook"]["requests_per_second"], concurrency)
        for concurrency, phases in wh["concurrency"].items()
    )
    rate = best[0]
    lines += [
        "",
        f"**Capacity by Meta's rule.** Meta posts about 3 status webhooks (sent, delivered, read)"
        f" per outgoing message and 1 per inbound one. At {rate:.0f} webhooks/s (concurrency"
        f" {best[1]}), one web container keeps up with {rate / 3:.0f} outgoing messages a second;"
        f" a number at 1,000/s all outgoing sends 3,000 webhooks/s: {math.ceil(3000 / rate)} web"
        " containers like this one (measured on the same 2 cores as PostgreSQL, Redis and the"
        " client, so a lower bound).",
    ]
    stored, processing, checks = wh["stored"], wh["processing"], wh["checks"]
    lines += [
        "",
        f"Every 200 stored: {stored['rows']:,} rows for {stored['answered_200']:,} answers"
        f" ({stored['missing']} missing). worker-io then processed {processing['events']:,}"
        f" events in {processing['seconds']:.0f} s ({processing['events_per_second']:.0f}/s),"
        f" {processing['unprocessed']} left unprocessed, {processing['processing_errors']}"
        f" errors. Forged signatures: {checks['bad_signature_statuses']}, stored"
        f" {checks['bad_signature_stored']}; {checks['redelivered']} redelivered bodies:"
        f" {checks['redelivered_rows']} rows.",
        "",
    ]
    return lines


def memory_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """This app's rows of the page's memory table."""
    rows = []
    if "io" in results:
        io = results["io"]
        shipped = io["configs"][0]
        rounds = io["memory_rounds"]
        after = ", ".join(f"{x:.0f}" for x in rounds["rss_mib"])
        rows.append(
            f"| worker-io (gevent, -c {io['concurrency']})"
            f" | {range_text(shipped['idle_rss_mib'])} MiB RSS"
            f" | {range_text(shipped['peak_rss_mib'])} MiB RSS | the sends above |"
            f" {rounds['idle_rss_mib']:.0f} {DASH} {after} MiB RSS after each of"
            f" {len(rounds['rss_mib'])} rounds of {rounds['sends_per_round']:,} sends |"
        )
    if "stagger" in results:
        st = results["stagger"]
        rows.append(
            f"| worker-io (stagger run) | {mib(st['idle']['worker-io'])} |"
            f" {mib(st['flood']['peak']['worker-io'])} | the rush under the flood | {DASH} |"
        )
    return rows


def _unexplained(paths: dict[str, Any]) -> str:
    """The paths whose turns cost clearly more CPU with metrics on than the instrumentation
    timed alone can account for (a few percent), named with their CPU ratio."""
    over = [
        f"{name} {paths[key]['cpu_ratio']:.2f}"
        for name, key in (("webhook", "webhook"), ("send path", "send"))
        if paths[key]["cpu_ratio"] > 1.03
    ]
    if not over:
        return ""
    return (
        f" The turns above cost more CPU with metrics on than that accounts for"
        f" ({', '.join(over)}): the difference is not the instrumentation timed alone, and is"
        " not yet explained."
    )


def _metrics(mc: dict[str, Any]) -> list[str]:
    paths, gunicorn = mc["paths"], mc["gunicorn"]
    lines = [
        "### Metrics on and off (`bench/whatsapp/metrics_cost.py`)",
        "",
        "`METRICS_ENABLED=0` takes out web's request middleware"
        " (`ops.metrics.web.MetricsMiddleware`) and `/metrics`, and the workers' task signal"
        " handlers (`ops.metrics.tasks.connect`); `whatsapp_sends_total` counts either way. Each"
        " path runs both settings side by side, started once, taking turns in pairs whose order"
        " swaps from one pair to the next (on, off, off, on, ...), so a pair compares turns"
        " seconds apart. The send path: two worker-io nodes at"
        f" `-c {mc['concurrency']}`, one per setting, consuming the `io` queue in turn; a turn is"
        f" {mc['messages']:,} one-part replies to as many contacts (queued as"
        " `bench/whatsapp/io_throughput.py` queues them) through the stand-in answering after"
        f" {mc['latency'] * 1000:.0f} ms, {mc['repeat']} pairs; CPU is the worker's per send."
        f" The webhook: two gunicorns ({gunicorn.get('workers', '?')} x"
        f" {gunicorn.get('threads', '?')} {gunicorn.get('worker_class', '?')}, each in"
        " multiprocess mode with a directory of its own, as in compose), `bench/whatsapp/"
        "webhook_ingest.py`'s client sending, each turn, the trivial view (`GET /healthz`,"
        f" where the middleware's share of a request is largest) for {mc['webhook_seconds']:g} s"
        f" and then signed webhook POSTs for as long, at concurrency {mc['webhook_concurrency']},"
        f" {mc['webhook_repeat']} pairs; CPU is web's per request (master and workers)."
        " Nothing scrapes during the turns. On / off: the median on over the median off; the"
        f" goal, {mc['goal']:.2f} or more, is the send path's and the webhook's.",
        "",
        "| path | on | off | on / off | each pair | CPU per request, on / off (ratio) | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = (
        ("send path, sends/s", "send", "{:.2f}"),
        ("webhook, POSTs/s", "webhook", "{:.2f}"),
        ("trivial view, requests/s", "trivial", "{:.2f}"),
    )
    for label, key, cpu_fmt in rows:
        p = paths[key]
        on = f"{p['median_on']:,.0f} ({range_text(p['rates_on'], '{:,.0f}')})"
        off = f"{p['median_off']:,.0f} ({range_text(p['rates_off'], '{:,.0f}')})"
        pairs = ", ".join(f"{x:.2f}" for x in p["pair_ratios"])
        cpu_on = cpu_fmt.format(p["cpu_ms_median_on"])
        cpu_off = cpu_fmt.format(p["cpu_ms_median_off"])
        verdict = {True: "met", False: "**not met**", None: DASH}[p["goal_met"]]
        if p["goal_met"] is not None and min(p["pair_ratios"]) < mc["goal"] <= max(
            p["pair_ratios"]
        ):
            verdict += f"; pairs on both sides of {mc['goal']:.2f}"
        lines.append(
            f"| {label} | {on} | {off} | {p['ratio']:.3f} | {pairs}"
            f" | {cpu_on} / {cpu_off} ms ({p['cpu_ratio']:.2f}) | {verdict} |"
        )
    own = mc.get("overhead")
    if own:
        lines += [
            "",
            "The instrumentation alone, timed in one process in the same run (multiprocess mode,"
            f" as gunicorn runs it): {own['request_us']:.1f} µs a request for the middleware"
            f" around a view that does nothing, {own['task_us']:.1f} µs a task for the signal"
            " handlers (prerun, postrun, success). Against the CPU a webhook POST and a send cost"
            f" with metrics off, that is an on / off of {own['webhook_ratio']:.3f} for the webhook"
            f" and {own['send_ratio']:.3f} for the send path." + _unexplained(paths),
        ]
    sc, wc, stored = mc["send_check"], mc["webhook_check"], mc["stored"]
    off_worker = sc["off"]["metrics_status"]
    lines += [
        "",
        f"The settings took ({'yes' if mc['switch_ok'] else '**no**'}), counted afterwards: the"
        f" on worker's `/metrics` counted {sc['on']['sends_counted']:,.0f} sends"
        f" (`whatsapp_sends_total`) and {sc['on']['tasks_counted']:,.0f} tasks"
        f" (`celery_tasks_total`) for the {sc['expected_sends']:,} its turns sent; the off"
        " worker's METRICS_PORT "
        + ("had nothing listening" if off_worker is None else f"answered {off_worker}")
        + f". The on web's `/metrics` counted {wc['on']['posts_counted']:,.0f} webhook POSTs"
        f" answered 200 for the {wc['posts_answered_200']:,} it answered; the off web's answered"
        f" {wc['off']['metrics_status']}. Every 200 stored: {stored['rows']:,} rows for"
        f" {stored['answered_200']:,} answers ({stored['missing']} missing).",
    ]
    load = mc.get("load_1min_after_each_turn")
    if load:
        lines += [
            "",
            f"The machine's 1-minute load average after each turn: {range_text(load, '{:.1f}')}"
            " (the runs' own processes count in it).",
        ]
    return [*lines, ""]
