"""VMs whose disks are image files on the OCFS2 store (the first source's
design) in the VM lab: the vms role made each file (raw and qcow2) once
for both hypervisors, the cluster runs each VM as a VirtualDomain resource,
migrate.yml moves each while servdb probes it with its disk writes before
and after on the one file both hypervisors see, and a hard crash of the
hypervisor running them brings them back on the other with every write
they acknowledged, never on two at once. The crash is timed phase by
phase: corosync, fencing, O2CB's declaration of the dead node and the
replay of its journal, the VMs' start.

Each move and each crash runs with that VM alone in the lab (the others
stopped through the cluster, target-role Stopped, and started again at the
end): a hypervisor VM of this lab is one emulated CPU on one host core,
and two busybox guests emulated inside it (TCG inside TCG) starve each
other. With three guests running, a guest that had just arrived answered
no ping for 29 s (its kernel: "soft lockup - CPU#0 stuck for 26s") and
the guests took over 20 s to answer one HTTP request; alone, they answer
as the DRBD guest does in test_drbd.py. This is the lab's CPU, not the
cluster's: a real hypervisor runs dozens of guests.

Runs after test_drbd.py and before test_idempotence.py (the storage roles
again: no change after these crashes either)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from labkit import drbd, failover, timeline
from labkit.vms import (all_running, alone, file_vms, playbook, postmortem, resource, running_on, vm_spec,
                        wait_for_http, xen_virt_caps)

pytestmark = pytest.mark.usefixtures("probe_tools")
# Emulation twice over (QEMU in the TCG VMs): a guest boots in one to two minutes.
GUEST_WAIT = 420
SECTOR = 2048  # where the guest's /cgi-bin/disk writes its token (tools/guest/build)
IMAGE_SECTOR = 1024  # where tools/vmlab/seed-image puts its marker, which no guest writes


FILE_VMS = file_vms()


def _storage(inv):
    return inv.node(inv.group("storage")[0])


def _cluster(inv, command, *args):
    return _storage(inv).check_output(command, *args)


def _other(inv, node):
    return next(h for h in inv.group("hypervisors") if h != node)


@pytest.fixture(scope="module", autouse=True)
def _every_vm_runs_again_afterwards(inv):
    yield
    all_running(inv, timeout=GUEST_WAIT)


def _token_in_file(inv, node, vm, sector=SECTOR):
    """The token at the guest's sector 2048 (or `sector`) read from the
    image file on `node` (not from the guest): raw or qcow2, read through
    qemu-img without taking the image's lock (-U), as a copy in raw."""
    disk = vm_spec(vm)["disk"]
    scratch = f"/tmp/{vm}-{uuid.uuid4().hex[:6]}.raw"
    host = inv.node(node)
    try:
        host.check_output("qemu-img convert -U -f %s -O raw %s %s", disk.get("format", "raw"), disk["path"], scratch)
        return host.check_output("dd if=%s bs=512 skip=%s count=1 status=none | tr -d '\\000'", scratch, str(sector))
    finally:
        host.run("rm -f %s", scratch)


def _write(inv, vm, token):
    out = _storage(inv).check_output("curl -s --max-time 30 http://%s/cgi-bin/disk?%s", vm_spec(vm)["address"], token)
    assert out.strip() == f"wrote {token}", out


def _read(inv, vm):
    out = _storage(inv).check_output("curl -s --max-time 30 http://%s/cgi-bin/disk", vm_spec(vm)["address"])
    assert out.startswith("read "), out
    return out.split()[-1] if out.split()[1:] else ""


def test_the_lab_has_vms_on_raw_and_qcow2_files():
    formats = sorted(vm_spec(vm)["disk"].get("format", "raw") for vm in FILE_VMS)
    assert formats == ["qcow2", "raw"], FILE_VMS


@pytest.mark.parametrize("vm", FILE_VMS)
def test_each_image_is_one_file_both_hypervisors_see_as_the_inventory_says(inv, vm):
    disk = vm_spec(vm)["disk"]
    seen = {}
    for node in inv.group("hypervisors"):
        host = inv.node(node)
        info = json.loads(host.check_output("qemu-img info -U --output=json %s", disk["path"]))
        mount = host.check_output("findmnt -n -o FSTYPE --target %s", disk["path"]).strip()
        seen[node] = (info["format"], info["virtual-size"], mount,
                      host.check_output("stat -c '%%i %%s %%a %%U' %s", disk["path"]).strip())
    print(seen)
    assert len(set(seen.values())) == 1, f"the hypervisors see different files: {seen}"
    fmt, size, mount, _ = next(iter(seen.values()))
    assert (fmt, mount) == (disk.get("format", "raw"), "ocfs2")
    assert size == 64 * 1024 * 1024  # the inventory's 64M


def test_a_file_made_from_an_image_holds_it_converted_and_grown(inv):
    """masterauth's `image` (tools/vmlab/seed-image: raw, 16 MiB, a marker
    at 512 KiB) copied by the vms role into its qcow2 file on the store and
    grown to the inventory's 64M: each hypervisor reads the marker in the
    file it sees. Nothing in the lab writes that sector afterwards."""
    made = [vm for vm in FILE_VMS if vm_spec(vm).get("image")]
    assert made, f"no VM of {FILE_VMS} is made from an image in this inventory"
    for vm in made:
        disk, source = vm_spec(vm)["disk"], vm_spec(vm)["image"]["src"]
        with open(source, "rb") as image:
            image.seek(IMAGE_SECTOR * 512)
            marker = image.read(512).rstrip(b"\0").decode()
            image.seek(0, 2)
            source_size = image.tell()
        assert marker, f"{source} has no marker at sector {IMAGE_SECTOR}"
        for node in inv.group("hypervisors"):
            info = json.loads(inv.node(node).check_output("qemu-img info -U --output=json %s", disk["path"]))
            assert (info["format"], info["virtual-size"]) == (disk["format"], 64 * 1024 * 1024), (node, info)
            assert _token_in_file(inv, node, vm, sector=IMAGE_SECTOR) == marker, (node, vm)
        print(f"{vm}: {disk['path']} ({disk['format']}, 64 MiB) made from {source} (raw, {source_size >> 20} MiB): "
              f"its marker {marker!r} read on {', '.join(inv.group('hypervisors'))}")


@pytest.mark.parametrize("vm", FILE_VMS)
def test_each_runs_once_as_a_cluster_resource_from_its_file(inv, vm):
    wait_for_http(vm, timeout=GUEST_WAIT)
    where = running_on(vm)
    assert len(where) == 1, where
    assert where[0] in _cluster(inv, "crm_resource --resource %s --locate", resource(vm))
    xml = ET.fromstring(inv.node(where[0]).check_output("virsh dumpxml %s", vm))
    disk = xml.find("devices/disk")
    assert disk.get("type") == "file"
    assert disk.find("source").get("file") == vm_spec(vm)["disk"]["path"]
    assert disk.find("driver").get("type") == vm_spec(vm)["disk"].get("format", "raw")
    if xml.get("type") == "xen":
        # Xen's qdisk back end (QEMU in dom0) passes the guest's flushes to
        # the file; OCFS2 keeps the nodes' caches coherent.
        assert disk.find("driver").get("name") == "qemu"
    else:
        assert disk.find("driver").get("cache") == "none"  # what makes a move on a shared file system safe


@pytest.mark.parametrize("vm", FILE_VMS)
def test_migrate_moves_it_with_its_disk_while_servdb_probes(inv, vm):
    alone(inv, vm, timeout=GUEST_WAIT)
    source = running_on(vm)[0]
    target = _other(inv, source)
    storage = _storage(inv)
    caps = xen_virt_caps(source)
    if caps is not None and "shadow" not in caps:
        # A PV guest on a Xen without shadow paging: refused before anything
        # moves (libxl would fail at once and libvirt's tunnelled migration
        # would never end), the VM answering where it was.
        run = playbook("migrate.yml", "-e", f"vm={vm}", "-e", f"to={target}", timeout=900)
        out = run.stdout + run.stderr
        print(re.findall(r"not migrating [^\n]*", out)[:1])
        assert run.returncode != 0 and f"{vm} is a PV guest and this Xen has no shadow paging" in out, out[-3000:]
        assert "Nothing was changed" in out, out[-3000:]
        assert running_on(vm) == [source]
        assert wait_for_http(vm, timeout=60).strip() == f"<h1>{vm}</h1>"
        mon = _cluster(inv, "crm_mon --one-shot --output-as=xml")
        assert 'maintenance="true"' not in mon and "<failure " not in mon, mon
        return
    wait_for_http(vm, timeout=GUEST_WAIT)
    before = f"before-{uuid.uuid4().hex[:8]}"
    _write(inv, vm, before)
    storage.check_output("nohup ping -D -i 0.05 -W 1 %s > /tmp/probe-%s.log 2>&1 & echo $! > /tmp/probe-%s.pid; sleep 1",
                         vm_spec(vm)["address"], vm, vm)
    try:
        run = playbook("migrate.yml", "-e", f"vm={vm}", "-e", f"to={target}", timeout=900)
    finally:
        storage.run("kill -INT $(cat /tmp/probe-%s.pid); sleep 1", vm)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    summary = re.findall(r'"msg": "([^"]*)"', run.stdout)[-1]
    print(summary)
    # On Xen libvirt keeps no job statistics: the total is the module's clock.
    assert re.search(rf"{vm}: {source} -> {target}, total \d+ ms" + (", downtime \\d+ ms" if caps is None else ""),
                     summary), summary
    assert running_on(vm) == [target]
    assert wait_for_http(vm, timeout=60).strip() == f"<h1>{vm}</h1>"
    # Written before the move, read after it by the guest on the target.
    assert _read(inv, vm) == before
    # Written after the move on the target; the hypervisor it left reads it in the file.
    after = f"after-{uuid.uuid4().hex[:8]}"
    _write(inv, vm, after)
    assert _token_in_file(inv, source, vm) == after
    probe = storage.check_output("cat /tmp/probe-%s.log", vm)
    sent, received = (int(n) for n in re.search(r"(\d+) packets transmitted, (\d+) received", probe).groups())
    print(f"probe every 50 ms from servdb: {sent - received} of {sent} lost")
    assert sent > 20, probe[-400:]
    if caps is None:
        assert sent - received < 100, probe[-400:]
    # On Xen the outage under nested TCG (the guest paused, then its vif
    # reconnected: 8-12 s by hand, LAB-NOTES) says nothing about Xen on
    # hardware: reported above, not gated; that the guest kept its memory
    # and disk is (the tokens).
    mon = _cluster(inv, "crm_mon --one-shot --output-as=xml")
    assert 'maintenance="true"' not in mon and "<failure " not in mon, mon


def _counter_writer(storage, vm):
    """From servdb: write c1, c2, ... to the guest's disk, each flushed before
    the guest answers; every answered number is an acknowledged write."""
    storage.check_output(
        "rm -f /tmp/acked-%s; nohup sh -c 'i=0; while :; do i=$((i+1)); r=$(curl -s --max-time 10 "
        "http://%s/cgi-bin/disk?c$i); [ \"$r\" = \"wrote c$i\" ] && echo $i >> /tmp/acked-%s; done' "
        "> /dev/null 2>&1 & echo $! > /tmp/writer-%s.pid", vm, vm_spec(vm)["address"], vm, vm)


@pytest.mark.parametrize("crashed_vm", FILE_VMS)
def test_hard_crash_brings_it_back_on_the_other_with_every_acknowledged_write(inv, crashed_vm):
    """The hypervisor that runs the file-backed VM freezes (QEMU stops its
    CPUs). The survivor fences it, OCFS2 recovers the dead node's journal
    slot, the VM starts there from the same file with at least its last
    acknowledged write, and does not run on the fenced node once it is back."""
    alone(inv, crashed_vm, timeout=GUEST_WAIT)
    victim = inv.group("hypervisors")[-1]
    survivor = _other(inv, victim)
    if running_on(crashed_vm) != [victim]:
        caps = xen_virt_caps(victim)
        if caps is not None and "shadow" not in caps:
            # A PV guest that cannot move live (test_migrate_...): crash where it runs.
            victim = running_on(crashed_vm)[0]
            survivor = _other(inv, victim)
        else:
            moved = playbook("migrate.yml", "-e", f"vm={crashed_vm}", "-e", f"to={victim}", timeout=900)
            assert moved.returncode == 0, moved.stdout[-3000:]
    crashed_vms = [crashed_vm]
    storage = _storage(inv)
    for vm in crashed_vms:
        wait_for_http(vm, timeout=GUEST_WAIT)
    fencings = _cluster(inv, "stonith_admin --history %s --verbose", victim).count("successful")
    for vm in crashed_vms:
        _counter_writer(storage, vm)
    deadline = time.monotonic() + 120
    while any(storage.run("test -s /tmp/acked-%s", vm).rc for vm in crashed_vms):
        assert time.monotonic() < deadline, "a guest acknowledged no write"
        time.sleep(2)
    time.sleep(5)
    before = time.time()
    offset = float(inv.node(survivor).check_output("date +%s.%N")) - (before + time.time()) / 2
    drbd.qmp(victim, "stop")
    crashed = time.monotonic()
    crashed_at = time.time() + offset
    time.sleep(2)
    last = {}
    for vm in crashed_vms:
        storage.check_output("kill $(cat /tmp/writer-%s.pid)", vm)
        last[vm] = max(int(n) for n in storage.check_output("cat /tmp/acked-%s", vm).split())
    print(f"{victim} frozen; last acknowledged writes: {last}")

    answered = {}
    while len(answered) < len(crashed_vms):
        for vm in crashed_vms:
            if vm in answered:
                continue
            out = storage.run("curl -s --max-time 5 http://%s/cgi-bin/disk", vm_spec(vm)["address"])
            if out.rc == 0 and out.stdout.startswith("read "):
                answered[vm] = (time.monotonic() - crashed, out.stdout.split()[-1] if out.stdout.split()[1:] else "")
        assert time.monotonic() - crashed < GUEST_WAIT + 120, \
            _cluster(inv, "crm_mon -1") + "".join(postmortem(vm) for vm in crashed_vms if vm not in answered)
        time.sleep(2)
    fenced = _cluster(inv, "stonith_admin --history %s --verbose", victim).count("successful") > fencings
    for vm, (mttr, token) in answered.items():
        print(f"{vm}: answering from {survivor} {mttr:.0f} s after the crash, its disk holds {token}")
        assert re.fullmatch(r"c\d+", token), token
        assert int(token[1:]) >= last[vm], f"{vm} acknowledged c{last[vm]} but its disk holds {token}"
        assert running_on(vm, nodes=[survivor]) == [survivor]
    assert fenced, f"{victim} was never fenced"
    _print_timeline(victim, crashed_at, {vm: mttr for vm, (mttr, _) in answered.items()})

    # The fenced node boots by itself, rejoins and mounts the store; the VMs
    # stay where they are (a node's return moves nothing) and run only there.
    mount = inv.role_var(victim, "ocfs2", "ocfs2_mount_point")
    deadline = time.monotonic() + 600
    while True:
        try:
            host = inv.node(victim)
            if host.run("systemctl is-active pacemaker").stdout.strip() == "active" \
                    and host.run("findmnt -n -o FSTYPE %s", mount).stdout.strip() == "ocfs2":
                break
        except (AssertionError, RuntimeError, subprocess.SubprocessError):
            pass
        assert time.monotonic() < deadline, f"{victim} did not come back with {mount} mounted"
        time.sleep(5)
    print(f"{victim} back with {mount} mounted {time.monotonic() - crashed:.0f} s after the crash")
    for vm in crashed_vms:
        assert running_on(vm) == [survivor], vm


def _print_timeline(victim, crashed_at, mttr):
    """Each VM's recovery from the nodes' logs, with the O2CB stack's steps
    (o2net, o2dlm, the journal replay), then every kernel line about OCFS2
    and O2CB the survivor logged: where the time went."""
    crashed_vms = list(mttr)
    logs = failover.recovery_logs(victim, crashed_vms, crashed_at - 1)
    entries = [e for text in logs["journal"].values() for e in timeline.journal_entries(text)]
    for vm in crashed_vms:
        qemu = [t for key, text in logs["qemu"].items() if key.endswith("/" + vm) for t in timeline.qemu_starts(text)]
        phases = timeline.phases(entries, qemu, crashed_at, victim, resource(vm), ocfs2=True)
        phases["guest answers (2 s probe)"] = round(mttr[vm], 1)
        print(f"{vm} after the freeze (s): " + ", ".join(f"{name} {at}" for name, at in phases.items()))
    kernel = [e for e in entries if e["ident"] == "kernel" and re.search(r"o2|ocfs2|dlm", e["msg"])]
    print("\n".join(timeline.between(kernel, crashed_at, crashed_at + max(mttr.values()))[:80]))
