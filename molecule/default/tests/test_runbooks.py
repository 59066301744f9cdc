"""The runbooks of docs/runbooks, followed as written: the test makes the
situation a runbook is for, then runs the page's own command blocks (those
marked ``sh node``, on a cluster node; ``sh hypervisor``, on each
hypervisor the failures name; ``sh controller``, on the controller with
the lab's inventory in place of inventories/mysite) in order, and checks that the cluster is healthy afterwards.

vm-failed.md: speedauth's definition edited by hand on both hypervisors
(its kernel file renamed, as a wrong edit would), its QEMU killed; the
cluster restarts it where it ran, then on the other hypervisor, and leaves
it stopped once both starts failed. status.yml says so with each
hypervisor's reason, and one mail per failed start (as many as each
hypervisor's pacemaker logged) reaches the alert recipients. The runbook's steps bring it back on its preferred hypervisor,
answering, with no failed action left: site.yml --tags vms,cluster (its
definition written back, its failed starts cleared), then the by-hand
clean-up, which finds nothing more to do. The same failure again, its
cause put right by hand and nothing cleared: with failure-timeout
shortened to a minute, the cluster starts it by itself once its failures
are that old, on its preferred hypervisor.

vm-unwatched.md: migrate.yml killed right after passata's live migration
(before it gives the VM back to the cluster), speedauth set unmanaged by
hand and its QEMU destroyed: the cluster leaves it stopped. status.yml
names both as not watched, with the runbook. The runbook's blocks settle
passata's move where it runs and give speedauth back (the cluster starts
it); a second destroy of speedauth is then repaired by the cluster.

quorum-lost.md: both hypervisors killed at once (their containers
SIGKILLed, the plug pulled). The storage node alone has no quorum: it
fences no one and starts nothing, its alerts say the quorum is lost, and
status.yml says so with the runbook's name. The runbook's first block, one
hypervisor powered on as an operator would, then its other blocks: the
quorum is back, the cluster fences the node still missing (the lab's fence
device powers it on again) and starts every VM; evacuate.yml's restore
brings each home, answering."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from test_status import _status

from labkit import failover as fo
from labkit import inventory
from labkit import vms as lab_vms
from labkit.runbooks import BOOKS
from labkit.runbooks import blocks as _blocks
from labkit.runbooks import follow as _follow

pytestmark = pytest.mark.usefixtures("probe_tools")

VM = "speedauth"
BOOK = BOOKS / "vm-failed.md"
QUORUM_BOOK = BOOKS / "quorum-lost.md"
UNWATCHED_BOOK = BOOKS / "vm-unwatched.md"
BROKEN_KERNEL = "/var/lib/havirt/boot/missing-vmlinux"


def _failed_starts(rid: str) -> list[str]:
    """The nodes where the resource's start failed, as crm_mon says."""
    root = ET.fromstring(inventory.node(fo.witness()).check_output("crm_mon --one-shot --output-as=xml"))
    return sorted(f.get("node") for f in root.iterfind("failures/failure") if f.get("op_key") == f"{rid}_start_0")


def _failed_start_results(name: str, rid: str, since: dict) -> list[str]:
    """The failed starts of ``rid`` on the hypervisor ``name`` since
    ``since[name]`` (its clock), as its pacemaker logged them."""
    log = inventory.node(name).check_output(f"journalctl -u pacemaker --no-pager -o cat --since @{since[name]}")
    return re.findall(rf"Result of start operation for {re.escape(rid)} on {name}: (?!ok\b)(.*)", log, re.I)


@pytest.fixture()
def healed(inv):
    """Whatever the test left: the inventory's definitions, the failures
    cleared, the cluster settled."""
    fo.wait_settled()
    yield
    rid = lab_vms.resource(VM)
    if lab_vms.running_on(VM) != [lab_vms.vm_spec(VM)["preferred"]] or _failed_starts(rid):
        run, said = lab_vms.site()
        assert run.returncode == 0, said[-3000:]
        inv.node(fo.witness()).run(f"crm_resource --cleanup --resource {rid}")
        fo.wait_settled()


def test_a_vm_that_fails_to_start_everywhere_is_brought_back_by_its_runbook(inv, healed, mail_sink):
    blocks = _blocks(BOOK)
    assert [where for where, _ in blocks] == ["node", "hypervisor", "controller", "node", "controller"], blocks
    rid = lab_vms.resource(VM)
    hypervisors = inv.group("hypervisors")
    [was] = lab_vms.running_on(VM)
    for name in hypervisors:
        inv.node(name).check_output(
            f"sed -i 's#<kernel>[^<]*</kernel>#<kernel>{BROKEN_KERNEL}</kernel>#' /etc/havirt/vms/{VM}.xml")
        assert BROKEN_KERNEL in inv.node(name).check_output(f"cat /etc/havirt/vms/{VM}.xml")
    since = {name: inv.node(name).check_output("date +%s") for name in hypervisors}
    inv.node(was).check_output(f"virsh destroy {VM}")
    deadline = time.monotonic() + 180
    while _failed_starts(rid) != sorted(hypervisors):
        assert time.monotonic() < deadline, (_failed_starts(rid), inv.node(fo.witness()).check_output("crm_mon -1"))
        time.sleep(3)
    inv.node(fo.witness()).check_output("crm_resource --wait --timeout 60s")
    assert lab_vms.running_on(VM) == []

    # What the runbook says the operator sees.
    line = next(line for line in _status() if line.startswith(f"vm {VM}: "))
    assert line.startswith(f"vm {VM}: NOT RUNNING (FAILED TO START on "), line
    for name in hypervisors:
        assert f"{name}: " in line, line
    assert f"crm_resource --cleanup --resource {rid}: docs/runbooks/vm-failed.md)" in line, line
    deadline = time.monotonic() + 60
    mails: list = []
    while time.monotonic() < deadline:
        mails = mail_sink()
        if all(any(f"vm {VM}: start FAILED on {name}" in str(m["Subject"]) for m in mails) for name in hypervisors):
            break
        time.sleep(2)
    for name in hypervisors:
        # One mail per failed start: pacemaker may try a node twice (a
        # transition computed before the fail count reached the CIB); its
        # own log says how many times it did.
        tried = _failed_start_results(name, rid, since)
        found = [m for m in mails if f"vm {VM}: start FAILED on {name}" in str(m["Subject"])]
        assert tried and len(found) == len(tried), (tried, [m.get_content() for m in mails])

    # The runbook, step by step.
    said = []
    for where, commands in blocks:
        hosts = hypervisors if where == "hypervisor" else [""]
        said.append("\n".join(_follow(where, commands, host) for host in hosts))
        if len(said) == 3:
            # site.yml put the definition back and had the cluster try again.
            assert _failed_starts(rid) == [] and lab_vms.running_on(VM) == [lab_vms.vm_spec(VM)["preferred"]]
    assert f"{rid}_start_0" in said[0] and "Failed Resource Actions" in said[0], said[0]
    # libvirt's own words, on each hypervisor.
    assert said[1].count(f"unable to stat: {BROKEN_KERNEL}: No such file or directory") >= len(hypervisors), said[1]
    assert lab_vms.running_on(VM) == [lab_vms.vm_spec(VM)["preferred"]]
    assert f"is running on: {lab_vms.vm_spec(VM)['preferred']}" in said[3], said[3]
    assert f"vm {VM}: {lab_vms.vm_spec(VM)['preferred']}" in said[4], said[4][-3000:]
    assert _failed_starts(rid) == []
    assert lab_vms.wait_for_http(VM, timeout=120)
    for name in hypervisors:
        assert BROKEN_KERNEL not in inv.node(name).check_output(f"cat /etc/havirt/vms/{VM}.xml")


# The failure-timeout of the expiry test (the role's default is 10min).
EXPIRY_S = 60


@pytest.fixture()
def short_failure_timeout(inv, healed):
    """The cluster's failure-timeout (pacemaker_resource_defaults, in the
    role's rsc_defaults set) shortened to EXPIRY_S for the test, put back
    after it."""
    node = inv.node(fo.witness())
    args = "--type rsc_defaults --set-name havirt-rsc-defaults --name failure-timeout"
    before = node.check_output(f"crm_attribute {args} --query --quiet").strip()
    assert before, "the role set no failure-timeout"
    node.check_output(f"crm_attribute {args} --update {EXPIRY_S}s")
    yield
    node.check_output(f"crm_attribute {args} --update {before}")


def test_a_vm_whose_starts_failed_starts_by_itself_once_the_cause_is_gone(inv, short_failure_timeout):
    """vm-failed.md: "a cause that went away by itself needs nothing from
    you". speedauth's kernel file renamed in its definition on both
    hypervisors, its QEMU killed: both starts fail, it stays stopped. The
    definition is put back by hand and nothing is cleared: the cluster
    leaves it stopped until the failures are failure-timeout old, then
    starts it by itself, on its preferred hypervisor."""
    rid = lab_vms.resource(VM)
    hypervisors = inv.group("hypervisors")
    [was] = lab_vms.running_on(VM)
    kernel = ET.fromstring(inv.node(was).check_output(f"cat /etc/havirt/vms/{VM}.xml")).findtext("os/kernel")
    assert kernel and kernel != BROKEN_KERNEL
    for name in hypervisors:
        inv.node(name).check_output(
            f"sed -i 's#<kernel>{kernel}</kernel>#<kernel>{BROKEN_KERNEL}</kernel>#' /etc/havirt/vms/{VM}.xml")
    inv.node(was).check_output(f"virsh destroy {VM}")
    destroyed = time.monotonic()
    deadline = destroyed + 180
    while _failed_starts(rid) != sorted(hypervisors):
        assert time.monotonic() < deadline, (_failed_starts(rid), inv.node(fo.witness()).check_output("crm_mon -1"))
        time.sleep(2)
    failed = time.monotonic() - destroyed
    # The cause goes away (as a storage node that comes back); nobody clears the failures.
    for name in hypervisors:
        inv.node(name).check_output(
            f"sed -i 's#<kernel>{BROKEN_KERNEL}</kernel>#<kernel>{kernel}</kernel>#' /etc/havirt/vms/{VM}.xml")
    while time.monotonic() - destroyed < min(failed + 20, EXPIRY_S - 10):
        assert lab_vms.running_on(VM) == [], "started again before its failures expired"
        time.sleep(2)
    deadline = destroyed + EXPIRY_S + 300
    while not lab_vms.running_on(VM):
        assert time.monotonic() < deadline, inv.node(fo.witness()).check_output("crm_mon -1 --show-detail")
        time.sleep(2)
    started = time.monotonic() - destroyed
    print(f"{VM}: both starts failed {failed:.0f} s after its QEMU was killed; started again by the cluster "
          f"{started:.0f} s after (failure-timeout {EXPIRY_S} s), nothing cleared by hand")
    assert started >= EXPIRY_S - 5, started
    assert lab_vms.running_on(VM) == [lab_vms.vm_spec(VM)["preferred"]]
    assert lab_vms.wait_for_http(VM, timeout=120)


def _watching(rid: str, timeout: float = 90) -> bool:
    """Whether the cluster brings the VM back after its QEMU is destroyed."""
    vm = rid.split("-", 1)[1]
    [was] = lab_vms.running_on(vm)
    inventory.node(was).check_output(f"virsh destroy {vm}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab_vms.running_on(vm):
            return True
        time.sleep(2)
    return False


@pytest.fixture()
def given_back(inv):
    """Whatever the test left: no VM unwatched or stopped, its failures
    cleared, every VM home."""
    fo.wait_settled()
    yield
    node = inv.node(fo.witness())
    for vm in lab_vms.vms():
        rid = lab_vms.resource(vm["name"])
        for attr in ("is-managed", "maintenance", "havirt-move"):
            if node.run(f"crm_resource --resource {rid} --meta --get-parameter {attr}").stdout.strip():
                node.check_output(f"crm_resource --resource {rid} --meta --delete-parameter {attr}")
        node.run(f"crm_resource --cleanup --resource {rid}")
    fo.wait_settled()
    _home()


def _home():
    """Every VM moved back to its preferred hypervisor, answering."""
    lab_vms.send_home()
    for vm in lab_vms.vms():
        assert lab_vms.wait_for_http(vm["name"], timeout=120)


def test_vms_the_cluster_does_not_watch_are_given_back_by_their_runbook(inv, given_back):
    blocks = _blocks(UNWATCHED_BOOK)
    assert [where for where, _ in blocks] == ["controller", "node", "controller"], blocks
    moved, by_hand = "passata", "speedauth"
    [source] = lab_vms.running_on(moved)
    destination = next(h for h in inv.group("hypervisors") if h != source)
    # The runbook's first block names the hypervisor it runs on after the move.
    assert f"VM={moved} HOST={destination}" in blocks[0][1], (blocks[0][1], source)
    assert f"VM={by_hand}" in blocks[1][1]
    lab_vms.migrate_killed_at(moved, destination, "Settle the move")
    assert lab_vms.running_on(moved) == [destination]
    rid = lab_vms.resource(by_hand)
    inv.node(fo.witness()).check_output(f"crm_resource --resource {rid} --meta --set-parameter is-managed "
                                        "--parameter-value false")
    # Two and a half monitor intervals (10 s): watched, it would be running again.
    assert not _watching(rid, timeout=25), f"the cluster restarted {by_hand} while unmanaged"

    lines = _status()
    line = next(line for line in lines if line.startswith(f"vm {moved}: "))
    assert line == (f"vm {moved}: {destination} (NOT WATCHED BY THE CLUSTER: a move {source} -> {destination} was "
                    f"interrupted, in maintenance; re-run migrate.yml -e vm={moved} to settle a move, or give it back "
                    "with crm_resource; docs/runbooks/vm-unwatched.md)"), line
    line = next(line for line in lines if line.startswith(f"vm {by_hand}: "))
    assert line.startswith(f"vm {by_hand}: NOT RUNNING (NOT WATCHED BY THE CLUSTER: unmanaged; "), line
    assert line.endswith("docs/runbooks/vm-unwatched.md)"), line

    said = [_follow(where, commands) for where, commands in blocks]
    assert f"{moved}: an interrupted move {source} -> {destination} settled" in " ".join(said[0].split()), said[0][-3000:]
    [where] = lab_vms.running_on(by_hand)
    assert f"is running on: {where}" in said[1], said[1]
    for vm in (moved, by_hand):
        line = next(line for line in said[2].splitlines() if f"vm {vm}: " in line)
        assert "NOT WATCHED" not in line and "NOT RUNNING" not in line, line
    assert lab_vms.running_on(moved) == [destination]
    failures = ET.fromstring(inv.node(fo.witness()).check_output("crm_mon --one-shot --output-as=xml"))
    assert [f.get("op_key") for f in failures.iterfind("failures/failure")] == []
    # Watched again: the cluster repairs what it did not before.
    assert _watching(rid), f"the cluster did not restart {by_hand}"
    for vm in (moved, by_hand):
        assert lab_vms.wait_for_http(vm, timeout=120)


def _quorate(node: str) -> bool:
    """corosync's answer on `node`: exit 0 and Quorate: Yes when quorate."""
    run = inventory.node(node).run("corosync-quorumtool -s")
    return run.rc == 0 and re.search(r"^Quorate: +Yes$", run.stdout, re.M) is not None


def _fence_events(node: str) -> list[tuple[str, str, str]]:
    """(target, status, completed) of each event of the fencing history, as `node` knows it."""
    history = inventory.node(node).check_output("stonith_admin --history '*' --verbose --output-as=xml")
    return [(e.get("target"), e.get("status"), e.get("completed") or "") for e in ET.fromstring(history).iter("fence_event")]


@pytest.fixture()
def powered_back(inv):
    """Whatever the test left: every node's container running (a node the
    test powered off and nobody powered on again), the cluster settled,
    every VM on its preferred hypervisor."""
    fo.wait_settled()
    yield
    for name in inv.group("cluster"):
        if not fo.power_state(name)[0]:
            fo.podman("start", f"havirt-{name}")
    inventory.node.cache_clear()
    fo.wait_settled(timeout=400)
    _home()


def test_a_cluster_without_quorum_is_brought_back_by_its_runbook(inv, powered_back, mail_sink):
    blocks = _blocks(QUORUM_BOOK)
    assert [where for where, _ in blocks] == ["node", "node", "controller", "controller"], blocks
    hypervisors = inv.group("hypervisors")
    assert all(re.search(rf"\b{name}\b", blocks[3][1]) for name in hypervisors), blocks[3][1]
    survivor = fo.witness()
    first, last = hypervisors
    started = {name: fo.started_at(name) for name in hypervisors}
    fenced_before = _fence_events(survivor)
    killed = time.time()
    fo.podman("kill", "--signal", "KILL", *[f"havirt-{name}" for name in hypervisors])
    inventory.node.cache_clear()
    deadline = time.monotonic() + 60
    while _quorate(survivor):
        assert time.monotonic() < deadline, inv.node(survivor).run("corosync-quorumtool -s").stdout
        time.sleep(1)
    lost_after = time.time() - killed
    # Twice the lab fence device's power_on_delay (10 s): a fenced node would be running again.
    time.sleep(20)
    assert [fo.power_state(name)[0] for name in hypervisors] == [False, False], "a node was fenced without quorum"
    assert not _quorate(survivor)
    # Nothing was asked of the fence devices without quorum, not even pending.
    assert _fence_events(survivor) == fenced_before

    # What the runbook says the operator sees.
    lines = _status()
    assert lines[0].startswith(f"cluster: 1/3 nodes online ({survivor}), quorum: NO (fewer than half the nodes "
                               "see each other: "), lines[0]
    assert "docs/runbooks/quorum-lost.md), DC: " in lines[0], lines[0]
    for vm in lab_vms.vms():
        assert (f"vm {vm['name']}: NOT RUNNING (NO QUORUM: the cluster starts no VM until it has one; "
                "docs/runbooks/quorum-lost.md)") in lines, lines
    for name in hypervisors:
        assert any(line.startswith(f"{name}: UNREACHABLE (") for line in lines), lines
        assert not any(line.startswith(f"if {name} dies: ") and "MiB to spare" in line for line in lines), lines
    deadline = time.monotonic() + 60
    while True:
        subjects = [str(mail["Subject"]) for mail in mail_sink()]
        lost = {name: sum(f"node {name} LOST; QUORUM LOST where this was seen ({survivor})" in s for s in subjects)
                for name in hypervisors}
        if all(lost.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert lost == {name: 1 for name in hypervisors}, subjects

    # The runbook, step by step: the first hypervisor powered on between steps 1 and 2.
    said = [_follow(*blocks[0])]
    assert survivor in said[0] and "partition WITHOUT quorum" in said[0], said[0]
    fo.podman("start", f"havirt-{first}")
    inventory.node.cache_clear()
    said.append(_follow(*blocks[1]))
    assert re.search(r"^Quorate: +Yes$", said[1], re.M), said[1]
    # The node still missing was fenced, and the lab's fence device powered it on again.
    assert fo.wait_restarted(last, started[last], timeout=120), f"{last} was not powered on by its fence device"
    said.append(_follow(*blocks[2]))
    report = said[2]
    assert "quorum: yes" in report, report[-3000:]
    for vm in lab_vms.vms():
        assert re.search(rf"vm {vm['name']}: servvirt[12]", report), report[-3000:]
    # Step 4 once every node is online, as the runbook says.
    fo.wait_settled(timeout=400)
    said.append(_follow(*blocks[3]))
    fo.wait_settled()
    for vm in lab_vms.vms():
        assert lab_vms.running_on(vm["name"]) == [vm["preferred"]], vm["name"]
        assert lab_vms.wait_for_http(vm["name"], timeout=180)
    print(f"quorum lost {lost_after:.1f} s after the kill; every VM home {time.time() - killed:.0f} s after it")
