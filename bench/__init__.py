"""svmon's throughput benchmark; ``python bench/throughput.py`` (``make bench``) runs it.

``throughput`` reads the options and runs the phases in order; each phase in ``phases/`` is one
function that returns its figures as a small dataclass. Around them: ``dataset`` (the generated
messages, the run's topics and where the messages landed), ``process`` (``svmon run`` as a child
process, its store and its ``/metrics``), ``host`` (what the machine reports), and ``report`` (the
figures, the table and the JSON line).
"""
