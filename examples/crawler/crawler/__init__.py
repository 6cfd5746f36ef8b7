"""An example crawler for celery-fleet: fetches pages on the workers, one task per page.

`celery --app crawler` finds the Celery app as this package's `app`.
"""

from crawler.worker import app

__all__ = ["app"]
