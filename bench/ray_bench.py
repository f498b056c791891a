"""The Ray executor beside the local one, on a real two-node Ray cluster started on this machine
(tests/raycluster.py: loopback only, token authentication on), same machine, same warm state.

ray_class8_wall_ratio   8 distinct trainings (digits, mlp, 1 epoch, seeds 1..8) submitted at once:
                        wall time on the 2-node cluster (1 CPU each: 2 at once) / on the local pool
                        (2 workers). Goal <= 1.3: the same two trainings at a time, so what is left
                        is Ray's per-task cost (scheduling, the object store, the run coming back).
ray_overhead_s          one such training alone, submit -> stored run: on Ray minus locally. Goal
                        <= 1 s: small beside a lesson's trainings (seconds to minutes).
server_start_s / server_rss_mb   `python -m lib.ui.serve` to /_stcore/health and its memory then,
                        without and with EXPLORER_RAY_ADDRESS (goal: without Ray, no slower than
                        before: Ray is imported only when the pool is made on the Ray executor).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import report

SESSIONS = 8


def _round(pool, ds, root: str, seeds) -> float:
    from lib.train.settings import TrainSettings

    t0 = time.perf_counter()
    handles = [pool.submit(ds, TrainSettings(model="mlp", epochs=1, seed=s), "digits", root) for s in seeds]
    for h in handles:
        assert h.wait(600) and h.outcome().run_id
    return time.perf_counter() - t0


def _server(env: dict[str, str]) -> tuple[float, float]:
    from tests.conftest import start_server, stop_server

    t0 = time.perf_counter()
    proc, _, _ = start_server(env)
    seconds = time.perf_counter() - t0
    rss = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    stop_server(proc)
    return seconds, rss


POOL_CODE = """
import time
from pathlib import Path
t0 = time.perf_counter()
from lib.runs.workers import TrainingPool
pool = TrainingPool(warm=False)
seconds = time.perf_counter() - t0
rss = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
print(seconds, rss, flush=True)
import os
os._exit(0)
"""


def _pool_start(env: dict[str, str]) -> tuple[float, float]:
    """What the server does when the Train page is first opened: make the training pool."""
    import os
    import subprocess

    from bench.common import ROOT

    out = subprocess.run(
        [sys.executable, "-c", POOL_CODE], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    seconds, rss = out.stdout.split()[-2:]
    return float(seconds), float(rss)


def run() -> None:
    if "ray" in sys.modules:
        print("ray bench: skipped (ray was imported before the loopback environment could be set)")
        return
    from tests.raycluster import prepare_environment

    prepare_environment()
    try:
        import ray
    except ImportError:
        print("ray bench: skipped (pip install -r requirements-ray.txt)")
        return
    from lib.data.sources import load_digits
    from lib.runs.ray_pool import RayExecutor
    from lib.runs.workers import TrainingPool
    from tests.raycluster import start_cluster

    ds = load_digits()
    cluster, _ = start_cluster()
    local = TrainingPool(2)
    on_ray = TrainingPool(executor=RayExecutor(cluster.address))
    try:
        with tempfile.TemporaryDirectory() as root:
            for pool, name in ((local, "local"), (on_ray, "ray")):
                _round(pool, ds, f"{root}/{name}-warm", range(100, 102))  # both executors warm
            alone = {"local": [], "ray": []}
            for i in range(3):
                for pool, name in ((local, "local"), (on_ray, "ray")):
                    alone[name].append(_round(pool, ds, f"{root}/{name}-alone", [200 + i]))
            walls = {}
            for pool, name in ((local, "local"), (on_ray, "ray")):
                walls[name] = _round(pool, ds, f"{root}/{name}-class", range(1, SESSIONS + 1))
        a, b = statistics.median(alone["ray"]), statistics.median(alone["local"])
        report("ray_overhead_s", a - b, "s", f"<= 1; one training {a:.2f} s on Ray vs {b:.2f} s locally")
        report(
            "ray_class8_wall_ratio",
            walls["ray"] / walls["local"],
            "x",
            f"<= 1.3; {walls['ray']:.1f} s on 2 Ray nodes vs {walls['local']:.1f} s on 2 local workers",
        )
        without = _server({})
        with_ray = _server({"EXPLORER_RAY_ADDRESS": cluster.address})
        report("server_start_s", without[0], "s", f"without Ray; with EXPLORER_RAY_ADDRESS {with_ray[0]:.2f} s")
        report("server_rss_mb", without[1], "MB", f"without Ray; with EXPLORER_RAY_ADDRESS {with_ray[1]:.0f} MB")
        local_pool, ray_pool = (
            _pool_start({"EXPLORER_RAY_ADDRESS": ""}),
            _pool_start({"EXPLORER_RAY_ADDRESS": cluster.address}),
        )
        report("pool_start_s", local_pool[0], "s", f"local; on Ray {ray_pool[0]:.2f} s (ray.init included)")
        report("pool_rss_mb", local_pool[1], "MB", f"local; on Ray {ray_pool[1]:.0f} MB")
    finally:
        on_ray.close()
        local.close()
        import ray

        ray.shutdown()
        cluster.shutdown()
