"""The bench's phases, one function each, every one returning its figures as a small dataclass.

- ``consume``: a plain kafka-python group consumer, and the same consumer validating with svmon's
  models (the ceiling for any consumer built on these two libraries);
- ``svmon``: ``svmon run`` as a subprocess, alone and as several instances of one group; restart
  to ready; a run under cProfile;
- ``engine``: the in-process ``Engine`` without Kafka, the bytes per open event, and a large store
  built for the restart figure;
- ``lists``: ``svmon list overdue`` and the lists API on that large store (time to first byte,
  peak memory, a walk of every page);
- ``profiling``: the cProfile output of a run, summarised per message.
"""
