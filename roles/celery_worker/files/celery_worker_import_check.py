"""Does the app load as a worker loads it? tasks/release_check.yml runs this file's text with the new
virtualenv's python, as the service user, in the app's new release:

    python -c <this file> <celery_worker_app>

It does what `celery --app` does to find the app, then what the worker does at start (import the modules of
its tasks), with an empty settings module: nothing connects. Prints the app's own task names; exits with a
message (or the import's traceback) when the app does not load.
"""

import sys
import types


def main(app_name: str) -> None:
    # The worker's settings module (celeryconfig) is not there yet: an empty one, so nothing connects.
    sys.modules.setdefault("celeryconfig", types.ModuleType("celeryconfig"))
    from celery import Celery
    from celery.app.utils import find_app

    app = find_app(app_name)
    if not isinstance(app, Celery):
        sys.exit(f"{app_name} is a {type(app).__name__}, not a Celery app")
    app.loader.import_default_modules()
    print(sorted(name for name in app.tasks if not name.startswith("celery.")))


if __name__ == "__main__":
    main(sys.argv[1])
