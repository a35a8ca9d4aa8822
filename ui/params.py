"""One widget per world parameter, validated by its declared range, shared by the Worlds and
Experiments pages. Changed values live in the link as `set.NAME=value`, so a copied link
reopens the same world."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.worlds import describe_params, get_kind

LINK_PREFIX = "set."


def _from_link(name: str, default: Any) -> Any:
    raw = st.query_params.get(LINK_PREFIX + name)
    if raw is None:
        return default
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes")
        return type(default)(raw)
    except (TypeError, ValueError):
        return default  # a hand-edited link with a bad value falls back to the preset


def parameter_widgets(kind: str, preset: str, key_prefix: str) -> dict[str, Any]:
    """The parameters changed from the preset (also written to the link)."""
    spec = get_kind(kind)
    overrides: dict[str, Any] = {}
    columns = st.columns(3)
    for index, p in enumerate(describe_params(spec)):
        column, name = columns[index % 3], p["name"]
        default = spec.presets[preset].get(name, p["default"])
        key = f"{key_prefix}-{kind}-{preset}-{name}"
        if key not in st.session_state:
            st.session_state[key] = _from_link(name, default)
            if p.get("choices") and st.session_state[key] not in p["choices"]:
                st.session_state[key] = default
        if p.get("choices"):
            value = column.selectbox(name, list(p["choices"]), key=key, help=p["help"])
        elif isinstance(default, bool):
            value = column.checkbox(name, key=key, help=p["help"])
        elif isinstance(default, (int, float)):
            value = column.number_input(name, key=key, help=p["help"], min_value=p.get("min"),
                                        max_value=p.get("max"),
                                        step=1 if isinstance(default, int) else None)
        else:
            value = column.text_input(name, key=key, help=p["help"])
        if value != default:
            overrides[name] = value
            st.query_params[LINK_PREFIX + name] = str(value)
        else:
            st.query_params.pop(LINK_PREFIX + name, None)
    return overrides
