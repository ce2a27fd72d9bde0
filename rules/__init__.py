"""Rules: conditions and templates compiled at load, and the engine that matches events.

One module per job: ``paths`` (dot paths into events), ``operators`` (conditions),
``templates`` (messages), ``envsubst`` (``${VAR}`` in config values), ``model`` (what a
rule is: the base every rule shares, and the stateless match rule), ``stateful`` (the
stateful base, threshold rules and match rules with a state key), ``range`` and
``trends`` (bands with levels, trends), ``kinds`` (every rule kind), ``loader``
(YAML -> rules, with every problem reported), ``config`` (the whole file), ``compose``
(notifications of a rule), ``engine`` (matching). Import each from its module.
"""
