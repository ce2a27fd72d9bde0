"""Rules before they page anyone: ``klaxon rules test``, ``klaxon explain``, ``klaxon replay``.

They run the bridge's own pipeline (``ingest.wiring.build_pipeline``) against an in-process
Redis (``klaxon.rulestest.store``) on a simulated clock; see docs/rules-testing.md.
"""
