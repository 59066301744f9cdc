# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tool's output with the inventory's secrets masked, for failure messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DOCUMENTATION = r"""
name: redact
short_description: A text with every given secret replaced by C(********)
version_added: 0.1.0
description:
  - Replaces each occurrence of each secret in a text (a tool's stderr, for a failure message) by
    C(********). The secrets are taken from a string, a list or a dict (its values), nested to any
    depth; empty values are ignored, numbers are compared as text, and a longer secret is masked
    before a shorter one it contains.
  - Only the values given are masked, so the message keeps everything else the tool said. The task
    that ran the tool still needs C(no_log) when its output may hold a secret.
options:
  _input:
    description: The text, for example a command's C(stderr).
    type: str
    required: true
  secrets:
    description: The secrets, for example C(drbd_shared_secret) or a dict of passwords.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse what drbdadm refused, without its secret
  ansible.builtin.assert:
    that: result.rc == 0
    fail_msg: "drbdadm: {{ result.stderr | havirt.cluster.redact(drbd_shared_secret) }}"
"""

RETURN = r"""
_value:
  description: The text, each secret replaced by C(********).
  type: str
  sample: "drbd.conf:12: shared-secret \"********\" is too long"
"""

MASK = "********"


def secret_values(secrets) -> list[str]:
    """The non-empty secret strings in ``secrets`` (a string, a number, or a
    list, dict or other iterable of them, such as Jinja's map(), nested),
    longest first."""
    found = set()
    pending = [secrets]
    while pending:
        value = pending.pop()
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            pending.extend(value)
        elif value is None or isinstance(value, bool):
            continue
        else:
            text = str(value)
            if text:
                found.add(text)
    return sorted(found, key=lambda text: (-len(text), text))


def redact(text, secrets) -> str:
    """Filter: ``text`` with every secret of ``secrets`` replaced by ``********``."""
    text = "" if text is None else str(text)
    for secret in secret_values(secrets):
        text = text.replace(secret, MASK)
    return text


class FilterModule:
    """havirt.cluster filter that masks secrets in a text."""

    def filters(self):
        return {"redact": redact}
