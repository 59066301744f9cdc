# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check iSCSI CHAP users and secrets before any host is touched."""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: chap_problems
short_description: What is wrong with a set of iSCSI CHAP credentials, one message per problem, secrets never shown
version_added: 0.1.0
description:
  - Checks a CHAP user and secret, and optionally the mutual (target to initiator) pair, as the
    iscsi_target, iscsi_initiator and vms roles take them. Returns an empty list when they are
    fine.
  - "Users and secrets may hold only letters, digits and C(._+/=@%:,-), and may not start with
    C(-). The C(tgt) backend's C(tgt-admin) hands each account to C(tgtadm) through a shell
    (Perl's C(system) with one string), so a secret holding a command substitution such as C(`id`) would run it as
    root on the storage node. Base64 fits the set; C(openssl rand -base64 18) makes a good secret."
  - A user is 1 to 255 characters; a secret 12 to 255 (RFC 3720 asks for at least 12 bytes).
    Mutual CHAP needs both its user and its secret, and its secret must differ from the
    initiators' (RFC 3720).
  - Messages name the variable at fault. A secret's value, length or characters are never in
    them.
options:
  _input:
    description:
      - The credentials, a dict with C(user) and C(secret), and optionally C(mutual_user) and
        C(mutual_secret) (both empty, or absent, for no mutual CHAP).
    type: dict
    required: true
  prefix:
    description:
      - Prefix of the variables' names in messages (C(chap_user), C(chap_password),
        C(mutual_chap_user) and C(mutual_chap_password) follow it), for example C(iscsi_target_).
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Check the CHAP credentials
  vars:
    __problems: >-
      {{ {'user': iscsi_target_chap_user, 'secret': iscsi_target_chap_password,
          'mutual_user': iscsi_target_mutual_chap_user, 'mutual_secret': iscsi_target_mutual_chap_password}
         | havirt.cluster.chap_problems('iscsi_target_') }}
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the credentials are fine.
  type: list
  elements: str
  sample:
    - "iscsi_target_chap_password holds a character other than letters, digits and ._+/=@%:,- (or starts with -):
      tgt hands it to a shell. Generate one with: openssl rand -base64 18"
"""

# Letters, digits and ._+/=@%:,- and never a leading '-': nothing a shell
# (tgt-admin's system()), tgt's configuration parser or an option parser
# reads as anything but text. Base64 output fits.
SAFE = re.compile(r"[A-Za-z0-9._+/=@%:,][A-Za-z0-9._+/=@%:,-]*")
CHARACTERS = "letters, digits and ._+/=@%:,- (not starting with -)"
USER_MAX_LENGTH = 255
SECRET_LENGTH = (12, 255)
GENERATE = "Generate one with: openssl rand -base64 18"


def _text(value) -> str:
    return "" if value is None else str(value)


def user_problems(name: str, user) -> list[str]:
    """Problems of one CHAP user (not a secret: it may be shown)."""
    user = _text(user)
    if not user:
        return [f"{name} is empty"]
    problems = []
    if not SAFE.fullmatch(user):
        problems.append(f"{name} '{user}' may hold only {CHARACTERS}")
    if len(user) > USER_MAX_LENGTH:
        problems.append(f"{name} is longer than {USER_MAX_LENGTH} characters")
    return problems


def secret_problems(name: str, secret) -> list[str]:
    """Problems of one CHAP secret; the messages never contain it."""
    secret = _text(secret)
    low, high = SECRET_LENGTH
    if not secret:
        return [f"{name} is empty: set it (from ansible-vault). {GENERATE}"]
    problems = []
    if not SAFE.fullmatch(secret):
        problems.append(f"{name} may hold only {CHARACTERS}: tgt's tgt-admin hands it to a shell. {GENERATE}")
    if not low <= len(secret) <= high:
        problems.append(f"{name} must be {low} to {high} characters (RFC 3720 asks for at least {low}). {GENERATE}")
    return problems


def chap_problems(credentials, prefix: str = "") -> list[str]:
    """Filter: one message per problem of ``credentials`` (see DOCUMENTATION)."""
    if not isinstance(credentials, dict):
        return [f"expected a dict of CHAP credentials, got {type(credentials).__name__}"]
    variables = (("user", "chap_user"), ("secret", "chap_password"),
                 ("mutual_user", "mutual_chap_user"), ("mutual_secret", "mutual_chap_password"))
    names = {key: f"{prefix}{var}" for key, var in variables}
    problems = user_problems(names["user"], credentials.get("user"))
    problems += secret_problems(names["secret"], credentials.get("secret"))
    mutual_user = _text(credentials.get("mutual_user"))
    mutual_secret = _text(credentials.get("mutual_secret"))
    if bool(mutual_user) != bool(mutual_secret):
        problems.append(f"mutual CHAP needs both {names['mutual_user']} and {names['mutual_secret']}, or neither")
    if mutual_user:
        problems += user_problems(names["mutual_user"], mutual_user)
    if mutual_secret:
        problems += secret_problems(names["mutual_secret"], mutual_secret)
        if mutual_secret == _text(credentials.get("secret")):
            problems.append(f"{names['mutual_secret']} must differ from {names['secret']} (RFC 3720)")
    return problems


class FilterModule:
    """havirt.cluster filter that checks CHAP credentials."""

    def filters(self):
        return {"chap_problems": chap_problems}
