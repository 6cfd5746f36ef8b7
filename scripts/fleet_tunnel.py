#!/usr/bin/env python3
"""Open SSH forwards from this machine to the hub's monitoring: Flower, Prometheus and Alertmanager.

    scripts/fleet_tunnel.py -i inventory/production            forwards until Ctrl-C
    scripts/fleet_tunnel.py -i inventory/production --offset 10000   local ports 15555, 19090, 19093
    scripts/fleet_tunnel.py -i inventory/production --print    the ssh command, not run

Each service listens on the hub's loopback only; no hub port is opened for
monitoring. The hub is reached as Ansible reaches it (ansible-inventory:
ansible_host, ansible_user, ansible_port, the private key and SSH arguments),
and the forwards listen on this machine's loopback only. A hub Ansible
reaches through Docker (the lab's containers) is reached through
`docker exec`, one relay per connection.
"""

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each service: its name, the inventory variable that may move its port, and the role's default.
SERVICES = [
    ("Flower", "flower_port", 5555, "/"),
    ("Prometheus", "prometheus_port", 9090, "/alerts"),
    ("Alertmanager", "prometheus_alertmanager_port", 9093, "/"),
]


def hub_vars(inventory: str) -> tuple[str, dict]:
    """The hub's name and variables, as ansible-inventory reads them (group_vars included)."""
    ansible_inventory = Path(sys.executable).with_name("ansible-inventory")
    command = [str(ansible_inventory) if ansible_inventory.exists() else "ansible-inventory", "--list"]
    if inventory:
        command += ["-i", inventory]
    listed = json.loads(subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    hubs = listed.get("hub", {}).get("hosts", [])
    if not hubs:
        sys.exit(f"fleet_tunnel: the inventory ({inventory or 'ansible.cfg'}) has no host in the group `hub`")
    return hubs[0], listed["_meta"]["hostvars"].get(hubs[0], {})


SSH = ("ssh", "smart", "paramiko")
DOCKER = ("community.docker.docker", "docker")
# Run in the container for each connection: its loopback port to standard input and output.
RELAY = """
import socket, sys, threading
peer = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def back():
    while data := peer.recv(65536):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
reader = threading.Thread(target=back)
reader.start()
while data := sys.stdin.buffer.read1(65536):
    peer.sendall(data)
peer.shutdown(socket.SHUT_WR)
reader.join()
"""


async def pump(reader, writer) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def docker_relay(container: str, ports: list[tuple[int, int]]) -> None:
    """Listen on this machine's loopback; each connection runs RELAY in the container through docker exec."""

    def handler(port: int):
        async def connected(reader, writer):
            relay = await asyncio.create_subprocess_exec(
                "docker",
                "exec",
                "-i",
                container,
                "python3",
                "-c",
                RELAY,
                str(port),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.gather(pump(reader, relay.stdin), pump(relay.stdout, writer), return_exceptions=True)
            await relay.wait()

        return connected

    servers = [await asyncio.start_server(handler(remote), "127.0.0.1", local) for local, remote in ports]
    await asyncio.gather(*(server.serve_forever() for server in servers))


def ssh_command(hub: str, variables: dict, offset: int) -> list[str]:
    command = ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=30"]
    for _name, variable, default, _path in SERVICES:
        port = int(variables.get(variable, default))
        command += ["-L", f"127.0.0.1:{port + offset}:127.0.0.1:{port}"]
    if "ansible_port" in variables:
        command += ["-p", str(variables["ansible_port"])]
    key = variables.get("ansible_ssh_private_key_file") or variables.get("ansible_private_key_file")
    if key:
        command += ["-i", os.path.expanduser(str(key))]
    for extra in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        command += shlex.split(str(variables.get(extra, "")))
    user = variables.get("ansible_user") or variables.get("ansible_ssh_user")
    host = variables.get("ansible_host", hub)
    command.append(f"{user}@{host}" if user else str(host))
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--inventory", default="", help="inventory folder (default: ansible.cfg's)")
    parser.add_argument("--offset", type=int, default=0, help="add this to each local port")
    parser.add_argument("--print", action="store_true", help="print the ssh command instead of running it")
    args = parser.parse_args()
    hub, variables = hub_vars(args.inventory)
    if str(variables.get("fleet_monitoring", False)).lower() not in ("true", "yes", "1"):
        sys.exit("fleet_tunnel: monitoring is off on this fleet (set fleet_monitoring: true, then run site.yml)")
    connection = variables.get("ansible_connection", "ssh")
    if connection not in SSH + DOCKER:
        sys.exit(f"fleet_tunnel: Ansible reaches {hub} with `{connection}`: only SSH and Docker are supported")
    ports = [
        (int(variables.get(var, default)) + args.offset, int(variables.get(var, default)))
        for _n, var, default, _p in SERVICES
    ]
    command = ssh_command(hub, variables, args.offset) if connection in SSH else []
    if args.print:
        print(shlex.join(command) if command else f"docker exec relays into {variables.get('ansible_host', hub)}")
        return
    for (name, _variable, _default, path), (local, _remote) in zip(SERVICES, ports, strict=True):
        print(f"{name}: http://127.0.0.1:{local}{path}", flush=True)
    print(f"Forwarding through {hub}; Ctrl-C ends it.", flush=True)
    if command:
        os.execvp(command[0], command)
    try:
        asyncio.run(docker_relay(str(variables.get("ansible_host", hub)), ports))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
