"""A VM's failover, phase by phase, from the nodes' own logs.

After a hypervisor is killed, the survivors' journals (corosync, the
fencer, the controller) and libvirt's log of the VM say when each step of
its recovery happened. `phases()` turns those lines into seconds after the
kill; `make bench-failover` prints the medians (tools/bench/failover.py).
The patterns are pacemaker's own messages in 2.1 (Debian 12) and 3.0
(Debian 13; it says "OK" where 2.1 says "ok"): tests/repo/test_lab_timeline.py
reads journals captured in the lab (tests/repo/fixtures/timeline)."""

from __future__ import annotations

import datetime
import json
import re

# (phase, journal identifier, message pattern); {victim} and {resource}
# are filled in. The first matching line after the kill marks the phase.
PHASES = [
    ("membership lost", "corosync", r"A new membership \(.*\) was formed\. Members left: "),
    ("transition calculated", "pacemaker-schedulerd", r"Calculated transition \d+"),
    ("fencing requested", "pacemaker-fenced", r"wants to fence \((?:reboot|off)\) '?{victim}'?"),
    ("node fenced", "pacemaker-fenced", r"Operation '(?:reboot|off)' targeting {victim} .*: OK"),
    ("start requested", "pacemaker-controld", r"Initiating start operation {resource}_start_0"),
    ("QEMU started", "libvirt", None),
    ("start done", "pacemaker-controld", r"Result of start operation for {resource} on \S+: (?:ok|OK)\b"),
]
# Seen from outside, not in the logs: the storage node's probes (the
# first ping reply, the first HTTP answer).
PROBED = ["guest pings", "guest answers"]
ORDER = [name for name, _, _ in PHASES] + PROBED
# A VM on DRBD (the VM lab) also waits for its disk's promotion.
DRBD_PHASES = [
    ("peer fenced off", "havirt-drbd-fence-peer", r"clone {disk}-clone\): .*placed the constraint"),
    ("disk promoted", "pacemaker-controld", r"Result of promote operation for {disk}(?::\d+)? on \S+: (?:ok|OK)\b"),
]

# A VM whose image is a file on OCFS2 (the VM lab) also waits for the
# survivor's O2CB stack to declare the dead node gone and to replay its
# journal (the kernel's messages, Linux 6.1 and 6.12).
OCFS2_PHASES = [
    ("o2net lost the node", "kernel", r"o2net: No longer connected to node {victim}\b"),
    ("o2dlm recovery begins", "kernel", r"o2dlm: Begin recovery on domain"),
    ("journal replay begins", "kernel", r"ocfs2: Begin replay journal"),
    ("journal replay done", "kernel", r"ocfs2: End replay journal"),
]

_QEMU_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)([+-]\d{4}): starting up ")


def journal_entries(text: str) -> list[dict]:
    """`journalctl -o json` lines -> [{"t", "ident", "msg"}] (binary or
    missing messages left out)."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        message = entry.get("MESSAGE")
        if isinstance(message, str):
            entries.append({"t": int(entry["__REALTIME_TIMESTAMP"]) / 1e6,
                            "ident": entry.get("SYSLOG_IDENTIFIER", ""), "msg": message})
    return entries


def qemu_starts(text: str) -> list[float]:
    """Times of the "starting up" lines libvirt writes to a VM's log
    (/var/log/libvirt/qemu/NAME.log) each time it starts its QEMU."""
    times = []
    for line in text.splitlines():
        found = _QEMU_START.match(line)
        if found:
            stamp = datetime.datetime.strptime(found.group(1) + found.group(2), "%Y-%m-%d %H:%M:%S.%f%z")
            times.append(stamp.timestamp())
    return times


def phases(entries: list[dict], qemu: list[float], killed: float, victim: str, resource: str,
           disk: str | None = None, ocfs2: bool = False) -> dict[str, float]:
    """Seconds from the kill to each phase found (a phase not found is
    left out), in the order they happened: the first line of each pattern
    at or after the kill. `disk`: the VM's DRBD resource in the cluster
    (its promotion is a phase too); `ocfs2`: the VM's image is on OCFS2
    (the O2CB stack's recovery of the dead node is)."""
    names = {"victim": re.escape(victim), "resource": re.escape(resource), "disk": re.escape(disk or "")}
    found = {}
    for name, ident, pattern in PHASES + (DRBD_PHASES if disk else []) + (OCFS2_PHASES if ocfs2 else []):
        if pattern is None:
            times = [t for t in qemu if t >= killed]
        else:
            regex = re.compile(pattern.format(**names))
            times = [e["t"] for e in entries if e["t"] >= killed and e["ident"] == ident and regex.search(e["msg"])]
        if times:
            found[name] = round(min(times) - killed, 2)
    return dict(sorted(found.items(), key=lambda item: item[1]))


def between(entries: list[dict], start: float, end: float) -> list[str]:
    """The log lines from `start` to `end` (absolute times), in order, as
    "+SECONDS ident: message" from `start`: what a slow phase was doing."""
    lines = sorted((e for e in entries if start <= e["t"] <= end), key=lambda e: e["t"])
    return ["+%.2f %s: %s" % (e["t"] - start, e["ident"], e["msg"]) for e in lines]
