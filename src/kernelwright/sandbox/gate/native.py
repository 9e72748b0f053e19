"""Native rules: pattern rules, the header allowlist and the torch-call check on C++/CUDA text."""

from __future__ import annotations

import re
from collections.abc import Callable

from kernelwright.sandbox.gate.findings import Origin, Sink
from kernelwright.sandbox.policy import Backend, StaticPolicy


def _strip_native(text: str) -> tuple[str, list[int]]:
    """Splice backslash-newlines and remove // and /* */ comments, keeping string and character
    literals. Returns the cleaned text and the 1-based original line of every cleaned character."""
    # Pass 1: line splices ("\\\n"), as the preprocessor does before anything else.
    chars: list[str] = []
    lines: list[int] = []
    line = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if text.startswith("\n", i + 1):
                i += 2
                line += 1
                continue
            if text.startswith("\r\n", i + 1):
                i += 3
                line += 1
                continue
        chars.append(c)
        lines.append(line)
        if c == "\n":
            line += 1
        i += 1

    # Pass 2: comments out, literals kept.
    src = "".join(chars)
    out: list[str] = []
    out_lines: list[int] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "/" and i + 1 < n and src[i + 1] == "/":
            end = src.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "/" and i + 1 < n and src[i + 1] == "*":
            end = src.find("*/", i + 2)
            out.append(" ")
            out_lines.append(lines[i])
            i = n if end < 0 else end + 2
            continue
        if c == '"' or (c == "'" and not (i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_"))):
            stop = _literal_end(src, i)
            out.append(src[i:stop])
            out_lines.extend(lines[i:stop])
            i = stop
            continue
        out.append(c)
        out_lines.append(lines[i])
        i += 1
    return "".join(out), out_lines


def _literal_end(src: str, i: int) -> int:
    """The index just past the string or character literal that opens at src[i], raw strings included."""
    n = len(src)
    if src[i] == '"' and re.search(r'(?:^|[^\w])(?:u8|u|U|L)?R$', src[max(0, i - 4): i]) is not None:
        paren = src.find("(", i + 1)
        delim = src[i + 1: paren] if paren >= 0 else ""
        end = src.find(f"){delim}\"", paren + 1) if paren >= 0 and len(delim) <= 16 else -1
        return n if end < 0 else end + len(delim) + 2
    j = i + 1
    while j < n and src[j] != src[i] and src[j] != "\n":
        j += 2 if src[j] == "\\" else 1
    return min(j + 1, n)


def scan_native(text: str, *, policy: StaticPolicy, backend: Backend, sink: Sink, origin: Origin,
                where: str, map_line: Callable[[int], int] | None, context: str,
                skip_known_excerpts: bool = False) -> None:
    """Apply the native pattern rules, the header allowlist and the torch-call check to one text."""
    if not text.strip():
        return
    clean, line_of = _strip_native(text)
    raw_lines = text.splitlines()
    hit_lines: set[int] = set()  # lines of this text with a pattern hit

    def report(rule_id: str, pos: int, name: str) -> None:
        native_line = line_of[min(pos, len(line_of) - 1)] if line_of else 1
        excerpt = raw_lines[native_line - 1] if 0 < native_line <= len(raw_lines) else None
        line = map_line(native_line) if map_line is not None else native_line
        norm_excerpt = (excerpt or "").strip()
        if skip_known_excerpts and (rule_id, norm_excerpt) in sink.python_native_excerpts:
            return  # the same line was already reported from the Python string literal
        emitted = sink.emit(rule_id, origin="native", line=line, name=" ".join(name.split()),
                            excerpt=excerpt, dedup=(rule_id, where, line), context=context)
        if emitted and origin == "python":
            sink.python_native_excerpts.add((rule_id, norm_excerpt))
        hit_lines.add(native_line)

    for rule_id, regex in policy.native_rule_regexes(backend):
        for match in regex.finditer(clean):
            report(rule_id, match.start(), match.group(0))

    for match in policy.optimize_re.finditer(clean):
        unchecked = _optimize_options(match.group("rest"), policy.native.optimize_allowed)
        if unchecked:
            report("NATIVE_FAST_MATH", match.start(), f"{match.group(0).strip()[:80]} (options {', '.join(unchecked)})")

    for match in policy.torch_call_re.finditer(clean):
        op = match.group("op")
        if op not in policy.native.torch_call_allowlist:
            report("LIBRARY_CALL_NATIVE", match.start(), match.group(0).rstrip("( \t\n"))

    headers = policy.native.headers
    for match in policy.include_re.finditer(clean):
        header = (match.group("angle") or match.group("quote") or match.group("other") or "").strip()
        if line_of[min(match.start(), len(line_of) - 1)] in hit_lines:
            continue  # a more specific rule already reported this line
        if headers.allowed(header, backend):
            continue
        if header and headers.library(header):
            report("NATIVE_LIBRARY_INCLUDE", match.start(), header)
        else:
            report("NATIVE_INCLUDE_UNKNOWN", match.start(), header or "(empty)")


def _optimize_options(rest: str, allowed: frozenset[str]) -> list[str]:
    """The options of an optimize pragma or attribute (the text after its keyword, to the end of the line) that
    are not in `allowed`: adjacent string literals are joined as the compiler joins them, a leading -f or - is
    dropped, and anything that is not a string or a number (a macro) is returned as it stands."""
    text = rest.replace('\\"', '"')
    if text.lstrip().startswith("("):  # the parenthesised argument list, up to its closing parenthesis
        depth, end = 0, len(text)
        for i, c in enumerate(text):
            depth += (c == "(") - (c == ")")
            if depth == 0 and c == ")":
                end = i
                break
        text = text[text.index("(") + 1:end]
    text = re.sub(r'"\s*"', "", text)  # "O" "fast" is "Ofast"
    options: list[str] = []
    for part in re.findall(r'"[^"]*"|[^\s,"]+', text):
        options += part.strip('"').split(",") if part.startswith('"') else [part]
    unchecked = []
    for option in (o.strip() for o in options):
        name = option[2:] if option.startswith("-f") else option.lstrip("-")
        if option and name not in allowed:
            unchecked.append(option)
    return unchecked
