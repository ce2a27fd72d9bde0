"""Read a Dockerfile and lay out, in a plain folder, the files its COPY lines put in the image.

Docker is not available to the tests, so the build is reproduced where it matters: which
files of the build context land where. The context is filtered by ``.dockerignore`` the way
Docker filters it (last matching pattern wins, ``!`` re-includes, a pattern that matches a
parent folder matches everything under it), then each ``COPY``/``ADD`` is applied in order
with Docker's rules: a source folder's *contents* go to the destination, a destination that
ends in ``/`` (or that receives several sources) is a folder, a relative destination is
relative to the ``WORKDIR`` in force. ``COPY --from=<stage>`` copies from another image,
not from the context, and is skipped.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    workdir: str
    """The WORKDIR in force when this instruction runs."""


@dataclass
class ImageTree:
    """The files a Dockerfile copies, rebuilt under ``root`` (``/`` of the image)."""

    root: Path
    instructions: list[Instruction]
    env: dict[str, str] = field(default_factory=dict)

    def path(self, image_path: str) -> Path:
        """Where an absolute path of the image lies in the rebuilt tree."""
        return self.root / image_path.lstrip("/")

    def env_in_tree(self) -> dict[str, str]:
        """The Dockerfile's ENV, with absolute paths moved into the rebuilt tree."""
        return {
            name: str(self.path(value)) if value.startswith("/") else value
            for name, value in self.env.items()
        }


def instructions(dockerfile: Path) -> list[Instruction]:
    """Every instruction, continuations joined, comments dropped, with its WORKDIR."""
    result: list[Instruction] = []
    workdir = "/"
    pending = ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / arguments)
        result.append(Instruction(keyword, arguments, workdir))
    assert not pending, f"{dockerfile}: the file ends inside a continued line"
    return result


def env_of(found: list[Instruction]) -> dict[str, str]:
    """The ENV values the image is built with (``ENV A=1 B=2`` and legacy ``ENV A 1``)."""
    env: dict[str, str] = {}
    for instruction in found:
        if instruction.keyword != "ENV":
            continue
        words = shlex.split(instruction.arguments)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern as a regex over a context-relative posix path."""
    out = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
            continue
        if pattern.startswith("**", index):
            out += ".*"
            index += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", index)
            out += "[" + pattern[index + 1 : end].replace("!", "^", 1) + "]"
            index = end
        else:
            out += re.escape(char)
        index += 1
    return re.compile(f"^{out}$")


@dataclass(frozen=True)
class DockerIgnore:
    patterns: tuple[tuple[re.Pattern[str], bool], ...]
    """(pattern, is_exception) in file order."""

    @classmethod
    def read(cls, context: Path) -> DockerIgnore:
        path = context / ".dockerignore"
        if not path.exists():
            return cls(())
        patterns = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            cleaned = str(PurePosixPath(line.removeprefix("!").strip())).lstrip("/")
            patterns.append((_ignore_regex(cleaned), exception))
        return cls(tuple(patterns))

    def excludes(self, relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
        excluded = False
        for regex, exception in self.patterns:
            if any(regex.match(prefix) for prefix in prefixes):
                excluded = not exception
        return excluded


def _copy_arguments(arguments: str) -> tuple[list[str], list[str]] | None:
    """(sources, [destination]) of a COPY/ADD; None for one that copies from another stage."""
    text = arguments
    flags = []
    while text.startswith("--"):
        flag, _, text = text.partition(" ")
        flags.append(flag)
        text = text.lstrip()
    if any(flag.startswith("--from") for flag in flags):
        return None
    words = json.loads(text) if text.startswith("[") else shlex.split(text)
    assert len(words) >= 2, f"COPY {arguments!r}: needs a source and a destination"
    return words[:-1], words[-1:]


def _copy_one(source: Path, relative: str, target: Path, ignore: DockerIgnore) -> int:
    """Copy a file, or a folder's contents, skipping what .dockerignore keeps out."""
    if source.is_file():
        if ignore.excludes(relative):
            return 0
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return 1
    copied = 0
    for path in sorted(source.rglob("*")):
        inner = path.relative_to(source).as_posix()
        in_context = inner if relative == "." else f"{relative}/{inner}"
        if path.is_file() and not ignore.excludes(in_context):
            destination = target / inner
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            copied += 1
    return copied


def _matches(context: Path, pattern: str) -> list[Path]:
    cleaned = str(PurePosixPath(pattern)).lstrip("/")
    return [context] if cleaned == "." else sorted(context.glob(cleaned))


def build_tree(dockerfile: Path, context: Path, root: Path) -> ImageTree:
    """Apply every COPY/ADD of ``dockerfile`` from ``context`` into ``root``, in order."""
    found = instructions(dockerfile)
    ignore = DockerIgnore.read(context)
    for instruction in found:
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        parsed = _copy_arguments(instruction.arguments)
        if parsed is None:
            continue
        patterns, (destination,) = parsed
        sources = [path for pattern in patterns for path in _matches(context, pattern)]
        assert sources, f"{instruction.keyword} {instruction.arguments}: no source in the context"
        image_destination = PurePosixPath(instruction.workdir) / destination
        into_folder = destination.endswith("/") or len(sources) > 1
        assert into_folder or len(sources) == 1, (
            f"{instruction.keyword} {instruction.arguments}: several sources need a folder "
            "destination ending in /"
        )
        target = root / str(image_destination).lstrip("/")
        copied = 0
        for source in sources:
            relative = source.relative_to(context).as_posix()
            if source.is_file() and into_folder:
                copied += _copy_one(source, relative, target / source.name, ignore)
            else:
                copied += _copy_one(source, relative, target, ignore)
        assert copied, (
            f"{instruction.keyword} {instruction.arguments}: .dockerignore leaves nothing"
        )
    return ImageTree(root, found, env_of(found))
