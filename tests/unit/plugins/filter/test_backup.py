"""backup.yml's and restore.yml's decisions (plugins/filter/backup.py)."""

from __future__ import annotations

import json
import pathlib

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter import backup as f

VMS = [{"name": "passata"}, {"name": "speedauth"}, {"name": "old", "state": "absent"}, {"name": "dns", "state": "present"}]


def test_every_vm_that_is_not_marked_absent_when_none_is_asked():
    assert f.backup_plan(VMS) == {"names": ["passata", "speedauth", "dns"], "wanted": ["passata", "speedauth", "dns"],
                                  "unknown": [], "refused": ""}


@pytest.mark.parametrize("asked, wanted, unknown", [
    ("passata", ["passata"], []),
    ("passata, dns", ["passata", "dns"], []),
    (["speedauth"], ["speedauth"], []),
    ("old,nope", ["old", "nope"], ["old", "nope"]),
])
def test_the_vms_asked_and_those_that_are_not_vms(asked, wanted, unknown):
    plan = f.backup_plan(VMS, asked)
    assert plan["wanted"] == wanted and plan["unknown"] == unknown


@pytest.mark.parametrize("host, kind, refused", [
    ("servdb", "kvm", ""),
    (None, "kvm", ""),
    ("", "kvm", "backups are not configured: set backup_host"),
    ("servdb", "xen", "backups are libvirt's backup job (virDomainBackupBegin), which QEMU has and Xen's libxl"),
    ("", "XEN", "backups are libvirt's backup job"),
])
def test_a_run_is_refused_without_a_backup_host_and_on_xen(host, kind, refused):
    plan = f.backup_plan(VMS, "passata", host=host, hypervisor_type=kind)
    assert plan["refused"].startswith(refused) and bool(plan["refused"]) == bool(refused), plan["refused"]
    assert plan["wanted"] == ["passata"]


def _result(vm, backup_id="20261204T080031Z", consistency="crash-consistent"):
    return {"item": vm, "changed": True, "manifest": {
        "vm": vm, "id": backup_id, "consistency": consistency, "consistency_detail": "why",
        "disks": [{"target": "vda", "virtual_size": 64 * 1024 ** 2, "bytes": 197120}]}}


def test_the_report_says_where_each_backup_went_and_which_vm_was_not_backed_up():
    per_host = [{"results": [_result("passata"), {"item": "x", "skipped": True}]}, None, {"results": []}]
    report = f.backup_report(per_host, ["passata", "speedauth"], "servdb", "/srv/havirt-backups")
    assert report["missing"] == ["speedauth"]
    assert report["backups"] == {"passata": "20261204T080031Z"}
    assert report["lines"] == ["passata: backup 20261204T080031Z on servdb:/srv/havirt-backups/passata/20261204T080031Z, "
                               "64.0 MiB of disks in 192.5 KiB (crash-consistent, why; full: full copies only)"]
    incremental = _result("masterauth")
    incremental["manifest"].update(kind="incremental", kind_detail="what changed since backup 20261203T080031Z")
    assert f.backup_report([{"results": [incremental]}], ["masterauth"], "servdb", "/b")["lines"] == [
        "masterauth: backup 20261204T080031Z on servdb:/b/masterauth/20261204T080031Z, 64.0 MiB of disks in "
        "192.5 KiB (crash-consistent, why; incremental: what changed since backup 20261203T080031Z)"]


def _found(vm, *ids, parents=None):
    files = [{"path": f"/srv/havirt-backups/{vm}/{i}/manifest.json"} for i in ids]
    files += [{"path": f"/srv/havirt-backups/{vm}/{i}/parent-{p}"} for i, p in (parents or {}).items()]
    return {"item": vm, "files": files}


def test_stored_backups_oldest_first_and_those_beyond_keep():
    found = {"results": [_found("passata", "20261203T000000Z", "20261201T000000Z", "20261202T000000Z"),
                         _found("dns")]}
    assert f.backup_stored(found, 2) == [
        {"item": "passata", "ids": ["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"],
         "parents": dict.fromkeys(["20261201T000000Z", "20261202T000000Z", "20261203T000000Z"]),
         "expired": ["20261201T000000Z"], "parent": "",
         "parent_detail": "the chain of 20261203T000000Z already holds 1 backup(s) (full_every 1)"},
        {"item": "dns", "ids": [], "parents": {}, "expired": [], "parent": "",
         "parent_detail": "no earlier backup of this VM to build on"}]


def test_stored_chains_are_kept_whole_and_built_on():
    # 01 full, 02 on 01, 03 full, 04 on 03; 05 on 04 still arriving (no manifest).
    found = _found("masterauth", "20261201T000000Z", "20261202T000000Z", "20261203T000000Z", "20261204T000000Z",
                   parents={"20261202T000000Z": "20261201T000000Z", "20261204T000000Z": "20261203T000000Z",
                            "20261205T000000Z": "20261204T000000Z"})
    stored = f.backup_stored([found], 1, 7)[0]
    assert stored["parents"]["20261204T000000Z"] == "20261203T000000Z" and "20261205T000000Z" not in stored["ids"]
    assert stored["expired"] == ["20261201T000000Z", "20261202T000000Z"]
    assert (stored["parent"], stored["parent_detail"]) == ("20261204T000000Z", "on 20261204T000000Z")
    assert f.backup_stored([found], 1, 2)[0]["parent"] == ""
    choice = f.backup_choice(stored["ids"], "latest", stored["parents"])
    assert choice == {"id": "20261204T000000Z", "problem": "", "chain": ["20261203T000000Z", "20261204T000000Z"]}


def test_a_restore_of_a_backup_whose_chain_is_broken_is_refused():
    choice = f.backup_choice(["20261202T000000Z"], "latest", {"20261202T000000Z": "20261201T000000Z"})
    assert choice["id"] == "" and "incremental on 20261201T000000Z, which is not complete" in choice["problem"]


def test_two_parents_in_one_backup_are_an_error():
    found = _found("x", "20261202T000000Z", parents={"20261202T000000Z": "20261201T000000Z"})
    found["files"].append({"path": "/srv/havirt-backups/x/20261202T000000Z/parent-20261200T000000Z"})
    with pytest.raises(AnsibleFilterError, match="two parents"):
        f.backup_stored([found], 1)


def test_keep_below_one_is_an_error():
    with pytest.raises(AnsibleFilterError, match="at least 1"):
        f.backup_expired(["20261201T000000Z"], 0)


@pytest.mark.parametrize("requested, chosen, problem", [
    ("latest", "20261203T000000Z", ""),
    ("20261201T000000Z", "20261201T000000Z", ""),
    ("20261209T000000Z", "", "no backup 20261209T000000Z; the complete ones are 20261201T000000Z, 20261203T000000Z"),
    ("../x", "", "is not a name"),
    ("", "", "is not a name"),
])
def test_the_backup_a_restore_means(requested, chosen, problem):
    choice = f.backup_choice(["20261203T000000Z", "20261201T000000Z"], requested)
    assert choice["id"] == chosen and problem in choice["problem"] and bool(choice["problem"]) == bool(problem)
    assert choice["chain"] == ([chosen] if chosen else [])


def test_no_backup_at_all():
    assert f.backup_choice([], "latest") == {"id": "", "problem": "there is no complete backup of this VM",
                                             "chain": []}


@pytest.mark.parametrize("full_every", [0, -1, True, "7"])
def test_a_chain_length_below_one_is_refused(full_every):
    problems = f.backup_problems("servdb", HOSTS, HYPERVISORS, "/srv/havirt-backups", 7, "", "kvm", full_every)
    assert problems == [f"backup_full_every is {full_every!r}: give 1 (full copies only) or more (a full copy, "
                        "then incremental ones up to that many backups in all)"]


HOSTS = ["servdb", "servvirt1", "servvirt2", "nas"]
HYPERVISORS = ["servvirt1", "servvirt2"]


@pytest.mark.parametrize("host", ["", "servdb", "nas"])
def test_no_problem_when_unset_or_on_a_host_that_is_not_a_hypervisor(host):
    assert f.backup_problems(host, HOSTS, HYPERVISORS, "/srv/havirt-backups", 7) == []


@pytest.mark.parametrize("host, directory, keep, words", [
    ("servvirt1", "/srv/havirt-backups", 7, "is a hypervisor"),
    ("nope", "/srv/havirt-backups", 7, "is not a host of the inventory"),
    ("servdb", "srv/backups", 7, "not a directory of its own"),
    ("servdb", "/srv", 7, "not a directory of its own"),
    ("servdb", "/var/lib/", 7, "not a directory of its own"),
    ("servdb", "/srv/../etc", 7, "not a directory of its own"),
    ("servdb", "/srv/havirt-backups", 0, "keep at least 1"),
    ("servdb", "/srv/havirt-backups", "7", "keep at least 1"),
])
def test_each_problem_is_named(host, directory, keep, words):
    problems = f.backup_problems(host, HOSTS, HYPERVISORS, directory, keep)
    assert len(problems) == 1 and words in problems[0], problems


@pytest.mark.parametrize("host, schedule, words", [
    ("", "daily", "backup_host is empty"),
    ("servdb", "daily\nExecStart=/bin/sh", "not one line of text"),
    ("servdb", 3, "not one line of text"),
])
def test_a_schedule_needs_a_backup_host_and_one_line(host, schedule, words):
    problems = f.backup_problems(host, HOSTS, HYPERVISORS, "/srv/havirt-backups", 7, schedule)
    assert len(problems) == 1 and words in problems[0], problems


@pytest.mark.parametrize("schedule", ["", None, "daily", "*-*-* 02:30:00", "Mon..Fri 23:00"])
def test_a_schedule_on_one_line_with_a_backup_host_is_no_problem(schedule):
    assert f.backup_problems("servdb", HOSTS, HYPERVISORS, "/srv/havirt-backups", 7, schedule) == []


# `systemctl show havirt-backup.service havirt-backup.timer --property=...`
# on the container lab's hypervisors, and ansible.builtin.find's result on
# the backup host, as status.yml registers them (fixtures/backup/README.md).
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "backup"
SHOW_OK = (FIXTURES / "systemctl-show-ok.txt").read_text()
SHOW_FAILED = (FIXTURES / "systemctl-show-failed.txt").read_text()
SHOW_NEVER = (FIXTURES / "systemctl-show-never-run.txt").read_text()
FOUND = json.loads((FIXTURES / "find-manifests.json").read_text())
LAB_VMS = [{"name": "passata"}, {"name": "speedauth"}, {"name": "masterauth"}, {"name": "gone", "state": "absent"}]


def test_systemctl_show_is_read_per_unit():
    units = f.parse_systemctl_show(SHOW_OK)
    assert sorted(units) == ["havirt-backup.service", "havirt-backup.timer"]
    assert units["havirt-backup.service"]["Result"] == "success"
    assert units["havirt-backup.timer"]["ActiveState"] == "active"
    assert f.parse_systemctl_show("") == {}


def test_status_gives_the_newest_backup_of_each_vm_and_each_hypervisors_last_and_next_run():
    hostvars = {"servvirt1": {"__status_backup_units": {"stdout": SHOW_OK, "rc": 0}},
                "servvirt2": {"__status_backup_units": {"stdout": SHOW_FAILED, "rc": 0}}}
    lines = f.backup_status(FOUND, hostvars, ["servvirt1", "servvirt2"], LAB_VMS, "servdb", "/srv/havirt-backups",
                            "*-*-* 03:30:00")
    stored = {}
    for item in FOUND["files"]:
        vm, backup_id = item["path"].split("/")[-3:-1]
        stored.setdefault(vm, []).append(backup_id)
    newest = "; ".join(f"{vm} {max(stored[vm])} ({len(stored[vm])} kept)" if vm in stored else f"{vm} NONE"
                       for vm in ("passata", "speedauth", "masterauth"))
    assert lines[0] == f"backups on servdb:/srv/havirt-backups, the newest of each VM: {newest}"
    assert lines[1].startswith("scheduled backups (*-*-* 03:30:00): servvirt1: last run ok (")
    assert "; servvirt2: last run FAILED (" in lines[1] and "exit-code: journalctl -u havirt-backup.service" in lines[1]
    assert lines[1].count(", next ") == 2


@pytest.mark.parametrize("result, said", [
    ({"stdout": SHOW_NEVER, "rc": 0}, "servvirt1: not run yet, next "),
    ({"unreachable": True, "msg": "ssh: connect timed out"}, "servvirt1: unknown (did not answer)"),
    (None, "servvirt1: unknown (did not answer)"),
    ({"stdout": "Id=havirt-backup.service\nLoadState=not-found\n\nId=havirt-backup.timer\nLoadState=not-found\n",
      "rc": 0}, "servvirt1: timer NOT ACTIVE (not-found; site.yml --tags backup writes it)"),
])
def test_a_hypervisor_that_never_ran_did_not_answer_or_has_no_timer_says_so(result, said):
    hostvars = {"servvirt1": {} if result is None else {"__status_backup_units": result}}
    lines = f.backup_status(FOUND, hostvars, ["servvirt1"], LAB_VMS, "servdb", "/srv/b", "daily")
    assert said in lines[1], lines


def test_status_without_backups_or_schedule():
    assert f.backup_status({}, {}, [], LAB_VMS, "", "/srv/b") == ["backups: not configured (backup_host is empty)"]
    lines = f.backup_status({"files": []}, {}, ["servvirt1"], LAB_VMS, "servdb", "/srv/b", "")
    assert lines == ["backups on servdb:/srv/b, the newest of each VM: passata NONE; speedauth NONE; masterauth NONE",
                     "scheduled backups: none (backup_schedule is empty)"]
    down = f.backup_status({"unreachable": True, "msg": "timed out"}, {}, [], LAB_VMS, "servdb", "/srv/b")
    assert down[0] == "backups on servdb:/srv/b, the newest of each VM: UNKNOWN (servdb did not answer: timed out)"


def test_each_vm_is_sent_disks_then_manifest_with_the_module_utils_commands():
    commands = f.backup_send_commands(["passata", "dns"], "/var/lib/havirt/backup", "20261204T030000Z",
                                      "ssh -i /root/.ssh/k", "root@192.168.100.3:")
    assert [(c["vm"], c["what"]) for c in commands] == [
        ("passata", "disks"), ("passata", "manifest"), ("dns", "disks"), ("dns", "manifest")]
    assert commands[0]["argv"] == [
        "rsync", "--archive", "--relative", "--remove-source-files", "--rsh=ssh -i /root/.ssh/k",
        "--exclude=manifest.json", "/var/lib/havirt/backup/./passata/20261204T030000Z", "root@192.168.100.3:"]
    assert commands[1]["argv"][5] == "--include=manifest.json"
    assert f.backup_send_commands([], "/x", "20261204T030000Z", "ssh", "d:") == []
    with pytest.raises(AnsibleFilterError, match="not a VM name"):
        f.backup_send_commands(["../x"], "/x", "20261204T030000Z", "ssh", "d:")


# libxl has no backup job: on Xen a backup setting is refused, not ignored
# (backup.yml would otherwise find no VM on qemu:///system and back up none).
@pytest.mark.parametrize("host, schedule", [("servdb", ""), ("", "daily"), ("servdb", "daily")])
def test_xen_hypervisors_take_no_backup_settings(host, schedule):
    problems = f.backup_problems(host, HOSTS, HYPERVISORS, "/srv/havirt-backups", 7, schedule, "xen")
    assert len(problems) == 1 and "libxl" in problems[0], problems


def test_xen_without_backups_is_fine():
    assert f.backup_problems("", HOSTS, HYPERVISORS, "/srv/havirt-backups", 7, "", "xen") == []


# restore.yml: which hypervisor writes the disks (captured /proc/drbd of the VM lab, DRBD 8.4.11).
DRBD = pathlib.Path(__file__).parents[1] / "module_utils" / "fixtures" / "drbd"
PRIMARY = (DRBD / "proc_drbd_connected_primary.txt").read_text()
SECONDARY = (DRBD / "proc_drbd_connected_secondary.txt").read_text()
BOTH_SECONDARY = (DRBD / "proc_drbd_connected_both_secondary.txt").read_text()
ON_DRBD = [{"name": "passata", "disk": {"drbd": "passata"}}, {"name": "masterauth", "disk": {"path": "/cluster/m.qcow2"}},
           {"name": "dns", "disk": {"lun": 2}}, {"name": "lost", "disk": {"drbd": "nope"}}]
RESOURCES = [{"name": "passata", "minor": 1, "port": 7789, "disk": "/dev/vdb"}]
HYPERVISORS = ["servvirt1", "servvirt2"]


@pytest.mark.parametrize("texts, host", [
    ({"servvirt1": PRIMARY, "servvirt2": SECONDARY}, "servvirt1"),
    ({"servvirt1": SECONDARY, "servvirt2": PRIMARY}, "servvirt2"),
])
def test_a_drbd_disk_is_written_where_the_resource_is_primary(texts, host):
    assert f.backup_restorer(texts, HYPERVISORS, ON_DRBD, "passata", RESOURCES) == {"host": host, "problem": ""}


@pytest.mark.parametrize("name", ["masterauth", "dns", "not-a-vm"])
def test_other_disks_are_written_by_the_first_hypervisor_whatever_drbd_says(name):
    texts = {"servvirt1": SECONDARY, "servvirt2": PRIMARY}
    assert f.backup_restorer(texts, HYPERVISORS, ON_DRBD, name, RESOURCES) == {"host": "servvirt1", "problem": ""}
    assert f.backup_restorer({}, ["servvirt2"], ON_DRBD, name, RESOURCES)["host"] == "servvirt2"


@pytest.mark.parametrize("texts, roles", [
    ({"servvirt1": BOTH_SECONDARY, "servvirt2": BOTH_SECONDARY}, "servvirt1 Secondary, servvirt2 Secondary"),
    ({"servvirt1": SECONDARY, "servvirt2": ""}, "servvirt1 Secondary, servvirt2 no drbd module"),
    # --limit servvirt1 while the resource is promoted on servvirt2.
    ({"servvirt1": SECONDARY}, "servvirt1 Secondary, servvirt2 no drbd module"),
])
def test_no_primary_among_the_run_is_a_problem_that_names_each_role(texts, roles):
    got = f.backup_restorer(texts, HYPERVISORS, ON_DRBD, "passata", RESOURCES)
    assert got["host"] == ""
    assert got["problem"].startswith("passata's disk is the DRBD resource passata, Primary on no hypervisor")
    assert f"({roles})" in got["problem"]


def test_a_resource_down_here_and_one_the_inventory_lacks():
    # minor 3 is not in the captured text: the resource is down on both.
    got = f.backup_restorer({"servvirt1": PRIMARY, "servvirt2": PRIMARY}, HYPERVISORS, ON_DRBD, "passata",
                            [{"name": "passata", "minor": 3}])
    assert "(servvirt1 down, servvirt2 down)" in got["problem"]
    assert f.backup_restorer({}, HYPERVISORS, ON_DRBD, "lost", RESOURCES) == {
        "host": "", "problem": "lost's disk is the DRBD resource nope, which havirt_drbd_resources does not define"}
    assert f.backup_restorer({}, [], ON_DRBD, "passata", RESOURCES)["problem"] == "no hypervisor in this run"
