"""Templating the roles' files offline as a play does, on every ansible-core
the collection supports.

ansible-core 2.19 templates only the strings it trusts: those it loaded
from a playbook, a role or an inventory. A test that reads a role's
defaults or templates itself marks them trusted the same way (2.18
templated every string). And where a value has an undefined part (an
inventory's vault variable, not loaded offline), 2.19 leaves the whole
value it was asked to template as it was; each variable is templated on
its own so that only the values with such a part stay untemplated."""

from __future__ import annotations

from pathlib import Path

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.utils.collection_loader import AnsibleCollectionConfig

# collections/ansible_collections/havirt/cluster is a link to the checkout.
COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core 2.18: every string is a template
    def trust_as_template(value):
        return value


def trusted(value):
    """``value`` with each string in it trusted, as Ansible loads a role's files."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [trusted(item) for item in value]
    return value


def render(template: Path, variables: dict) -> str:
    """A role's Jinja template rendered with ``variables`` (trusted as a role's own), the
    collections' plugins (havirt.cluster.*, ansible.utils.*) found as ansible-playbook finds them."""
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader([str(COLLECTIONS)])
    templar = Templar(loader=DataLoader(), variables=trusted(variables))
    return templar.template(trust_as_template(template.read_text()), escape_backslashes=False)


def template_each(templar: Templar, variables: dict) -> dict:
    """Each of ``variables`` templated on its own; one with an undefined part is left as it is."""
    return {name: templar.template(value, fail_on_undefined=False) for name, value in variables.items()}
