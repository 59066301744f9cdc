#!/usr/bin/env python3
"""Print the create, converge and (where the scenario has one) idempotence
times from a `molecule test` log.

ansible.posix.timer ends every playbook run with "Playbook run took ...";
molecule announces each step.
"""

import re
import sys

# "default ➜ converge: Executing" on a terminal, "[default > converge] Executing" in a log;
# a scenario's name may have hyphens (vmlab-bookworm).
STEP = re.compile(r"[\w-]+ ➜ (\w+): Executing|\[[\w-]+ > (\w+)\] Executing")
TOOK = re.compile(r"Playbook run took (\d+) days, (\d+) hours, (\d+) minutes, (\d+) seconds")


def timings(lines):
    step = None
    found = {}
    for line in lines:
        m = STEP.search(line)
        if m:
            step = m.group(1) or m.group(2)
            continue
        m = TOOK.search(line)
        if m and step:
            d, h, mi, s = map(int, m.groups())
            found[step] = found.get(step, 0) + ((d * 24 + h) * 60 + mi) * 60 + s
    return found


def main(path):
    with open(path, encoding="utf-8", errors="replace") as log:
        found = timings(log)
    for step in ("create", "converge"):
        if step not in found:
            print(f"timings: no time found for {step} in {path}", file=sys.stderr)
            return 1
    line = f"lab create: {found['create']}s, converge site.yml: {found['converge']}s"
    # The VM lab's scenario has no idempotence step (its verify re-runs the
    # storage roles instead, tests/test_idempotence.py).
    if "idempotence" in found:
        line += f", idempotent re-run: {found['idempotence']}s"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
