"""Decisions across the workers of a play: which host builds a platform's virtualenv (tasks/venv.yml),
whether the scheduler runs on exactly the workers it should (tasks/beat_hosts.yml), and the batches of a
deploy (playbooks/workers.yml)."""

DOCUMENTATION = """
  name: celery_worker_hosts
  short_description: The host that builds a virtualenv, and the problem with the workers that run celery beat
"""


def celery_worker_venv_build_host(play_hosts: list[str], hostvars, venv_id: str) -> str:
    """The first of play_hosts that misses the virtualenv venv_id (its celery_worker_venv_missing and
    celery_worker_venv_id facts): it runs pip, the others of its platform unpack what it built."""
    for host in play_hosts:
        facts = hostvars[host]
        if facts.get("celery_worker_venv_missing") and facts.get("celery_worker_venv_id") == venv_id:
            return host
    return ""


def celery_worker_beat_problem(beat_hosts: list[str], app_has_periodic_tasks: bool) -> str:
    """Why the workers with celery_worker_beat (beat_hosts) cannot send the periodic tasks once: "" when they can.

    app_has_periodic_tasks: fleet_celery_beat.
    """
    if len(beat_hosts) > 1:
        return (
            f"celery_worker_beat is true on {' and '.join(beat_hosts)}: each would send every periodic task, so they "
            "would run twice. Set it on one worker only."
        )
    if app_has_periodic_tasks and len(beat_hosts) != 1:
        return (
            "fleet_celery_beat is true (the app has periodic tasks), but no worker runs the scheduler: set "
            "celery_worker_beat: true on one worker (its host_vars)."
        )
    return ""


def celery_worker_deploy_batches(fresh_hosts: list[str], batch) -> list:
    """The `serial` of a deploy whose play lists the fresh hosts (no instance running) first: all of them in one
    batch, since no running work needs protecting there, then `batch` (a number or a share, celery_worker_restart_batch)
    at a time for the hosts that run workers."""
    return [len(fresh_hosts), batch] if fresh_hosts else [batch]


class FilterModule:
    def filters(self):
        return {
            "celery_worker_venv_build_host": celery_worker_venv_build_host,
            "celery_worker_beat_problem": celery_worker_beat_problem,
            "celery_worker_deploy_batches": celery_worker_deploy_batches,
        }
