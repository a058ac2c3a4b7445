"""Many shoppers at once: text-turn latency, errors, CPU and memory per process, and faults under load.

    make load-tools                       # Locust in its own environment (.venv-load)
    python -m benchmarks.load             # single node at 25/50/100/200 shoppers, 2 replicas vs 1, faults
    python -m benchmarks.load --users 50 --duration 60 --no-cluster --no-faults

Locust (headless) drives ``benchmarks/load_shoppers.py``: each simulated shopper holds one
multi-turn conversation (two searches, two products added, the cart read back and checked, 1-3 s
of thinking between turns), three over socket.io through the gateway for one over Rasa's REST
webhook. A wrong cart is a failed check: it would be a lost turn or another conversation's reply.
Every shopper comes from 127.0.0.1, so the gateway's per-address limits are raised for the run
(the per-conversation ones stay). Results go to benchmarks/results/load.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import DEMO_DB, RESULTS, ROOT, command, machine, write_result
from bot.cluster import Cluster
from bot.launcher import Services, free_port

LOCUST = ROOT / ".venv-load" / "bin" / "locust"
SHOPPERS = ROOT / "benchmarks" / "load_shoppers.py"
CLIENT_LIMITS = {"SHOPKEEPER_CLIENT_MESSAGES_PER_MIN": "1000000", "SHOPKEEPER_CLIENT_AUDIO_S_PER_MIN": "1000000"}
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379"
ROOMS = {"SHOPKEEPER_GATEWAY_REDIS_URL": f"{REDIS}/2"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- CPU and memory of each process tree, from /proc ---------------------------------------------
def _group_pids(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # field 5 of stat: the process group
                found.append(int(entry.name))
    return found


def _cpu_s_and_rss_mb(pids: list[int]) -> tuple[float, float]:
    cpu, rss = 0.0, 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
            status = Path(f"/proc/{pid}/status").read_text()
            rss += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
        except (OSError, StopIteration, ValueError):
            continue
    return cpu, rss


@dataclass
class Sampler:
    """Samples every process the launcher started, once a second, while a load runs."""

    services: Services
    cpu_start: dict[str, float] = field(default_factory=dict)
    cpu_end: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> dict[str, tuple[float, float]]:
        return {
            name: _cpu_s_and_rss_mb(_group_pids(p.pid))
            for name, p in list(self.services.processes.items())
            if p.poll() is None
        }

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for name, (cpu, rss) in self._sample().items():
                self.cpu_end[name] = cpu
                self.peak_rss[name] = max(rss, self.peak_rss.get(name, 0.0))

    def __enter__(self) -> Sampler:
        self.cpu_start = {name: cpu for name, (cpu, _) in self._sample().items()}
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        self.seconds = time.monotonic() - self.started

    def rows(self) -> list[str]:
        rows = []
        for name in sorted(self.cpu_end):
            used = self.cpu_end[name] - self.cpu_start.get(name, self.cpu_end[name])
            rows.append(f"{name} {100 * used / max(self.seconds, 1e-9):.0f}% CPU, {self.peak_rss[name]:.0f} MB")
        return rows


# -- one Locust run --------------------------------------------------------------------------------
@dataclass
class Run:
    label: str
    users: int
    stats: dict[tuple[str, str], dict[str, str]]
    history: list[dict[str, str]]
    processes: list[str]
    ted: str = "-"

    def turn(self, transport: str) -> dict[str, str]:
        return self.stats.get((transport, "text turn"), {})

    def check_failures(self) -> int:
        return sum(int(row["Failure Count"]) for (kind, _), row in self.stats.items() if kind == "check")

    def line(self) -> str:
        cells = [self.label, str(self.users)]
        for transport in ("socket.io", "REST"):
            row = self.turn(transport)
            connects = self.stats.get((transport, "connect"), {})
            errors = int(row.get("Failure Count", "0")) + int(connects.get("Failure Count", "0"))
            cells += [
                row.get("Request Count", "0"),
                f"{row.get('50%', '-')} / {row.get('95%', '-')} / {row.get('99%', '-')}",
                str(errors),
            ]
        cells += [str(self.check_failures()), self.ted, "; ".join(self.processes)]
        return "| " + " | ".join(cells) + " |"


def run_locust(
    label: str,
    services: Services,
    users: int,
    duration_s: int,
    gateway_url: str,
    rasa_url: str,
    during: Callable[[float], None] | None = None,
) -> Run:
    """Run Locust headless against the running processes; ``during(t0)`` runs alongside (the faults)."""
    out = Path(tempfile.mkdtemp(prefix="load-")) / "run"
    env = dict(os.environ, LOAD_GATEWAY_URL=gateway_url, LOAD_RASA_URL=rasa_url)
    cmd = [str(LOCUST), "-f", str(SHOPPERS), "--headless", "-u", str(users), "-r", str(max(5, users // 5))]
    cmd += ["-t", f"{duration_s}s", "--csv", str(out), "--csv-full-history", "--only-summary", "--stop-timeout", "30"]
    print(f"[{label}] {users} shoppers for {duration_s} s", flush=True)
    with Sampler(services) as sampler:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        faults = threading.Thread(target=during, args=(time.monotonic(),), daemon=True) if during else None
        if faults:
            faults.start()
        _, err = process.communicate(timeout=duration_s + 300)
        if faults:
            faults.join()
    with open(f"{out}_stats.csv", newline="") as f:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}
    with open(f"{out}_stats_history.csv", newline="") as f:
        history = [row for row in csv.DictReader(f) if row["Name"] == "Aggregated"]
    if not stats:
        raise RuntimeError(f"Locust wrote no statistics:\n{err.decode()[-2000:]}")
    return Run(label, users, stats, history, sampler.rows(), ted_memory(services))


TED_LINE = re.compile(r"TED predictions: (\d+) remembered, (\d+) computed")


def ted_memory(services: Services) -> str:
    """How many of TEDPolicy's predictions came from its memory of dialogue states (bot/cached_ted_policy.py),
    since each Rasa server started, from the last count each logged (one line per 1,000 predictions)."""
    remembered = computed = 0
    for log in services.log_dir.glob("rasa*.log"):
        counts = TED_LINE.findall(log.read_text(errors="replace"))
        if counts:
            remembered, computed = remembered + int(counts[-1][0]), computed + int(counts[-1][1])
    total = remembered + computed
    return f"{100 * remembered / total:.0f}% of {total}" if total else "-"


TABLE_HEAD = (
    "| setup | shoppers | socket.io turns | socket.io p50 / p95 / p99 ms | socket.io errors (turns + connects) "
    "| REST turns | REST p50 / p95 / p99 ms | REST errors | failed cart checks | TED predictions from memory "
    "| CPU and peak memory per process |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


# -- the setups ------------------------------------------------------------------------------------
def warm_up(rasa_urls: list[str]) -> None:
    """One search through every Rasa server, so each action server has loaded its encoder (~10 s once)."""
    import httpx

    for url in rasa_urls:
        body = {"sender": f"warm-up-{time.time()}", "message": "show me headphones"}
        httpx.post(f"{url}/webhooks/rest/webhook", json=body, timeout=120).raise_for_status()


def _services(work: Path, **stores: str) -> Services:
    db = work / "shop.db"
    shutil.copy(DEMO_DB, db)
    return Services(actions_port=free_port(), rasa_port=free_port(), gateway_port=free_port(), db=str(db), **stores)


def single_node(users: list[int], duration_s: int) -> list[Run]:
    runs = []
    with _services(Path(tempfile.mkdtemp(prefix="load-node-"))) as services:
        services.start()
        warm_up([services.rasa_url])
        for n in users:
            runs.append(run_locust("1 node", services, n, duration_s, services.gateway_url, services.rasa_url))
    return runs


def _fresh_database() -> str:
    import sqlalchemy as sa

    name = f"shopkeeper_load_{int(time.time())}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Fault:
    at_s: float
    name: str
    act: Callable[[Services], None]


def _restart(cmd: list[str]) -> Callable[[Services], None]:
    return lambda _: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


FAULTS = [
    Fault(20, "kill -9 of one Rasa server", lambda s: s.kill("rasa-0")),
    Fault(40, "kill -9 of one gateway", lambda s: s.kill("gateway-0")),
    Fault(60, "Redis restart", _restart(["service", "redis-server", "restart"])),
    Fault(80, "PostgreSQL restart", _restart(["pg_ctlcluster", "15", "main", "restart"])),
]


def cluster_runs(users: int, duration_s: int, faults: bool) -> tuple[list[Run], list[str]]:
    os.environ.update(ROOMS)  # the gateways the launcher starts share socket.io rooms
    runs, notes = [], []
    stores = {"tracker_url": _fresh_database(), "lock_url": f"{REDIS}/1"}
    with _services(Path(tempfile.mkdtemp(prefix="load-cluster-")), **stores) as services:
        cluster = Cluster(services, replicas=2, fixed_ports=False)
        cluster.start(ROOMS["SHOPKEEPER_GATEWAY_REDIS_URL"])
        warm_up(cluster.rasa_urls)
        rasa = cluster.rasa_urls[1]  # REST shoppers use one replica directly, as an internal client would
        runs.append(run_locust("cluster of 2", services, users, duration_s, services.gateway_url, rasa))
        if faults:
            log: list[tuple[str, float]] = []

            def inject(t0: float) -> None:
                for fault in FAULTS:
                    time.sleep(max(0.0, t0 + fault.at_s - time.monotonic()))
                    fault.act(services)
                    log.append((fault.name, time.monotonic() - t0))
                    print(f"  fault: {fault.name}", flush=True)

            length = int(FAULTS[-1].at_s + 40)
            faulted = run_locust("cluster of 2, faults", services, users, length, services.gateway_url, rasa, inject)
            runs.append(faulted)
            notes = fault_table(faulted, log)
    return runs, notes


def fault_table(run: Run, log: list[tuple[str, float]]) -> list[str]:
    """Failed turns after each fault (until the next), and the seconds until failures stopped."""
    rows = [
        "| fault (seconds into the run) | failed turns and checks until the next fault | seconds to recover |",
        "|---|---|---|",
    ]
    start = float(run.history[0]["Timestamp"]) if run.history else 0.0
    points = [(float(r["Timestamp"]) - start, int(r["Total Failure Count"])) for r in run.history]
    for i, (name, at) in enumerate(log):
        until = log[i + 1][1] if i + 1 < len(log) else float("inf")
        window = [(t, f) for t, f in points if at <= t < until]
        before = max((f for t, f in points if t < at), default=0)
        after = window[-1][1] if window else before
        last_failure = max((t for (t, f), (_, prev) in zip(window[1:], window, strict=False) if f > prev), default=at)
        rows.append(f"| {name} ({at:.0f} s) | {after - before} | {max(0.0, last_failure - at):.0f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="25,50,100,200", help="comma-separated shopper counts (single node)")
    parser.add_argument("--duration", type=int, default=60, help="seconds per run")
    parser.add_argument("--cluster-users", type=int, default=50)
    parser.add_argument("--no-cluster", action="store_true")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.md")
    args = parser.parse_args(argv)
    if not LOCUST.exists():
        parser.error("Locust is not installed: run `make load-tools` first")
    os.environ.update(CLIENT_LIMITS)
    users = [int(n) for n in args.users.split(",") if n.strip()]
    runs = single_node(users, args.duration) if users else []
    notes: list[str] = []
    if not args.no_cluster:
        cluster, notes = cluster_runs(args.cluster_users, args.duration, not args.no_faults)
        runs += cluster
    argv_shown = list(argv if argv is not None else sys.argv[1:])
    text = "\n".join(
        [
            "# Load: many shoppers at once",
            "",
            f"`{command('benchmarks.load', *argv_shown)}` on {machine()}.",
            "",
            "Every simulated shopper: two searches, two products added, the cart read back and checked,"
            " 1-3 s of thinking between turns; 3 of 4 over socket.io through the gateway (or HAProxy), 1 of 4"
            " over Rasa's REST webhook. Latency is one text turn, from sending the message to the last reply"
            " (the gateway's `turn_end`). One warm-up search per action server comes first.",
            "All processes share this machine's cores with Locust itself.",
            "",
            TABLE_HEAD,
            *[run.line() for run in runs],
            "",
            *(["## Faults during load (cluster of 2)", "", *notes] if notes else []),
        ]
    )
    write_result(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
