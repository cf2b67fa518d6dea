"""Where a job's Redis CPU goes: the hot step taken apart, one variant at a time.

Used by ``bench/bench_redis_cost.py --breakdown``. Each variant is sent ``ops`` times from
one connection, one round trip at a time (as the worker sends it, so Redis reads, parses,
replies and sleeps in ``epoll_wait`` once per call), and reported as Redis CPU per call
(``used_cpu_user`` / ``used_cpu_sys`` of ``INFO cpu``) next to the execution time
``INFO commandstats`` counts for the command sent. The difference between the two is what
a call costs outside its command: reading, parsing, the reply, the event loop's syscalls.

The variants, cheapest first:

- ``PING``: a round trip and nothing else;
- a no-op script (``return 1``) with no arguments, then with the hot step's 7 keys and
  13 arguments: the script call's own cost, and what the arguments add;
- the no-op script plus one ``cjson.decode`` of a job payload (the payload check);
- the finish-and-reserve step's commands as separate round trips (per job: all of them);
- the same commands in one ``MULTI``/``EXEC`` (one round trip);
- the same commands from a script with fixed arguments (no checks, no JSON);
- the worker's real ``RESERVE`` through ``RedisWorkerRegistry.reserve`` over untracked
  no-op jobs, the previous job finished in the same call (the in-process hot step), and
  optionally an older commit's RESERVE sent the same way (:func:`base_reserve`).

:func:`lua_costs` then times single pieces of the step (cjson, the record's
concatenation, a token check, one ``redis.call``) in a warm loop inside one script.
"""

from __future__ import annotations

import json
import select
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis

from bench._server import ROOT
from pyresque.backends.redis import worker_scripts, workers
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LuaScript
from pyresque.backends.redis.workers import RedisWorkerRegistry
from pyresque.core.reservation import Reservation

__all__ = ["base_reserve", "breakdown", "lua_costs", "print_breakdown", "print_lua_costs"]

QUEUE = "cost"
WORKER = "vm:1:cost"
_NOOP = "return 1"
_DECODE = "local ok, d = pcall(cjson.decode, ARGV[1]) return 1"
# the commands of one untracked job's finish-and-reserve step before issue 15 (what
# MONITOR shows): the record check, release, two counters, the finished job's status,
# the pop, the new job's status, the new record
_FIXED = """
redis.call('GET', KEYS[1]) redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[2]) redis.call('INCR', KEYS[3])
redis.call('GET', KEYS[4]) local p = redis.call('LPOP', KEYS[5])
redis.call('GET', KEYS[4]) redis.call('SET', KEYS[1], ARGV[1])
return p
"""


def _payload() -> bytes:
    body = {"class": "noop", "args": [], "id": uuid.uuid4().hex, "queue_time": time.time()}
    return json.dumps(body, separators=(",", ":")).encode()


def _fill(client: redis.Redis, jobs: int) -> None:
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for _ in range(jobs):
        pipe.rpush(f"resque:queue:{QUEUE}", _payload())
    pipe.sadd("resque:queues", QUEUE)
    pipe.execute()


def _cpu(client: redis.Redis) -> tuple[float, float]:
    info = client.info("cpu")
    return float(info["used_cpu_user"]), float(info["used_cpu_sys"])


def _measure(client: redis.Redis, ops: int, once: Callable[[], None], command: str) -> dict[str, float]:
    client.config_resetstat()
    u0, s0 = _cpu(client)
    began = time.perf_counter()
    for _ in range(ops):
        once()
    wall = time.perf_counter() - began
    u1, s1 = _cpu(client)
    stats = client.info("commandstats")
    row = stats.get(f"cmdstat_{command}", {"usec": 0, "calls": 0})
    inner = sum(
        float(v["usec"])
        for name, v in stats.items()
        if name != f"cmdstat_{command}" and name.split("|")[0] not in ("cmdstat_info", "cmdstat_config")
    )
    return {
        "user": (u1 - u0) / ops * 1e6,
        "sys": (s1 - s0) / ops * 1e6,
        "cmd": float(row["usec"]) / ops,
        "inner": inner / ops,
        "wall": wall / ops * 1e6,
    }


def _raw(client: redis.Redis) -> tuple[Callable[..., Any], Callable[[Sequence[Sequence[Any]]], Any]]:
    """One call, and one batch (pipelined) call, each waiting for the reply by spinning
    as the worker does (so Redis sees requests at the worker's pace)."""
    conn: Any = client.connection_pool.get_connection()
    conn.connect()
    sock: Any = conn._sock

    def spin() -> None:
        while not select.select([sock], [], [], 0)[0]:
            pass

    def call(*args: Any) -> Any:
        conn.send_command(*args)
        spin()
        return conn.read_response()

    def batch(commands: Sequence[Sequence[Any]]) -> Any:
        conn.send_packed_command(conn.pack_commands(commands))
        spin()
        return [conn.read_response() for _ in commands]

    return call, batch


def base_reserve(rev: str) -> tuple[str, LuaScript]:
    """The RESERVE script of commit ``rev`` (its ``worker_scripts.py``, run here)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:pyresque/backends/redis/worker_scripts.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    namespace: dict[str, Any] = {}
    exec(compile(source, f"{rev}:worker_scripts.py", "exec"), namespace)  # our own history
    return f"RESERVE of {rev[:10]}", namespace["RESERVE"]


def breakdown(
    port: int, ops: int, rounds: int = 3, extra: tuple[str, LuaScript] | None = None
) -> list[tuple[str, dict[str, float]]]:
    """Every variant, measured ``ops`` times on the redis-server at ``port``, in ``rounds``
    turns (variant after variant, so a noisy moment hits them all): medians per figure.
    ``extra``: another RESERVE script (label, script), sent the same way as this tree's."""
    runs = [_breakdown_once(port, ops, extra) for _ in range(rounds)]
    return [
        (label, {f: statistics.median(run[i][1][f] for run in runs) for f in figures})
        for i, (label, figures) in enumerate(runs[0])
    ]


def _breakdown_once(
    port: int, ops: int, extra: tuple[str, LuaScript] | None
) -> list[tuple[str, dict[str, float]]]:
    client = redis.Redis(port=port)
    call, batch = _raw(client)
    k = Keys("resque")
    keys7: Sequence[str] = (
        k.worker(WORKER), k.stat("processed"), k.stat(f"processed:{WORKER}"), k.workers,
        k.worker_started(WORKER), k.heartbeats, k.queue(QUEUE),
    )  # fmt: skip
    args13 = ("1", k.status(uuid.uuid4().hex), "null", int(time.time()), "2026-12-02T04:12:48Z",
              '"vm:1"', "resque:job:", ":status", "1", "0123456789abcdef", "0123456789abcdf0",
              WORKER, '"cost"')  # fmt: skip
    noop = client.script_load(_NOOP)
    decode = client.script_load(_DECODE)
    fixed = client.script_load(_FIXED)
    payload = _payload()
    record = b'{"queue":"cost","run_at":"2026-12-02T04:12:48Z","payload":' + payload + b',"worker":"vm:1"}'
    fixed_keys = (keys7[0], keys7[1], keys7[2], k.status("x"), keys7[6])
    out: list[tuple[str, dict[str, float]]] = []

    def run(label: str, once: Callable[[], None], command: str, fill: bool = False) -> None:
        if fill:
            _fill(client, ops + 10)
        out.append((label, _measure(client, ops, once, command)))

    run("PING", lambda: call("PING"), "ping")
    run("no-op script, no arguments", lambda: call("EVALSHA", noop, 0), "evalsha")
    run("no-op script, 7 keys + 13 arguments", lambda: call("EVALSHA", noop, 7, *keys7, *args13), "evalsha")
    run("no-op script + cjson.decode(payload)", lambda: call("EVALSHA", decode, 0, payload), "evalsha")

    def separate() -> None:
        call("GET", keys7[0])
        call("DEL", keys7[0])
        call("INCR", keys7[1])
        call("INCR", keys7[2])
        call("GET", fixed_keys[3])
        call("LPOP", keys7[6])
        call("GET", fixed_keys[3])
        call("SET", keys7[0], record)

    run("8 commands, 8 round trips (per job)", separate, "get", fill=True)
    status = fixed_keys[3]
    commands = [("MULTI",), ("GET", keys7[0]), ("DEL", keys7[0]), ("INCR", keys7[1]),
                ("INCR", keys7[2]), ("GET", status), ("LPOP", keys7[6]), ("GET", status),
                ("SET", keys7[0], record), ("EXEC",)]  # fmt: skip

    def multi() -> None:
        batch(commands)

    run("8 commands in MULTI/EXEC, 1 round trip", multi, "exec", fill=True)
    run("8 commands from a script, fixed arguments",
        lambda: call("EVALSHA", fixed, 5, *fixed_keys, record), "evalsha", fill=True)  # fmt: skip
    scripts = [("the worker's RESERVE (finish + reserve)", worker_scripts.RESERVE)]
    if extra is not None:
        scripts.append((f"{extra[0]} (finish + reserve)", extra[1]))
    for label, script in scripts:
        client.delete(k.worker(WORKER))
        _fill(client, ops + 10)
        once = _reserve_loop(RedisWorkerRegistry(client, k))
        # the registry's own reserve sends the script its module names: this one for now
        vars(workers)["RESERVE"] = script
        try:
            once()  # the first step takes a job and loads the script
            out.append((label, _measure(client, ops, once, "evalsha")))
        finally:
            vars(workers)["RESERVE"] = worker_scripts.RESERVE
    client.close()
    return out


def _reserve_loop(registry: RedisWorkerRegistry) -> Callable[[], None]:
    """One in-process worker step per call: finish the job taken last, take the next."""
    state: dict[str, Any] = {"n": 0, "prev": None}

    def once() -> None:
        n = state["n"] = state["n"] + 1
        prev = state["prev"]
        step = registry.reserve(
            WORKER, (QUEUE,), "2026-12-02T04:12:48Z", token=f"{n:016x}",
            done_job_id=prev[0] if prev else None, done_token=prev[1] if prev else "",
            finish_previous=prev is not None,
        )  # fmt: skip
        taken = step.taken
        held = isinstance(taken, Reservation)
        state["prev"] = (json.loads(taken.payload)["id"], taken.token) if held else None  # type: ignore[union-attr]

    return once


_CONCAT = (
    'local r = \'{"queue":\' .. ARGV[4] .. \',"run_at":"\' .. ARGV[5] .. \'","payload":\' .. ARGV[1]'
    " .. ',\"worker\":' .. ARGV[6] .. ',\"reservation\":\"' .. ARGV[3] .. '\"}'"
)
#: Pieces of the hot step timed inside one script, 20,000 times in a loop (warm caches:
#: a floor; the same piece in a real step, between network reads, costs more).
_LUA_PIECES = {
    "pcall(cjson.decode, payload)": "local ok, d = pcall(cjson.decode, ARGV[1])",
    "the record: an 11-piece concatenation": _CONCAT,
    "a token check (tail concat + sub)": "local t = ',\"reservation\":\"' .. ARGV[3] .. '\"}' "
    "local ok = string.sub(ARGV[2], -#t) == t",
    "redis.call GET of a missing key": "redis.call('GET', 'bench:none')",
    "redis.call INCR": "redis.call('INCR', 'bench:n')",
    "redis.call SET of a record": "redis.call('SET', 'bench:w', ARGV[2])",
}


def lua_costs(port: int, loops: int = 20000) -> list[tuple[str, float]]:
    """Each of :data:`_LUA_PIECES`: microseconds per run inside a warm loop (best of 3)."""
    client = redis.Redis(port=port)
    payload = _payload()
    record = b'{"queue":"cost","run_at":"2026-12-02T04:12:48Z","payload":' + payload
    record += b',"worker":"vm:1","reservation":"0123456789abcdef"}'
    args = (payload, record, "0123456789abcdef", '"cost"', "2026-12-02T04:12:48Z", '"vm:1"')
    out = []
    for label, body in _LUA_PIECES.items():
        sha = client.script_load(f"for i = 1, {loops} do {body} end return 1")
        best = float("inf")
        for _ in range(3):
            client.config_resetstat()
            client.evalsha(sha, 0, *args)
            best = min(best, float(client.info("commandstats")["cmdstat_evalsha"]["usec"]) / loops)
        out.append((label, best))
    client.flushall()
    client.close()
    return out


def print_lua_costs(rows: list[tuple[str, float]]) -> None:
    """The second table of ``--breakdown``."""
    print("\ninside Lua, warm (a loop of 20,000 in one script; a floor for each piece):")
    for label, us in rows:
        print(f"  {label:<40} {us:6.2f} us")


def print_breakdown(rows: list[tuple[str, dict[str, float]]], ops: int) -> None:
    """The table ``bench_redis_cost --breakdown`` prints."""
    print(f"\nwhere the time goes: {ops} calls of each, one round trip at a time, one connection")
    print(f"{'variant':<42} {'redis us':>8} {'user':>6} {'sys':>6} {'command us':>10} {'inner us':>8}")
    for label, r in rows:
        total = r["user"] + r["sys"]
        print(f"{label:<42} {total:8.1f} {r['user']:6.1f} {r['sys']:6.1f} {r['cmd']:10.1f} {r['inner']:8.1f}")
    print("(redis us = used_cpu_user + used_cpu_sys per call; command us = INFO commandstats of the")
    print(" command sent, the script's inner commands included; inner us = those inner commands)")
