"""Just enough of Docker's own reading of a Dockerfile and a .dockerignore to check ours.

Logical lines join at a trailing backslash; comment and blank lines inside a continued
instruction are dropped, as BuildKit drops them. `.dockerignore` patterns follow BuildKit's
matcher: `*` and `?` stay within one path segment, `**` spans any number, a pattern that matches
a directory matches everything under it, and the last matching pattern (`!` re-includes) wins.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    flags: dict[str, str]
    args: str
    line: int

    def words(self) -> list[str]:
        """The arguments, split as JSON (exec form) or as a shell would split them."""
        if self.args.startswith("["):
            return list(json.loads(self.args))
        return shlex.split(self.args)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Each instruction as one line, with the number of the line it starts on."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        pending.append(raw)
        lines.append((start, "".join(pending).strip()))
        pending = []
    if pending:
        lines.append((start, "".join(pending).strip()))
    return lines


def _split_flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        name, _, value = token[2:].partition("=")
        flags[name] = value
        rest = rest.lstrip()
    return flags, rest


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, in order."""
    stages: list[Stage] = []
    for line, content in logical_lines(text):
        keyword, _, rest = content.partition(" ")
        flags, args = _split_flags(rest.strip())
        instruction = Instruction(keyword.upper(), flags, args, line)
        if instruction.keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif instruction.keyword == "ARG" and not stages:
            continue
        else:
            stages[-1].instructions.append(instruction)
    return stages


def _segment_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class IgnorePattern:
    regex: re.Pattern[str]
    include: bool


def read_dockerignore(text: str) -> list[IgnorePattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = pattern.strip("/")
        patterns.append(IgnorePattern(re.compile(_segment_regex(pattern) + r"\Z"), include))
    return patterns


def is_ignored(path: str, patterns: list[IgnorePattern]) -> bool:
    """Whether `path` (relative to the context, `/`-separated) stays out of the build context."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        if any(pattern.regex.match(prefix) for prefix in prefixes):
            ignored = not pattern.include
    return ignored


def context_files(root: Path, source: str, patterns: list[IgnorePattern]) -> list[Path]:
    """The files under `source` that are sent to the builder."""
    base = root / source
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    return [p for p in files if not is_ignored(p.relative_to(root).as_posix(), patterns)]
