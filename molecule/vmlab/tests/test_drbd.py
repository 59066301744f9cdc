"""DRBD in the VM lab (real kernels, DRBD 8.4): both hypervisors hold every
resource UpToDate, passata's made from its image on both; data written on one is on the other after a switch of
primary; the cluster's VM runs where its disk is promoted and live-migrates
through migrate.yml with two primaries only for the move; a hard crash of
the hypervisor it runs on loses no acknowledged write, and the crashed node
comes back by itself (its iSCSI session, /cluster with what it wrote before
the crash, its TLS socket, the resources outside the cluster) and resyncs;
a backing device that holds data is never initialized.

The tests run in this order and build on each other (the migration puts the
VM on the last hypervisor, the crash kills that one). The VM runs alone
meanwhile (the lab's other VMs stopped through the cluster, started again
at the end): a hypervisor of this lab is one emulated CPU, and with the
OCFS2 VMs beside it the crashed node's two guests restarted on the
survivor's, three nested guests there, and passata answered nothing in
420 s (2026-12-03)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from labkit import drbd, failover, timeline
from labkit.vms import (all_running, alone, defined_on, playbook, postmortem, resource, running_on, vm_spec,
                         wait_for_http)

from ansible_collections.havirt.cluster.plugins.filter.replace import FENCE_CONSTRAINT_PREFIX

pytestmark = pytest.mark.usefixtures("probe_tools")
VM = "passata"
SCRATCH = "scratch"
# Everything is emulated twice over for the guest (QEMU inside the TCG VMs):
# it boots in one to two minutes.
GUEST_WAIT = 420


@pytest.fixture(scope="module", autouse=True)
def _the_vm_alone(inv):
    alone(inv, VM, timeout=GUEST_WAIT)
    yield
    all_running(inv, timeout=GUEST_WAIT)


def _storage(inv):
    return inv.node(inv.group("storage")[0])


def _cluster(inv, command, *args):
    """A cluster command on the storage node (a member that never freezes here)."""
    return _storage(inv).check_output(command, *args)


def _other(inv, node):
    return next(h for h in inv.group("hypervisors") if h != node)


def test_every_resource_is_uptodate_on_both_hypervisors(inv):
    for res in drbd.resources():
        took = drbd.wait_in_sync(res["name"])
        print(f"{res['name']}: UpToDate/UpToDate on both ({took:.0f} s more wait)")
        for node in inv.group("hypervisors"):
            assert drbd.status(node, res["name"])["protocol"] == "C"
            drbd.check_configuration(node, res)
    # Both copies whole: no fencing constraint may stand (one left by a
    # resync that ended before pacemaker ran kept a copy from being promoted).
    deadline = time.monotonic() + 60
    while (left := _fence_constraints(inv)):
        assert time.monotonic() < deadline, f"DRBD fencing constraints left with every copy UpToDate: {left}"
        time.sleep(5)


# Where tools/vmlab/seed-image puts its marker (512 KiB), which no guest writes.
IMAGE_SECTOR = 1024


def test_the_disk_made_from_an_image_holds_it_on_both_copies(inv):
    """passata's `image` (tools/vmlab/seed-image: 16 MiB raw, a marker at
    512 KiB) written by the vms role into its DRBD resource, promoted for
    the write on its sync source before the cluster managed it: both
    hypervisors' backing devices hold the marker (DRBD 8.4's metadata is at
    their end: the data starts at 0), read around DRBD and the page cache."""
    made = [(vm, vm_spec(vm)) for vm in (VM,) if vm_spec(vm).get("image")]
    assert made, f"{VM} is not made from an image in this inventory"
    for vm, spec in made:
        res = drbd.resource(spec["disk"]["drbd"])
        with open(spec["image"]["src"], "rb") as image:
            image.seek(IMAGE_SECTOR * 512)
            marker = image.read(512).rstrip(b"\0").decode()
        assert marker, f"{spec['image']['src']} has no marker at sector {IMAGE_SECTOR}"
        for node in inv.group("hypervisors"):
            found = inv.node(node).check_output(
                "dd if=%s bs=512 skip=%s count=1 iflag=direct status=none | tr -d '\\000'", res["disk"], str(IMAGE_SECTOR))
            assert found == marker, (node, res["disk"], found)
        print(f"{vm}: DRBD resource {res['name']} made from {spec['image']['src']}: its marker {marker!r} on "
              f"{' and '.join(inv.group('hypervisors'))}'s {res['disk']}")


def _fence_constraints(inv):
    constraints = ET.fromstring(_cluster(inv, "cibadmin --query --scope constraints"))
    return sorted({loc.get("id") for loc in constraints.iter("rsc_location")
                   if loc.get("id", "").startswith(FENCE_CONSTRAINT_PREFIX)})


def test_data_written_on_one_is_on_the_other_after_a_switch_of_primary(inv):
    first, second = inv.group("hypervisors")
    device = f"/dev/drbd{drbd.resource(SCRATCH)['minor']}"
    assert drbd.primaries(SCRATCH) == []
    a, b = inv.node(first), inv.node(second)
    a.check_output("drbdadm primary %s", SCRATCH)
    try:
        digest = a.check_output(
            "head -c 16M /dev/urandom > /root/scratch.bin && dd if=/root/scratch.bin of=%s bs=1M oflag=direct status=none"
            " && sha256sum < /root/scratch.bin", device).split()[0]
    finally:
        a.check_output("drbdadm secondary %s", SCRATCH)
    b.check_output("drbdadm primary %s", SCRATCH)
    try:
        again = b.check_output("dd if=%s bs=1M count=16 iflag=direct status=none | sha256sum", device).split()[0]
    finally:
        b.check_output("drbdadm secondary %s", SCRATCH)
    assert again == digest
    # A Secondary refuses writers: DRBD itself keeps two nodes from writing.
    assert a.run("dd if=/dev/zero of=%s bs=4k count=1 oflag=direct", device).rc != 0


def _token_at_start(host, device):
    """The first line of the device (read as Primary: a DRBD 8.4 Secondary cannot be opened)."""
    return host.check_output("dd if=%s bs=4k count=1 iflag=direct status=none | head -n 1 | tr -d '\\000'", device)


def test_a_split_brain_discards_nothing_and_is_reported(inv):
    """The link between the hypervisors cut (both disconnected) while each
    side writes as Primary, then reconnected with one side still Primary:
    DRBD detects the split brain; the default policy (after-sb-1pri
    consensus, after-sb-0pri discard-zero-changes) throws neither side's
    writes away (the old discard-secondary would have resynced the
    Secondary's away), the handler records it and status.yml says it.
    Then the README's recovery: the victim's writes are dropped by the
    operator's choice and both are in sync again."""
    first, second = inv.group("hypervisors")
    a, b = inv.node(first), inv.node(second)
    device = f"/dev/drbd{drbd.resource(SCRATCH)['minor']}"
    tokens = {first: f"survivor-{uuid.uuid4().hex[:8]}", second: f"victim-{uuid.uuid4().hex[:8]}"}
    record_dir = inv.role_var(first, "drbd", "drbd_split_brain_record_dir")
    for host in (a, b):
        host.check_output("rm -f %s/%s && drbdadm disconnect %s", record_dir, SCRATCH, SCRATCH)
    try:
        # Disconnected, DRBD's fencing (resource-and-stonith) refuses to
        # promote a side whose peer is not known to be outdated (the fence
        # handler fails for a resource no cluster runs): a split brain takes
        # an operator's --force, as it would on a real cluster.
        for name, host in ((second, b), (first, a)):
            host.check_output("drbdadm primary --force %s", SCRATCH)
            host.check_output("printf '%%s\\n' %s | dd of=%s bs=4k count=1 conv=sync oflag=direct status=none",
                              tokens[name], device)
        b.check_output("drbdadm secondary %s", SCRATCH)
        # The first stays Primary: after-sb-1pri decides.
        for host in (a, b):
            host.run("drbdadm connect %s", SCRATCH)
        drbd.wait_standalone(SCRATCH, timeout=60)
        # Nothing discarded: each side still holds what it wrote.
        assert _token_at_start(a, device) == tokens[first]
        b.check_output("drbdadm primary --force %s", SCRATCH)
        try:
            assert _token_at_start(b, device) == tokens[second]
        finally:
            b.check_output("drbdadm secondary %s", SCRATCH)
        # Told: the handler's record and journal line on both, and status.yml.
        for name, host in ((first, a), (second, b)):
            assert host.file(f"{record_dir}/{SCRATCH}").exists, name
            assert "split brain" in host.check_output("journalctl -t havirt-drbd --no-pager -n 20"), name
        run = playbook("status.yml")
        assert run.returncode == 0, run.stdout[-3000:]
        flat = " ".join(run.stdout.split())
        for name in (first, second):
            assert re.search(rf"{name}: .*scratch: StandAlone .*SPLIT BRAIN", flat), run.stdout[-3000:]
        # Recovery (roles/drbd/README.md): the victim's writes are dropped.
        b.check_output("drbdadm connect --discard-my-data %s", SCRATCH)
        a.check_output("drbdadm connect %s", SCRATCH)
        drbd.wait_in_sync(SCRATCH, timeout=300)
        for host in (a, b):
            host.check_output("rm -f %s/%s", record_dir, SCRATCH)
    finally:
        a.run("drbdadm secondary %s", SCRATCH)
        b.run("drbdadm secondary %s", SCRATCH)
        for host in (a, b):
            host.run("drbdadm connect %s", SCRATCH)
    b.check_output("drbdadm primary %s", SCRATCH)
    try:
        assert _token_at_start(b, device) == tokens[first]
    finally:
        b.check_output("drbdadm secondary %s", SCRATCH)


def test_the_vm_runs_where_its_disk_is_promoted_and_answers(inv):
    wait_for_http(VM, timeout=GUEST_WAIT)
    where = running_on(VM)
    assert len(where) == 1
    assert drbd.primaries(VM) == where
    assert _cluster(inv, "crm_resource --resource %s --locate", f"drbd-{VM}-clone").count("Promoted") == 1


def test_migrate_moves_the_vm_with_two_primaries_only_for_the_move(inv):
    source = running_on(VM)[0]
    target = _other(inv, source)
    storage = _storage(inv)
    wait_for_http(VM, timeout=GUEST_WAIT)
    drbd.wait_in_sync(VM)
    storage.check_output("rm -f /tmp/probe.log; (ping -D -i 0.05 -W 1 %s > /tmp/probe.log 2>&1 &) ; sleep 1",
                         vm_spec(VM)["address"])
    try:
        run = playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"to={target}", timeout=900)
    finally:
        storage.run("pkill -INT -x ping")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    summary = re.findall(r'"msg": "([^"]*)"', run.stdout)[-1]
    print(summary)
    assert re.search(rf"{VM}: {source} -> {target}, total \d+ ms, downtime \d+ ms", summary), summary
    assert running_on(VM) == [target] and defined_on(VM) == [target]
    assert drbd.primaries(VM) == [target]
    for node in inv.group("hypervisors"):
        # One primary again: the window is closed on both sides.
        assert "allow-two-primaries" not in inv.node(node).check_output("/lib/drbd/drbdsetup-84 show %s", VM)
    # Its first answer after the move is slow under nested TCG (wait_for_http).
    assert wait_for_http(VM, timeout=60).strip() == f"<h1>{VM}</h1>"
    probe = storage.check_output("cat /tmp/probe.log")
    sent, received = (int(n) for n in re.search(r"(\d+) packets transmitted, (\d+) received", probe).groups())
    print(f"probe every 50 ms from servdb: {sent - received} of {sent} lost")
    assert sent > 20 and sent - received < 100, probe[-400:]
    # The cluster took both back as they are: nothing in maintenance, no failure.
    mon = _cluster(inv, "crm_mon --one-shot --output-as=xml")
    assert 'maintenance="true"' not in mon
    assert "<failure " not in mon, mon


def _counter_writer(storage, address):
    """From servdb: write c1, c2, ... to the guest's disk, each flushed before
    the guest answers; every answered number is an acknowledged write."""
    storage.check_output(
        "rm -f /tmp/acked; nohup sh -c 'i=0; while :; do i=$((i+1)); r=$(curl -s --max-time 5 http://%s/cgi-bin/disk?c$i);"
        " [ \"$r\" = \"wrote c$i\" ] && echo $i >> /tmp/acked; done' > /dev/null 2>&1 & echo $! > /tmp/writer.pid",
        address)


def test_hard_crash_loses_no_acknowledged_write_and_the_node_resyncs(inv):
    """The hypervisor that runs the VM freezes (QEMU stops its CPUs: a hung
    or dead machine). The survivor fences it (fence_qmp: reset, then boot),
    promotes its copy and starts the VM; the guest's disk holds at least the
    last write it acknowledged. The fenced node boots, rejoins and resyncs
    by itself."""
    # The VM goes to the last hypervisor first, so that every run crashes
    # the same node whatever the earlier tests left behind.
    victim = inv.group("hypervisors")[-1]
    if running_on(VM) != [victim]:
        moved = playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"to={victim}", timeout=900)
        assert moved.returncode == 0, moved.stdout[-3000:]
    survivor = _other(inv, victim)
    storage = _storage(inv)
    address = vm_spec(VM)["address"]
    wait_for_http(VM, timeout=GUEST_WAIT)
    drbd.wait_in_sync(VM)
    fencings = _cluster(inv, "stonith_admin --history %s --verbose", victim).count("successful")
    # The victim also writes to /cluster (OCFS2 on the iSCSI LUN) and syncs:
    # after its reset that file must be there, on both hypervisors.
    mount = inv.role_var(victim, "ocfs2", "ocfs2_mount_point")
    shared = f"{mount}/before-crash-{uuid.uuid4().hex[:8]}.bin"
    victim_host = inv.node(victim)
    victim_host.check_output("dd if=/dev/urandom of=%s bs=1M count=16 conv=fsync status=none", shared)
    shared_digest = victim_host.check_output("sha256sum %s", shared).split()[0]
    _counter_writer(storage, address)
    deadline = time.monotonic() + 120
    while storage.run("test -s /tmp/acked").rc != 0:
        assert time.monotonic() < deadline, "the guest acknowledged no write"
        time.sleep(2)
    time.sleep(5)
    # The survivor's clock against this machine's, for its logs' timeline.
    before = time.time()
    offset = float(inv.node(survivor).check_output("date +%s.%N")) - (before + time.time()) / 2
    drbd.qmp(victim, "stop")
    crashed = time.monotonic()
    crashed_at = time.time() + offset
    time.sleep(2)
    storage.check_output("kill $(cat /tmp/writer.pid)")
    acked = [int(n) for n in storage.check_output("cat /tmp/acked").split()]
    last = max(acked)
    print(f"{victim} frozen after {len(acked)} acknowledged writes (last c{last})")

    # Fenced for real: the survivor's cluster reset the frozen VM.
    while _cluster(inv, "stonith_admin --history %s --verbose", victim).count("successful") == fencings:
        assert time.monotonic() - crashed < 180, _cluster(inv, "crm_mon -1")
        time.sleep(2)
    fenced = time.monotonic() - crashed
    deadline = crashed + GUEST_WAIT
    while True:
        out = storage.run("curl -s --max-time 5 http://%s/cgi-bin/disk", address)
        if out.rc == 0 and out.stdout.startswith("read "):
            break
        assert time.monotonic() < deadline, _cluster(inv, "crm_mon -1") + postmortem(VM)
        time.sleep(2)
    mttr = time.monotonic() - crashed
    token = out.stdout.split()[-1] if out.stdout.split() else ""
    print(f"fenced after {fenced:.0f} s; {VM} answering from {survivor} {mttr:.0f} s after the crash, its disk holds {token}")
    assert re.fullmatch(r"c\d+", token), out.stdout
    assert int(token[1:]) >= last, f"acknowledged c{last} but the disk holds {token}"
    assert running_on(VM, nodes=[survivor]) == [survivor]
    assert drbd.primaries(VM, nodes=[survivor]) == [survivor]
    _print_timeline(victim, crashed_at, mttr)

    # The fenced node boots by itself (fence_qmp powered it on), rejoins and
    # resyncs what was written meanwhile; then the handler's constraint goes.
    started = time.monotonic()
    while True:
        try:
            if inv.node(victim).run("systemctl is-active pacemaker").stdout.strip() == "active" \
                    and drbd.status(victim, VM).get("cstate") in ("Connected", "SyncTarget"):
                break
        except (AssertionError, RuntimeError, subprocess.SubprocessError):
            pass
        assert time.monotonic() - started < 600, f"{victim} did not rejoin"
        time.sleep(5)
    rejoined = time.monotonic() - crashed
    resync = drbd.wait_in_sync(VM)
    print(f"{victim} back in the cluster {rejoined:.0f} s after the crash; UpToDate/UpToDate {resync:.0f} s later")
    assert running_on(VM) == [survivor]
    _came_back_by_itself(inv, victim, survivor, shared, shared_digest, crashed)
    deadline = time.monotonic() + 120
    while "drbd-fence-by-handler" in _cluster(inv, "cibadmin --query --scope constraints"):
        assert time.monotonic() < deadline, "crm-unfence-peer did not lift the fencing constraint after the resync"
        time.sleep(3)


def _print_timeline(victim, crashed_at, mttr):
    """The recovery phase by phase from the nodes' logs (tools/labkit/
    timeline.py, read by failover.recovery_logs as for the container
    lab), and everything they logged while the VM's start was under way:
    where the time of a slow start goes."""
    logs = failover.recovery_logs(victim, [VM], crashed_at - 1)
    entries = [e for text in logs["journal"].values() for e in timeline.journal_entries(text)]
    qemu = [t for text in logs["qemu"].values() for t in timeline.qemu_starts(text)]
    phases = timeline.phases(entries, qemu, crashed_at, victim, resource(VM), disk=f"drbd-{VM}")
    phases["guest answers (2 s probe)"] = round(mttr, 1)
    print("timeline after the freeze (s): " + ", ".join(f"{name} {at}" for name, at in phases.items()))
    if "start requested" in phases and "QEMU started" in phases:
        print("\n".join(timeline.between(entries, crashed_at + phases["start requested"],
                                          crashed_at + phases["QEMU started"])[:200]))


def _came_back_by_itself(inv, victim, survivor, shared, digest, crashed):
    """What a rebooted hypervisor must bring back with no hands: its iSCSI
    session, /cluster (OCFS2) with the data it synced before the reset, the
    TLS socket migrations arrive on (its address appears late at boot), and
    the DRBD resources no cluster manager runs (drbd@NAME.target)."""
    host = inv.node(victim)
    mount = inv.role_var(victim, "ocfs2", "ocfs2_mount_point")
    deadline = time.monotonic() + 300
    while host.run("findmnt -n -o FSTYPE %s", mount).stdout.strip() != "ocfs2":
        assert time.monotonic() < deadline, host.run("systemctl status --no-pager open-iscsi o2cb '*.mount'").stdout
        time.sleep(3)
    assert "LOGGED_IN" in host.check_output("iscsiadm -m session -P 3")
    for node in (victim, survivor):
        assert inv.node(node).check_output("timeout 120 sha256sum %s", shared).split()[0] == digest, node
    inv.node(survivor).run("rm -f %s", shared)
    listen = f"{inv.hostvars(victim)['havirt_cluster_address']}:16514"
    assert listen in host.check_output("ss -Hltn"), f"{victim} does not listen on {listen} after its reboot"
    used = {vm["disk"]["drbd"] for vm in inv.hostvars(victim).get("havirt_vms", []) if vm["disk"].get("drbd")}
    outside = [r for r in drbd.resources() if r["name"] not in used]
    for res in outside:
        while drbd.status(victim, res["name"]).get("cstate") not in ("Connected", "SyncTarget", "SyncSource"):
            assert time.monotonic() < deadline, f"{res['name']} is not up on {victim} after its reboot"
            time.sleep(3)
    print(f"{victim}: iSCSI session, {mount} with the data it synced before the crash, TLS socket and "
          f"{len(outside)} resource(s) outside the cluster back {time.monotonic() - crashed:.0f} s "
          "after the crash")


def test_a_backing_device_that_holds_data_is_never_initialized(inv, tmp_path):
    """The drbd role given a new resource on a disk that holds ext4 fails
    naming it, installs nothing and leaves the disk as it was."""
    nodes = inv.group("hypervisors")
    image = "/root/havirt-precious.img"
    devices = {}
    for node in nodes:
        host = inv.node(node)
        host.check_output("truncate -s 64M %s && mkfs.ext4 -q -F -L precious %s", image, image)
        devices[node] = host.check_output("losetup --find --show %s", image)
    try:
        before = {node: inv.node(node).check_output("sha256sum %s", devices[node]).split()[0] for node in nodes}
        playbook_file = tmp_path / "drbd-only.yml"
        playbook_file.write_text("- name: Only the drbd role\n  hosts: hypervisors\n  gather_facts: false\n"
                                 "  roles:\n    - role: havirt.cluster.drbd\n")
        resource = {"name": "precious", "minor": 9, "port": 7799, "disks": devices}
        run = subprocess.run(
            ["ansible-playbook", *inv.inventory_args(), str(playbook_file),
             "-e", json.dumps({"drbd_resources": [resource]})],
            cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=900,
        )
        output = " ".join((run.stdout + run.stderr).split())
        assert run.returncode != 0, output
        assert "holds data (ext4 file system labelled 'precious')" in output, output[-2000:]
        assert "drbd_initialize_nonempty" in output
        for node in nodes:
            host = inv.node(node)
            assert not host.file("/etc/drbd.d/havirt-precious.res").exists
            assert host.check_output("sha256sum %s", devices[node]).split()[0] == before[node]
            assert 9 not in drbd.status_all(node)
    finally:
        for node in nodes:
            inv.node(node).run("losetup -d %s; rm -f %s", devices.get(node, "/dev/null"), image)
