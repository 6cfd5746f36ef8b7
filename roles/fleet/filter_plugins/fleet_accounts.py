"""The workers' accounts (lookup fleet_worker_accounts) as each service's users."""


def fleet_logins(accounts: list[dict], service: str) -> list[dict]:
    """Each account's user on `service` (broker or mongodb), as {name, password}."""
    if service not in ("broker", "mongodb"):
        raise ValueError(f"fleet_logins: service must be broker or mongodb, not {service!r}")
    return [{"name": account[f"{service}_user"], "password": account[f"{service}_password"]} for account in accounts]


# The files of fleet_secrets_dir, by what their name starts with: the host follows.
SECRET_KINDS = ("broker-", "mongodb-", "generation-", "revoked-")


def secret_host(name: str) -> tuple[str, str]:
    """(kind, host) of a file of fleet_secrets_dir, e.g. ("broker-", "w1") for broker-w1.next; ("", "") for others."""
    for kind in SECRET_KINDS:
        if name.startswith(kind):
            host = name[len(kind) :]
            return kind, host.removesuffix(".next") if kind != "revoked-" else host
    return "", ""


def fleet_restorable_secrets(backed_up: list[str], present: list[str], revoked: list[str]) -> list[str]:
    """The files of a backup's credentials to copy into fleet_secrets_dir.

    Never one the controller has (the one there is in use). A host's revocation comes back unless the controller
    holds a password of its own for that host (it was let back in since, by add-worker.yml); a revoked host's
    passwords never come back, whether the controller or the backup says it is revoked.
    """
    present = set(present)
    returning = {
        host
        for kind, host in map(secret_host, backed_up)
        if kind == "revoked-" and f"broker-{host}" not in present and f"mongodb-{host}" not in present
    }
    shut_out = set(revoked) | returning
    chosen = []
    for name in backed_up:
        kind, host = secret_host(name)
        if not kind or name in present:
            continue
        if kind == "revoked-" and host not in returning:
            continue
        if kind != "revoked-" and host in shut_out:
            continue
        chosen.append(name)
    return sorted(chosen)


class FilterModule:
    def filters(self):
        return {"fleet_logins": fleet_logins, "fleet_restorable_secrets": fleet_restorable_secrets}
