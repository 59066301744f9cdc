"""DRBD in the VM lab, for the verify tests and the benchmark: each
resource's state as the kernel shows it (read with the collection's own
parser), and each lab VM's power switch (its QEMU monitor, on the host)."""

from __future__ import annotations

import json
import re
import socket
import time

from labkit import inventory as inv
from ansible_collections.havirt.cluster.plugins.module_utils.drbd import parse_proc_drbd

DRBDADM_84 = "/lib/drbd/drbdadm-84"


def resources() -> list[dict]:
    return inv.hostvars(inv.group("hypervisors")[0])["havirt_drbd_resources"]


def resource(name: str) -> dict:
    return next(r for r in resources() if r["name"] == name)


def check_configuration(node: str, res: dict) -> None:
    """The resource's configuration on `node`, as drbdadm reads it, is the
    inventory's (device, minor, both hosts' addresses), in root-only files
    (they hold the peers' shared secret). Read by DRBD 8.4's drbdadm, the
    configuration's own version, also where no drbd module is loaded."""
    host = inv.node(node)
    adm = DRBDADM_84
    assert host.check_output(f"{adm} sh-ll-dev %s", res["name"]) == res.get("disks", {}).get(node, res.get("disk"))
    assert host.check_output(f"{adm} sh-minor %s", res["name"]) == str(res["minor"])
    dump = host.check_output(f"{adm} dump %s", res["name"])
    for peer in inv.group("hypervisors"):
        address = f"{inv.hostvars(peer)['havirt_cluster_address']}:{res['port']}"
        assert re.search(rf"on {peer} {{[^}}]*address\s+ipv4 {re.escape(address)};", dump), dump
    if inv.hostvars(node).get("drbd_fencing", "resource-and-stonith") != "dont-care":
        # Both sides lift DRBD's fencing constraint after a resync.
        common = host.check_output(f"{adm} dump all")
        for handler in ("after-resync-target", "unfence-peer"):
            assert re.search(rf"{handler}\s+/usr/lib/drbd/crm-unfence-peer.sh;", common), common
    assert host.file(f"/etc/drbd.d/havirt-{res['name']}.res").mode == 0o600
    assert host.file("/etc/drbd.d/global_common.conf").mode == 0o600


def status_all(node: str) -> dict:
    """/proc/drbd of that node: {minor: state}."""
    return parse_proc_drbd(inv.node(node).check_output("cat /proc/drbd"))["minors"]


def status(node: str, name: str) -> dict:
    """The resource's line of /proc/drbd on that node ({} when down)."""
    return status_all(node).get(resource(name)["minor"], {})


def wait_in_sync(name: str, timeout: float = 600) -> float:
    """Wait until both hypervisors show Connected UpToDate/UpToDate; return
    the seconds it took."""
    started = time.monotonic()
    while True:
        states = {node: status(node, name) for node in inv.group("hypervisors")}
        if all(s.get("cstate") == "Connected" and s.get("disk") == "UpToDate" and s.get("peer_disk") == "UpToDate"
               for s in states.values()):
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{name} not in sync after {timeout} s: {states}"
        time.sleep(3)


def wait_standalone(name: str, timeout: float = 60) -> None:
    """Wait until both hypervisors show the resource StandAlone (a split
    brain DRBD would not resolve: each side keeps its data)."""
    deadline = time.monotonic() + timeout
    while True:
        states = {node: status(node, name) for node in inv.group("hypervisors")}
        if all(s.get("cstate") == "StandAlone" for s in states.values()):
            return
        assert time.monotonic() < deadline, f"{name} not StandAlone on both after {timeout} s: {states}"
        time.sleep(2)


def primaries(name: str, nodes: list[str] | None = None) -> list[str]:
    return [node for node in (nodes or inv.group("hypervisors")) if status(node, name).get("role") == "Primary"]


def verify(node: str, name: str, timeout: float = 600) -> dict:
    """DRBD's online verify of the resource from `node`: every block of
    both copies compared by checksum (verify-alg). Returns the KiB found
    out of sync on each hypervisor."""
    inv.node(node).check_output("drbdadm verify %s", name)
    deadline = time.monotonic() + timeout
    time.sleep(2)
    while status(node, name).get("cstate", "").startswith("Verify"):
        assert time.monotonic() < deadline, f"the verify of {name} did not end in {timeout} s"
        time.sleep(3)
    return {n: status(n, name)["out_of_sync_kib"] for n in inv.group("hypervisors")}


def qmp(node: str, command: str, arguments: dict | None = None) -> dict:
    """Run one QMP command (with its arguments) on a lab VM's QEMU, through
    its monitor socket in the VM lab's state directory (tools/vmlab/up.yml)."""
    path = inv.PROJECT / ".vmlab" / f"{node}.qmp"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        stream = sock.makefile("rw")
        stream.readline()  # greeting
        for execute, args in (("qmp_capabilities", None), (command, arguments)):
            stream.write(json.dumps(dict({"execute": execute}, **({"arguments": args} if args else {}))) + "\n")
            stream.flush()
            while True:
                answer = json.loads(stream.readline())
                if "event" not in answer:
                    break
            if "error" in answer:
                raise RuntimeError(f"{node}: {execute}: {answer['error']}")
        return answer.get("return", {})


def is_running(node: str) -> bool:
    return bool(qmp(node, "query-status").get("running"))
