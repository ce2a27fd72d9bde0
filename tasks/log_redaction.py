"""Secret redaction on the handlers Celery installs, in workers, beat and the celery CLI.

Celery sets up logging itself (root, ``celery.task``, the multiprocessing logger) after
the app is imported; its ``after_setup_*`` signals are the first moment those handlers
exist. Prefork children inherit the handlers; ``worker_process_init`` covers any a child
adds.
"""

from __future__ import annotations

from celery import signals

from contract import redaction


def _install(**_: object) -> None:
    redaction.install()


for _signal in (
    signals.after_setup_logger,
    signals.after_setup_task_logger,
    signals.worker_process_init,
):
    _signal.connect(_install, weak=False, dispatch_uid=f"contract.redaction.{_signal.name}")
