#!/usr/bin/env python3
"""Print the converge and idempotence times from a `molecule test` log.

ansible.posix.timer ends every playbook run with "Playbook run took ...";
molecule announces each step.
"""

import re
import sys

# "default ➜ converge: Executing" on a terminal, "[default > converge] Executing" in a log.
STEP = re.compile(r"\w+ ➜ (\w+): Executing|\[\w+ > (\w+)\] Executing")
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
    for step in ("create", "converge", "idempotence"):
        if step not in found:
            print(f"timings: no time found for {step} in {path}", file=sys.stderr)
            return 1
    print(f"lab create: {found['create']}s, converge site.yml: {found['converge']}s, "
          f"idempotent re-run: {found['idempotence']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
