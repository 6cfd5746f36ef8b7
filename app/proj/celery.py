"""The Celery application.

Its settings come from a module, not from this file: on a worker, the
``celeryconfig`` the worker role renders per host (the unit puts its folder
on PYTHONPATH and names it in CELERY_CONFIG_MODULE); on the operator's
machine, ``celeryconfig_local`` next to this package, rendered by the
controller playbook.
"""

import os

from celery import Celery

app = Celery("proj", include=["proj.tasks"])
app.config_from_object(os.environ.get("CELERY_CONFIG_MODULE", "celeryconfig_local"))

if __name__ == "__main__":
    app.start()
