"""The storage node reboots while the VMs run from image files on OCFS2
(the first source's design: in `iscsi_ocfs2` mode the VMs' disks live on
the storage node's LUN, which both hypervisors mount). What a user gets
when servdb is upgraded and rebooted: the target goes away, the
hypervisors' iSCSI sessions fail and queue the I/O, O2CB's disk heartbeat
hangs on every node at once (so no node is declared dead and none fences
itself), the guests' writes wait, and everything carries on once the
target is back: no hypervisor is fenced or reboots, the same QEMU
processes keep running, and the writes issued during the outage complete
and read back. The limit is open-iscsi's replacement_timeout from the
session's failure (a day by default since 2026-12-06; it was 120 s): a
longer outage fails the queued I/O and OCFS2 restarts the hypervisors
(roles/iscsi_initiator/README.md).

The guests are watched from this host (its address on the guest bridge,
havirt_vmlab_guest_host_address, tools/vmlab/up.yml), since servdb, the
usual prober, is the node that reboots: an HTTP request every 0.2 s to
each guest, and one disk write each issued 3 s after the reboot. passata
(DRBD, its disk on the hypervisors) is the control.

Last of the VM lab's files: it reboots the storage node (the cluster's DC
too, most of the time) and waits until the cluster is whole again."""

from __future__ import annotations

import time
import uuid

from labkit.guests import Prober, assert_carried_on, assert_writes_done, storage_back, watch_start
from labkit.vms import file_vms, vms

# Emulation twice over (QEMU in the TCG VMs): a guest boots in one to two minutes.
GUEST_WAIT = 420
# servdb's shutdown and boot under TCG, and its services (the target's
# configuration restored, pacemaker back in the cluster).
BACK_WAIT = 600


def test_a_storage_node_reboot_pauses_the_vms_on_ocfs2_and_they_carry_on(inv):
    storage_name = inv.group("storage")[0]
    storage = inv.node(storage_name)
    on_files = file_vms()
    assert on_files, "no VM on an OCFS2 file in the lab: nothing to test"
    names = [vm["name"] for vm in vms()]
    hypervisor_boots, qemu, storage_boot = watch_start(inv, names, GUEST_WAIT)
    tag = uuid.uuid4().hex[:8]

    prober = Prober(names)
    try:
        start = time.monotonic()
        storage.check_output("systemd-run --on-active=1 --unit havirt-test-reboot systemctl reboot")
        time.sleep(4)
        for vm in names:
            prober.write(vm, f"during-{tag}", BACK_WAIT + 300)

        inv.node.cache_clear()
        deadline = time.monotonic() + BACK_WAIT
        while not storage_back(inv, storage_name, storage_boot):
            assert time.monotonic() < deadline, f"{storage_name} or the iSCSI sessions not back after {BACK_WAIT} s"
            time.sleep(5)
        back = time.monotonic() - start
        print(f"\n{storage_name} rebooted: back in the cluster, every iSCSI session logged in, "
              f"{back:.0f} s after the reboot")

        assert_writes_done(prober, 300)
        time.sleep(2)  # a last answer after the writes, for the gaps
    finally:
        prober.close()
    for vm in names:
        done, body = prober.writes[vm]
        print(f"{vm} ({'OCFS2 file' if vm in on_files else 'DRBD, not on the storage node'}): the write issued "
              f"4 s after the reboot answered {body!r} at +{done - start:.1f} s; longest gap between HTTP "
              f"answers {prober.longest_gap(vm, start):.1f} s")

    assert_carried_on(inv, hypervisor_boots, qemu, prober, f"during-{tag}")
