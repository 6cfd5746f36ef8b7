"""What the mongodb role's modules share: how they log in to mongod."""

# The login options of every module of the role.
LOGIN_ARGUMENT_SPEC = {
    "login_host": {"type": "str", "default": "127.0.0.1"},
    "login_port": {"type": "int", "default": 27017},
    "login_user": {"type": "str", "required": True},
    "login_password": {"type": "str", "required": True, "no_log": True},
    "login_database": {"type": "str", "default": "admin"},
    "tls_ca_file": {"type": "path"},
    "tls_allow_invalid_hostnames": {"type": "bool", "default": False},
}


def client_options(params, mechanism=None):
    """MongoClient keyword arguments for the login options in ``params``."""
    options = {
        "host": params["login_host"],
        "port": params["login_port"],
        "username": params["login_user"],
        "password": params["login_password"],
        "authSource": params["login_database"],
        "directConnection": True,
        "serverSelectionTimeoutMS": 10000,
    }
    if mechanism:
        options["authMechanism"] = mechanism
    if params["tls_ca_file"]:
        options.update(tls=True, tlsCAFile=params["tls_ca_file"])
        options["tlsAllowInvalidHostnames"] = params["tls_allow_invalid_hostnames"]
    return options
