"""Run the registry's benchmarks (each script with ``--json``) and build one ledger entry."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .model import SCHEMA, summarise
from .registry import Benchmark

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "benchmarks"


def _git(*args: str) -> str:
    cp = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return cp.stdout.strip() if cp.returncode == 0 else ""


def git_state() -> dict[str, Any]:
    """Return the commit, whether tracked files differ from it, and the branch."""
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    commit = _git("rev-parse", "HEAD") or "unknown"
    return {"commit": commit, "dirty": bool(dirty) or commit == "unknown",  # not a checkout: cannot vouch for it
            "branch": _git("rev-parse", "--abbrev-ref", "HEAD")}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _mem_total_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def machine() -> dict[str, Any]:
    """Return what the figures depend on: cores, CPU, memory, kernel, Python."""
    return {"node": platform.node(), "cores": os.cpu_count(), "cpu": _cpu_model(), "mem_mb": _mem_total_mb(),
            "kernel": platform.release(), "python": platform.python_version()}


def load() -> list[float]:
    """Return the 1, 5 and 15 minute load averages."""
    return [round(v, 2) for v in os.getloadavg()]


def missing(bench: Benchmark) -> str | None:
    """Return why `bench` cannot run on this machine, or None."""
    if bench.needs_root and os.geteuid() != 0:
        return "needs root (network namespaces)"
    absent = [t for t in bench.tools if not (os.path.exists(t) if t.startswith("/") else shutil.which(t))]
    if absent:
        return f"not installed here: {', '.join(absent)}"
    return None


def command(bench: Benchmark, quick: bool, json_path: Path, python: str = sys.executable) -> list[str]:
    """Return the argv of one run of `bench`."""
    repeats = bench.quick_args if quick else bench.full_args
    return [python, str(BENCH_DIR / bench.script), *bench.args, *repeats, "--json", str(json_path)]


def run_benchmark(bench: Benchmark, quick: bool, log_dir: Path) -> dict[str, Any]:
    """Run one benchmark (its script `invocations` times) and return its ledger result."""
    reason = missing(bench)
    invocations = bench.invocations[0 if quick else 1]
    result: dict[str, Any] = {"title": bench.title, "anchor": bench.anchor, "load_before": load()}
    if reason:
        return {**result, "status": "skipped", "reason": reason, "load_after": load()}
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    argv: list[str] = []
    for i in range(invocations):
        json_path = log_dir / f"{bench.name}-{i}.json"
        argv = command(bench, quick, json_path)
        log = log_dir / f"{bench.name}-{i}.log"
        print(f"[ledger] {bench.name} ({i + 1}/{invocations}): {' '.join(argv[1:])}", flush=True)
        with open(log, "w", encoding="utf-8") as out:
            try:
                cp = subprocess.run(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=bench.timeout_s)
                code: int | str = cp.returncode
            except subprocess.TimeoutExpired:
                code = f"timed out after {bench.timeout_s:g} s"
        if code != 0 or not json_path.exists():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            return {**result, "status": "failed", "reason": f"exit {code}: " + " | ".join(tail)[-600:],
                    "command": _shown(argv), "load_after": load()}
        samples += bench.extract(json.loads(json_path.read_text()))
    return {**result, "status": "ok", "command": _shown(argv), "invocations": invocations, "repeats": len(samples),
            "seconds": round(time.monotonic() - started, 1), "load_after": load(), **summarise(bench, samples)}


def _shown(argv: list[str]) -> str:
    """Return the command as a reader would type it (repository-relative, no temp paths)."""
    words = ["python" if i == 0 else (os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a)
             for i, a in enumerate(argv[:-2])]
    return " ".join(words)


def install_checkout() -> None:
    """Install this checkout into the running interpreter's environment, so the figures are of this commit."""
    print("[ledger] pip install --no-deps . (the scripts import the installed sitescout)", flush=True)
    cp = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "."], cwd=ROOT,
                        capture_output=True, text=True)
    if cp.returncode != 0:
        raise SystemExit(f"pip install of this checkout failed:\n{cp.stderr[-2000:]}")


def record(benches: list[Benchmark], quick: bool, note: str = "", git: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run `benches` one after the other and return the entry (not yet saved).

    `git` is the checkout's state taken before anything ran (see `git_state`); an edit
    made while the benchmarks run does not change what was installed and measured.
    """
    now = datetime.now(timezone.utc)
    git = git or git_state()
    entry: dict[str, Any] = {
        "schema": SCHEMA, "id": "", "date": now.isoformat(timespec="seconds"), **git,
        "set": "quick" if quick else "full", "note": note, "machine": machine(), "load_before": load(),
        "benchmarks": {},
    }
    with tempfile.TemporaryDirectory(prefix="ledger-") as tmp:
        for bench in benches:
            entry["benchmarks"][bench.name] = run_benchmark(bench, quick, Path(tmp))
            status = entry["benchmarks"][bench.name]["status"]
            print(f"[ledger] {bench.name}: {status} {entry['benchmarks'][bench.name].get('reason', '')}", flush=True)
    entry["load_after"] = load()
    entry["id"] = f"{now:%Y%m%dT%H%M%SZ}-{git['commit'][:7]}{'-dirty' if git['dirty'] else ''}-{entry['set']}"
    return entry
