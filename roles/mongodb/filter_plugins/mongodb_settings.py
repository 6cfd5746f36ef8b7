"""Filters of the mongodb role."""


def mongodb_setting_names(config, prefix=""):
    """Return the dotted names of the settings in a nested mongod.conf dict.

    ``{"net": {"tls": {"mode": "requireTLS"}}}`` gives ``["net.tls.mode"]``:
    the form the configuration reference names its settings in.
    """
    names = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            names.extend(mongodb_setting_names(value, name + "."))
        else:
            names.append(name)
    return sorted(names)


def mongodb_replica_set_members(hubs, port):
    """The members of the hubs' replica set, for replSetInitiate: each hub as ``name:port``.

    The first hub gets priority 2, the others 1: a member of higher priority
    calls an election once it has caught up, so the first hub is primary
    whenever it is up, and the role's writes (users, indexes) go to it.
    """
    port = int(port)
    return [{"host": f"{hub}:{port}", "priority": 2 if index == 0 else 1} for index, hub in enumerate(hubs)]


class FilterModule:
    def filters(self):
        return {
            "mongodb_setting_names": mongodb_setting_names,
            "mongodb_replica_set_members": mongodb_replica_set_members,
        }
