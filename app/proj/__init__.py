"""hello-celery: a Celery app with a few example tasks.

The Celery app lives in :mod:`proj.celery` (``celery --app proj`` finds it
there); the pure word-count logic in :mod:`proj.wordcount` needs no Celery.
"""
