#!/usr/bin/python3
"""Print, every INTERVAL seconds for SECONDS seconds, what this host's
libvirt says of one domain: one JSON line per sample with the time (to
0.1 s, so that two hosts' lines meet), the host's role given on the
command line, and the raw (state, reason, job type, job operation), null when the host
has no such domain, the job null when libvirt refuses to say.

Run on both hypervisors during a live migration to capture what the unit
tests of module_utils/domain_state.py read
(tests/unit/plugins/module_utils/fixtures/domain_state/):

    capture_domain_state.py passata source 30 > source.jsonl   # on the source
    capture_domain_state.py passata destination 30 > dest.jsonl  # on the destination

Needs python3-libvirt (the hypervisors have it)."""

import json
import sys
import time

import libvirt


def sample(conn, name):
    try:
        dom = conn.lookupByName(name)
        state, reason = dom.state()
        if state in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_NOSTATE):
            return [state, reason, 0, None]
        try:
            stats = dom.jobStats()
        except libvirt.libvirtError:
            # libvirt 9 on a migration's destination: "migration statistics
            # are available only on the source host".
            return [state, reason, None, None]
        return [state, reason, stats.get("type", 0), stats.get("operation")]
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def main():
    name, role, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
    libvirt.registerErrorHandler(lambda *args: None, None)  # "not found" is an answer here
    conn = libvirt.openReadOnly("qemu:///system")
    end = time.time() + seconds
    last = None
    while time.time() < end:
        raw = sample(conn, name)
        now = round(time.time(), 1)
        if (now, raw) != last:
            print(json.dumps({"t": now, "host": role, "raw": raw}), flush=True)
            last = (now, raw)
        time.sleep(interval)


if __name__ == "__main__":
    main()
