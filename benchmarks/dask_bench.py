"""`lint --dask local:N` against `--jobs 1` and `--jobs N`: records per second, peak memory per process.

    python benchmarks/dask_bench.py                       # 100k cases: --jobs 1, --jobs 2, --dask local:2
    python benchmarks/dask_bench.py --sizes 10000,100000,1000000 --modes dask   # throughput as data grows

Each row is one ``serviceflow lint FILE --format json`` in a fresh process, as a user runs it (the
Dask rows include starting the local cluster, about 3 s), on the cached data sets of ``run.py``
(generated on first use). Its report must be byte for byte the report of ``--jobs 1`` when that
ran too (the ``same`` column). Memory is sampled every 0.2 s over the command's process tree: the
main process, and the largest other process (a ``--jobs`` worker, a Dask worker; a nanny is smaller).
Ratios are what count: absolute numbers move with the single-process speed and the machine's load,
so the modes are run in turn, ``--repeat`` times each, and the best run of each is kept. The CPU
seconds of all the run's processes (and the load average when it ended) say what a run cost whatever
else the machine was doing: on a shared machine, wall-clock ratios understate what parallel runs gain.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from run import OUT, dataset, progress

SERVICEFLOW = Path(sys.executable).with_name("serviceflow")
MODES = {"jobs1": ("--jobs", "1"), "jobs2": ("--jobs", "2"), "dask": ("--dask", "local:2")}
LABELS = {"jobs1": "--jobs 1", "jobs2": "--jobs 2", "dask": "--dask local:2"}
WORKERS = {"jobs1": 1, "jobs2": 2, "dask": 2}


class PeakMemory:
    """Samples the RSS of a process and its descendants until stopped; the peak of each process."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            for process in processes:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
            self._stop.wait(0.2)

    def stop(self) -> tuple[float, float]:
        """Peak RSS in MB of the main process and of the largest other one."""
        self._stop.set()
        self._thread.join()
        main = self.peaks.pop(self.root.pid, 0)
        other = max(self.peaks.values(), default=0)
        return main / 2**20, other / 2**20


def measure(mode: str, path: Path, now: str, out: Path) -> dict[str, Any]:
    command = [str(SERVICEFLOW), "lint", str(path), "--now", now, "--format", "json", "--fail-on", "never"]
    command += [*MODES[mode], "--output", str(out)]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(process.pid)
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    main_mb, other_mb = memory.stop()
    if process.returncode != 0:
        return {"failed": f"exit {process.returncode}: {stderr.strip().splitlines()[-1:]}"}
    report = out.read_bytes()
    return {
        "seconds": seconds,
        "records": json.loads(report)["summary"]["records"],
        "main_mb": main_mb,
        "worker_mb": other_mb,
        "digest": hashlib.sha256(report).hexdigest(),
        # Every process of the run (its workers are waited for, so their time is counted here).
        "cpu_seconds": (cpu_after.ru_utime - cpu_before.ru_utime)
        + (cpu_after.ru_stime - cpu_before.ru_stime),
        "load": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="data set sizes in cases (comma-separated)")
    parser.add_argument("--modes", default="jobs1,jobs2,dask", help="jobs1, jobs2, dask (comma-separated)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode, in turn; the best is kept")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for cases in (int(size) for size in args.sizes.split(",")):
            path, expected = dataset(cases, args.seed)
            best: dict[str, dict[str, Any]] = {}
            for attempt in range(args.repeat):
                for mode in modes:
                    progress(f"{LABELS[mode]}: {path.name} (run {attempt + 1})")
                    result = measure(mode, path, expected["now"], Path(scratch) / f"{mode}.json")
                    progress(f"  {result}")
                    if "failed" in result or result["seconds"] < best.get(mode, {}).get("seconds", 1e18):
                        best[mode] = result
            reference = best.get("jobs1", {}).get("digest")
            base = best.get("jobs1", {})
            for mode in modes:
                result = best[mode]
                if "failed" in result:
                    rows.append(f"| {cases:,} | {LABELS[mode]} | failed: {result['failed']} |" + " |" * 9)
                    continue
                rate = result["records"] / result["seconds"]
                ratio = f"{rate / (base['records'] / base['seconds']):.2f}x" if base.get("seconds") else ""
                same = "" if reference is None else ("yes" if result["digest"] == reference else "NO")
                rows.append(
                    f"| {cases:,} | {LABELS[mode]} | {result['records']:,} | {result['seconds']:.1f} | "
                    f"{rate:,.0f} | {rate / WORKERS[mode]:,.0f} | {ratio} | {result['main_mb']:,.0f} / "
                    f"{result['worker_mb']:,.0f} | {result['cpu_seconds']:.0f} | "
                    f"{result['records'] / result['cpu_seconds']:,.0f} | {result['load']:.1f} | {same} |"
                )
    table = [
        "| cases | mode | records | seconds | records/s | records/s per worker | vs --jobs 1 | "
        "peak RSS MB main / largest worker | CPU s (all processes) | records per CPU s | "
        "load avg | same report |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
    ]
    text = "\n".join(table)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "dask-results.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
