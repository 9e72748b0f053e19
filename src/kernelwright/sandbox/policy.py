"""Sandbox policy loaded from data files under the repository's top-level ``sandbox/`` folder.

The static gate's rules (ids, severities, messages, banned lists, regexes, header allowlists) live in
``sandbox/static_rules.toml``; :func:`load_static_policy` reads and validates them into a
:class:`StaticPolicy`.
"""

from __future__ import annotations

import functools
import re
import string
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..backend import Backend

Severity = Literal["reject", "flag"]

#: The repository's policy folder (``<repo>/sandbox``), located relative to this package (src layout).
POLICY_DIR = Path(__file__).resolve().parents[3] / "sandbox"
STATIC_RULES_FILE = "static_rules.toml"

_ALLOWED_PLACEHOLDERS = {"name"}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(_Frozen):
    """One rule the gate can emit."""

    severity: Severity
    origin: Literal["python", "native", "both"]
    summary: str = Field(min_length=1)
    message: str = Field(min_length=1)
    patterns: tuple[str, ...] = ()
    backends: tuple[Backend, ...] = ("cuda", "cpu")
    # A task declaration (Declarations field, e.g. "allow_fast_math") under which this rule only flags.
    waived_by: Literal["allow_fast_math"] | None = None

    @model_validator(mode="after")
    def _check(self) -> RuleSpec:
        for _, field, _, _ in string.Formatter().parse(self.message):
            if field is not None and field not in _ALLOWED_PLACEHOLDERS:
                raise ValueError(f"message uses unknown placeholder {{{field}}}; only {{name}} is allowed")
        if self.patterns and self.origin == "python":
            raise ValueError("patterns are only meaningful for native rules")
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return self

    def render(self, name: str | None) -> str:
        return self.message.replace("{name}", name if name is not None else "")


class BuildPolicy(_Frozen):
    builders: tuple[str, ...]
    build_dir_kwargs: tuple[str, ...]
    extra_flag_kwargs: tuple[str, ...]
    cflag_kwargs: tuple[str, ...]
    suspicious_cflag_prefixes: tuple[str, ...]
    benign_cflags: tuple[str, ...] = ()
    cuda_source_kwargs: tuple[str, ...]


class ForwardPolicy(_Frozen):
    suppress_context_managers: tuple[str, ...]
    caching_builtins: tuple[str, ...]
    caching_attrs: tuple[str, ...]
    caching_decorators: tuple[str, ...] = ()
    host_sync_methods: tuple[str, ...]
    host_device_names: tuple[str, ...]
    mutating_methods: tuple[str, ...]
    compute_namespaces: tuple[str, ...]
    compute_allowlist: frozenset[str]
    compute_methods: frozenset[str]
    nn_module_allowlist: frozenset[str]


class PythonPolicy(_Frozen):
    modelnew_class: str
    reference_names: tuple[str, ...]
    allowed_model_bases: tuple[str, ...]
    allowed_model_bases_unresolved: tuple[str, ...]
    entry_methods: tuple[str, ...]
    banned_modules: tuple[str, ...]
    flagged_modules: tuple[str, ...]
    allowed_modules: tuple[str, ...]
    os_module: str
    os_reject_attrs: frozenset[str]
    os_reject_attr_prefixes: tuple[str, ...]
    dynamic_code_builtins: frozenset[str]
    file_io_builtins: frozenset[str]
    introspection_builtins: frozenset[str]
    introspection_attrs: frozenset[str]
    dynamic_attr_builtins: frozenset[str]
    module_table_attrs: frozenset[str]
    mutating_attr_builtins: frozenset[str]
    setattr_dunders: frozenset[str]
    class_mutation_attrs: frozenset[str]
    lazy_tensor_bases: tuple[str, ...]
    lazy_tensor_hooks: frozenset[str]
    lazy_tensor_methods: frozenset[str]
    global_flag_namespaces: tuple[str, ...]
    global_flag_call_allowlist: frozenset[str]
    qualname_rules: dict[str, tuple[str, ...]]
    build: BuildPolicy
    forward: ForwardPolicy


class HeaderPolicy(_Frozen):
    common: frozenset[str]
    common_prefixes: tuple[str, ...]
    cuda: frozenset[str]
    cuda_prefixes: tuple[str, ...]
    cpu: frozenset[str]
    cpu_prefixes: tuple[str, ...]
    library_prefixes: tuple[str, ...]

    def allowed(self, header: str, backend: Backend) -> bool:
        exact = self.common | (self.cuda if backend == "cuda" else self.cpu)
        prefixes = self.common_prefixes + (self.cuda_prefixes if backend == "cuda" else self.cpu_prefixes)
        return header in exact or any(header.startswith(p) for p in prefixes)

    def library(self, header: str) -> bool:
        return any(header.startswith(p) for p in self.library_prefixes)


class NativePolicy(_Frozen):
    include_regex: str
    torch_call_regex: str
    torch_call_allowlist: frozenset[str]
    headers: HeaderPolicy
    # Per-function optimisation options set in the source (`#pragma GCC optimize`, optimize attributes); group
    # "rest" is the text after the directive. Options outside `optimize_allowed` are NATIVE_FAST_MATH.
    optimize_regex: str = r"(?!)"
    optimize_allowed: frozenset[str] = frozenset()


class StaticPolicy(_Frozen):
    """The static gate's policy: rule table plus the parameters of the Python and native rules."""

    schema_version: int
    rules: dict[str, RuleSpec]
    python: PythonPolicy
    native: NativePolicy

    _rule_regex: dict[str, re.Pattern[str]] = PrivateAttr(default_factory=dict)
    _include_re: re.Pattern[str] | None = PrivateAttr(default=None)
    _torch_call_re: re.Pattern[str] | None = PrivateAttr(default=None)
    _optimize_re: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_references(self) -> StaticPolicy:
        for rule_id in self.python.qualname_rules:
            if rule_id not in self.rules:
                raise ValueError(f"[python.qualname_rules] names unknown rule {rule_id!r}")
        for rule_id in self.rules:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", rule_id):
                raise ValueError(f"rule id {rule_id!r} must be UPPER_SNAKE_CASE")
        try:
            include_re = re.compile(self.native.include_regex, re.MULTILINE)
            torch_call_re = re.compile(self.native.torch_call_regex)
        except re.error as exc:
            raise ValueError(f"invalid native regex: {exc}") from exc
        if "op" not in torch_call_re.groupindex:
            raise ValueError("torch_call_regex needs a named group 'op'")
        if not {"angle", "quote", "other"} <= set(include_re.groupindex):
            raise ValueError("include_regex needs named groups 'angle', 'quote' and 'other'")
        try:
            optimize_re = re.compile(self.native.optimize_regex, re.MULTILINE)
        except re.error as exc:
            raise ValueError(f"invalid optimize_regex: {exc}") from exc
        if "rest" not in optimize_re.groupindex:
            raise ValueError("optimize_regex needs a named group 'rest'")
        self._include_re = include_re
        self._torch_call_re = torch_call_re
        self._optimize_re = optimize_re
        self._rule_regex = {
            rule_id: re.compile("|".join(f"(?:{p})" for p in spec.patterns), re.MULTILINE)
            for rule_id, spec in self.rules.items()
            if spec.patterns
        }
        return self

    def rule(self, rule_id: str) -> RuleSpec:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise KeyError(f"static gate rule {rule_id!r} is not defined in the policy") from None

    def native_rule_regexes(self, backend: Backend) -> list[tuple[str, re.Pattern[str]]]:
        """(rule id, combined compiled regex) for every pattern rule that applies to ``backend``."""
        return [
            (rule_id, regex)
            for rule_id, regex in self._rule_regex.items()
            if backend in self.rules[rule_id].backends
        ]

    @property
    def include_re(self) -> re.Pattern[str]:
        assert self._include_re is not None
        return self._include_re

    @property
    def torch_call_re(self) -> re.Pattern[str]:
        assert self._torch_call_re is not None
        return self._torch_call_re

    @property
    def optimize_re(self) -> re.Pattern[str]:
        assert self._optimize_re is not None
        return self._optimize_re


def default_static_rules_path() -> Path:
    """``<repo>/sandbox/static_rules.toml`` in a checkout; the installed data folder otherwise."""
    checkout = POLICY_DIR / STATIC_RULES_FILE
    if checkout.is_file():
        return checkout
    try:
        from kernelwright.resources import data_dir

        return data_dir("sandbox") / STATIC_RULES_FILE
    except (ImportError, FileNotFoundError):
        return checkout  # reported as missing by load_static_policy


def load_static_policy(path: str | Path | None = None) -> StaticPolicy:
    """Load and validate the static gate policy.

    ``path`` defaults to ``<repo>/sandbox/static_rules.toml`` (or the installed copy under
    ``share/kernelwright/sandbox``). Parsed policies are cached per (path, modification time), so an
    edited file is picked up and an unchanged one costs a ``stat``.
    """
    resolved = Path(path).resolve() if path is not None else default_static_rules_path()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        raise FileNotFoundError(
            f"static gate policy not found at {resolved}. The policy lives in the repository's top-level "
            f"sandbox/ folder (installed under share/kernelwright/sandbox); pass "
            f"load_static_policy(path=...) to use another file."
        ) from None
    return _load(resolved, mtime)


@functools.lru_cache(maxsize=8)
def _load(path: Path, _mtime_ns: int) -> StaticPolicy:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return StaticPolicy.model_validate(data)


load_static_policy.cache_clear = _load.cache_clear  # type: ignore[attr-defined]
