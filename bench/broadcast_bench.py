"""Benchmarks of the broadcast engine against the Telegram double (run in its own process). Prints JSON.

    fanout   N subscribers, one alert, a ``koblenz-bot worker`` process, the double limited to RATE msg/s:
             achieved rate ÷ limit, total time vs. the theoretical minimum, violations, duplicates, lost,
             and the worker's peak RSS (it holds N pending deliveries).
             ``--load N``: N processes that each keep a core busy for the whole run (a busy machine,
             reproducibly). ``--trace``: the same worker command with its limiter's turns and its HTTP
             writes recorded; reports the most messages in any one second at each stage (turn, write to
             the socket, arrival at the double) and the double's own stalls: where violations come from.
             ``--nice -10``: the whole measurement (worker, double, load alike) before the other work of
             a shared machine, so that "quiet" and "--load 1" mean the same from run to run.
             ``--double-nice -10`` / ``--double-realtime`` (SCHED_FIFO): the double before other
             processes, so its arrival stamps follow our writes however busy the machine is (Telegram's
             servers do not share our CPU); by default it competes like everything else.
    limiter  the send-rate limiter alone (``LocalSlots``, real timers, no worker): turns ÷ limit and
             the busiest second, quiet or with ``--load N``
    latency  the web app (``koblenz-bot serve``, scheduler and worker in-process): time from the alert
             API's 202 to the first message at the double, to the banner (/api/alerts) and to the CAP feed
    scaleout 1 vs 2 worker processes on PostgreSQL, the double answering after 5 ms and not rate-bound

Usage:
    .venv/bin/python bench/broadcast_bench.py fanout --subscribers 100000 --rate 1000
    .venv/bin/python bench/broadcast_bench.py fanout --subscribers 100000 --rate 1000 --load 1 --trace --nice -10
    .venv/bin/python bench/broadcast_bench.py fanout --subscribers 3000 --rate 30
    .venv/bin/python bench/broadcast_bench.py limiter --rate 1000 --seconds 20 --load 1
    .venv/bin/python bench/broadcast_bench.py latency --alerts 40
    .venv/bin/python bench/broadcast_bench.py scaleout --subscribers 20000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages

from sqlalchemy import insert

from broadcasts.cap import to_cap_xml
from broadcasts.capmodel import CapAlert, CapArea, CapInfo
from broadcasts.service import Actor, Broadcasts
from broadcasts.subscribers import Subscriber, Subscription
from core.db import create_engine, migrate, sessionmaker
from core.net import free_port
from core.paths import PROJECT_ROOT as ROOT

BIN = Path(sys.executable).parent
TOKEN = "123456:BENCH-token"
PG_ADMIN = os.environ.get("KOBLENZ_BOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Load:
    """``processes`` competing processes that each burn a core (pure Python) until stopped."""

    def __init__(self, processes: int) -> None:
        self.processes = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)
        ]

    def stop(self) -> float:
        """Stop them; return the CPU seconds they got."""
        used = sum(cpu_seconds(p.pid) for p in self.processes)
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)
        self.processes = []
        return round(used, 1)


class Double:
    def __init__(
        self, per_second: int, delay: float = 0.0, limits: bool = True, nice: int = 0, realtime: bool = False
    ) -> None:
        command = [
            sys.executable,
            str(ROOT / "bench" / "telegram_double_server.py"),
            "--per-second",
            str(per_second),
        ]
        command += ["--delay", str(delay)] + ([] if limits else ["--no-limits"])
        command += ["--nice", str(nice)] if nice else []
        command += ["--realtime"] if realtime else []
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url, self.stats_url = self.process.stdout.readline().split()

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(self.stats_url + "/stats") as response:
            data: dict[str, Any] = await response.json()
            return data

    async def times(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(self.stats_url + "/times") as response:
            data: dict[str, Any] = await response.json()
            return data

    async def count(self) -> int:
        async with aiohttp.ClientSession() as session, session.get(self.stats_url + "/count") as response:
            return int((await response.json())["sent"])

    async def first_with(self, needle: str) -> float | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.stats_url + "/first", params={"q": needle}) as response,
        ):
            value = (await response.json())["time"]
            return float(value) if value is not None else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


async def wait_up(session: aiohttp.ClientSession, base: str, seconds: float = 30.0) -> None:
    """Until the bot's web app at ``base`` answers (``koblenz-bot serve`` just started)."""
    for _ in range(int(seconds * 10)):
        try:
            async with session.get(base + "/api/alerts") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)


def alert(identifier: str, headline: str) -> CapAlert:
    sent = dt.datetime.now(dt.UTC).replace(microsecond=0)
    info = CapInfo(
        language="de-DE",
        category=("Safety",),
        event="Benchmark",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        headline=headline,
        description="Messung der Zustellung.",
        instruction="Keine Maßnahme nötig.",
        expires=sent + dt.timedelta(hours=2),
        areas=(CapArea("Stadtgebiet Koblenz"),),
    )
    return CapAlert(identifier, "bench@koblenz.de", sent, "Actual", "Alert", "Public", (info,))


async def prepare(url: str, subscribers: int) -> None:
    engine = create_engine(url)
    await migrate(engine)
    async with engine.begin() as connection:
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "id": i,
                "channel": "telegram",
                "chat_id": str(100_000 + i),
                "chat_type": "private",
                "active": True,
                "created_at": now,
            }
            for i in range(1, subscribers + 1)
        ]
        for start in range(0, len(rows), 20_000):
            await connection.execute(insert(Subscriber.__table__), rows[start : start + 20_000])
            await connection.execute(
                insert(Subscription.__table__),
                [
                    {"subscriber_id": r["id"], "topic": "warnungen", "stadtteile": [], "created_at": now}
                    for r in rows[start : start + 20_000]
                ],
            )
    await engine.dispose()


async def issue(url: str, identifier: str, headline: str) -> float:
    engine = create_engine(url)
    message = alert(identifier, headline)
    started = time.monotonic()
    await Broadcasts(sessionmaker(engine)).submit_alert(
        Actor("bench", "feuerwehr", "bench"), message, to_cap_xml(message).decode()
    )
    await engine.dispose()
    return started


def worker_env(url: str, double: Double, rate: int, state: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KOBLENZ_BOT_DATABASE_URL": url,
        "KOBLENZ_BOT_TELEGRAM_TOKEN": TOKEN,
        "KOBLENZ_BOT_TELEGRAM_API_URL": double.url,
        "KOBLENZ_BOT_TELEGRAM_RATE": str(rate),
        "KOBLENZ_BOT_STATE_DIR": str(state),
        "KOBLENZ_BOT_CONFIG": str(state / "none.toml"),
        "KOBLENZ_BOT_LOG_LEVEL": "WARNING",
        **extra,
    }


async def pg_database() -> str:
    import asyncpg

    name = f"koblenz_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def drop_pg(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await connection.close()


async def wait_sent(double: Double, expected: int, timeout: float, sample: Any = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sent = await double.count()  # cheap: the full statistics would stall the double mid-run
        if sample is not None:
            sample()
        if sent >= expected or time.monotonic() > deadline:
            await asyncio.sleep(1.0)
            stats = await double.stats()
            if stats["unique_chats"] >= expected or time.monotonic() > deadline:
                await asyncio.sleep(1.0)  # anything sent twice late would show up now
                return await double.stats()
        await asyncio.sleep(0.5)


# -- fan-out ------------------------------------------------------------------------------------------


def prioritise(nice: int) -> int | None:
    """Run this process and its children (worker, double, load) at ``nice``. On Linux with autogroups
    (``/proc/sys/kernel/sched_autogroup_enabled``) the CPU is shared between sessions first and a nice
    value only counts inside its session; so the run gets a session of its own and that session's
    autogroup gets ``nice`` too. Returns the autogroup's nice, or None when it was not changed."""
    if os.getsid(0) != os.getpid():
        try:
            os.setsid()
        except OSError:
            pass  # a process group leader (started from an interactive shell): keep the caller's session
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    autogroup = Path("/proc/self/autogroup")
    if os.getsid(0) != os.getpid() or not autogroup.exists():
        return None  # never change the priority of the caller's whole session
    autogroup.write_text(str(nice))
    return int(autogroup.read_text().split()[-1])


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    autogroup_nice = prioritise(args.nice) if args.nice else None
    load: Load | None = None
    worker: subprocess.Popen[bytes] | None = None
    trace: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{state / 'bench.sqlite3'}"
        if args.postgres:
            url = await pg_database()
        double = Double(args.rate, nice=args.double_nice, realtime=args.double_realtime)
        try:
            await prepare(url, args.subscribers)
            env = worker_env(url, double, args.rate, state)
            command = [sys.executable, str(Path(__file__).resolve()), "_worker"]
            command += ["--trace", str(state / "trace")] if args.trace else []
            worker = subprocess.Popen(command, env=env, stderr=open(state / "worker.log", "wb"))
            await asyncio.sleep(3.0)  # the worker is up and idle
            idle_rss = rss_mb(worker.pid)
            peak = [idle_rss]
            load = Load(args.load)
            cpu_before = cpu_seconds(worker.pid), cpu_seconds(double.process.pid), machine_busy_seconds()
            started = await issue(url, f"bench-{uuid.uuid4().hex[:8]}", "Benchmark Fan-out")
            stats = await wait_sent(
                double,
                args.subscribers,
                args.subscribers / args.rate * 3 + 60,
                lambda: peak.append(rss_mb(worker.pid)),
            )
            load_cpu = load.stop()
            loadavg = os.getloadavg()[0]
            worker_cpu = cpu_seconds(worker.pid) - cpu_before[0]
            double_cpu = cpu_seconds(double.process.pid) - cpu_before[1]
            others_cpu = machine_busy_seconds() - cpu_before[2] - worker_cpu - double_cpu - load_cpu
            times = await double.times()
            hwm = rss_mb(worker.pid, "VmHWM")
            worker.send_signal(signal.SIGTERM)
            if worker.wait(30) != 0:
                print((state / "worker.log").read_text()[-3000:], file=sys.stderr)
            if args.trace:
                trace = json.loads((state / "trace").read_text())
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
            if load is not None:
                load.stop()
            double.stop()
            if args.postgres:
                await drop_pg(url)
    span = (stats["last"] - stats["first"]) if stats["first"] is not None else 0.0
    achieved = (stats["sent"] - 1) / span if span else 0.0
    minimum = (args.subscribers - 1) / args.rate
    total = stats["last"] - started if stats["last"] is not None else 0.0
    stalls = [lag for _at, lag in times["stalls"]]
    result: dict[str, Any] = {
        "benchmark": "fanout",
        "database": "postgresql" if args.postgres else "sqlite",
        "subscribers": args.subscribers,
        "limit_per_second": args.rate,
        "load_processes": args.load,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "autogroup_nice": autogroup_nice,
        "cores": os.cpu_count(),
        "loadavg_1min_at_end": round(loadavg, 2),
        "sent": stats["sent"],
        "lost": args.subscribers - stats["unique_chats"],
        "duplicates": stats["duplicates"],
        "violations": stats["violations"],
        "violation_kinds": stats["violation_kinds"],
        "rate_limited_429": stats["rate_limited"],
        "achieved_per_second": round(achieved, 1),
        "achieved_over_limit": round(achieved / args.rate, 4),
        "seconds_first_to_last": round(span, 2),
        "seconds_issue_to_last": round(total, 2),
        "theoretical_minimum_seconds": round(minimum, 2),
        "total_over_minimum": round(total / minimum, 4) if minimum else None,
        "worker_rss_mb_idle": idle_rss,
        "worker_rss_mb_peak_sampled": max(peak),
        "worker_rss_mb_high_water": hwm,
        "cpu_seconds": {
            "worker": round(worker_cpu, 1),
            "double": round(double_cpu, 1),
            "load": load_cpu,
            "everything_else": round(others_cpu, 1),  # other processes on the machine, this bench, kernel
        },
        "double_nice": times["nice"],
        "double_realtime": times.get("realtime", False),
        "double_stalls_over_5ms": len(stalls),
        "double_stall_max_ms": round(max(stalls, default=0.0) * 1000, 1),
        "arrivals": busiest_second([t for _chat, t in times["arrivals"]], args.rate),
    }
    if trace is not None:
        result["trace"] = {
            "turns": busiest_second(trace["turns"], args.rate),
            "turns_per_second": per_second(trace["turns"]),
            "writes": busiest_second([t for _chat, t in trace["writes"]], args.rate),
            "write_to_arrival_ms": delays(trace["writes"], times["arrivals"]),
            "worker_loop_stalls_over_20ms": trace["stalls"],
        }
    return result


def per_second(times: list[float]) -> dict[str, Any]:
    """Turns in each whole second of the run (the first and the last second left out): where the rate
    was lost, if it was."""
    if not times:
        return {}
    start = min(times)
    counts = Counter(int(t - start) for t in times)
    seconds = sorted(counts)[1:-1]
    values = sorted(counts[s] for s in seconds) or [0]
    return {
        "min": values[0],
        "p10": values[len(values) // 10],
        "median": values[len(values) // 2],
        "lowest": sorted((counts[s], s) for s in seconds)[:8],
    }


def busiest_second(times: list[float], limit: int) -> dict[str, int]:
    """The most events in any one second, and how many events found ``limit`` or more others in the
    second before them (what the double counts as a violation)."""
    ordered = sorted(times)
    start = worst = over = 0
    for i, at in enumerate(ordered):
        while at - ordered[start] >= 1.0:
            start += 1
        worst = max(worst, i - start + 1)
        over += i - start >= limit
    return {"max_in_1s": worst, "over_limit": over}


def delays(writes: list[list[Any]], arrivals: list[list[Any]]) -> dict[str, float]:
    """Time from the worker's write to the socket to the double's arrival stamp, per chat."""
    written = {chat: at for chat, at in writes}  # the last write of a chat (429s are written again)
    gaps = sorted(at - written[chat] for chat, at in arrivals if chat in written)
    if not gaps:
        return {}
    return {
        "p50": round(gaps[len(gaps) // 2] * 1000, 2),
        "p99": round(gaps[int(len(gaps) * 0.99)] * 1000, 2),
        "p99_9": round(gaps[int(len(gaps) * 0.999)] * 1000, 2),
        "max": round(gaps[-1] * 1000, 2),
    }


def run_worker(trace: str | None) -> None:
    """``koblenz-bot worker`` (the console script's entry point, or ``BENCH_CLI=module:function``, e.g. to
    measure an older checkout), with ``trace``: the monotonic time of every limiter turn and of every
    request body written to the socket (with its chat) saved as JSON to that path when it stops."""
    entry = (
        os.environ.get("BENCH_CLI")
        or next(iter(importlib.metadata.entry_points(group="console_scripts", name="koblenz-bot"))).value
    )
    module, function = entry.split(":")
    sys.argv = ["koblenz-bot", "worker", "--progress-every", "10"]
    if trace is None:
        sys.exit(getattr(importlib.import_module(module), function)())
    from broadcasts import engine as engine_module

    turns: list[float] = []
    writes: list[tuple[Any, float]] = []

    class Traced:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def wait_turn(self) -> None:
            await self.inner.wait_turn()
            turns.append(time.monotonic())

        async def pause(self, until: float) -> None:
            await self.inner.pause(until)

        def paused_until(self) -> float:
            return float(self.inner.paused_until())

    slots_for = engine_module.slots_for
    engine_module.slots_for = lambda engine, settings: {  # type: ignore[assignment]
        name: Traced(slots) for name, slots in slots_for(engine, settings).items()
    }
    from connectors.telegram import wire

    request = wire._Connection.request

    def traced_request(self: Any, data: bytes) -> Any:  # the moment the request goes to the socket
        writes.append((json.loads(data[data.index(b"\r\n\r\n") + 4 :]).get("chat_id"), time.monotonic()))
        return request(self, data)

    wire._Connection.request = traced_request  # type: ignore[method-assign]
    stalls = watch_the_loop()
    try:
        getattr(importlib.import_module(module), function)()
    finally:
        Path(trace).write_text(json.dumps({"turns": turns, "writes": writes, "stalls": stalls()}))


def watch_the_loop(limit: float = 0.02) -> Any:
    """Where the worker's event loop is held up: a loop callback stamps a heartbeat every 2 ms; a thread
    looks every 2 ms, and while the heartbeat is older than ``limit`` it samples the main thread's stack.
    Returns a function that tells the number of stalls, the seconds lost, and the most sampled frames
    (our innermost frame | the innermost frame)."""
    import asyncio as _asyncio
    import threading
    import traceback

    state: dict[str, Any] = {"count": 0, "seconds": 0.0, "where": Counter()}
    beat = [time.monotonic()]
    main = threading.main_thread().ident or 0

    def heartbeat(loop: Any) -> None:
        beat[0] = time.monotonic()
        loop.call_later(0.002, heartbeat, loop)

    policy_new_loop = _asyncio.events.new_event_loop

    def new_loop() -> Any:
        loop = policy_new_loop()
        loop.call_soon(heartbeat, loop)
        return loop

    _asyncio.events.new_event_loop = new_loop  # asyncio.run (the worker command) creates its loop here

    def watch() -> None:
        stalled_since: float | None = None
        while True:
            time.sleep(0.002)
            lag = time.monotonic() - beat[0]
            if lag > limit:
                if stalled_since is None:
                    stalled_since = beat[0]
                    state["count"] += 1
                frame = sys._current_frames().get(main)
                if frame is not None:
                    stack = traceback.extract_stack(frame)
                    ours = [f for f in stack if "/site-packages/" not in f.filename]
                    inner = stack[-1]
                    key = (
                        f"{ours[-1].filename.rsplit('/', 2)[-2:]}:{ours[-1].lineno} {ours[-1].name}"
                        f" | {inner.filename.rsplit('/', 1)[-1]}:{inner.lineno} {inner.name}"
                        if ours
                        else f"{inner.filename}:{inner.lineno}"
                    )
                    state["where"][key] += 1
            elif stalled_since is not None:
                state["seconds"] += beat[0] - stalled_since
                stalled_since = None

    threading.Thread(target=watch, daemon=True).start()
    import gc

    collections: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    full: list[dict[str, Any]] = []  # each generation-2 collection: objects it walked, freed, its CPU and wall ms

    def timed(phase: str, info: dict[str, Any]) -> None:  # how long the garbage collector holds the loop
        if phase == "start":
            if info["generation"] == 2:
                full.append({"objects": sum(gc.get_count()) + len(gc.get_objects(2)), "cpu": time.process_time()})
            started[0] = time.perf_counter()
        else:
            took = time.perf_counter() - started[0]
            collections[info["generation"]].append(took)
            if info["generation"] == 2 and full:
                full[-1].update(
                    collected=info["collected"],
                    cpu_ms=round((time.process_time() - full[-1].pop("cpu")) * 1000, 1),
                    wall_ms=round(took * 1000, 1),
                )

    gc.callbacks.append(timed)

    def summary() -> dict[str, Any]:
        return {
            "count": state["count"],
            "seconds": round(state["seconds"], 2),
            "where": state["where"].most_common(15),
            "gc_ms": {
                str(generation): {
                    "count": len(times),
                    "total": round(sum(times) * 1000),
                    "max": round(max(times, default=0) * 1000, 1),
                }
                for generation, times in collections.items()
            },
            # what the collector still walks at the end (not frozen): which objects pile up while running
            "gc_unfrozen_objects": Counter(type(o).__name__ for o in gc.get_objects()).most_common(12),
            "gc_frozen": gc.get_freeze_count(),
            "gc_full_collections": full,
        }

    return summary


# -- the limiter alone ---------------------------------------------------------------------------------


async def limiter(args: argparse.Namespace) -> dict[str, Any]:
    """``LocalSlots`` with nothing else in the process: how close its turns come to its budget with the
    event loop's real timers, quiet or with ``--load``; no worker, no double, no HTTP."""
    from broadcasts.ratelimit import LocalSlots

    autogroup_nice = prioritise(args.nice) if args.nice else None
    load = Load(args.load)
    try:
        await asyncio.sleep(0.5)
        slots = LocalSlots(args.rate)
        turns: list[float] = []
        busy = machine_busy_seconds()
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            await slots.wait_turn()
            turns.append(time.monotonic())
        busy = machine_busy_seconds() - busy
    finally:
        load_cpu = load.stop()
    achieved = (len(turns) - 1) / (turns[-1] - turns[0])
    return {
        "benchmark": "limiter",
        "limit_per_second": args.rate,
        "load_processes": args.load,
        "autogroup_nice": autogroup_nice,
        "cores": os.cpu_count(),
        "seconds": args.seconds,
        "turns": len(turns),
        "achieved_over_limit": round(achieved / args.rate, 4),
        "budget_per_second": getattr(slots, "limit", None),
        "turns_in_busiest_second": busiest_second(turns, args.rate),
        "machine_cpu_seconds_busy": round(busy, 1),
        "load_cpu_seconds": load_cpu,
    }


# -- latency ------------------------------------------------------------------------------------------


async def latency(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        url = f"sqlite+aiosqlite:///{state / 'bench.sqlite3'}"
        double = Double(1000)
        port = free_port()
        token = "bench-alert-token-123456"
        await prepare(url, args.subscribers)
        env = worker_env(
            url,
            double,
            1000,
            state,
            KOBLENZ_BOT_PORT=str(port),
            KOBLENZ_BOT_RASA_MANAGE="false",
            KOBLENZ_BOT_RASA_URL="http://127.0.0.1:9",
            KOBLENZ_BOT_ALERT_SENDERS=json.dumps({"bench": {"token": token}}),
        )
        server = subprocess.Popen(
            [str(BIN / "koblenz-bot"), "serve"], env=env, stderr=open(state / "serve.log", "wb")
        )
        base = f"http://127.0.0.1:{port}"
        to_first: list[float] = []
        to_banner: list[float] = []
        to_feed: list[float] = []
        try:
            async with aiohttp.ClientSession() as session:
                await wait_up(session, base)
                await asyncio.sleep(2.0)  # the in-process engine starts a second after the app
                for number in range(args.alerts):
                    identifier = f"bench-latency-{number}-{uuid.uuid4().hex[:6]}"
                    headline = f"Messwarnung Nummer {number}"
                    body = to_cap_xml(alert(identifier, headline))
                    async with session.post(
                        base + "/api/alerts",
                        data=body,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
                    ) as response:
                        assert response.status == 202, await response.text()
                        accepted = time.monotonic()
                    banner_at = feed_at = None
                    while banner_at is None or feed_at is None:
                        if banner_at is None:
                            async with session.get(base + "/api/alerts") as response:
                                if identifier in await response.text():
                                    banner_at = time.monotonic()
                        if feed_at is None:
                            async with session.get(base + "/feeds/cap.atom") as response:
                                if identifier in await response.text():
                                    feed_at = time.monotonic()
                        if time.monotonic() - accepted > 10:
                            break
                        await asyncio.sleep(0.005)
                    first = None
                    while first is None and time.monotonic() - accepted < 10:
                        first = await double.first_with(headline)
                        if first is None:
                            await asyncio.sleep(0.01)
                    to_first.append((first - accepted) if first is not None else 10.0)
                    to_banner.append((banner_at or accepted + 10) - accepted)
                    to_feed.append((feed_at or accepted + 10) - accepted)
                    await asyncio.sleep(args.gap)
            stats = await double.stats()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            double.stop()

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
        }

    return {
        "benchmark": "latency",
        "alerts": args.alerts,
        "subscribers": args.subscribers,
        "accepted_to_first_message": summary(to_first),
        "accepted_to_banner": summary(to_banner),
        "accepted_to_cap_feed": summary(to_feed),
        "violations": stats["violations"],
        "duplicates": stats["duplicates"],
    }


# -- scale-out ----------------------------------------------------------------------------------------


async def scaleout(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for workers in (1, 2):
        url = await pg_database()
        double = Double(1_000_000, delay=args.delay, limits=False)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                state = Path(tmp)
                await prepare(url, args.subscribers)
                env = worker_env(
                    url,
                    double,
                    1000,
                    state,
                    KOBLENZ_BOT_DELIVERY_CONCURRENCY=str(args.concurrency),
                    KOBLENZ_BOT_DELIVERY_MAX_IN_FLIGHT=str(args.concurrency * 4),
                )
                env["BENCH_UNLIMITED"] = "1"
                procs = [
                    subprocess.Popen(
                        [sys.executable, str(ROOT / "bench" / "unlimited_worker.py")],
                        env=env,
                        stderr=open(state / f"w{i}.log", "wb"),
                    )
                    for i in range(workers)
                ]
                await asyncio.sleep(4.0)
                started = await issue(url, f"bench-scale-{workers}", "Benchmark Skalierung")
                stats = await wait_sent(double, args.subscribers, 600)
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                for proc in procs:
                    proc.wait(30)
        finally:
            double.stop()
            await drop_pg(url)
        span = stats["last"] - stats["first"]
        results[f"{workers}_worker"] = {
            "sent": stats["sent"],
            "duplicates": stats["duplicates"],
            "lost": args.subscribers - stats["unique_chats"],
            "seconds_first_to_last": round(span, 2),
            "per_second": round((stats["sent"] - 1) / span, 1),
            "seconds_issue_to_last": round(stats["last"] - started, 2),
        }
    speedup = results["2_worker"]["per_second"] / results["1_worker"]["per_second"]
    return {
        "benchmark": "scaleout",
        "database": "postgresql",
        "subscribers": args.subscribers,
        "double_latency_ms": args.delay * 1000,
        "concurrency_per_worker": args.concurrency,
        **results,
        "speedup": round(speedup, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="which", required=True)
    fo = sub.add_parser("fanout")
    fo.add_argument("--subscribers", type=int, default=3000)
    fo.add_argument("--rate", type=int, default=30)
    fo.add_argument("--postgres", action="store_true")
    fo.add_argument("--database-url")
    fo.add_argument("--load", type=int, default=0, help="competing processes that each burn a core")
    fo.add_argument("--trace", action="store_true", help="record turns and writes in the worker")
    fo.add_argument("--double-nice", type=int, default=0, help="scheduling priority of the double")
    fo.add_argument("--double-realtime", action="store_true", help="the double with SCHED_FIFO")
    fo.add_argument(
        "--nice",
        type=int,
        default=0,
        help="priority of the whole run (worker, double, load) on a shared machine",
    )
    wo = sub.add_parser("_worker")  # internal: the worker process of fanout
    wo.add_argument("--trace")
    li = sub.add_parser("limiter")
    li.add_argument("--rate", type=int, default=1000)
    li.add_argument("--seconds", type=float, default=20.0)
    li.add_argument("--load", type=int, default=0)
    li.add_argument("--nice", type=int, default=0)
    la = sub.add_parser("latency")
    la.add_argument("--alerts", type=int, default=40)
    la.add_argument("--subscribers", type=int, default=20)
    la.add_argument("--gap", type=float, default=1.2, help="seconds between alerts (1 msg/s per chat)")
    so = sub.add_parser("scaleout")
    so.add_argument("--subscribers", type=int, default=20000)
    so.add_argument("--delay", type=float, default=0.005)
    so.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.which == "_worker":
        run_worker(args.trace)
        return
    runner = {"fanout": fanout, "limiter": limiter, "latency": latency, "scaleout": scaleout}[args.which]
    print(json.dumps(asyncio.run(runner(args)), ensure_ascii=False))  # type: ignore[operator]


if __name__ == "__main__":
    main()
