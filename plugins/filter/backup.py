# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backup.yml and restore.yml decide: which VMs a run backs up, what
the hypervisors did (one line per backup, the VMs not backed up), which
backups the retention deletes, and which backup a restore means. Documented
in the .yml files beside this file; the rules are unit-tested."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.drbd import DrbdOutputError, parse_proc_drbd
from ansible_collections.havirt.cluster.plugins.module_utils.vm_backup import (
    MANIFEST, BackupError, chain_of, check_id, expired, next_parent, parent_of, send_commands)


SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/opt", "/proc", "/root", "/run", "/sbin",
               "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib")


# Why there are no backups on Xen: backup_problems (the role's settings)
# and backup_plan (backup.yml, restore.yml) say it.
XEN_REFUSAL = ("backups are libvirt's backup job (virDomainBackupBegin), which QEMU has and Xen's libxl driver has "
               "not: on Xen hypervisors leave backup_host and backup_schedule empty and back the VMs up from inside "
               "(roles/backup/README.md, Xen)")


def backup_problems(host, all_hosts, hypervisors, directory, keep, schedule="", hypervisor_type="kvm", full_every=1):
    """What is wrong with where the backups go (the backup role's
    settings), as sentences; empty when backups are not configured
    (``host`` and ``schedule`` empty) or when nothing is. ``schedule``
    (backup_schedule) is one systemd calendar line: its syntax is checked
    on the hypervisors by systemd-analyze, only its shape here. On Xen
    (``hypervisor_type``) there are none to configure: a backup is
    libvirt's backup job, which QEMU's driver has and libxl's has not.
    ``full_every`` (backup_full_every): the longest chain of backups."""
    problems = []
    if str(hypervisor_type or "kvm").lower() == "xen" and (host or schedule):
        problems.append(XEN_REFUSAL)
        return problems
    schedule = "" if schedule is None else schedule
    if not isinstance(schedule, str) or any(ord(char) < 32 for char in schedule):
        problems.append("backup_schedule %r is not one line of text: give a systemd calendar event such as daily "
                        "or '*-*-* 02:30:00' (man systemd.time)" % (schedule,))
    elif schedule and not host:
        problems.append("backup_schedule is %r but backup_host is empty: name the host the backups go to" % schedule)
    if not host:
        return problems
    if host not in (all_hosts or []):
        problems.append("backup_host %r is not a host of the inventory" % (host,))
    elif host in (hypervisors or []):
        problems.append("backup_host %s is a hypervisor: a backup must outlive the server it came from; name "
                        "another host (the storage node, or one outside the cluster)" % host)
    directory = str(directory or "")
    if not directory.startswith("/") or directory.rstrip("/") in SYSTEM_DIRS or "/../" in directory + "/":
        problems.append("backup_dir %r is not a directory of its own: give an absolute path such as "
                        "/srv/havirt-backups (its contents are deleted by the retention)" % (directory,))
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        problems.append("backup_keep is %r: keep at least 1 backup of each VM" % (keep,))
    if isinstance(full_every, bool) or not isinstance(full_every, int) or full_every < 1:
        problems.append("backup_full_every is %r: give 1 (full copies only) or more (a full copy, then "
                        "incremental ones up to that many backups in all)" % (full_every,))
    return problems


def _present_names(vms):
    return [vm["name"] for vm in vms or [] if isinstance(vm, Mapping) and vm.get("name")
            and vm.get("state", "present") != "absent"]


def backup_plan(vms, requested="", host=None, hypervisor_type="kvm"):
    """``vms``: havirt_vms; ``requested``: ``-e vm=A,B`` (a list or a comma
    list; empty: every VM); ``host``: backup_host (None: not checked);
    ``hypervisor_type``: havirt_hypervisor_type. Returns {'names': the VMs,
    'wanted': those to back up, 'unknown': those asked that are not VMs of
    the inventory, 'refused': why backup.yml and restore.yml cannot run at
    all (no backup host, Xen: backup_problems' rule), else ''}."""
    names = _present_names(vms)
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",")]
    asked = [str(name) for name in requested or [] if str(name)]
    refused = ""
    if str(hypervisor_type or "kvm").lower() == "xen":
        refused = XEN_REFUSAL
    elif host is not None and not host:
        refused = "backups are not configured: set backup_host (and backup_dir) in the inventory and run site.yml " \
                  "--tags backup"
    return {"names": names, "wanted": asked or names, "unknown": [n for n in asked if n not in names],
            "refused": refused}


def backup_send_commands(vms, scratch_dir, backup_id, rsh, destination):
    """``vms``: the VMs this hypervisor backed up (in its scratch
    directory under ``backup_id``). Returns one {'vm', 'what', 'argv'} per
    rsync command that sends them to the backup host, the disks of each
    before its manifest (module_utils/vm_backup.py, send_commands: the
    scheduled backups send with the same commands)."""
    try:
        return [{"vm": vm, "what": what, "argv": argv}
                for vm in vms or []
                for what, argv in zip(("disks", "manifest"),
                                      send_commands(scratch_dir, str(vm), backup_id, rsh, destination))]
    except BackupError as exc:
        raise AnsibleFilterError(str(exc))


def _human(size):
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor:
            return "%.1f %s" % (size / factor, unit)
    return "%d B" % size


def backup_report(per_host, wanted, host, directory):
    """``per_host``: each hypervisor's registered loop of
    havirt.cluster.vm_backup (or an undefined value, for a host that took
    none). Returns {'lines': one sentence per backup, 'missing': the wanted
    VMs no hypervisor backed up, 'backups': {vm: id}}."""
    lines, done = [], {}
    for registered in per_host or []:
        if not isinstance(registered, Mapping):
            continue
        for result in registered.get("results") or []:
            if not isinstance(result, Mapping) or result.get("skipped") or "manifest" not in result:
                continue
            man = result["manifest"]
            done[man["vm"]] = man["id"]
            stored = sum(d.get("bytes", 0) for d in man["disks"])
            size = sum(d.get("virtual_size", 0) for d in man["disks"])
            lines.append("%s: backup %s on %s:%s/%s/%s, %s of disks in %s (%s, %s; %s: %s)" % (
                man["vm"], man["id"], host, directory, man["vm"], man["id"], _human(size), _human(stored),
                man["consistency"], man["consistency_detail"], man.get("kind", "full"),
                man.get("kind_detail", "full copies only")))
    return {"lines": lines, "missing": [name for name in wanted if name not in done], "backups": done}


def backup_expired(ids, keep):
    """The backup ids (directory names) to delete so that the ``keep``
    newest stay."""
    try:
        return expired([str(i) for i in ids or []], int(keep))
    except (BackupError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("backup_expired: %s" % exc)


def _parents(files):
    """{id: parent or None} of the complete backups among the files
    ansible.builtin.find found in a VM's directory (VM/ID/manifest.json and
    the incremental ones' VM/ID/parent-PARENT)."""
    names = {}
    for item in files or []:
        parts = str(item.get("path", "")).rstrip("/").split("/")
        if len(parts) >= 2:
            names.setdefault(parts[-2], []).append(parts[-1])
    try:
        return dict((i, parent_of(n)) for i, n in names.items() if MANIFEST in n)
    except BackupError as exc:
        raise AnsibleFilterError("backup_stored: %s" % exc)


def backup_stored(found, keep, full_every=1):
    """``found``: the registered loop of ansible.builtin.find for each VM's
    manifest.json and parent-* files (item: the VM). Returns, per VM,
    {'item': the VM, 'ids': its complete backups, oldest first, 'parents':
    {id: the backup it is incremental on, or None}, 'expired': those to
    delete so that the ``keep`` newest stay with the backups they build on,
    'parent': the backup the next one can build on ('' for a full copy;
    ``full_every``: the longest chain) and 'parent_detail': why}."""
    out = []
    for result in (found or {}).get("results", []) if isinstance(found, Mapping) else found or []:
        parents = _parents(result.get("files", []))
        ids = sorted(parents)
        try:
            gone = expired(ids, int(keep), parents)
            parent, detail = next_parent(parents, int(full_every))
        except (BackupError, ValueError, TypeError) as exc:
            raise AnsibleFilterError("backup_stored: %s" % exc)
        out.append({"item": result.get("item"), "ids": ids, "parents": parents, "expired": gone,
                    "parent": parent or "", "parent_detail": detail})
    return out


def backup_choice(ids, requested, parents=None):
    """Which backup restore.yml restores: ``requested`` (an id, or
    ``latest``) among ``ids`` (the complete backups; ``parents``: what each
    is incremental on, see backup_stored). Returns {'id': the backup or '',
    'problem': why there is none, 'chain': the backups a restore reads, the
    full one first}."""
    complete = sorted(str(i) for i in ids or [])
    requested = str(requested or "")
    if not complete:
        return {"id": "", "problem": "there is no complete backup of this VM", "chain": []}
    if requested == "latest":
        requested = complete[-1]
    else:
        try:
            check_id(requested)
        except BackupError as exc:
            return {"id": "", "problem": str(exc), "chain": []}
    if requested not in complete:
        return {"id": "", "problem": "no backup %s; the complete ones are %s" % (requested, ", ".join(complete)),
                "chain": []}
    try:
        chain = chain_of(dict((i, None) for i in complete) if parents is None else parents, requested)
    except BackupError as exc:
        return {"id": "", "problem": str(exc), "chain": []}
    return {"id": requested, "problem": "", "chain": chain}


def parse_systemctl_show(text):
    """``systemctl show UNIT... --property=Id,...`` -> {Id: {property:
    value}}: one block of ``key=value`` lines per unit, blank-line
    separated, in the order the units were named."""
    units = {}
    for block in str(text or "").split("\n\n"):
        values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if values.get("Id"):
            units[values["Id"]] = values
    return units


def _schedule_line(hypervisor, shown):
    """One hypervisor's scheduled backup, from its systemctl show output
    (None: the host did not answer)."""
    if shown is None:
        return "%s: unknown (did not answer)" % hypervisor
    units = parse_systemctl_show(shown)
    timer = units.get("havirt-backup.timer", {})
    service = units.get("havirt-backup.service", {})
    if timer.get("LoadState") != "loaded" or timer.get("ActiveState") != "active":
        return "%s: timer NOT ACTIVE (%s; site.yml --tags backup writes it)" % (
            hypervisor, timer.get("LoadState", "absent") if timer.get("LoadState") != "loaded"
            else timer.get("ActiveState", "?"))
    ended = service.get("ExecMainExitTimestamp", "")
    if not ended:
        last = "not run yet"
    elif service.get("Result") == "success":
        last = "last run ok (%s)" % ended
    else:
        last = "last run FAILED (%s, %s: journalctl -u havirt-backup.service)" % (ended, service.get("Result", "?"))
    return "%s: %s, next %s" % (hypervisor, last, timer.get("NextElapseUSecRealtime") or "?")


def _shown(hostvars, hypervisors):
    """{hypervisor: its registered ``systemctl show`` output, None when it
    did not answer}."""
    out = {}
    for name in hypervisors or []:
        result = (hostvars.get(name) or {}).get("__status_backup_units") if hasattr(hostvars, "get") else None
        ok = isinstance(result, Mapping) and not result.get("unreachable") and "stdout" in result
        out[name] = result["stdout"] if ok else None
    return out


def backup_status(found, hostvars, hypervisors, vms, host, directory, schedule=""):
    """status.yml's lines on backups. ``found``: ansible.builtin.find of
    the manifest.json files below ``directory`` on the backup ``host``
    (depth 3: VM/ID/manifest.json); ``hostvars``: each hypervisor's
    ``__status_backup_units`` (``systemctl show`` of havirt-backup.service
    and .timer); ``vms``: havirt_vms; ``schedule``: backup_schedule."""
    if not host:
        return ["backups: not configured (backup_host is empty)"]
    ids = {}
    for item in (found or {}).get("files", []) if isinstance(found, Mapping) else []:
        parts = str(item.get("path", "")).rstrip("/").split("/")
        if len(parts) >= 3:
            ids.setdefault(parts[-3], []).append(parts[-2])
    if isinstance(found, Mapping) and (found.get("unreachable") or found.get("failed")):
        newest = "UNKNOWN (%s did not answer: %s)" % (host, found.get("msg", ""))
    else:
        newest = "; ".join(
            "%s %s (%d kept)" % (name, max(ids[name]), len(ids[name])) if ids.get(name) else "%s NONE" % name
            for name in _present_names(vms))
    lines = ["backups on %s:%s, the newest of each VM: %s" % (host, directory, newest or "no VM")]
    if schedule:
        lines.append("scheduled backups (%s): %s" % (schedule, "; ".join(
            _schedule_line(hypervisor, value) for hypervisor, value in sorted(_shown(hostvars, hypervisors).items()))))
    else:
        lines.append("scheduled backups: none (backup_schedule is empty)")
    return lines


def _drbd_role(text, minor):
    try:
        status = parse_proc_drbd(text).get("minors", {}).get(int(minor))
    except DrbdOutputError:
        return "no drbd module"
    return status["role"] if status else "down"


def backup_restorer(texts, hypervisors, vms, name, drbd_resources=None):
    """Which hypervisor writes a restore onto VM ``name``'s disks.
    ``texts``: each hypervisor's /proc/drbd ('' where unread);
    ``hypervisors``: those of the run, in order; ``vms``: havirt_vms;
    ``drbd_resources``: havirt_drbd_resources. A disk on a DRBD resource
    can only be opened where DRBD is Primary (a Secondary's device
    refuses: "Wrong medium type"), and with the VM stopped the cluster
    keeps the resource promoted on one node: that node. Any other disk
    (a LUN, a file on the shared store) is written by the first
    hypervisor. Returns {'host', 'problem'}: a problem when no
    hypervisor of the run holds the resource Primary."""
    hypervisors = [str(h) for h in hypervisors or []]
    if not hypervisors:
        return {"host": "", "problem": "no hypervisor in this run"}
    vm = next((v for v in vms or [] if isinstance(v, Mapping) and v.get("name") == name), {})
    resource = ((vm.get("disk") or {}) if isinstance(vm.get("disk"), Mapping) else {}).get("drbd")
    if not resource:
        return {"host": hypervisors[0], "problem": ""}
    res = next((r for r in drbd_resources or [] if isinstance(r, Mapping) and r.get("name") == resource), None)
    if res is None:
        problem = "%s's disk is the DRBD resource %s, which havirt_drbd_resources does not define" % (name, resource)
        return {"host": "", "problem": problem}
    roles = dict((host, _drbd_role((texts or {}).get(host, ""), res["minor"])) for host in hypervisors)
    primary = [host for host in hypervisors if roles[host] == "Primary"]
    if primary:
        return {"host": primary[0], "problem": ""}
    problem = ("%s's disk is the DRBD resource %s, Primary on no hypervisor of this run (%s): the cluster promotes "
               "it where the VM may run (crm_mon --one-shot shows where; a node left out by --limit cannot write it)"
               % (name, resource, ", ".join("%s %s" % item for item in roles.items())))
    return {"host": "", "problem": problem}


class FilterModule:
    def filters(self):
        return {
            "backup_plan": backup_plan,
            "backup_send_commands": backup_send_commands,
            "backup_problems": backup_problems,
            "backup_report": backup_report,
            "backup_status": backup_status,
            "backup_expired": backup_expired,
            "backup_choice": backup_choice,
            "backup_stored": backup_stored,
            "backup_restorer": backup_restorer,
        }
