"""Compute actions on Celery workers (the optional `labthings[celery]` extra).

An action declared `@action(executor="celery")` needs no instrument; on a server given a
broker (`LabThing(celery=URL)` or `labthings serve --celery-broker URL`) its invocations
are sent to Celery workers (`labthings worker --celery-broker URL TARGET`) and followed
as remote jobs, with the same record as any other action. Nothing here is imported
unless Celery is configured, so labthings runs without Celery installed.

- `app.py`: the Celery app both sides share, and how a task names its action;
- `report.py`: what a worker reports (progress, log, heartbeat) and how the server
  applies it to the invocation;
- `executor.py`: the server side (send, check, revoke);
- `worker.py`: the worker side (the task, its reporter, `labthings worker`).
"""
