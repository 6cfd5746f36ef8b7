"""The fleet role's address filters, which every role's firewall and address checks read."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "fleet_network", ROOT / "roles" / "fleet" / "filter_plugins" / "fleet_network.py"
)
fleet_network = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_network)


@pytest.mark.parametrize("value", ["10.0.0.5", "10.0.0.0/24", "2001:db8::7", "2001:db8::/64", "::1", "203.0.113.10/32"])
def test_addresses_and_networks_pass(value):
    assert fleet_network.fleet_not_addresses([value]) == []


@pytest.mark.parametrize("value", ["my-laptop.example", "999.1.1.1", "10.0.0.0/33", "", "10.0.0", "fe80::1/129"])
def test_what_is_not_an_address_is_returned(value):
    assert fleet_network.fleet_not_addresses([value, "10.0.0.1"]) == [value]


def test_a_network_is_refused_where_an_address_is_wanted():
    assert fleet_network.fleet_not_addresses(["10.0.0.0/24", "10.0.0.1"], networks=False) == ["10.0.0.0/24"]


@pytest.mark.parametrize("value", ["10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1", "fd12::1", "10.0.0.0/24"])
def test_private_ranges_are_private(value):
    assert fleet_network.fleet_is_private(value)


@pytest.mark.parametrize(
    "value",
    ["172.32.0.1", "8.8.8.8", "203.0.113.10", "127.0.0.1", "fe80::1", "2001:db8::1", "hub.example", "10.0.0.0/7"],
)
def test_other_addresses_are_not_private(value):
    assert not fleet_network.fleet_is_private(value)


HOSTVARS = {
    # An address in ansible_host wins over the facts; its global IPv6 counts too.
    "w1": {
        "ansible_host": "198.51.100.1",
        "ansible_facts": {
            "default_ipv4": {"address": "10.0.0.1"},
            "default_ipv6": {"address": "2001:db8::1", "scope": "global"},
        },
    },
    # A name in ansible_host: the facts' address.
    "w2": {"ansible_host": "w2.example", "ansible_facts": {"default_ipv4": {"address": "198.51.100.2"}}},
    # A link-local IPv6 only: not an address others reach.
    "w3": {
        "ansible_facts": {
            "default_ipv4": {"address": "198.51.100.1"},
            "default_ipv6": {"address": "fe80::3", "scope": "link"},
        }
    },
    # A name and no facts: unknown.
    "w4": {"ansible_host": "w4.example"},
}


def test_each_hosts_addresses_once_in_order():
    hosts = ["w1", "w2", "w3", "w4", "not-in-inventory"]
    assert fleet_network.fleet_host_addresses(hosts, HOSTVARS) == ["198.51.100.1", "2001:db8::1", "198.51.100.2"]


def test_hosts_without_an_address_are_named():
    assert fleet_network.fleet_hosts_without_address(["w1", "w2", "w3", "w4"], HOSTVARS) == ["w4"]


def test_each_host_is_scraped_on_its_first_address():
    targets = fleet_network.fleet_scrape_targets(["w1", "w2"], HOSTVARS, 9100)
    assert targets == ["198.51.100.1:9100", "198.51.100.2:9100"]
    only_v6 = {"v6": {"ansible_host": "2001:db8::9"}}
    assert fleet_network.fleet_scrape_targets(["v6"], only_v6, "9100") == ["[2001:db8::9]:9100"]


def test_a_host_to_scrape_without_an_address_is_an_error_naming_it():
    with pytest.raises(ValueError, match="w4"):
        fleet_network.fleet_scrape_targets(["w1", "w4"], HOSTVARS, 9100)


def test_a_hosts_own_address_is_its_first_and_an_unknown_one_is_an_error():
    assert fleet_network.fleet_host_address("w1", HOSTVARS) == "198.51.100.1"
    assert fleet_network.fleet_host_address("w2", HOSTVARS) == "198.51.100.2"
    with pytest.raises(ValueError, match="w4"):
        fleet_network.fleet_host_address("w4", HOSTVARS)
