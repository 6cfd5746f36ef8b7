"""The Celery application.

Its settings come from the module ``celeryconfig``, which celery-fleet
renders: on a worker, the worker role's (its folder is on the unit's
PYTHONPATH); on the operator's machine, the controller role's, next to this
package. The walkthrough's own app reads it the same way.
"""

from celery import Celery

app = Celery("proj", include=["proj.tasks"])
app.config_from_object("celeryconfig")

if __name__ == "__main__":
    app.start()
