"""``klaxon dev``: the whole pipeline on embedded parts, with local sinks and a demo stream.

One module per job: ``ports`` (which port each part listens on), ``supervisor`` (child
processes), ``infra`` (Kafka and Redis), ``inbox`` with ``inbox_smtp``, ``inbox_http`` and
``inbox_page`` (local sinks for every channel and the inbox page), ``devconfig`` (the rules
file with the actual ports), ``events``, ``encode``, ``publish`` and ``demo`` (the demo
stream, shared with ``klaxon produce``), ``stack`` (starting everything in order) and
``command`` (the click command).
"""
