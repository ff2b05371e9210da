"""
Targets, ratios, the printed table and the JSON file.

Every target is judged on numbers from the same run, so a slow machine
moves ours and Scrapy's numbers together and the ratios stay meaningful.
"""

import json

_LE, _GE = "<=", ">="


def _ratio(a, b):
    return a / b if a is not None and b else None


def targets(results):
    runs, ref, load = results["runs"], results["runs"].get("scrapy"), results.get("load")
    ours = [r for key, r in runs.items() if key.startswith("ours")]
    one, two = runs.get("ours_1"), runs.get("ours_2")
    rows = []
    for run in (one, two):
        if run and ref:
            rows.append((f"whole-stack CPU/1000 pages vs Scrapy ({run['name']})",
                         _ratio(run["cpu_per_1000_pages"], ref["cpu_per_1000_pages"]), _LE, 0.5, "{:.2f}x"))
    if two and ref:
        rows.append(("pages/s, 2 workers vs Scrapy", _ratio(two["pages_per_s"], ref["pages_per_s"]), _GE, 2.0, "{:.2f}x"))
    if one and two:
        rows.append(("scaling pages/s 2 workers / 1 worker", _ratio(two["pages_per_s"], one["pages_per_s"]), _GE, 1.6, "{:.2f}"))
    for what in ("page", "image"):
        rows.append((f"{what} recall (worst of our runs)", min(r[f"{what}_score"]["recall"] for r in ours), _GE, 1.0, "{:.2%}"))
        rows.append((f"{what} precision (worst of our runs)", min(r[f"{what}_score"]["precision"] for r in ours), _GE, 1.0, "{:.2%}"))
    rows.append(("Redis round trips per page per worker (worst)", _worst_round_trips(ours), _LE, 2.0, "{:.2f}"))
    rows.append(("worker peak RSS, MB (worst)", _worst_worker_rss(ours), _LE, 100.0, "{:.1f}"))
    if load:
        rows.append(("API GET /jobs/ID requests/s", load["get"]["rps"], _GE, 1000.0, "{:.0f}"))
        rows.append(("API GET /jobs/ID p99 latency, ms", load["get"]["p99_ms"], _LE, 50.0, "{:.1f}"))
    return [_judge(*row) for row in rows]


def _judge(name, value, op, limit, fmt):
    ok = value is not None and (value <= limit if op == _LE else value >= limit - 1e-12)
    return {"target": f"{name} {op} {fmt.format(limit)}", "value": value,
            "shown": "n/a" if value is None else fmt.format(value), "pass": ok}


def _worst_round_trips(runs):
    values = [v for r in runs if r.get("round_trips")
              for v in r["round_trips"]["per_page_by_worker"].values() if v is not None]
    return max(values) if values else None


def _worst_worker_rss(runs):
    values = [m["peak"] for r in runs for name, m in r["memory_mb"].items() if name.startswith("worker")]
    return max(values) if values else None


def _cells(runs, getter, fmt):
    out = []
    for run in runs:
        value = getter(run) if run else None
        out.append("-" if value is None else fmt.format(value))
    return out


def _cpu_per_1000(prefix):
    """CPU per 1,000 pages of the processes named C{prefix}*, if any."""
    def get(run):
        cpu = [v for k, v in run["cpu_s"].items() if k.startswith(prefix)]
        return sum(cpu) / max(1, run["pages"]) * 1000 if cpu else None
    return get


def _peak(prefix):
    def get(run):
        return max((m["peak"] for k, m in run["memory_mb"].items() if k.startswith(prefix)), default=None)
    return get


def _redis(field):
    return lambda run: run.get("redis", {}).get(field)


def _round_trips(run):
    trips = run.get("round_trips")
    return max(v for v in trips["per_page_by_worker"].values()) if trips else None


def _score(kind):
    return lambda run: (run[kind]["recall"], run[kind]["precision"])


# (label, getter, format) for each line of the main table; the first
# lines are the ones where the ratio ours/Scrapy means something.
_RATIO_ROWS = 5
_ROWS = [
    ("pages crawled", lambda r: r["pages"], "{:d}"),
    ("wall time, s", lambda r: r["wall_s"], "{:.2f}"),
    ("pages/s", lambda r: r["pages_per_s"], "{:.1f}"),
    ("CPU s, whole stack", lambda r: r["cpu_total_s"], "{:.2f}"),
    ("CPU s per 1,000 pages", lambda r: r["cpu_per_1000_pages"], "{:.2f}"),
    ("  of which API", _cpu_per_1000("api"), "{:.2f}"),
    ("  of which workers", _cpu_per_1000("worker"), "{:.2f}"),
    ("  of which Redis", _cpu_per_1000("redis"), "{:.2f}"),
    ("peak RSS MB, API", _peak("api"), "{:.1f}"),
    ("peak RSS MB, worker (max)", _peak("worker"), "{:.1f}"),
    ("peak RSS MB, Redis", _peak("redis"), "{:.1f}"),
    ("peak RSS MB, Scrapy", _peak("scrapy"), "{:.1f}"),
    ("Redis commands/page (incl. in Lua)", _redis("commands_per_page"), "{:.1f}"),
    ("Redis script calls/page (all)", _redis("scripts_per_page"), "{:.2f}"),
    ("Redis round trips/page/worker", _round_trips, "{:.2f}"),
    ("page recall / precision", _score("page_score"), "{0[0]:.2%} / {0[1]:.2%}"),
    ("image recall / precision", _score("image_score"), "{0[0]:.2%} / {0[1]:.2%}"),
    ("load average at start", lambda r: r["loadavg"]["start"][0], "{:.2f}"),
]


def table(results):
    runs = results["runs"]
    order = [runs.get("ours_1"), runs.get("ours_2"), runs.get("scrapy")]
    lines = [["", "ours 1w", "ours 2w", "Scrapy", "1w/Scrapy", "2w/Scrapy"]]
    for i, (label, getter, fmt) in enumerate(_ROWS):
        ratios = ["", ""]
        if i < _RATIO_ROWS and order[2]:
            ratios = [f"{getter(run) / getter(order[2]):.2f}" if run else "" for run in order[:2]]
        lines.append([label, *_cells(order, getter, fmt), *ratios])
    return _format(lines)


def _format(lines):
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths))) for line in lines)


def load_table(load):
    lines = [["API under load (" + load["get"]["tool"] + f", {load['connections']} connections)",
              "requests", "req/s", "p50 ms", "p99 ms", "errors"]]
    for name, key in (("GET /jobs/ID, stack idle", "get_idle"), ("GET /jobs/ID, during crawls", "get"),
                      ("POST /jobs, during crawls", "post")):
        r = load[key]
        lines.append([name, r["requests"], f"{r['rps']:.0f}", _ms(r["p50_ms"]), _ms(r["p99_ms"]), r["errors"]])
    crawl = load["crawl_during_get"]
    note = (f"during the GET phase: {crawl['jobs']} whole-site crawl(s) submitted, {crawl['pages_crawled_after']} "
            f"pages crawled by its end, {crawl['running_after']} crawl(s) still running then")
    return _format(lines) + "\n" + note


def _ms(value):
    return "-" if value is None else f"{value:.1f}"


def target_lines(judged):
    return "\n".join(f"{'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['shown']}" for t in judged)


def profile_lines(profile):
    lines = [f"worker profile: {profile['samples']} samples at {profile['rate']} Hz ({profile['raw']});"
             " top entries by own time:", "   own%  incl%  function (file)"]
    for frame, own, incl in profile["top"]:
        lines.append(f"  {own / profile['samples']:5.1%} {incl / profile['samples']:6.1%}  {frame}")
    lines.append("own time by package: " + ", ".join(
        f"{name} {n / profile['samples']:.0%}" for name, n in profile["packages"][:10]))
    lines.append("time by our nearest function (with the library calls it makes):")
    lines.extend(f"  {n / profile['samples']:5.1%}  {frame}" for frame, n in profile["our_code"][:10])
    return "\n".join(lines)


def write_json(results, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str))
