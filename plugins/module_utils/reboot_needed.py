# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a node runs old code after a package upgrade: a kernel newer than
the running one installed, or processes still mapping files that the upgrade
replaced (the "(deleted)" entries of /proc/PID/maps). Plain functions over
the text of /proc files and the names of installed kernels, so that unit
tests feed them captured input."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

# Where the code a package installs lives. A deleted mapping elsewhere
# (memfd, /dev/shm, /tmp, a VM's own image) is not an upgrade's doing.
CODE_PREFIXES = ("/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/opt/")


def deleted_code(maps_text):
    """The files a process maps that were replaced or removed since it
    started, from /proc/PID/maps: sorted, each once."""
    found = set()
    for line in maps_text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or not fields[5].endswith(" (deleted)"):
            continue
        path = fields[5][:-len(" (deleted)")]
        if path.startswith(CODE_PREFIXES):
            found.add(path)
    return sorted(found)


def systemd_unit(cgroup_text):
    """The systemd unit (service or scope) a process belongs to, from
    /proc/PID/cgroup (cgroup v2 "0::/system.slice/x.service", or v1's
    name=systemd line); '' when it has none."""
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not (parts[0] == "0" and parts[1] == "" or parts[1] == "name=systemd"):
            continue
        for element in reversed(parts[2].split("/")):
            if element.endswith((".service", ".scope")):
                return element
    return ""


def _version_key(release):
    """A kernel release as a sort key: its numbers compared as numbers
    (6.12.57 after 6.12.9, 6.1.0-41 after 6.1.0-9)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|[^\d.+~-]+", release)]


def newest_kernel(releases):
    """The newest of the installed kernels' releases (the names of
    /lib/modules' directories), or '' when none is installed (a container)."""
    releases = [r for r in releases if r and r[0].isdigit()]
    return max(releases, key=_version_key) if releases else ""


def reasons(running_kernel, installed_kernels, reboot_required, processes):
    """Why the node should be restarted, as sentences a sysadmin reads:
    a newer kernel installed than the running one, the packages' own
    request (/run/reboot-required exists: reboot_required is the text of
    /run/reboot-required.pkgs, '' without it; None: no request), and each
    process (or its unit) that runs replaced code. Empty: no restart needed.

    processes: [{"pid": int, "name": str, "unit": str, "files": [str]}]."""
    found = []
    newest = newest_kernel(installed_kernels)
    if newest and running_kernel and _version_key(newest) > _version_key(running_kernel):
        found.append("kernel %s is installed, %s runs" % (newest, running_kernel))
    if reboot_required is not None:
        packages = sorted(set(p.strip() for p in reboot_required.splitlines() if p.strip()))
        found.append("the packages ask for a restart (/run/reboot-required%s)"
                     % (": " + ", ".join(packages) if packages else ""))
    by_owner = {}
    for process in processes:
        owner = process.get("unit") or "%s (pid %s)" % (process["name"], process["pid"])
        by_owner.setdefault(owner, set()).update(process["files"])
    for owner in sorted(by_owner):
        files = sorted(by_owner[owner])
        shown = ", ".join(files[:3]) + (" and %d more" % (len(files) - 3) if len(files) > 3 else "")
        found.append("%s runs replaced code (%s)" % (owner, shown))
    return found
