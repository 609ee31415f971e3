"""A Python client of labthings servers (and of any server whose W3C Thing Descriptions
use the forms labthings emits), built from the Thing Descriptions alone.

```python
from labthings.client import ThingClient

stage = ThingClient.from_url("http://127.0.0.1:7485/stage/")
stage.speed = 2.0                       # PUT the property
move = stage.move(x=4000, y=1000)      # start the action: an Invocation
for update in move:                    # progress as the server reports it
    print(update.progress, update.message)
print(move.output)                     # the result, or InvocationFailed/InvocationCancelled
```

Several servers at once: `Lab.from_urls([...])` (or `Lab.discover()`) names every Thing
as `server/thing`, and `lab.start([...])` returns a `Group` that follows all the
invocations together.

It depends on requests only: no Flask, nothing of the server's packages.
"""

from labthings.client.connection import Connection, Reconnect
from labthings.client.errors import (
    AccessDenied,
    ClientError,
    InvalidArguments,
    InvalidInput,
    InvocationCancelled,
    InvocationError,
    InvocationFailed,
    InvocationGone,
    NotFound,
    NotOffered,
    RequestFailed,
    ServerUnreachable,
    WaitTimeout,
)
from labthings.client.group import Group, Outcome
from labthings.client.invocation import Invocation, Update
from labthings.client.lab import LabClient
from labthings.client.many import Lab
from labthings.client.streams import EventStream
from labthings.client.thing import ThingClient

__all__ = [
    "AccessDenied",
    "ClientError",
    "Connection",
    "EventStream",
    "Group",
    "InvalidArguments",
    "InvalidInput",
    "Invocation",
    "InvocationCancelled",
    "InvocationError",
    "InvocationFailed",
    "InvocationGone",
    "Lab",
    "LabClient",
    "NotFound",
    "NotOffered",
    "Outcome",
    "Reconnect",
    "RequestFailed",
    "ServerUnreachable",
    "ThingClient",
    "Update",
    "WaitTimeout",
]
