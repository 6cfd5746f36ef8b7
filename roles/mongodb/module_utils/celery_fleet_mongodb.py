"""What the mongodb role's modules share: how they reach mongod, and log in to it."""

# How every module of the role reaches mongod.
CONNECTION_ARGUMENT_SPEC = {
    "login_host": {"type": "str", "default": "127.0.0.1"},
    "login_port": {"type": "int", "default": 27017},
    "tls_ca_file": {"type": "path"},
    "tls_allow_invalid_hostnames": {"type": "bool", "default": False},
}

# The login options of every module of the role that logs in.
LOGIN_ARGUMENT_SPEC = {
    **CONNECTION_ARGUMENT_SPEC,
    "login_user": {"type": "str", "required": True},
    "login_password": {"type": "str", "required": True, "no_log": True},
    "login_database": {"type": "str", "default": "admin"},
}


def client_options(params, mechanism=None):
    """MongoClient keyword arguments for the connection (and login, when ``params`` names a user) options."""
    options = {
        "host": params["login_host"],
        "port": params["login_port"],
        "directConnection": True,
        "serverSelectionTimeoutMS": 10000,
    }
    if params.get("login_user"):
        options.update(
            username=params["login_user"], password=params["login_password"], authSource=params["login_database"]
        )
    if mechanism:
        options["authMechanism"] = mechanism
    if params["tls_ca_file"]:
        options.update(tls=True, tlsCAFile=params["tls_ca_file"])
        options["tlsAllowInvalidHostnames"] = params["tls_allow_invalid_hostnames"]
    return options
