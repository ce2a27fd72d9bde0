# The part of google-re2 that rules.linear_regex uses; google-re2 ships no type hints.
from re2 import _re2 as _re2

class Options(_re2.RE2.Options): ...
