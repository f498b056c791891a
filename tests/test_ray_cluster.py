"""The Ray executor on a real two-node cluster (ray.cluster_utils.Cluster, loopback only, token
authentication on), started once for the module: what a session sees is what it sees locally."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.raycluster import prepare_environment, start_cluster

if "ray" not in __import__("sys").modules:
    prepare_environment()  # token auth on, loopback only: before Ray is imported
ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")

from lib.data.dataset import Dataset  # noqa: E402
from lib.data.sources import load_digits  # noqa: E402
from lib.runs.store import RunStore  # noqa: E402
from lib.runs.workers import DONE, TrainingPool, TrainingWorkerError  # noqa: E402
from lib.train.settings import TrainSettings  # noqa: E402
from tests.classroom import trainings_logged  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from tests.headless import class_rounds  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ray]

QUICK = TrainSettings(model="mlp", epochs=1)
LONG = TrainSettings(model="mlp", epochs=300, batch_size=16)  # runs until stopped


@pytest.fixture(scope="module")
def cluster():
    cluster, worker = start_cluster()
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def pool(cluster):
    from lib.runs.ray_pool import RayExecutor

    c, _ = cluster
    pool = TrainingPool(executor=RayExecutor(c.address))
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


def until(predicate, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def finish(handle, timeout=240.0):
    assert handle.wait(timeout), "the job did not end"
    return handle.outcome()


def folders(root) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_the_cluster_is_two_nodes_on_loopback_with_token_auth(pool):
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2 and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert is_token_auth_enabled()
    assert pool.workers == 2 and pool.executor.kind == "ray"


def test_a_class_of_eight_same_settings_then_distinct_seeds(cluster, tmp_path):
    """The class load test on Ray, as on the local executor (tests/test_headless_class.py): a
    served app whose trainings run on the cluster (EXPLORER_RAY_ADDRESS) and eight sessions over
    Streamlit's client protocol pressing Train at once, first with the same settings (one
    training), then with eight distinct seeds (eight trainings, spread over both nodes, each
    session shown its own complete run, each run naming its node)."""
    runs = tmp_path / "runs"
    proc, url, _ = start_server({"EXPLORER_RUNS": str(runs), "EXPLORER_RAY_ADDRESS": cluster[0].address})

    def after(i: int) -> None:
        assert len(folders(runs)) == (1, 9)[i]

    try:
        sessions = class_rounds(url, [[100] * 8, list(range(101, 109))], after)
    finally:
        stop_server(proc)
    output = Path(proc.log_path).read_text()
    assert all(not s.exceptions and not s.shows("Cannot train") for s in sessions)
    assert trainings_logged(output) == 9, output[-3000:]  # 1 shared training, then 8
    store = RunStore(runs)
    records = [store.load(run_id).record for run_id in folders(runs)]
    assert len(records) == 9 and all(r.status == "complete" for r in records)
    assert {r.dataset.source for r in records} == {"digits"}  # where the data loads from again (report, predict)
    nodes = {n for r in records for n in r.notes if n.startswith("trained on the Ray node")}
    assert len(nodes) == 2, nodes  # the trainings ran on both nodes; each run names its node


def test_results_equal_the_local_executors_for_the_same_seed(pool, digits, tmp_path):
    settings = TrainSettings(model="cnn", epochs=1, seed=5)
    local = TrainingPool(1)  # both at once: the local worker imports TensorFlow while Ray trains
    try:
        on_ray = pool.submit(digits, settings, "digits", tmp_path / "ray")
        here = local.submit(digits, settings, "digits", tmp_path / "local")
        on_ray, here = finish(on_ray), finish(here)
    finally:
        local.close()
    assert on_ray.run_id == here.run_id
    a, b = RunStore(tmp_path / "ray").load(on_ray.run_id), RunStore(tmp_path / "local").load(here.run_id)
    numeric = [c for c in a.history.columns if c != "epoch"]
    np.testing.assert_allclose(a.history[numeric].to_numpy(), b.history[numeric].to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.y_prob, b.y_prob, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(a.val_confusions, b.val_confusions)
    assert (a.path / "tb").is_dir() and any((a.path / "tb").rglob("*tfevents*"))  # the logs came back too
    ray_notes = [n for n in a.record.notes if not n.startswith(("trained on the Ray node", "Ray gave"))]
    assert ray_notes == list(b.record.notes)  # where it trained, as locally
    assert "Ray gave this training 1 CPU and no GPU." in a.record.notes


def test_stop_within_one_batch_and_a_watched_training_goes_on(pool, digits, tmp_path):
    first = pool.submit(digits, LONG, "digits", tmp_path)
    second = pool.submit(digits, LONG, "digits", tmp_path)
    until(lambda: first.progress().batch is not None)
    assert first.progress().watchers == 2
    assert "Training on the Ray cluster (node 127.0.0.1" in first.progress().describe(2)
    first.detach()
    seen = len(second.progress().rows)
    until(lambda: len(second.progress().rows) >= seen + 2)  # the other session still watches: it goes on
    t0 = time.monotonic()
    second.detach()
    outcome = finish(second, 60)
    assert time.monotonic() - t0 < 15
    run = RunStore(tmp_path).load(outcome.run_id)
    assert run.status == "stopped" and 0 < len(run.history) < LONG.epochs


def test_a_data_set_larger_than_one_message_goes_through_the_object_store_once(pool, tmp_path):
    rng = np.random.default_rng(0)
    n = 4_000  # 12 MB of 32x32x3 images: far above Ray's 100 KiB inline limit, over two 5 MiB transfer chunks
    big = Dataset(
        "big",
        rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 3, n),
        rng.integers(0, 256, (600, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 3, 600),
        ("a", "b", "c"),
    )
    before = pool.executor.puts
    handles = [
        pool.submit(big, TrainSettings(model="mlp", epochs=1, seed=s, batch_size=256), "big", tmp_path) for s in (1, 2)
    ]
    outcomes = [finish(h) for h in handles]
    assert pool.executor.puts - before == 1  # put once for both jobs
    assert all(RunStore(tmp_path).load(o.run_id).status == "complete" for o in outcomes)
    assert big.fingerprint not in pool.executor._data  # let go after the last job


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, with this module's token and loopback settings in its environment."""
    command = [sys.executable, "-m", "lib.cli", *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, env={**os.environ, **(env or {})}
    )


def test_the_cli_study_trains_its_four_steps_on_ray(pool, cluster, digits, tmp_path):
    """`study` with EXPLORER_RAY_ADDRESS (what `--ray ADDRESS` overrides): the ladder (own CNN,
    feature extraction, fine-tuning, + augmentation) on a stored digits CNN as backbone, every step
    trained on the cluster and stored by the CLI, each run naming its node, the table printed."""
    backbone = finish(pool.submit(digits, TrainSettings(model="cnn", epochs=1, seed=3), "digits", tmp_path))
    args = ["study", "digits", "--backbone", f"run:{backbone.run_id}", "--epochs", "1", "--store", str(tmp_path)]
    r = cli(*args, env={"EXPLORER_RAY_ADDRESS": cluster[0].address})  # the CLI reads it as the app does
    assert r.returncode == 0, r.stderr[-3000:]
    for step in ("[1/4] own CNN", "[2/4] feature extraction", "[4/4] fine-tuning + augmentation"):
        assert step in r.stdout
    header = next(line for line in r.stdout.splitlines() if line.lstrip().startswith("step"))
    assert "balanced accuracy" in header and "majority baseline" in header
    store = RunStore(tmp_path)
    studied = [store.load(run_id).record for run_id in folders(tmp_path) if run_id != backbone.run_id]
    assert len(studied) == 4 and all(r.status == "complete" for r in studied)
    assert {r.dataset.source for r in studied} == {"digits"}
    assert all(any(n.startswith("trained on the Ray node 127.0.0.1") for n in r.notes) for r in studied)


def test_the_cli_trains_on_a_gpu_node_of_ray_and_stores_the_run_itself(cluster, digits, tmp_path, monkeypatch):
    """`train --ray ADDRESS` with EXPLORER_GPUS_PER_TRAINING=0.5 (one CLI training covers both, as
    CI time asks):
    - a wrong address is one line and exit code 2, at once;
    - without a GPU in the cluster a GPU request is refused at once (Ray would let it wait forever);
    - with a node that declares one GPU (logical: no GPU is behind it here) the training runs
      there, Ray sets CUDA_VISIBLE_DEVICES, TensorFlow (memory growth on) sees no GPU and trains on
      the node's CPU, `--devices all` mirrors over the two logical CPUs that node's own
      EXPLORER_LOGICAL_CPUS made, `--mixed-precision` is mixed_bfloat16 there; the CLI's process
      stores the run it gets back and prints the notes, which name the node and what Ray gave;
    - when the GPU node leaves, the next GPU request is refused."""
    from lib.errors import SettingsError
    from lib.runs.ray_pool import RayExecutor
    from lib.train.accelerators import precision_note

    c, _ = cluster
    monkeypatch.setenv("EXPLORER_GPUS_PER_TRAINING", "0.5")
    args = ["train", "digits", "--model", "mlp", "--epochs", "1", "--mixed-precision", "--devices", "all"]
    args += ["--store", str(tmp_path)]
    with socket.socket() as s:  # a loopback port where no Ray head listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = cli(*args, "--ray", f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 60  # ray.init alone would retry for minutes
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert lines[0].startswith(f"error: cannot reach the Ray cluster at 127.0.0.1:{port}: no Ray head answers there")

    refused = re.escape("each training asks for 0.5 GPU (EXPLORER_GPUS_PER_TRAINING), but the Ray cluster at ")
    refused += re.escape(f"{c.address} has 0 GPU now: add a node with a GPU, or set EXPLORER_GPUS_PER_TRAINING=0")
    with pytest.raises(SettingsError, match=refused):
        RayExecutor(c.address)
    with monkeypatch.context() as m:  # the node's own processes split its CPU in two, as a lab node could
        m.setenv("EXPLORER_LOGICAL_CPUS", "2")
        gpu_node = c.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", object_store_memory=200 * 2**20)
    pool = None
    try:
        c.wait_for_nodes()
        until(lambda: ray.cluster_resources().get("GPU") == 1, 60)
        r = cli(*args, "--ray", c.address)
        assert r.returncode == 0, r.stderr[-3000:]
        run_id = re.search(r"^run id: (\S+)", r.stdout, re.M).group(1)
        record = RunStore(tmp_path).load(run_id).record
        assert record.status == "complete" and folders(tmp_path) == [run_id]
        for note in (
            f"trained on the Ray node 127.0.0.1 {gpu_node.node_id[:8]}",
            "Ray gave this training 1 CPU and 0.5 GPU (CUDA_VISIBLE_DEVICES=0), "
            "but TensorFlow sees no GPU there, so it trained on the CPU.",
            precision_note("mixed_bfloat16"),
        ):
            assert note in record.notes and f"note: {note}" in r.stdout, record.notes
        assert any(n.startswith("trained on 2 logical CPU devices with MirroredStrategy") for n in record.notes)

        pool = TrainingPool(executor=RayExecutor(c.address))
        assert pool.workers == 2  # one GPU, half of it per training
        c.remove_node(gpu_node)
        gpu_node = None
        until(lambda: not ray.cluster_resources().get("GPU"), 60)
        with pytest.raises(SettingsError, match=refused):
            finish(pool.submit(digits, TrainSettings(model="mlp", epochs=1, seed=8), "digits", tmp_path), 30)
        assert folders(tmp_path) == [run_id]
    finally:
        if pool is not None:
            pool.close()
        if gpu_node is not None:
            c.remove_node(gpu_node)


def test_the_train_page_trains_on_ray_as_it_does_locally(cluster, run_store, monkeypatch):
    """EXPLORER_RAY_ADDRESS set: the Train button's training runs on the cluster and comes back to
    the server's store; the page shows it as it shows a local one."""
    from lib.ui import cache, state
    from tests.helpers import app_on_page

    monkeypatch.setenv("EXPLORER_RAY_ADDRESS", cluster[0].address)
    cache.training_pool.clear()  # the server's pool is made on the first visit: now on Ray
    try:
        page = app_on_page("pages/train_evaluate.py")
        page.selectbox(key="train_model").select("mlp")
        page.number_input(key="train_epochs").set_value(1)
        page.button(key="train_button").click().run()
        assert not page.exception, page.exception
        assert cache.training_pool().executor.kind == "ray"
        run_id = page.session_state[state.CURRENT_RUN]
        assert any("mlp · 1 ep" in s.value and "complete" in s.value for s in page.success)
        record = RunStore(run_store).load(run_id).record
        assert any(n.startswith("trained on the Ray node 127.0.0.1") for n in record.notes)
    finally:
        cache.training_pool().close()
        cache.training_pool.clear()


def test_a_worker_node_killed_mid_training_ends_only_that_job(pool, cluster, digits, tmp_path):
    """Last in the module: the cluster has one node after it."""
    c, worker = cluster
    a = pool.submit(digits, LONG, "digits", tmp_path)
    b = pool.submit(digits, TrainSettings(model="mlp", epochs=300, batch_size=16, seed=1), "digits", tmp_path)
    until(lambda: a.progress().batch is not None and b.progress().batch is not None)
    worker_ip_id = worker.node_id[:8]
    on_worker = [h for h in (a, b) if worker_ip_id in h.progress().where]
    others = [h for h in (a, b) if h not in on_worker]
    assert len(on_worker) == 1, [h.progress().where for h in (a, b)]
    c.remove_node(worker)  # its raylet and its worker processes die, as when a machine goes away
    with pytest.raises(TrainingWorkerError, match="ended unexpectedly"):
        finish(on_worker[0], 120)
    assert others[0].progress().state != DONE and not others[0].wait(1)  # the other one goes on
    rows = len(others[0].progress().rows)
    until(lambda: len(others[0].progress().rows) > rows)
    others[0].detach()
    assert RunStore(tmp_path).load(finish(others[0], 60).run_id).status == "stopped"
    assert folders(tmp_path) == [others[0].run_id]  # nothing of the killed one is stored
