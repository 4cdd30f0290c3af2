"""Plain CLI values without pydantic: a faster start for one-shot commands.

typer 0.29 converts every parameter value through a pydantic ``TypeAdapter``, and the first one it
builds imports pydantic: ~70 ms of a ~0.35 s one-shot `memcli search` (`-X importtime`: typer._adapters
60 ms, pydantic's plugin loader 12 ms), for values that are only strings, whole numbers, flags,
paths and lists of those. ``install()`` puts a lazy converter in front of typer's: a value of one of
those plain shapes is converted here, exactly as typer's adapter would; anything else (a number
with min/max, a custom parser, an enum, a date, a file, a malformed number whose error message
typer words) goes to the runtime parameter typer itself builds, built only then.

typer has no public hook for this; ``install`` checks the internals it relies on and leaves typer
alone when they are not there (another typer version), so the cost is only start-up time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

_INT = re.compile(r"[+-]?\d+\Z")
_UNCONVERTED = object()


def install() -> bool:
    """Route typer's parameter conversion through ``_LazyParam``; True when installed."""
    try:
        from typer import core
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:
        return False
    if getattr(core, "build_runtime_param", None) is not build_runtime_param:
        return getattr(core.build_runtime_param, "_memcli", False)

    @dataclass(frozen=True)
    class _LazyParam(RuntimeParam):
        descriptor: Any

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            rv = _plain(self.annotation, self.parameter_info, value, param, ctx, coerce_cli_path)
            if rv is not _UNCONVERTED:
                return rv
            return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def lazy_runtime_param(descriptor: Any) -> Any:
        if descriptor.file_annotation is not None:
            return build_runtime_param(descriptor)
        return _LazyParam(annotation=descriptor.annotation,
                          parameter_info=descriptor.parameter_info, descriptor=descriptor)

    lazy_runtime_param._memcli = True
    core.build_runtime_param = lazy_runtime_param
    return True


def _plain(annotation: Any, info: Any, value: Any, param: Any, ctx: Any, coerce_path) -> Any:
    """``value`` converted as typer would, or ``_UNCONVERTED`` when typer must decide."""
    if getattr(info, "parser", None) is not None:
        return _UNCONVERTED
    if get_origin(annotation) is list:
        (item_type,) = get_args(annotation) or (Any,)
        items = value if isinstance(value, (list, tuple)) else [value]
        out = [_plain(item_type, info, item, param, ctx, coerce_path) for item in items]
        return _UNCONVERTED if any(v is _UNCONVERTED for v in out) else out
    if annotation is str and isinstance(value, str):
        return value
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is int and not isinstance(value, bool) and (
            info.min is None and info.max is None and not info.clamp):
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _INT.match(value):
            return int(value)
        return _UNCONVERTED
    if annotation is Path and isinstance(value, (str, Path)) and info.path_type is None:
        # typer's own path checks (exists, file_okay, resolve_path, …), given a Path already
        return coerce_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return _UNCONVERTED
