"""Ansible's `hostvars` as a filter receives it, for the tests of filters that read other hosts' variables."""

from collections.abc import Mapping


class Undefined:
    """What hostvars gives for a host the inventory lacks: an undefined value, neither a KeyError nor a mapping."""


class HostVars(Mapping):
    """{host: {variable: value}}; like ansible.vars.hostvars.HostVars, `in` asks the inventory and a missing host
    reads as Undefined (so hostvars.get(host, {}) would not give {})."""

    def __init__(self, hosts: dict):
        self._hosts = hosts

    def __getitem__(self, host):
        return self._hosts.get(host, Undefined())

    def __contains__(self, host):
        return host in self._hosts

    def __iter__(self):
        return iter(self._hosts)

    def __len__(self):
        return len(self._hosts)
