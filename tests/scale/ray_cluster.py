"""A real two-node Ray cluster on this machine for the scale-out tests and benchmark: a head and a
second node (``ray start``), each with one CPU and a resource of its own, on free ports and a
temporary directory of their own. Stopped by process id (never ``ray stop``, which ends every
Ray process of the machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.server_process import free_port

RAY = Path(sys.executable).parent / "ray"


@dataclass(frozen=True)
class RayCluster:
    """Where the head listens, and the directory its processes are known by."""

    address: str
    temp_dir: Path


def _ports(prefix: str) -> list[str]:
    return [
        f"--{prefix}node-manager-port={free_port()}",
        f"--{prefix}object-manager-port={free_port()}",
        f"--{prefix}dashboard-agent-listen-port={free_port()}",
        f"--{prefix}metrics-export-port={free_port()}",
        f"--{prefix}runtime-env-agent-port={free_port()}",
    ]


def _node_args(temp_dir: Path) -> list[str]:
    return [
        "--num-cpus=1",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        *_ports(""),
        f"--temp-dir={temp_dir}",
    ]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def cluster_processes(cluster: RayCluster) -> list[int]:
    """Every process of ``cluster``: those naming its directory or head address, and their
    descendants (the workers and actors)."""
    marks = (str(cluster.temp_dir), cluster.address)
    roots = [
        pid
        for pid in (int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit())
        if pid != os.getpid() and any(m in _cmdline(pid) for m in marks)
    ]
    tree = _children()
    found: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in found or pid == os.getpid():
            continue
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


def replica_pids(cluster: RayCluster) -> list[int]:
    """The process ids of the cluster's Ember replicas (Ray names them
    ``ray::ServeReplica:<app>:<deployment>``)."""
    return [
        pid
        for pid in cluster_processes(cluster)
        if _cmdline(pid).startswith("ray::ServeReplica:ember:Ember")
    ]


@contextlib.contextmanager
def ray_cluster() -> Iterator[RayCluster]:
    """A head node and a second node; both stopped (by process id) when the block exits."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-ember-"))
    port = free_port()
    cluster = RayCluster(address=f"127.0.0.1:{port}", temp_dir=temp_dir)
    # The proxy spreads over every node's replicas (Ray's default prefers its own node's
    # replicas, for clusters with a load balancer over every node's proxy).
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0",
    }
    head = [
        str(RAY),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--include-dashboard=false",
        f"--dashboard-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
        '--resources={"head": 1}',
        *_node_args(temp_dir),
    ]
    second = [
        str(RAY),
        "start",
        f"--address={cluster.address}",
        "--node-ip-address=127.0.0.1",
        '--resources={"second": 1}',
        *_node_args(temp_dir),
    ]
    try:
        for args in (head, second):
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                # Ray's own reason is on its output; a bare exit status says nothing.
                raise RuntimeError(
                    f"{' '.join(args[1:3])} exited {done.returncode}:\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                )
        yield cluster
    finally:
        stop_cluster(cluster)
        shutil.rmtree(temp_dir, ignore_errors=True)


def stop_cluster(cluster: RayCluster) -> None:
    """SIGTERM every process of the cluster, then SIGKILL what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        pids = cluster_processes(cluster)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if Path(f"/proc/{p}").exists() and _alive(p)]
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
