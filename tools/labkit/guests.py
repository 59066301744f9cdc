"""The VM lab's guests watched from the lab host, while the storage node is
away (rebooted or lost): the host reaches them on the guest bridge
(havirt_vmlab_guest_host_address, tools/vmlab/up.yml), since servdb, the
usual prober, is the node that goes. Helpers of the storage tests, not
tests."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request

from ansible_collections.havirt.cluster.plugins.module_utils.iscsiadm import parse_sessions

from labkit import inventory
from labkit.vms import postmortem, running_on, vm_spec, wait_for_http

# A guest's answer under TCG inside TCG with three guests running.
PROBE_TIMEOUT = 2.0
# No proxy between this host and the guest bridge, whatever the environment says.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(vm: str, path: str, timeout: float) -> str:
    """GET from the guest's address, straight from this host."""
    with DIRECT.open(f"http://{vm_spec(vm)['address']}{path}", timeout=timeout) as answer:
        return answer.read().decode().strip()


def reachable(vm: str) -> None:
    """Fails the test when this host cannot reach the guest at all."""
    try:
        get(vm, "/", 15)
    except OSError as failed:
        raise AssertionError(
            f"this host cannot reach {vm} on the guest network ({failed}): "
            "tools/vmlab/up.yml gives it havirt_vmlab_guest_host_address on the guest bridge") from None


def boot_id(host) -> str:
    """The node's boot (a new one after any restart, a fence included);
    /proc only, so it answers while the node's iSCSI disks hang."""
    return host.check_output("cat /proc/sys/kernel/random/boot_id").strip()


def qemu_pid(inv, vm: str) -> tuple[str, str]:
    """(hypervisor, pid) of the VM's QEMU, from libvirt's pid file (tmpfs)."""
    hosts = running_on(vm)
    assert len(hosts) == 1, f"{vm} runs on {hosts}"
    return hosts[0], inv.node(hosts[0]).check_output("cat /run/libvirt/qemu/%s.pid", vm).strip()


def lab_qemu_pid(node: str) -> str:
    """The lab node's own QEMU process, from tools/vmlab's pid file (QEMU
    removes the file when it quits: read it before)."""
    return (inventory.PROJECT / ".vmlab" / f"{node}.pid").read_text().strip()


def process_alive(pid: str) -> bool:
    return subprocess.run(["kill", "-0", pid], capture_output=True, check=False).returncode == 0


def power_on(nodes: list[str] | None = None) -> float:
    """tools/vmlab/up.yml: the lab's nodes that are off started again (only
    `nodes` when given), each answering SSH when it returns; the cached SSH
    connections forgotten. Returns how long it took."""
    extra = ["-e", json.dumps({"havirt_vmlab_start": nodes})] if nodes else []
    started = time.monotonic()
    up = subprocess.run(["ansible-playbook", *inventory.inventory_args(), "tools/vmlab/up.yml", *extra],
                        cwd=inventory.PROJECT, env=inventory.clean_env(), capture_output=True, text=True,
                        timeout=900, check=False)
    assert up.returncode == 0, up.stdout[-3000:]
    inventory.node.cache_clear()
    return time.monotonic() - started


def session_states(host) -> list[str]:
    """The node's iSCSI session states (iscsiadm -m session -P 1, read by
    the collection's own parser; [] without a session)."""
    return [session["state"] for session in parse_sessions(host.run("iscsiadm -m session -P 1").stdout)]


def sessions_logged_in(inv) -> bool:
    """Whether every hypervisor has iSCSI sessions, all LOGGED_IN."""
    for hypervisor in inv.group("hypervisors"):
        states = session_states(inv.node(hypervisor))
        if not states or any(state != "LOGGED_IN" for state in states):
            return False
    return True


def storage_back(inv, storage_name: str, boot_before: str) -> bool:
    """Whether the storage node runs a boot other than ``boot_before``, its
    pacemaker is back in the cluster with every node online, and each
    hypervisor's iSCSI sessions are logged in again."""
    try:
        storage = inv.node(storage_name)
        if boot_id(storage) == boot_before or storage.run("systemctl is-active pacemaker").stdout.strip() != "active":
            return False
        if f"Online: [ {' '.join(sorted(inv.group('cluster')))} ]" not in storage.run("crm_mon -1").stdout:
            return False
    except (AssertionError, RuntimeError, OSError):
        return False
    return sessions_logged_in(inv)


class Prober:
    """HTTP to every guest from this host every 0.2 s, in threads: the
    times each one answered, and one write per guest whose completion
    (time, body) is kept."""

    def __init__(self, names):
        self.names = names
        self.answers = {vm: [] for vm in names}
        self.writes = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._watch, args=(vm,), daemon=True) for vm in names]
        for thread in self.threads:
            thread.start()

    def _watch(self, vm):
        while not self.stop.is_set():
            try:
                get(vm, "/", PROBE_TIMEOUT)
                self.answers[vm].append(time.monotonic())
            except OSError:
                pass
            self.stop.wait(0.2)

    def write(self, vm, token, timeout):
        def run():
            try:
                body = get(vm, f"/cgi-bin/disk?{token}", timeout)
            except OSError as failed:
                body = f"no answer: {failed}"
            self.writes[vm] = (time.monotonic(), body)
        threading.Thread(target=run, daemon=True).start()

    def wait_writes(self, timeout: float) -> bool:
        """Whether every guest's write has answered (or failed) within ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.writes) < len(self.names):
            if time.monotonic() > deadline:
                return False
            time.sleep(2)
        return True

    def longest_gap(self, vm, since):
        times = [since] + [t for t in self.answers[vm] if t >= since]
        return max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else float("inf")

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=PROBE_TIMEOUT + 1)


def watch_start(inv, names, guest_wait: float) -> tuple[dict, dict, str]:
    """Every guest answering (from the storage node, then from this host),
    and what must not change while the storage node is away: each
    hypervisor's boot, each VM's (hypervisor, QEMU pid), and the storage
    node's boot (which must)."""
    for vm in names:
        wait_for_http(vm, timeout=guest_wait)
        reachable(vm)
    boots = {h: boot_id(inv.node(h)) for h in inv.group("hypervisors")}
    qemu = {vm: qemu_pid(inv, vm) for vm in names}
    return boots, qemu, boot_id(inv.node(inv.group("storage")[0]))


def assert_writes_done(prober: Prober, timeout: float) -> None:
    assert prober.wait_writes(timeout), f"writes still waiting {timeout:.0f} s after the storage came back: " \
        f"{prober.writes}" + "".join(postmortem(vm) for vm in prober.names if vm not in prober.writes)


def assert_carried_on(inv, boots: dict, qemu: dict, prober: Prober, token: str) -> None:
    """Nothing restarted while the storage node was away: each hypervisor
    on its boot with /cluster mounted, each VM in its QEMU process, the
    write each guest was asked meanwhile done and read back, no failed
    action in the cluster."""
    for hypervisor, boot in boots.items():
        host = inv.node(hypervisor)
        assert boot_id(host) == boot, f"{hypervisor} restarted (self-fenced or fenced) while the storage node was away"
        assert host.check_output("findmnt -n -o FSTYPE /cluster").strip() == "ocfs2", hypervisor
    for vm, pid in qemu.items():
        assert qemu_pid(inv, vm) == pid, f"{vm} was restarted (QEMU {pid} before)"
        assert prober.writes[vm][1] == f"wrote {token}", \
            f"{vm}'s write while the storage node was away failed: {prober.writes[vm][1]!r}\n{postmortem(vm)}"
        assert get(vm, "/cgi-bin/disk", 30) == f"read {token}", f"{vm} does not read back its write"
    storage = inv.node(inv.group("storage")[0])
    failures = storage.check_output("crm_mon --one-shot --output-as=xml --include=failures")
    assert "<failure " not in failures, failures
