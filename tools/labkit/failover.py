"""Faults of the container lab, measured from outside: a hypervisor crash
(its container SIGKILLed), a cut cluster link, a VM killed behind the
cluster's back. Shared by the verify tests (molecule/default/tests/
test_failover.py) and `make bench-failover` (tools/bench/failover.py).

Every time is taken against the lab machine's clock, which the nodes
share (they are containers on one kernel): the kill, each guest's first
HTTP answer seen from the storage node, and corosync's and the fencer's
own journal entries."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

from labkit import inventory as inv
from labkit import timeline
from labkit import vms as lab_vms
from ansible_collections.havirt.cluster.plugins.module_utils import pacemaker_status


def podman(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *argv], check=check, capture_output=True, text=True,
                          env=inv.clean_env(CONTAINERS_CONF=inv.containers_conf()))


def started_at(node: str) -> str:
    """When the node's container last started (changes when it is fenced)."""
    return podman("inspect", "-f", "{{.State.StartedAt}}", f"havirt-{node}").stdout


def power_state(node: str) -> tuple[bool, str]:
    """Whether the node's container runs, and when it last started."""
    state = podman("inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", f"havirt-{node}").stdout.strip()
    running, _, started = state.partition(" ")
    return running == "true", started


def fenced_since(node: str, started_before: str) -> bool:
    """Whether the node's container was powered off or restarted since it
    last started at `started_before` (started_at): the lab's fence agent
    powers a node off and, after its power_on_delay, on again."""
    running, started = power_state(node)
    return not running or started != started_before.strip()


def wait_restarted(node: str, started_before: str, timeout: float = 90) -> bool:
    """Whether the node's container runs again, started after
    `started_before`, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        running, started = power_state(node)
        if running and started != started_before.strip():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def witness() -> str:
    """The storage node: a cluster member that runs no VM, and the probe's home."""
    return inv.group("storage")[0]


def online_nodes() -> list[str]:
    """Nodes online as the storage node's pacemaker sees them, read with the
    pacemaker_status module's own parser ([] while it cannot be asked:
    rebooting, or crm_mon failing without its XML). Output crm_mon printed
    with exit code 0 that the parser cannot read fails the test."""
    try:
        run = inv.node(witness()).run("crm_mon --one-shot --output-as=xml")
    except RuntimeError:
        return []
    if not run.stdout.strip():
        return []
    try:
        status = pacemaker_status.parse_crm_mon(run.stdout)
    except pacemaker_status.StatusError:
        if run.rc == 0:
            raise
        return []
    return pacemaker_status.online_nodes(status)


def placement() -> dict[str, list[str]]:
    """Where libvirt runs each VM, asked of every hypervisor's libvirtd
    through podman (it works while a node's network is cut)."""
    where: dict[str, list[str]] = {v["name"]: [] for v in lab_vms.vms()}
    for host in inv.group("hypervisors"):
        run = podman("exec", f"havirt-{host}", "virsh", "list", "--name", "--state-running", check=False)
        for name in run.stdout.split() if run.returncode == 0 else []:
            where.setdefault(name, []).append(host)
    return where


def container_ids() -> dict[str, str]:
    """Each hypervisor's container ID (kept when the fence agent restarts it)."""
    ids = {podman("inspect", "-f", "{{.Id}}", f"havirt-{host}", check=False).stdout.strip(): host
           for host in inv.group("hypervisors")}
    ids.pop("", None)
    return ids


def qemu_hosts(containers: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Which hypervisors have a QEMU process for each VM, read from this
    machine's /proc (a container's processes are this machine's, their
    cgroup names the container): no process started per sample, so
    watching costs the nodes no CPU while their guests boot. Stricter
    than placement(): a QEMU that is starting or paused counts too.
    `containers`: container_ids(), when the caller already has them."""
    containers = container_ids() if containers is None else containers
    where: dict[str, list[str]] = {v["name"]: [] for v in lab_vms.vms()}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            if not argv[0].rsplit(b"/", 1)[-1].startswith(b"qemu-system"):
                continue
            with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
                cgroup = handle.read()
        except OSError:  # gone meanwhile
            continue
        name = next((a.split(b",")[0][len(b"guest="):].decode() for a in argv if a.startswith(b"guest=")), None)
        host = next((h for cid, h in containers.items() if f"libpod-{cid}" in cgroup), None)
        if name and host:
            where.setdefault(name, []).append(host)
    return where


def lease_holders() -> dict[str, int]:
    """How many processes hold each VM's lease (the lab's lease directory
    is one directory of this machine, so /proc/locks here sees every
    node's virtlockd)."""
    leases = inv.PROJECT / ".lab" / "leases"
    inodes = {}
    for vm in lab_vms.vms():
        path = leases / vm["name"]
        if path.exists():
            inodes[path.stat().st_ino] = vm["name"]
    held = {name: 0 for name in inodes.values()}
    for line in open("/proc/locks", encoding="ascii"):
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 19840 fe:00:5327187 0 EOF"
        ino = int(fields[5].rsplit(":", 1)[1]) if len(fields) > 5 and fields[1] == "POSIX" else None
        if ino in inodes:
            held[inodes[ino]] += 1
    return held


def journal_times(journal: str, pattern: str) -> list[float]:
    """Wall-clock times of the lines of a `journalctl -o json` text whose
    message matches pattern."""
    return [e["t"] for e in timeline.journal_entries(journal) if re.search(pattern, e["msg"])]


class Watch:
    """Samples where each VM's QEMU runs (qemu_hosts) and its lease holders
    every 0.3 s in the background; `most` is the largest number of
    hypervisors a VM ran on at once, and of processes holding its lease."""

    def __init__(self):
        self.most_running = 0
        self.most_leases = 0
        self.samples = 0
        self._containers = container_ids()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.most_running = max([self.most_running, *map(len, qemu_hosts(self._containers).values())])
            self.most_leases = max([self.most_leases, *lease_holders().values()])
            self.samples += 1
            time.sleep(0.3)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def write_tokens(vms: list[str], tag: str) -> dict[str, str]:
    """Each guest writes a token to its disk and flushes it; returns them."""
    tokens = {}
    for vm in vms:
        token = f"{tag}-{vm}-{int(time.time())}"
        reply = lab_vms.http_get(vm, f"/cgi-bin/disk?{token}")
        assert f"wrote {token}" in reply, f"{vm} could not write to its disk: {reply!r}"
        tokens[vm] = token
    return tokens


def first_replies(vms: list[str], start: float, timeout: float) -> dict[str, dict[str, float]]:
    """Seconds from `start` to each VM's first ping reply and first HTTP
    answer ({vm: {"ping": s, "http": s}}), probed from the storage node:
    two loops per VM there, all at once (no ssh per probe; a VM that does
    not answer does not delay the others), ping every 0.1 s (started again
    after an ICMP error), HTTP every
    0.1 s with a 0.3 s connect timeout. A VM missing an entry did not
    answer that probe within `timeout`."""
    addresses = " ".join(f"{vm}={lab_vms.vm_spec(vm)['address']}" for vm in vms)
    script = (
        f"end=$(( $(date +%s) + {int(timeout)} )); "
        f"for p in {addresses}; do vm=${{p%%=*}}; ip=${{p#*=}}; "
        # ping gives up at its first ICMP error when it has a deadline (a
        # "Destination Host Unreachable" while the VM's address has no
        # neighbour yet): start it again until a reply or the deadline.
        "( while [ $(date +%s) -lt $end ]; do "
        "got=$(ping -n -D -i 0.1 -c 1 -w $(( end - $(date +%s) + 1 )) $ip "
        "| sed -n \"s/^\\[\\([0-9.]*\\)\\] .* from .*/$vm ping \\1/p\"); "
        "if [ -n \"$got\" ]; then echo \"$got\"; break; fi; sleep 0.1; done ) & "
        "( while [ $(date +%s) -lt $end ]; do "
        "if curl -s -o /dev/null --connect-timeout 0.3 -m 2 http://$ip/; then "
        "echo \"$vm http $(date +%s.%N)\"; break; fi; sleep 0.1; done ) & done; wait")
    out = subprocess.run(inv.ssh_argv(witness()) + [script], capture_output=True, text=True,
                         timeout=timeout + 30).stdout
    result: dict[str, dict[str, float]] = {}
    for line in out.splitlines():
        vm, kind, at = line.split()
        result.setdefault(vm, {})[kind] = float(at) - start
    return result


def http_answers(replies: dict[str, dict[str, float]]) -> dict[str, float]:
    """The HTTP answers of first_replies' result: {vm: seconds}."""
    return {vm: seen["http"] for vm, seen in replies.items() if "http" in seen}


def first_answers(vms: list[str], start: float, timeout: float) -> dict[str, float]:
    """Seconds from `start` to each VM's first HTTP answer (first_replies)."""
    return http_answers(first_replies(vms, start, timeout))


def wait_settled(timeout: float = 240) -> None:
    """Every node online and the cluster idle (no transition pending)."""
    deadline = time.monotonic() + timeout
    while online_nodes() != sorted(inv.group("cluster")):
        assert time.monotonic() < deadline, f"nodes online: {online_nodes()}"
        time.sleep(1)
    inv.node(witness()).check_output("crm_resource --wait --timeout %ss", str(int(max(deadline - time.monotonic(), 10))))


def recovery_logs(victim: str, vms: list[str], since: float) -> dict:
    """What the nodes logged since `since`: each node's journal
    (`journalctl -o json`) and libvirt's log of each VM on each hypervisor,
    as text (the raw material of timeline.phases and of crash()'s detection
    and fencing times). The victim too, once it is back: a VM the cluster
    had not started elsewhere yet may start there again; a victim that
    cannot be reached yet is left out."""
    logs = {"journal": {}, "qemu": {}}
    for node in inv.group("cluster"):
        try:
            logs["journal"][node] = inv.node(node).run(
                "journalctl --since @%s -o json --output-fields=MESSAGE,SYSLOG_IDENTIFIER", str(int(since))).stdout
            if node in inv.group("hypervisors"):
                for vm in vms:
                    logs["qemu"][f"{node}/{vm}"] = inv.node(node).run("cat /var/log/libvirt/qemu/%s.log", vm).stdout
        except (RuntimeError, AssertionError, OSError):
            if node != victim:
                raise
    return logs


def phases_of(logs: dict, killed: float, victim: str, vms: list[str], replies: dict[str, dict]) -> dict[str, dict]:
    """Each VM's recovery, phase by phase (seconds after the kill): the
    logs' phases, then the probes' (`replies` from first_replies)."""
    entries = [e for text in logs["journal"].values() for e in timeline.journal_entries(text)]
    result = {}
    for vm in vms:
        qemu = [t for key, text in logs["qemu"].items() if key.endswith("/" + vm) for t in timeline.qemu_starts(text)]
        result[vm] = timeline.phases(entries, qemu, killed, victim, lab_vms.resource(vm))
        for phase, kind in (("guest pings", "ping"), ("guest answers", "http")):
            if kind in replies.get(vm, {}):
                result[vm][phase] = round(replies[vm][kind], 2)
    return result


def crash(victim: str, tag: str, timeout: float = 120) -> dict:
    """SIGKILL the victim's container. Returns what was measured: seconds
    from the kill to corosync's new membership (detect), to the fencer's
    success (fenced), to each of the victim's VMs' first answer (mttr),
    whether each VM's disk still holds the token it wrote just before the
    kill, and whether the fence agent started the node again."""
    inv.node.cache_clear()
    victims_vms = [vm for vm, hosts in placement().items() if hosts == [victim]]
    tokens = write_tokens(victims_vms, tag)
    started_before = started_at(victim)
    killed = time.time()
    podman("kill", "--signal", "KILL", f"havirt-{victim}")
    inv.node.cache_clear()
    replies = first_replies(victims_vms, killed, timeout)
    mttr = http_answers(replies)
    disks = {vm: lab_vms.http_get(vm, "/cgi-bin/disk").strip() for vm in mttr}
    where = placement()
    logs = recovery_logs(victim, victims_vms, killed)
    lost = journal_times(logs["journal"][witness()], r"A new membership .* was formed\. Members left")
    fenced = journal_times(logs["journal"][witness()], rf"Operation '(reboot|off)' .*targeting {victim} .*: OK")
    return {
        "victim": victim,
        "vms": victims_vms,
        "detect_s": round(lost[0] - killed, 2) if lost else None,
        "fenced_s": round(fenced[0] - killed, 2) if fenced else None,
        "mttr_s": {vm: round(t, 2) for vm, t in mttr.items()},
        "disk_kept": {vm: disks[vm] == f"read {tokens[vm]}" for vm in mttr},
        "now_on": {vm: where.get(vm, []) for vm in victims_vms},
        # The fence agent starts it again after its power_on_delay.
        "node_restarted": wait_restarted(victim, started_before),
        "phases": phases_of(logs, killed, victim, victims_vms, replies),
        # VirtualDomain reloads systemd where its drop-ins are missing
        # (the pacemaker role creates them at boot): none on the survivors.
        "systemd_reloads": {node: len(journal_times(text, r"^Reloading finished"))
                            for node, text in logs["journal"].items() if node != victim},
        "killed_at": killed,
        "logs": logs,
    }


def busiest_hypervisor() -> str:
    counts = {h: 0 for h in inv.group("hypervisors")}
    for hosts in placement().values():
        for host in hosts:
            counts[host] += 1
    return max(sorted(counts), key=counts.get)
