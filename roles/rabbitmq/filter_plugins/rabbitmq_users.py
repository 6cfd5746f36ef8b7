"""The users the role manages, as library/rabbitmq_internal_users.py takes them. Reshapes data holding passwords:
nothing here prints or logs one, and the tasks using the result keep no_log."""

# The keys of a user as rabbitmq_extra_users writes it, which a worker's user takes from the application user.
_PERMISSION_KEYS = ("vhost", "configure_priv", "write_priv", "read_priv")


def _entry(user: dict) -> dict:
    for key in ("name", "password", "vhost"):
        if key not in user:
            # Named by its user only: the entry may hold a password.
            raise ValueError(f"rabbitmq user {user.get('name', '(no name)')!r} has no {key!r}")
    return {
        "name": user["name"],
        "password": user["password"],
        "tags": user.get("tags", []),
        "permissions": [
            {
                "vhost": user["vhost"],
                "configure": user.get("configure_priv", ".*"),
                "write": user.get("write_priv", ".*"),
                "read": user.get("read_priv", ".*"),
            }
        ],
    }


def rabbitmq_user_entries(app_user: dict, worker_users: list, other_users: list) -> list:
    """[{name, password, tags, permissions: [{vhost, configure, write, read}]}]: the application user, each
    worker's user (worker_users' name and password, with the application user's vhost and permissions and no
    tag), then other_users (the services' and the extra ones). Each user is written as rabbitmq_extra_users
    writes one (name, password, vhost, configure_priv, write_priv, read_priv, tags); a missing regex is ".*"."""
    permissions = {key: app_user[key] for key in _PERMISSION_KEYS if key in app_user}
    workers = [
        dict(permissions, name=account["name"], password=account["password"], tags=[]) for account in worker_users
    ]
    return [_entry(user) for user in [app_user, *workers, *other_users]]


class FilterModule:
    def filters(self):
        return {"rabbitmq_user_entries": rabbitmq_user_entries}
