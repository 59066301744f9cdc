"""Incremental backups of a qcow2 disk, by havirt.cluster.vm_backup and
vm_restore run ad hoc on a hypervisor of the container lab (libvirt 11,
QEMU 10: their backup job, checkpoints and dirty bitmaps), on a busybox
guest of its own outside the cluster: the cluster's VMs are on raw LUNs,
which hold no bitmap (their backups stay full, test_backup.py). The
playbooks (backup.yml, restore.yml, the chains on the backup host) on a
qcow2 file of the OCFS2 store: molecule/vmlab's test_backup_vmlab.py.

* A full backup (the first), then two incremental ones while the guest
  writes: the second copies the 8 MiB of random data the guest wrote, the
  third only the token it wrote after, though the disk holds the 8 MiB.
* The newest backup's chain (full, incremental, incremental) reads exactly
  as the disk does (qemu-img compare).
* The middle backup restored (the guest stopped): the guest reads the
  token of that backup; vm_restore removed the disk's bitmap, so the next
  backup is a full copy, and says why.
* The guest restarted (libvirt forgets a transient domain's checkpoints):
  the next backup is still incremental (the bitmap stayed in the image),
  and its chain reads as the disk."""

from __future__ import annotations

import ipaddress
import shlex
import time
import xml.etree.ElementTree as ET

import pytest

from labkit import guests
from labkit.vms import run_module, vm_spec, vms

# The cluster VM whose definition the guest copies (its kernel, initrd,
# bridge and console).
TEMPLATE = "speedauth"
NAME = "havirt-incr"
DIR = "/var/lib/havirt/test-incremental"
DISK = f"{DIR}/disk.qcow2"
BACKUPS = f"{DIR}/backups"
XML = f"{DIR}/{NAME}.xml"


def _address() -> str:
    """An address on the guests' network that no VM of the inventory has."""
    cmdline = vm_spec(TEMPLATE)["cmdline"].split()
    network = ipaddress.ip_interface(next(t for t in cmdline if t.startswith("havirt.ip="))[10:]).network
    taken = {vm.get("address") for vm in vms()}
    return next(str(a) for a in reversed(list(network.hosts())) if str(a) not in taken)


ADDRESS = _address()


def _definition(template: str) -> str:
    """TEMPLATE's domain, renamed, on the qcow2 disk, at ADDRESS, without
    its lease (the cluster's lock) or its fixed MAC and UUID."""
    root = ET.fromstring(template)
    root.find("name").text = NAME
    for parent, tag in ((root, "uuid"), (root.find("devices/interface"), "mac")):
        parent.remove(parent.find(tag))
    devices = root.find("devices")
    for lease in devices.findall("lease"):
        devices.remove(lease)
    cmdline = root.find("os/cmdline")
    cmdline.text = " ".join(
        f"havirt.name={NAME}" if t.startswith("havirt.name=") else
        f"havirt.ip={ADDRESS}/{t.split('/')[1]}" if t.startswith("havirt.ip=") else t
        for t in cmdline.text.split())
    disk = devices.find("disk")
    devices.remove(disk)
    new = ET.Element("disk", type="file", device="disk")
    ET.SubElement(new, "driver", name="qemu", type="qcow2", cache="none")
    ET.SubElement(new, "source", file=DISK)
    ET.SubElement(new, "target", dev="vda", bus="virtio")
    devices.insert(0, new)
    for serial_log in devices.findall("serial/log"):
        serial_log.set("file", f"/var/log/libvirt/qemu/{NAME}-console.log")
    return ET.tostring(root, encoding="unicode")


def _get(path: str, timeout: float = 10) -> str:
    with guests.DIRECT.open(f"http://{ADDRESS}{path}", timeout=timeout) as answer:
        return answer.read().decode().strip()


def _start(host):
    host.check_output(f"virsh create {shlex.quote(XML)}")
    deadline = time.monotonic() + 180
    while True:
        try:
            return _get("/", 5)
        except OSError:
            assert time.monotonic() < deadline, host.run(f"tail -20 /var/log/libvirt/qemu/{NAME}-console.log").stdout
            time.sleep(2)


def _write(tag: str) -> str:
    token = f"{tag}-{int(time.time() * 1000) % 10 ** 8}"
    assert _get(f"/cgi-bin/disk?{token}") == f"wrote {token}"
    return token


@pytest.fixture(scope="module")
def hv(inv):
    name = inv.group("hypervisors")[0]
    host = inv.node(name)
    template = host.check_output(f"cat /etc/havirt/vms/{TEMPLATE}.xml")
    host.run(f"virsh destroy {NAME}")
    host.check_output(f"rm -rf {DIR} && mkdir -p {BACKUPS} && chmod 711 {DIR} {BACKUPS}")
    host.check_output(f"qemu-img create -q -f qcow2 {DISK} 64M && chown libvirt-qemu:libvirt-qemu {DISK}")
    host.check_output(f"printf '%s' {shlex.quote(_definition(template))} > {XML}")
    _start(host)
    yield name, host
    host.run(f"virsh destroy {NAME}")
    host.run(f"rm -rf {DIR}")


def _backup(hv, backup_id: str, parent: str | None = None) -> dict:
    name, _host = hv
    args = {"name": NAME, "id": backup_id, "directory": BACKUPS, "incremental": True}
    if parent:
        args["parent"] = parent
    result = run_module(name, "havirt.cluster.vm_backup", args)
    assert not result.get("failed"), result.get("msg")
    return result["manifest"]


def _chain_reads_as_the_disk(host, backup_id: str) -> None:
    compare = host.run(f"qemu-img compare -U {BACKUPS}/{NAME}/{backup_id}/vda.qcow2 {DISK}")
    assert compare.rc == 0 and "Images are identical" in compare.stdout, compare.stdout + compare.stderr


def test_incremental_backups_copy_what_changed_and_restore_through_their_chain(hv):
    name, host = hv
    tokens = {"A": _write("a")}
    first = _backup(hv, "A")
    assert (first["kind"], first["checkpoint"]) == ("full", "havirt-A"), first
    tokens["B"] = _write("b")
    assert "rewriting 8 MiB" in _get("/cgi-bin/diskload?8")
    time.sleep(5)
    assert _get("/cgi-bin/diskload?0") == "stopped"
    second = _backup(hv, "B", parent="A")
    tokens["C"] = _write("c")
    third = _backup(hv, "C", parent="B")
    sizes = {m["id"]: m["disks"][0]["bytes"] for m in (first, second, third)}
    print(f"\nstored bytes: full {sizes['A']}, incremental with 8 MiB written {sizes['B']}, "
          f"incremental with one token written {sizes['C']} (the disk holds 8 MiB of random data)")
    assert [(m["kind"], m["parent"]) for m in (second, third)] == [("incremental", "A"), ("incremental", "B")]
    assert sizes["B"] >= 8 << 20 and sizes["C"] < 1 << 20, sizes
    assert host.run(f"test -e {BACKUPS}/{NAME}/C/parent-B").rc == 0
    _chain_reads_as_the_disk(host, "C")

    # The middle backup restored, the guest stopped.
    host.check_output(f"virsh destroy {NAME}")
    restored = run_module(name, "havirt.cluster.vm_restore",
                          {"name": NAME, "path": f"{BACKUPS}/{NAME}/B", "xml_file": XML})
    assert not restored.get("failed"), restored.get("msg")
    assert restored["written"][0]["bitmaps_removed"] == ["havirt-C"], restored["written"]
    _start(host)
    assert _get("/cgi-bin/disk") == f"read {tokens['B']}"
    after = _backup(hv, "D", parent="C")
    assert after["kind"] == "full" and "the dirty bitmap of backup C cannot be used" in after["kind_detail"], after
    _chain_reads_as_the_disk(host, "D")

    # A restart: libvirt forgets the checkpoint, the image keeps the bitmap.
    host.check_output(f"virsh destroy {NAME}")
    _start(host)
    tokens["E"] = _write("e")
    last = _backup(hv, "E", parent="D")
    assert (last["kind"], last["parent"]) == ("incremental", "D"), last
    _chain_reads_as_the_disk(host, "E")
    assert host.check_output(f"virsh checkpoint-list --name {NAME}").strip() == ""
