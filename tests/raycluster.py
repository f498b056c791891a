"""A real two-node Ray cluster on this machine, every process on the loopback address, with
Ray's token authentication on. Used by tests/test_ray_cluster.py and bench/ray_bench.py."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path


def loopback_token_env(folder: Path) -> dict[str, str]:
    """The environment every Ray process of the test inherits: token auth on, a fresh token,
    127.0.0.1 kept as the node address (Ray would replace it by the machine's network address)."""
    token = folder / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    return {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def prepare_environment() -> Path:
    """Call before the first `import ray` (Ray reads these when it is imported): returns the
    private folder holding the token."""
    assert "ray" not in sys.modules, "prepare_environment() must run before ray is imported"
    folder = Path(tempfile.mkdtemp(prefix="explorer-ray-test-"))
    os.environ.update(loopback_token_env(folder))
    return folder


def start_cluster(cpus_per_node: int = 1):
    """ray.cluster_utils.Cluster: a head node and one worker node, each with its own raylet and
    object store (data moves between them as between machines). Returns (cluster, worker node)."""
    assert os.environ.get("RAY_AUTH_MODE") == "token", "prepare_environment() first"
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus_per_node, "node_ip_address": "127.0.0.1", "object_store_memory": 200 * 2**20}
    for attempt in range(3):  # Ray waits 30 s for a raylet to register: a loaded machine may need another go
        cluster = Cluster(initialize_head=False)
        try:
            cluster.add_node(**node, include_dashboard=False)
            worker = cluster.add_node(**node)
            cluster.wait_for_nodes()
            return cluster, worker
        except Exception:
            cluster.shutdown()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
