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


class FilterModule:
    def filters(self):
        return {"mongodb_setting_names": mongodb_setting_names}
