"""OCR confusable classes: characters a plate reader mistakes for one another.

Each class maps to one representative (its first character), so that two reads that
differ only within classes share one canonical form: ``A8C123`` and ``ABC123`` are both
``ABC123`` under the class ``B8``. The index files every plate under its canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# O/0/D/Q, I/1/L, B/8, S/5, Z/2, G/6: the misreads ALPR vendors list (Genetec's "OCR
# equivalence" groups O, 0, D and Q together).
DEFAULT_CLASSES: tuple[str, ...] = ("O0DQ", "I1L", "B8", "S5", "Z2", "G6")


class ConfusableClassError(ValueError):
    """A class that is not a string of two or more characters, or overlaps another."""


@dataclass(frozen=True)
class ConfusableTable:
    classes: tuple[str, ...] = DEFAULT_CLASSES
    # str.translate table: character code -> its class representative's code.
    _table: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table: dict[int, int] = {}
        for group in self.classes:
            if len(group) < 2:
                raise ConfusableClassError(f'class "{group}" needs at least two characters')
            for char in group:
                if not char.isalnum() or char != char.upper():
                    raise ConfusableClassError(
                        f'class "{group}": "{char}" is not an upper-case letter or a digit'
                    )
                if ord(char) in table:
                    raise ConfusableClassError(f'"{char}" is in more than one class')
                table[ord(char)] = ord(group[0])
        object.__setattr__(self, "_table", table)

    def canonical(self, text: str) -> str:
        """``text`` with every confusable character replaced by its class representative."""
        return text.translate(self._table)

    def differences(self, read: str, plate: str) -> int | None:
        """How many positions differ within a class; None when any differs across classes."""
        if len(read) != len(plate):
            return None
        table = self._table
        count = 0
        for a, b in zip(read, plate, strict=True):
            if a != b:
                if table.get(ord(a), -1) != table.get(ord(b), -2):
                    return None
                count += 1
        return count
