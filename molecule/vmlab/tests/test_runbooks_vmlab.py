"""docs/runbooks/drbd-split-brain.md, followed as written (the blocks run
by labkit.runbooks), in the VM lab (DRBD needs real kernels).

The split brain made as it happens on a real cluster: passata runs on
servvirt1 over its DRBD resource; the replication link is cut (both sides
disconnected, the clone in maintenance so that the cluster does not react
to the operator's hands), servvirt2's copy is forced Primary and written
(the operator's mistake), made Secondary again, while the guest writes on
servvirt1; the link comes back and DRBD finds two histories: both sides
StandAlone, each with its own write. status.yml names it with the runbook;
the runbook keeps the victim's copy, drops its writes and resyncs it from
the survivor under the running VM. Then the guest reads its own write back
on servvirt2 too (moved there live and back)."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from labkit import drbd
from labkit.runbooks import BOOKS, blocks, follow
from labkit.vms import playbook, running_on, vm_spec, wait_for_http

pytestmark = pytest.mark.usefixtures("probe_tools")

BOOK = BOOKS / "drbd-split-brain.md"
VM = "passata"
SURVIVOR, VICTIM = "servvirt1", "servvirt2"
CLONE = f"drbd-{VM}-clone"
SAVED = f"/var/tmp/{VM}-split-brain.img.gz"
GUEST_WAIT = 420


def _storage(inv):
    return inv.node(inv.group("storage")[0])


def _qemu_pid(inv, node):
    """libvirt's pid file of the VM's QEMU on that node ('' if none)."""
    return inv.node(node).check_output("cat /run/libvirt/qemu/%s.pid 2>/dev/null || true", VM).strip()


def _guest(inv, query=""):
    """The guest's /cgi-bin/disk from servdb: 'wrote TOKEN' or 'read TOKEN'
    (asked again while it does not answer: a nested TCG guest's flushed
    write can take longer than one request's patience)."""
    address = vm_spec(VM)["address"]
    deadline = time.monotonic() + 180
    while True:
        out = _storage(inv).run("curl -s --max-time 30 http://%s/cgi-bin/disk%s", address, query)
        if out.rc == 0 and out.stdout.strip():
            return out.stdout.strip()
        assert time.monotonic() < deadline, f"{VM} did not answer /cgi-bin/disk{query}: {out}"
        time.sleep(3)


def _move(to):
    run = playbook("migrate.yml", "-e", f"vm={VM}", "-e", f"to={to}", timeout=900)
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture()
def mended(inv):
    """Whatever the test left: the resource connected and in sync with the
    survivor's data, no record, the clone managed, passata on servvirt1."""
    yield
    a, b = inv.node(SURVIVOR), inv.node(VICTIM)
    record_dir = inv.role_var(SURVIVOR, "drbd", "drbd_split_brain_record_dir")
    storage = _storage(inv)
    if drbd.status(VICTIM, VM).get("cstate") == "StandAlone":
        storage.run("crm_resource --resource %s --meta --set-parameter maintenance --parameter-value true", CLONE)
        b.run("drbdadm secondary %s && drbdadm connect --discard-my-data %s", VM, VM)
        a.run("drbdadm connect %s", VM)
    drbd.wait_in_sync(VM, timeout=900)
    for host in (a, b):
        host.run("rm -f %s/%s %s", record_dir, VM, SAVED)
    storage.run("crm_resource --resource %s --meta --delete-parameter maintenance", CLONE)
    storage.run("crm_resource --cleanup --resource %s", CLONE)
    if running_on(VM) != [SURVIVOR]:
        _move(SURVIVOR)


def test_a_split_brain_on_a_vms_disk_is_resolved_by_its_runbook(inv, mended):
    steps = blocks(BOOK)
    assert [where for where, _ in steps] == ["node", "node", "hypervisor", "hypervisor", "controller", "node",
                                             "controller"], steps
    if running_on(VM) != [SURVIVOR]:
        _move(SURVIVOR)
    wait_for_http(VM, timeout=GUEST_WAIT)
    drbd.wait_in_sync(VM)
    a, b = inv.node(SURVIVOR), inv.node(VICTIM)
    storage = _storage(inv)
    device = f"/dev/drbd{drbd.resource(VM)['minor']}"
    record_dir = inv.role_var(SURVIVOR, "drbd", "drbd_split_brain_record_dir")
    mine, theirs = f"survivor-{uuid.uuid4().hex[:8]}", f"victim-{uuid.uuid4().hex[:8]}"
    qemu = _qemu_pid(inv, SURVIVOR)
    assert qemu, f"no QEMU of {VM} on {SURVIVOR}"

    # The split: the link cut by hand, servvirt2's copy forced Primary and
    # written where the guest keeps its token (sector 2048), while the
    # guest writes its own on servvirt1.
    storage.check_output("crm_resource --resource %s --meta --set-parameter maintenance --parameter-value true",
                         CLONE)
    for host in (a, b):
        host.check_output("drbdadm disconnect %s", VM)
    b.check_output("drbdadm primary --force %s", VM)
    b.check_output("printf %%s %s | dd of=%s bs=512 seek=2048 count=1 conv=sync oflag=direct status=none",
                   theirs, device)
    b.check_output("drbdadm secondary %s", VM)
    assert _guest(inv, f"?{mine}") == f"wrote {mine}"
    for host in (a, b):
        host.run("drbdadm connect %s", VM)
    drbd.wait_standalone(VM, timeout=120)
    storage.check_output("crm_resource --resource %s --meta --delete-parameter maintenance", CLONE)
    for host in (a, b):
        assert host.file(f"{record_dir}/{VM}").exists, host

    # What the operator sees: status.yml names it, with the runbook.
    run = playbook("status.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    flat = " ".join(run.stdout.split())
    for name in (SURVIVOR, VICTIM):
        assert re.search(rf"{name}: .*{VM}: StandAlone .*SPLIT BRAIN recorded: not replicating, recover by hand "
                         r"\(docs/runbooks/drbd-split-brain\.md\)", flat), run.stdout[-3000:]

    # The runbook, as written.
    started = time.monotonic()
    located = follow(*steps[0])
    assert f"is running on: {SURVIVOR}" in located, located
    follow(*steps[1])
    saved = follow(*steps[2], host=VICTIM)
    assert "StandAlone" in saved and SAVED in saved, saved
    reconnected = follow(*steps[3], host=SURVIVOR)
    print(f"runbook: victim's copy saved and reconnected, {VM} in sync {time.monotonic() - started:.0f} s "
          "after its first step")
    assert reconnected.split()[-1] == "Primary/Secondary", reconnected
    follow(*steps[4])
    follow(*steps[5])
    checked = " ".join(follow(*steps[6]).split())
    print(f"runbook: followed to a clean status.yml in {time.monotonic() - started:.0f} s")
    assert "SPLIT BRAIN" not in checked, checked
    for name, role in ((SURVIVOR, "Primary/Secondary"), (VICTIM, "Secondary/Primary")):
        assert re.search(rf"{name}: .*{VM}: Connected {role} UpToDate/UpToDate", checked), checked

    # Nothing of the VM stopped, its write kept; the victim's write is in
    # the saved copy only; the cluster manages the clone again, no failure.
    assert _qemu_pid(inv, SURVIVOR) == qemu
    assert _guest(inv) == f"read {mine}"
    assert theirs in b.check_output("zcat %s | dd bs=512 skip=2048 count=1 status=none | tr -d '\\000'", SAVED)
    for host in (a, b):
        assert not host.file(f"{record_dir}/{VM}").exists, host
    cib = storage.check_output("cibadmin --query --scope resources")
    assert not re.search(rf'id="{CLONE}-meta_attributes-maintenance"', cib), cib
    failures = storage.check_output("crm_mon --one-shot --inactive | sed -n '/Failed Resource Actions/,$p'")
    assert f"drbd-{VM}" not in failures and f"vm-{VM}" not in failures, failures

    # The victim's copy is the survivor's now: the guest, moved live onto
    # it, reads its own write.
    _move(VICTIM)
    assert _guest(inv) == f"read {mine}"
