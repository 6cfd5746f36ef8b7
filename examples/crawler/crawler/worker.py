"""The crawler's Celery app.

Its settings are the module ``celeryconfig`` that celery-fleet renders (on a
worker and on the operator's machine alike): the broker, the result
backend, and the app's own settings from the inventory
(fleet_celery_extra_settings: the route of fetch to the queue ``crawl``).
The periodic task is the app's: celery beat runs on one worker.
"""

from celery import Celery

app = Celery("crawler", include=["crawler.tasks"])
app.config_from_object("celeryconfig")
app.conf.beat_schedule = {
    "heartbeat": {"task": "crawler.tasks.heartbeat", "schedule": 2.0, "options": {"expires": 10}},
}
