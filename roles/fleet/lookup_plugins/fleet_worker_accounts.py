"""The workers' own accounts on the hub, read from (or first made in) the controller's secrets folder."""

import os
import secrets
import string

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: fleet_worker_accounts
short_description: Each worker's broker and MongoDB account, with its password
description:
  - Returns one account per worker named in the terms, in order (call it with C(query)), each a dict with
    C(host), C(broker_user), C(broker_password), C(mongodb_user), C(mongodb_password) (empty without MongoDB)
    and C(generation).
  - A password comes from the vault's dict when it lists the host, else from the file
    C(<secrets_dir>/<service>-<host>), made on first use (32 letters and digits, mode 0600, folder 0700).
  - C(generation) counts the host's rotations, kept in C(<secrets_dir>/generation-<host>) (absent, 1). Each
    rotation is a new account, C(<prefix><host>~<generation>) from the second on, so that the worker keeps its
    old one until it restarts with the new (playbooks/rotate.yml). For the hosts in I(rotating), the account
    the next rotation makes, the next generation with the password of C(<service>-<host>.next) (made here when
    absent; promoted to the current one once the hub took it).
options:
  _terms: {description: The workers' inventory names., required: true}
  secrets_dir: {type: path, required: true, description: The folder of the generated passwords (fleet_secrets_dir).}
  prefix: {type: str, default: worker-, description: The accounts' common prefix (fleet_worker_user_prefix).}
  broker_passwords: {type: dict, default: {}, description: Broker passwords from the vault, by host.}
  mongodb_passwords: {type: dict, default: {}, description: MongoDB passwords from the vault, by host.}
  mongodb: {type: bool, default: false, description: Whether the workers have MongoDB accounts.}
  rotating: {type: list, default: [], description: Hosts whose next account is returned instead.}
"""

# What fleet_worker_user_prefix's users never hold otherwise: the host's name ends where this begins.
GENERATION_MARK = "~"
ALPHABET = string.ascii_letters + string.digits


def account_name(prefix: str, host: str, generation: int) -> str:
    return f"{prefix}{host}" if generation <= 1 else f"{prefix}{host}{GENERATION_MARK}{generation}"


def read_generation(secrets_dir: str, host: str) -> int:
    path = os.path.join(secrets_dir, f"generation-{host}")
    try:
        with open(path, encoding="ascii") as found:
            text = found.read().strip()
    except FileNotFoundError:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise AnsibleLookupError(f"{path} must hold a whole number (the host's rotations), not {text!r}")
    return int(text)


def read_or_make(path: str) -> str:
    """The password in `path`, written first (0600, folder 0700) when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as found:
            password = found.read().strip()
    except FileNotFoundError:
        password = ""
    if password:
        return password
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    password = "".join(secrets.choice(ALPHABET) for _ in range(32))
    # O_EXCL: two forks making the same password at once keep the first one written.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_or_make(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    return password


def password(secrets_dir: str, service: str, host: str, vault: dict, suffix: str = "") -> str:
    """The vault's password for the host, else the one generated in the secrets folder."""
    if host in vault:
        return str(vault[host])
    return read_or_make(os.path.join(secrets_dir, f"{service}-{host}{suffix}"))


def accounts(
    hosts, secrets_dir, prefix="worker-", broker_passwords=None, mongodb_passwords=None, mongodb=False, rotating=()
):
    found = []
    for host in hosts:
        generation, suffix = read_generation(secrets_dir, host), ""
        if host in rotating:
            generation, suffix = generation + 1, ".next"
        user = account_name(prefix, host, generation)
        found.append(
            {
                "host": host,
                "generation": generation,
                "broker_user": user,
                "broker_password": password(secrets_dir, "broker", host, broker_passwords or {}, suffix),
                "mongodb_user": user,
                "mongodb_password": password(secrets_dir, "mongodb", host, mongodb_passwords or {}, suffix)
                if mongodb
                else "",
            }
        )
    return found


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        hosts = terms[0] if len(terms) == 1 and isinstance(terms[0], list) else terms
        # One item per account: call it with query(), which always returns the list.
        return accounts(
            list(hosts),
            self.get_option("secrets_dir"),
            self.get_option("prefix"),
            self.get_option("broker_passwords"),
            self.get_option("mongodb_passwords"),
            self.get_option("mongodb"),
            list(self.get_option("rotating")),
        )
