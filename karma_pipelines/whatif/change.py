"""A proposed change, as `karma-pipelines whatif --change FILE` reads it: a JSON object
`{"component": "<type>/<nickname>", "environment": "<env>", "config": {...}}` (the proposed new config)
or the same with `"patch": {...}` (dotted or nested fields to set; `null` removes one).

Values are redacted as the file is read (`contracts.redaction`), as every source redacts what it reads:
the current config in `config_snapshots` is redacted too, so the two compare, and no raw value goes
further. A secret field named by a patch counts as changed (its redacted value cannot tell)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karma_pipelines.contracts.config_diff import diff_configs
from karma_pipelines.contracts.config_fields import apply_patch, flatten, too_many_fields, unflatten
from karma_pipelines.contracts.redaction import is_secret_field, redact

KEYS = ("component", "environment", "config", "patch")


@dataclass(frozen=True)
class ProposedChange:
    component: str  # `<type>/<nickname>`
    environment: str | None  # None: the component's own environment in the history
    config: dict[str, Any] | None = None  # the proposed new config (redacted)
    patch: dict[str, Any] | None = None  # dotted path -> new value (redacted), None = removed
    author: str = "whatif"
    message: str = ""

    @property
    def component_type(self) -> str:
        return self.component.partition("/")[0]

    def new_config(self, current: dict[str, Any] | None) -> dict[str, Any]:
        """The config after the change, from the component's current (redacted) config."""
        if self.config is not None:
            return self.config
        return apply_patch(current, self.patch or {})

    def changed_fields(self, current: dict[str, Any] | None) -> list[str]:
        """Dotted paths the change adds, removes or changes, sorted."""
        new = self.new_config(current)
        diff = diff_configs(current, new)
        fields = set(diff.added) | set(diff.removed) | set(diff.changed)
        old = flatten(current or {})
        for path, value in (self.patch or {}).items():  # a secret set by the patch: changed
            if value is not None and any(is_secret_field(p) for p in path.split(".")) and path in old:
                fields.add(path)
        return sorted(fields)


def _fail(where: str, field: str, why: str) -> ValueError:
    return ValueError(f"{where}: field {field!r}: {why}")


def _patch_paths(patch: dict[str, Any], where: str) -> dict[str, Any]:
    """A patch's nested objects as dotted paths (`{"a": {"b": 1}}` is `{"a.b": 1}`); null stays."""
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise _fail(where, f"patch.{key}", "a field path must be a non-empty dotted name")
        if isinstance(value, dict) and value:
            out.update({f"{key}.{p}": v for p, v in _patch_paths(value, where).items()})
        else:
            out[key] = value
    return out


def parse_change(doc: Any, where: str = "change") -> ProposedChange:
    """A `ProposedChange` from a parsed JSON document; ValueError naming the field when it is wrong."""
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: a change must be a JSON object with {', '.join(map(repr, KEYS))}")
    unknown = sorted(set(doc) - set(KEYS) - {"author", "message"})
    if unknown:
        raise _fail(where, unknown[0], f"unknown field (expected {', '.join(KEYS)}, author, message)")
    component = doc.get("component")
    if not isinstance(component, str) or component.count("/") != 1 or not all(component.split("/")):
        raise _fail(where, "component", f"must be `<type>/<nickname>`, not {json.dumps(component)}")
    env = doc.get("environment")
    if env is not None and (not isinstance(env, str) or not env):
        raise _fail(where, "environment", "must be a non-empty string (or left out)")
    has_config, has_patch = "config" in doc, "patch" in doc
    if has_config == has_patch:
        raise _fail(where, "config", "give exactly one of `config` (the new config) and `patch`")
    value = doc["config" if has_config else "patch"]
    name = "config" if has_config else "patch"
    if not isinstance(value, dict):
        raise _fail(where, name, f"must be a JSON object, not {type(value).__name__}")
    if not value and has_patch:
        raise _fail(where, "patch", "is empty: nothing would change")
    big = too_many_fields(value)
    if big:
        raise _fail(where, name, big)
    for extra in ("author", "message"):
        if extra in doc and not isinstance(doc[extra], str):
            raise _fail(where, extra, "must be a string")
    if has_config:
        config, patch = redact(value), None
    else:  # redacted nested, so that `environment.STRIPE_KEY` is judged by its own name
        config, patch = None, _patch_paths(redact(unflatten(_patch_paths(value, where))), where)
    return ProposedChange(
        component=component,
        environment=env,
        config=config,
        patch=patch,
        author=str(doc.get("author") or "whatif"),
        message=str(redact(doc.get("message") or "")),
    )


def load_change(path: Path | str) -> ProposedChange:
    """Read `--change FILE`; ValueError naming the file (and the field) when it is not a valid change."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--change {path}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"--change {path}: not valid JSON ({exc})") from None
    return parse_change(doc, where=f"--change {path}")
