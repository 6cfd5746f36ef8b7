"""Addresses of the fleet's hosts, and checks of addresses, for every role.

One place instead of a regular expression per role: the hub's firewall
sources (rabbitmq, mongodb), the bind addresses (mongodb), the firewall's
own sources (common) and the private-network check (celery_worker) all read
these filters.

ansible.utils' address filters (ipaddr, ipv4, ipv6) would do the checks, but
they need the netaddr library on the controller, which the pinned tool chain
(requirements-dev.txt) does not carry; the standard library's ipaddress does
the same here.
"""

import ipaddress

DOCUMENTATION = """
  name: fleet_network
  short_description: The fleet's host addresses and address checks
"""


def _parse(value, networks):
    text = str(value).strip()
    if not text:
        return None
    try:
        if networks and "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def fleet_not_addresses(values, networks=True):
    """The items of values that are not IP addresses (or, with networks, address/prefix networks)."""
    if isinstance(values, (str, bytes)):
        values = [values]
    return [value for value in values if _parse(value, networks) is None]


# RFC 1918 and RFC 4193 (unique local) ranges: one private network's
# addresses. Loopback, link-local and documentation ranges are not.
PRIVATE_NETWORKS = [ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def fleet_is_private(value):
    """True when value is an address, or a network, inside an RFC 1918 or RFC 4193 range."""
    parsed = _parse(value, networks=True)
    if parsed is None:
        return False
    if isinstance(parsed, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return any(parsed.version == net.version and parsed.subnet_of(net) for net in PRIVATE_NETWORKS)
    return any(parsed in net for net in PRIVATE_NETWORKS)


def _host_addresses(host_vars):
    """One host's addresses: ansible_host when it is an IP address, else the
    address of its default route (its facts); plus its global IPv6 address."""
    found = []
    host = str(host_vars.get("ansible_host", "") or "")
    facts = host_vars.get("ansible_facts", {}) or {}
    if _parse(host, networks=False) is not None:
        found.append(host)
    elif (facts.get("default_ipv4") or {}).get("address"):
        found.append(facts["default_ipv4"]["address"])
    ipv6 = facts.get("default_ipv6") or {}
    if ipv6.get("address") and ipv6.get("scope", "global") == "global":
        found.append(ipv6["address"])
    return found


def _vars_of(hostvars, name):
    try:
        return hostvars[name]
    except KeyError:
        return {}


def fleet_host_addresses(hosts, hostvars):
    """Every address of the named hosts, each once, in order."""
    found = []
    for name in hosts:
        for address in _host_addresses(_vars_of(hostvars, name)):
            if address not in found:
                found.append(address)
    return found


def fleet_hosts_without_address(hosts, hostvars):
    """The named hosts for which no IPv4 address is known (a host name in
    ansible_host and no facts gathered)."""
    missing = []
    for name in hosts:
        host_vars = _vars_of(hostvars, name)
        host = str(host_vars.get("ansible_host", "") or "")
        facts = host_vars.get("ansible_facts", {}) or {}
        if _parse(host, networks=False) is None and not (facts.get("default_ipv4") or {}).get("address"):
            missing.append(name)
    return missing


def fleet_host_address(name, hostvars):
    """The address the other hosts reach a host on: its first (ansible_host when an address, else its default
    route's); a host without a known address is an error naming it."""
    found = _host_addresses(_vars_of(hostvars, name))
    if not found:
        raise ValueError(f"no address is known for {name}: set ansible_host to an IP address, or gather its facts")
    return found[0]


def fleet_scrape_targets(hosts, hostvars, port):
    """host:port for each named host on its fleet_host_address, bracketed for IPv6, as Prometheus scrapes it."""
    missing = fleet_hosts_without_address(hosts, hostvars)
    if missing:
        raise ValueError(
            f"no address is known for {', '.join(missing)}: set ansible_host to an IP address, or gather its facts"
        )
    targets = []
    for name in hosts:
        address = fleet_host_address(name, hostvars)
        targets.append(f"[{address}]:{int(port)}" if ":" in address else f"{address}:{int(port)}")
    return targets


class FilterModule:
    def filters(self):
        return {
            "fleet_not_addresses": fleet_not_addresses,
            "fleet_is_private": fleet_is_private,
            "fleet_host_addresses": fleet_host_addresses,
            "fleet_hosts_without_address": fleet_hosts_without_address,
            "fleet_host_address": fleet_host_address,
            "fleet_scrape_targets": fleet_scrape_targets,
        }
