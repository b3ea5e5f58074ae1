"""Batch jobs on a Ray cluster: connecting, each node's targets, placing work on a node, running jobs.

Ray is imported here and only here, and only when a cluster is asked for. A model's bytes
are read once by the driver and put in Ray's object store; its conversion job and every
benchmark placed on another node read that one object (and the converted file's object,
which the conversion job leaves there). Placement: ``@NAME`` names a node by a custom
resource it has (``node_b``), a label (``zone=lab`` or just its value), its host name, IP or
node id (a prefix of at least 6 hex digits).
"""

from __future__ import annotations

import logging
import platform
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from engine.batch.work import JobTask, run_bench, run_job
from engine.errors import TargetError

log = logging.getLogger(__name__)

#: Ray's own resources; anything else a node has is a custom resource a user can place by.
_BUILTIN = ("CPU", "GPU", "TPU", "NPU", "HPU", "memory", "object_store_memory")
RESOURCE_SHARE = 0.001


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """Connect to the Ray cluster at ``address`` ("auto", "host:port", "ray://host:port").

    Reuses a connection this process already has (and leaves it open); otherwise connects
    and disconnects at the end.

    Raises:
        TargetError: Ray is not installed, or no cluster answers at ``address``.
    """
    try:
        import ray
    except ImportError:
        raise TargetError("--cluster needs Ray, which is not installed",
                          hint="pip install 'deploy-studio[cluster]'") from None
    if ray.is_initialized():
        yield ray
        return
    _reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise TargetError(f"cannot connect to the Ray cluster at {address}: {' '.join(str(exc).split())[:300]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a host:port nobody listens on (Ray itself retries for minutes)."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise TargetError(f"cannot connect to the Ray cluster at {address}: {exc.strerror or exc}",
                          hint="is the head node running (ray start --head) and the port open?") from None


def nodes(ray: Any) -> list[dict[str, Any]]:
    """The cluster's live nodes: id, host, IP, custom resources and labels."""
    out = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        res = n.get("Resources") or {}
        custom = sorted(k for k in res if k not in _BUILTIN and not k.startswith("node:")
                        and not k.startswith("accelerator_type:"))
        labels = {k: v for k, v in (n.get("Labels") or {}).items() if not k.startswith("ray.io/")}
        out.append({"node_id": n["NodeID"], "host": n.get("NodeManagerHostname", ""),
                    "ip": n.get("NodeManagerAddress", ""), "resources": custom, "labels": labels,
                    "cpus": res.get("CPU", 0), "gpus": res.get("GPU", 0)})
    return out


def node_name(node: dict[str, Any]) -> str:
    """How tables name a node: its labels or custom resources, else host and short id."""
    if node.get("labels"):
        return ",".join(f"{k}={v}" for k, v in sorted(node["labels"].items()))
    if node.get("resources"):
        return ",".join(node["resources"])
    return f"{node['host']}/{node['node_id'][:8]}"


def placement(ray: Any, name: str, live: list[dict[str, Any]]) -> dict[str, Any]:
    """Ray task options that put a task on the node ``name`` designates.

    Raises:
        TargetError: nothing or more than one node matches (naming the nodes there are).
    """
    if any(name in n["resources"] for n in live):
        return {"resources": {name: RESOURCE_SHARE}}
    key, eq, value = name.partition("=")
    matches = []
    for n in live:
        labels = n["labels"]
        hit = (labels.get(key) == value) if eq else (name in labels.values() or name in (n["host"], n["ip"])
                                                     or (len(name) >= 6 and n["node_id"].startswith(name)))
        if hit:
            matches.append(n)
    known = "; ".join(f"{node_name(n)} ({n['host']}, {n['node_id'][:8]})" for n in live)
    if not matches:
        raise TargetError(f"no node of the cluster is {name!r}; nodes: {known}")
    if len(matches) > 1:
        raise TargetError(f"{name!r} matches {len(matches)} nodes; name one by a label, resource or node id: {known}")
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(matches[0]["node_id"], soft=False)}


def node_report() -> dict[str, Any]:
    """This node's own ``dstudio targets``, host name, CPU model and accelerators (runs on the node)."""
    from engine.backends import list_targets
    from engine.batch.work import where_am_i

    infos = list_targets()
    accelerators = sorted({i.name for i in infos if i.available and not i.name.endswith(":cpu") and i.name != "reference"})
    return {**where_am_i(), "host": socket.gethostname(), "cpu_model": cpu_model(), "accelerators": accelerators,
            "targets": [i.to_dict() for i in infos]}


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what the platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def list_cluster_targets(address: str) -> list[dict[str, Any]]:
    """Every live node's targets, asked of the node itself; each with its id, labels and resources."""
    with connect(address) as ray:
        live = nodes(ray)
        remote = ray.remote(node_report)
        refs = []
        for n in live:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            refs.append(remote.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                n["node_id"], soft=False)).remote())
        reports = ray.get(refs, timeout=600)
    return [{**n, **r, "name": node_name(n)} for n, r in zip(live, reports)]


def _job_and_output(task: JobTask, data: bytes) -> tuple[dict[str, Any], bytes | None]:
    """A job whose converted file stays in the object store as its own object (for placed benchmarks)."""
    record = run_job(task, data)
    return record, record.pop("converted_bytes", None)


def run_on_cluster(
    items: list[tuple[Any, JobTask, bytes | None]],
    address: str,
    *,
    placed_targets: tuple[str, ...] = (),
    on: str | None = None,
    cancel: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[Any, dict[str, Any], bytes | None]]:
    """Run every job on the cluster; yield (key, record, converted bytes) as each model's work ends.

    Args:
        items: (key, task, file bytes) per model, or (key, task, None) when the nodes read
            ``task.path`` on a shared file system; the task's ``bench_targets`` are the
            unplaced targets, timed where the job runs.
        address: the cluster.
        placed_targets: ``target@NODE`` benchmarks, each run as its own task on that node.
        on: place every job on this node (else Ray spreads them over the nodes).
        cancel: checked between results; pending tasks are cancelled.
    """
    from engine.batch.local import died
    from engine.batch.work import split_target

    with connect(address) as ray:
        live = nodes(ray)
        names = {n["node_id"]: node_name(n) for n in live}
        job_opts: dict[str, Any] = placement(ray, on, live) if on else {"scheduling_strategy": "SPREAD"}
        by_node: dict[str, list[str]] = {}
        for t in placed_targets:
            by_node.setdefault(split_target(t)[1] or "", []).append(t)
        bench_opts = {node: placement(ray, node, live) for node in by_node}
        job_fn = ray.remote(_job_and_output).options(num_cpus=1, num_returns=2, max_retries=1, **job_opts)
        bench_fn = ray.remote(run_bench)
        capacity = max(2, int(sum(n["cpus"] for n in live)) * 2)
        queue = list(items)
        pending: dict[Any, dict[str, Any]] = {}

        def submit() -> None:
            while queue and len(pending) < capacity:
                key, task, data = queue.pop(0)
                # one copy, read by the job and every placed benchmark (None: a shared path)
                data_ref = ray.put(data) if data is not None else None
                rec_ref, conv_ref = job_fn.remote(task, data_ref)
                benches = [bench_fn.options(num_cpus=1, max_retries=1, **bench_opts[node]).remote(
                    task, data_ref, conv_ref, tuple(ts)) for node, ts in by_node.items()]
                pending[key] = {"task": task, "rec": rec_ref, "conv": conv_ref, "benches": benches}

        submit()
        while pending:
            refs = [r for p in pending.values() for r in (p["rec"], *p["benches"])]
            ray.wait(refs, num_returns=1)
            done = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0])
            for key in [k for k, p in pending.items() if all(r in done for r in (p["rec"], *p["benches"]))]:
                p = pending.pop(key)
                record, conv = _collect(ray, p, died)
                _name_nodes(record, names)
                yield key, record, conv
            if cancel():
                for p in pending.values():
                    for r in (p["rec"], *p["benches"]):
                        ray.cancel(r)
                return
            submit()


def _collect(ray: Any, p: dict[str, Any], died: Callable) -> tuple[dict[str, Any], bytes | None]:
    try:
        record = ray.get(p["rec"])
        conv = ray.get(p["conv"])
    except Exception as exc:  # the task's worker died or Ray could not run it
        return died(p["task"], f"the Ray task failed: {' '.join(str(exc).split())[:300]}"), None
    if record["status"] == "failed" and record["failed_stage"] in ("load", "convert"):
        return record, conv  # placed benchmarks of a model that never converted add nothing but noise
    for ref in p["benches"]:
        try:
            entries = ray.get(ref)
        except Exception as exc:
            entries = [{"target": "?", "error": f"the Ray task failed: {' '.join(str(exc).split())[:300]}"}]
        record["bench"].extend(entries)
        bad = [e for e in entries if e.get("error")]
        if record["status"] == "ok" and bad:
            record.update(status="failed", failed_stage="bench", error=f"{bad[0]['target']}: {bad[0]['error']}")
    return record, conv


def _name_nodes(record: dict[str, Any], names: dict[str, str]) -> None:
    for where in [record.get("where") or {}, *[b.get("where") or {} for b in record.get("bench", [])]]:
        if where.get("node_id") in names:
            where["node"] = names[where["node_id"]]
