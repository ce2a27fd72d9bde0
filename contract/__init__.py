"""The floor every other package stands on: settings, names and formats they all share.

Nothing here imports another Klaxon package (see docs/design.md, "Floors").
"""

__version__ = "0.1.0"
