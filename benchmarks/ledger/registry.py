"""The one table of headline benchmarks: what each runs, which figures it keeps, which ratio is compared.

Adding a benchmark (an SNMP walk against ``snmpbulkwalk``, observation ingestion, ...)
is one `Benchmark` row here: a script in ``benchmarks/`` that writes its figures with
``--json PATH``, a function turning that JSON into *samples* (one dict of figures per
repeat; paired figures of one sample were measured back to back in the same run), the
figures to keep, and the ratios against the anchor measured in the same run.  A
docs/benchmarks.md block ``<!-- ledger:begin NAME -->`` shows its latest entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Sample = dict[str, float]


@dataclass(frozen=True)
class Figure:
    """One measured figure of a benchmark (seconds, CPU-s, requests/s, MB, counts)."""

    key: str
    label: str
    unit: str
    better: str | None = None  # "lower", "higher", or None: recorded, never compared
    goal: float | None = None  # met when value <= goal (better lower) or >= goal (better higher)
    tracked: bool = False  # compared against the baseline (ratios always are)


@dataclass(frozen=True)
class Ratio:
    """sitescout's figure over its anchor's, computed per sample (both from the same repeat)."""

    key: str
    label: str
    numerator: str
    denominator: str
    better: str = "lower"
    goal: float | None = None


@dataclass(frozen=True)
class Benchmark:
    """One row of the registry."""

    name: str
    title: str
    script: str
    anchor: str
    extract: Callable[[Any], list[Sample]]
    figures: tuple[Figure, ...]
    ratios: tuple[Ratio, ...] = ()
    args: tuple[str, ...] = ()  # fixed parameters: what makes two entries comparable
    quick_args: tuple[str, ...] = ()  # repeats for the quick subset
    full_args: tuple[str, ...] = ()  # repeats for the full set
    invocations: tuple[int, int] = (1, 1)  # script runs (quick, full); each adds its samples
    quick: bool = False  # part of the quick subset
    needs_root: bool = False
    tools: tuple[str, ...] = ()  # executables on PATH (or absolute paths) the run needs
    timeout_s: float = 900.0
    headline: str = ""  # the metric shown in the history table (default: the first ratio)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def headline_key(self) -> str:
        """Return the metric shown for this benchmark in the history table."""
        if self.headline:
            return self.headline
        return self.ratios[0].key if self.ratios else self.figures[0].key

    def metric_label(self, key: str) -> str:
        """Return the human label of a figure or ratio key (the key itself if unknown)."""
        for metric in (*self.figures, *self.ratios):
            if metric.key == key:
                return metric.label
        return key


def _host_discovery(doc: dict[str, Any]) -> list[Sample]:
    times = doc["times"]
    return [{"sweep_s": s, "nmap_s": n, "arp_scan_s": a}
            for s, n, a in zip(times["sitescout"], times["nmap -sn -n"], times["arp-scan"])]


def _cameras(doc: dict[str, Any]) -> list[Sample]:
    return [{"found": r["found"], "distinct_endpoints": r["distinct_endpoints"], "identified": r["identified"],
             "discovery_s": r["discovery_s"], "interrogation_s": r["interrogation_s"]} for r in doc["runs"]]


def _stream_check(doc: dict[str, Any]) -> list[Sample]:
    survey, monitoring = doc["check"], doc["monitoring_check"]
    samples: list[Sample] = [
        {"survey_cpu_s": s, "survey_sched_cpu_s": ss, "monitoring_cpu_s": m, "monitoring_sched_cpu_s": ms,
         "ffmpeg_cpu_s": f}
        for s, ss, m, ms, f in zip(survey["cpu_s_runs"], survey["ns_cpu_s_runs"], monitoring["cpu_s_runs"],
                                   monitoring["ns_cpu_s_runs"], doc["ffmpeg_cpu_s_runs"])]
    if samples and "worker_ready_cpu_s" in doc:  # once per run (per worker), so in the first sample only
        samples[0]["worker_ready_cpu_s"] = doc["worker_ready_cpu_s"]
    return samples


def _icmp(doc: list[dict[str, Any]]) -> list[Sample]:
    sample: Sample = {}
    for row in doc:
        case = row["case"].split("-")[0]  # loopback, veth
        sample[f"{case}_cpu_s"] = row["sitescout"]["cpu_s"]
        sample[f"{case}_fping_cpu_s"] = row["fping"]["cpu_s"]
        sample[f"{case}_wall_s"] = row["sitescout"]["wall_s"]
        sample[f"{case}_fping_wall_s"] = row["fping"]["wall_s"]
        sample[f"{case}_replies"] = row["sitescout"]["received"] / row["sitescout"]["sent"]
    return [sample]


def _probe_rate(doc: dict[str, Any]) -> list[Sample]:
    return [{"sitescout_rps": r["sitescout"]["rate"], "blackbox_rps": r["blackbox_exporter"]["rate"]}
            for r in doc["probe_rate"]["rounds"]]


def _snmp_probe(doc: dict[str, Any]) -> list[Sample]:
    return [{"sitescout_rps": r["sitescout"]["rate"], "snmp_exporter_rps": r["snmp_exporter"]["rate"],
             "sitescout_median_s": r["sitescout"]["median_s"], "snmp_exporter_median_s": r["snmp_exporter"]["median_s"],
             "sitescout_cpu_s": r["sitescout"]["cpu_s_per_answer"],
             "snmp_exporter_cpu_s": r["snmp_exporter"]["cpu_s_per_answer"]} for r in doc["rounds"]]


def _survey_snmp(doc: dict[str, Any]) -> list[Sample]:
    samples: list[Sample] = []
    for r in range(doc["repeats"]):
        run = {x["variant"]: x for x in doc["runs"] if x["repeat"] == r}
        without, with_, with_i0 = run["without"]["wall_s"], run["with"]["wall_s"], run["with_i0"]["wall_s"]
        samples.append({"without_s": without, "with_s": with_, "with_i0_s": with_i0,
                        "snmp_stage_s": run["with"]["snmp_stage_s"], "snmp_stage_i0_s": run["with_i0"]["snmp_stage_s"],
                        "share": (with_ - without) / with_, "share_i0": (with_i0 - without) / with_i0,
                        "switches_read": min(run["with"]["switches_read"], run["with_i0"]["switches_read"]),
                        "placed": min(run["with"]["placed"], run["with_i0"]["placed"]),
                        "cameras": min(x["cameras"] for x in run.values()),
                        "streams_up": min(x["streams_up"] for x in run.values())})
    return samples


def _worker_rss(doc: dict[str, Any]) -> list[Sample]:
    mem = doc["memory"]
    return [{"rss_mb_max": mem["rss_mb_max"], "rss_mb_end": mem["rss_mb_end"], "devices_up": mem["devices_up"],
             "scrape_s": mem["scrape_s"]}]


def _metrics(doc: dict[str, Any]) -> list[Sample]:
    res = doc["results"]
    return [{"render_s": r, "via_client_s": v, "plain_s": p}
            for r, v, p in zip(res["sitescout"]["runs_s"], res["sitescout-via-client"]["runs_s"],
                               res["plain-gauges"]["runs_s"])]


def _api(doc: dict[str, Any]) -> list[Sample]:
    return [{"api_s": a, "static_s": s} for a, s in zip(doc["api_runs_s"], doc["static_runs_s"])]


def _placement(doc: list[dict[str, Any]]) -> list[Sample]:
    return [{"total_s": r["total_s"], "milp_s": r["milp_s"] or 0.0, "gap": r["gap"] if r["gap"] is not None else 0.0,
             "greedy_fraction": r["greedy_fraction"]} for r in doc]


def _import(doc: dict[str, Any]) -> list[Sample]:
    sample: Sample = {}
    for backend, res in doc["results"].items():
        if "devices_import_s" not in res:
            continue  # e.g. postgresql_skipped
        sample[f"{backend}_import_s"] = res["devices_import_s"]
        sample[f"{backend}_import_cpu_s"] = res["devices_import_cpu_s"]
        sample[f"{backend}_rows_per_s"] = res["devices_per_s"]
    return [sample]


def _sd_parts(doc: list[dict[str, Any]]) -> list[Sample]:
    sqlite = next(r for r in doc if r["backend"] == "sqlite")
    samples = []
    for n in range(len(sqlite["whole"]["build_s"])):
        sample: Sample = {}
        for part in ("whole", "commune", "shard"):
            sample[f"{part}_build_s"] = sqlite[part]["build_s"][n]
            sample[f"{part}_not_modified_s"] = sqlite[part]["not_modified_s"][n]
            sample[f"{part}_mb"] = sqlite[part]["bytes"] / 1e6
            sample[f"{part}_gzip_mb"] = sqlite[part]["gzip_bytes"] / 1e6
        samples.append(sample)
    return samples


def _ingest(doc: list[dict[str, Any]]) -> list[Sample]:
    sample: Sample = {}
    for row in doc:
        b = row["backend"]
        sample[f"{b}_rows_per_s"] = row["api_rows_per_s"]
        sample[f"{b}_raw_rows_per_s"] = row["raw_rows_per_s"]
        sample[f"{b}_bytes_per_row"] = row["bytes_per_row"]
    return [sample]


def _workbench(doc: list[dict[str, Any]]) -> list[Sample]:
    samples = []
    for run in doc:
        village, sample = run["village"], {}
        sample.update(village_move_median_s=village["move_median_s"], village_move_p95_s=village["move_p95_s"],
                      village_move_cpu_p95_s=village["move_cpu_p95_s"], village_optimise_s=village["optimise_s"])
        if "large" in run:
            large = run["large"]
            sample.update(large_move_median_s=large["move_median_s"], large_move_p95_s=large["move_p95_s"],
                          large_optimise_s=large["optimise_s"], large_gap=large["gap"] or 0.0)
        samples.append(sample)
    return samples


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "host_discovery", "Host discovery: 512 addresses, 200 alive", "bench_host_discovery.py",
        "nmap -sn -n and arp-scan, same namespace, same run, order rotated", _host_discovery,
        (Figure("sweep_s", "sitescout sweep", "s", "lower"), Figure("nmap_s", "nmap -sn -n", "s"),
         Figure("arp_scan_s", "arp-scan", "s")),
        (Ratio("sweep_vs_nmap", "sweep / nmap", "sweep_s", "nmap_s", goal=1.0),
         Ratio("sweep_vs_arp_scan", "sweep / arp-scan", "sweep_s", "arp_scan_s", goal=2.0)),
        quick_args=("--runs", "3"), full_args=("--runs", "5"), quick=True, needs_root=True,
        tools=("nmap", "arp-scan"), timeout_s=600),
    Benchmark(
        "cameras", "WS-Discovery + interrogation of 50 cameras", "bench_cameras.py",
        "none in the run: goals (all 50 found within the 3 s window, interrogated within 5 s)", _cameras,
        (Figure("found", "cameras found", "", "higher", 50, True),
         Figure("distinct_endpoints", "distinct endpoints", "", "higher", 50),
         Figure("identified", "cameras identified", "", "higher", 50, True),
         Figure("discovery_s", "discovery (fixed 3 s window)", "s"),
         Figure("interrogation_s", "interrogation of all", "s", "lower", 5.0, True)),
        args=("--cameras", "50", "--no-window"), quick_args=("--runs", "2"), full_args=("--runs", "3"),
        needs_root=True, timeout_s=900, headline="interrogation_s"),
    Benchmark(
        "stream_check", "Stream check, 1080p25 H.264, 4 s window", "bench_stream_check.py",
        "ffmpeg -f null full decode of the same window, alternating in the same run", _stream_check,
        (Figure("survey_cpu_s", "survey check (default StreamConfig)", "CPU-s", "lower", 0.1, True),
         Figure("monitoring_cpu_s", "monitoring check (MONITORING_STREAM)", "CPU-s", "lower", 0.1, True),
         Figure("survey_sched_cpu_s", "survey check, schedstat", "CPU-s"),
         Figure("monitoring_sched_cpu_s", "monitoring check, schedstat", "CPU-s"),
         Figure("ffmpeg_cpu_s", "ffmpeg full decode", "CPU-s"),
         Figure("worker_ready_cpu_s", "worker start, once per worker (interpreter, imports, cv2)", "CPU-s")),
        (Ratio("survey_vs_ffmpeg", "survey check / ffmpeg", "survey_cpu_s", "ffmpeg_cpu_s", goal=0.2),
         Ratio("monitoring_vs_ffmpeg", "monitoring check / ffmpeg", "monitoring_cpu_s", "ffmpeg_cpu_s", goal=0.2),
         Ratio("survey_sched_vs_ffmpeg", "survey check (schedstat) / ffmpeg", "survey_sched_cpu_s",
               "ffmpeg_cpu_s", goal=0.2),
         Ratio("monitoring_sched_vs_ffmpeg", "monitoring check (schedstat) / ffmpeg", "monitoring_sched_cpu_s",
               "ffmpeg_cpu_s", goal=0.2)),
        args=("--port", "0"), quick_args=("--runs", "5"), full_args=("--runs", "7"), quick=True, tools=("ffmpeg",),
        timeout_s=600,
        headline="monitoring_vs_ffmpeg"),
    Benchmark(
        "icmp", "ICMP bursts, 10 echoes 1 s apart, 1,000 loopback and 500 veth targets", "bench_icmp.py",
        "fping -C 10 on the same targets, same run, one after the other", _icmp,
        (Figure("loopback_cpu_s", "sitescout CPU, loopback-1000", "CPU-s", "lower"),
         Figure("loopback_fping_cpu_s", "fping CPU, loopback-1000", "CPU-s"),
         Figure("veth_cpu_s", "sitescout CPU, veth-500", "CPU-s", "lower"),
         Figure("veth_fping_cpu_s", "fping CPU, veth-500", "CPU-s"),
         Figure("loopback_wall_s", "sitescout wall, loopback-1000", "s"),
         Figure("loopback_fping_wall_s", "fping wall, loopback-1000", "s"),
         Figure("loopback_replies", "sitescout replies received, loopback-1000", "fraction", "higher", 1.0, True),
         Figure("veth_replies", "sitescout replies received, veth-500", "fraction", "higher", 1.0, True)),
        (Ratio("loopback_cpu_vs_fping", "CPU loopback-1000: sitescout / fping", "loopback_cpu_s",
               "loopback_fping_cpu_s"),
         Ratio("veth_cpu_vs_fping", "CPU veth-500: sitescout / fping", "veth_cpu_s", "veth_fping_cpu_s"),
         Ratio("loopback_wall_vs_fping", "wall loopback-1000: sitescout / fping", "loopback_wall_s",
               "loopback_fping_wall_s", goal=1.0)),
        args=("--period-ms", "1000", "--count", "10"), invocations=(1, 3), needs_root=True, tools=("fping",),
        timeout_s=600),
    Benchmark(
        "probe_rate", "ICMP /probe requests per second, 16 clients", "bench_probe_rate.py",
        "Debian prometheus-blackbox-exporter (1 echo), rounds alternating who goes first", _probe_rate,
        (Figure("sitescout_rps", "sitescout /probe (5 echoes, loss, jitter)", "req/s", "higher"),
         Figure("blackbox_rps", "blackbox_exporter /probe (1 echo)", "req/s")),
        (Ratio("sitescout_vs_blackbox", "sitescout / blackbox_exporter", "sitescout_rps", "blackbox_rps",
               better="higher", goal=0.5),),
        args=("--clients", "16", "--seconds", "8"), quick_args=("--rounds", "3"), full_args=("--rounds", "5"),
        quick=True, needs_root=True, tools=("/usr/bin/prometheus-blackbox-exporter",), timeout_s=600),
    Benchmark(
        "metrics", "/metrics at 10,000 cameras (320,000 sample lines)", "bench_metrics.py",
        "the same series in plain prometheus_client Gauge/Histogram children, generate_latest, same process",
        _metrics,
        (Figure("render_s", "SitescoutCollector.render()", "s", "lower", 0.5, True),
         Figure("via_client_s", "the collector through generate_latest", "s"),
         Figure("plain_s", "plain client_python gauges", "s")),
        (Ratio("render_vs_plain", "render / plain gauges", "render_s", "plain_s", goal=1.0),),
        args=("--cameras", "10000"), quick_args=("--repeat", "3"), full_args=("--repeat", "5"), quick=True,
        timeout_s=900),
    Benchmark(
        "api_sites", "GET /api/v1/sites, 10,000 sites and 100,000 devices", "bench_api.py",
        "the same bytes as a static file (Flask send_file) on the same server, alternating", _api,
        (Figure("api_s", "/api/v1/sites (5 s answer cache)", "s", "lower"),
         Figure("static_s", "same bytes, static file", "s")),
        (Ratio("api_vs_static", "/api/v1/sites / static file", "api_s", "static_s", goal=3.0),),
        args=("--sites", "10000", "--devices", "100000"), quick_args=("--runs", "15"),
        full_args=("--runs", "25"), quick=True, timeout_s=900),
    Benchmark(
        "placement", "Placement MILP at 2,000 points × 1,200 poses, K = 12, 1.5 s limit", "bench_placement.py",
        "none in the run: the goal (within 2 s wall)", _placement,
        (Figure("total_s", "coverage + greedy + HiGHS", "s", "lower", 2.0, True),
         Figure("milp_s", "HiGHS", "s"), Figure("gap", "optimality gap after the limit", ""),
         Figure("greedy_fraction", "greedy / kept answer", "")),
        args=("--size", "2000x1200", "--time-limit", "1.5"), quick_args=("--seeds", "3"),
        full_args=("--seeds", "5"), quick=True, timeout_s=300, headline="total_s"),
    Benchmark(
        "import", "Import of 100,000 devices (after 10,000 sites)", "bench_import.py",
        "the same rows through csv + sqlite3.executemany (same unique keys, no validation), same run", _import,
        (Figure("sqlite_import_cpu_s", "SQLite import", "CPU-s", "lower", tracked=True),
         Figure("sqlite_import_s", "SQLite import", "s"),
         Figure("sqlite_rows_per_s", "SQLite rows/s (wall)", "rows/s"),
         Figure("sqlite_raw_import_cpu_s", "csv + sqlite3.executemany (anchor)", "CPU-s"),
         Figure("sqlite_raw_import_s", "csv + sqlite3.executemany (anchor)", "s"),
         Figure("postgresql_import_cpu_s", "PostgreSQL import", "CPU-s", "lower", tracked=True),
         Figure("postgresql_import_s", "PostgreSQL import", "s"),
         Figure("postgresql_rows_per_s", "PostgreSQL rows/s (wall)", "rows/s")),
        (Ratio("sqlite_cpu_vs_raw", "SQLite import CPU / csv + executemany", "sqlite_import_cpu_s",
               "sqlite_raw_import_cpu_s"),),
        args=("--sites", "10000", "--devices", "100000", "--backend", "both"), timeout_s=1200,
        headline="sqlite_cpu_vs_raw"),
    Benchmark(
        "worker_rss", "Worker RSS at 1,000 targets (link, ONVIF and a stream each), 30 s", "bench_probe_rate.py",
        "none in the run: the goal (≤ 150 MB)", _worker_rss,
        (Figure("rss_mb_max", "worker RSS, max", "MB", "lower", 150.0, True),
         Figure("rss_mb_end", "worker RSS, end", "MB"),
         Figure("devices_up", "devices up in the scrape", "", "higher", 1000, True),
         Figure("scrape_s", "one /metrics scrape", "s")),
        args=("--memory", "--no-rate", "--settle", "30"), needs_root=True, timeout_s=300, headline="rss_mb_max"),
    Benchmark(
        "sd_parts", "/sd/prometheus at 100,000 devices: one commune (of 100) and one shard (of 10) vs the whole",
        "bench_sd.py", "the whole answer (today's one-answer /sd), same server, same round", _sd_parts,
        (Figure("whole_build_s", "whole answer, built", "s"), Figure("commune_build_s", "?commune=, built", "s"),
         Figure("shard_build_s", "?shard=1/10, built", "s", "lower", tracked=True),
         Figure("whole_not_modified_s", "whole, 304 (If-None-Match)", "s"),
         Figure("commune_not_modified_s", "?commune=, 304", "s"), Figure("shard_not_modified_s", "?shard=, 304", "s"),
         Figure("whole_mb", "whole answer", "MB"), Figure("whole_gzip_mb", "whole answer gzipped", "MB"),
         Figure("commune_mb", "one commune", "MB"), Figure("commune_gzip_mb", "one commune gzipped", "MB"),
         Figure("shard_mb", "one shard of 10", "MB"), Figure("shard_gzip_mb", "one shard gzipped", "MB")),
        (Ratio("commune_vs_whole_build", "?commune= build / whole build", "commune_build_s", "whole_build_s", goal=0.2),
         Ratio("shard_vs_whole_build", "?shard=1/10 build / whole build", "shard_build_s", "whole_build_s", goal=1.0),
         Ratio("shard_vs_whole_size", "?shard=1/10 bytes / whole bytes", "shard_mb", "whole_mb", goal=0.11),
         Ratio("whole_304_vs_build", "whole 304 / whole build", "whole_not_modified_s", "whole_build_s", goal=0.05)),
        args=("--shards", "10", "--backend", "sqlite"), quick_args=("--rounds", "3"), full_args=("--rounds", "5"),
        timeout_s=900, headline="shard_vs_whole_size"),
    Benchmark(
        "snmp_probe", "SNMP /probe answers per second, lab switch sw1 (8 ports, PoE), 4 clients", "bench_snmp_probe.py",
        "Debian prometheus-snmp-exporter 0.21, a module for the same tables, same agent, rounds alternating",
        _snmp_probe,
        (Figure("sitescout_rps", "sitescout /probe?module=snmp", "answers/s", "higher"),
         Figure("snmp_exporter_rps", "snmp_exporter /snmp", "answers/s"),
         Figure("sitescout_median_s", "sitescout latency, median", "s"),
         Figure("snmp_exporter_median_s", "snmp_exporter latency, median", "s"),
         Figure("sitescout_cpu_s", "sitescout CPU per answer (worker + collection process)", "s"),
         Figure("snmp_exporter_cpu_s", "snmp_exporter CPU per answer", "s")),
        (Ratio("sitescout_vs_snmp_exporter", "sitescout / snmp_exporter", "sitescout_rps", "snmp_exporter_rps",
               better="higher", goal=0.5),),
        args=("--clients", "4", "--seconds", "8"), quick_args=("--rounds", "3"), full_args=("--rounds", "5"),
        needs_root=True, tools=("/usr/bin/prometheus-snmp-exporter", "/usr/sbin/snmpd"), timeout_s=600),
    Benchmark(
        "survey_snmp", "sitescout survey of a lab site with 3 switches, 40 hosts and 6 cameras: time with the SNMP "
        "stage", "bench_survey_snmp.py", "the same survey with --no-snmp, same site, same repeat (order rotating)",
        _survey_snmp,
        (Figure("with_s", "survey with SNMP, --snmp-interval default (7 s)", "s", "lower", tracked=True),
         Figure("with_i0_s", "survey with SNMP, --snmp-interval 0", "s", "lower", tracked=True),
         Figure("without_s", "survey with --no-snmp (anchor)", "s"),
         Figure("snmp_stage_s", "SNMP stage alone, default interval", "s"),
         Figure("snmp_stage_i0_s", "SNMP stage alone, --snmp-interval 0", "s"),
         Figure("share", "share SNMP adds, (with - without) / with, default interval", "fraction"),
         Figure("share_i0", "share SNMP adds, --snmp-interval 0", "fraction"),
         Figure("switches_read", "switches read over SNMP (of 3), fewest in the repeat", "switches"),
         Figure("placed", "hosts placed on a switch port, fewest in the repeat", "hosts"),
         Figure("cameras", "cameras identified over ONVIF (of 6), fewest in the repeat", "cameras"),
         Figure("streams_up", "streams up, fewest in the repeat", "streams")),
        (Ratio("with_vs_without", "with SNMP / without (default interval)", "with_s", "without_s"),
         Ratio("with_i0_vs_without", "with SNMP / without (--snmp-interval 0)", "with_i0_s", "without_s")),
        quick_args=("--repeats", "2"), full_args=("--repeats", "3"), needs_root=True,
        tools=("/usr/sbin/snmpd", "/usr/sbin/lldpd"), timeout_s=600),
    Benchmark(
        "ingest", "POST /api/v1/observations at 100,000 devices (batches of 500, 300,000 rows stored before)",
        "bench_ingest.py", "the same rows executemany'd straight into the table (no checks, no health), same run",
        _ingest,
        (Figure("sqlite_rows_per_s", "SQLite, 1 worker", "rows/s", "higher", tracked=True),
         Figure("sqlite_raw_rows_per_s", "SQLite executemany (anchor)", "rows/s"),
         Figure("sqlite_bytes_per_row", "SQLite bytes per observation", "B"),
         Figure("postgresql_rows_per_s", "PostgreSQL, 4 workers", "rows/s", "higher", tracked=True),
         Figure("postgresql_raw_rows_per_s", "PostgreSQL executemany (anchor)", "rows/s"),
         Figure("postgresql_bytes_per_row", "PostgreSQL bytes per observation", "B")),
        (Ratio("sqlite_vs_raw", "SQLite API / executemany", "sqlite_rows_per_s", "sqlite_raw_rows_per_s",
               better="higher", goal=0.25),
         Ratio("postgresql_vs_raw", "PostgreSQL API / executemany", "postgresql_rows_per_s",
               "postgresql_raw_rows_per_s", better="higher", goal=0.25)),
        args=("--batches", "24", "--history", "300000", "--backend", "both"), timeout_s=1800,
        headline="postgresql_vs_raw"),
    Benchmark(
        "workbench", "Planning workbench: a camera move and a full optimisation, village (200 POIs, 50 mounts) "
        "and 2,000 × 1,200", "bench_plan_workbench.py", "none in the run: the goal (a move answered within 200 ms)",
        _workbench,
        (Figure("village_move_p95_s", "village: camera move (PATCH), p95", "s", "lower", 0.2, True),
         Figure("village_move_median_s", "village: camera move (PATCH), median", "s"),
         Figure("village_move_cpu_p95_s", "village: camera move (PATCH), server CPU, p95", "CPU-s", "lower",
                tracked=True),
         Figure("village_optimise_s", "village: optimise 6 cameras (POST, 1.5 s limit)", "s"),
         Figure("large_move_p95_s", "2,000 × 1,200: camera move (in process), p95", "s"),
         Figure("large_move_median_s", "2,000 × 1,200: camera move (in process), median", "s"),
         Figure("large_optimise_s", "2,000 × 1,200: optimise K = 12 (1.5 s limit) + GeoJSON", "s"),
         Figure("large_gap", "2,000 × 1,200: optimality gap after the limit", "")),
        args=("--moves", "30", "--large", "--time-limit", "1.5"), quick_args=("--repeats", "2"),
        full_args=("--repeats", "3"), timeout_s=600, headline="village_move_p95_s"),
)

BY_NAME: dict[str, Benchmark] = {b.name: b for b in BENCHMARKS}


def select(names: Sequence[str] | None, quick: bool) -> list[Benchmark]:
    """Return the benchmarks to run: the named ones, else the quick subset or all."""
    if names:
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise KeyError(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        return [BY_NAME[n] for n in names]
    return [b for b in BENCHMARKS if b.quick or not quick]
