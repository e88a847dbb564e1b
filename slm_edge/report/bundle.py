"""The JavaScript report.html inlines: vega, vega-lite and vega-embed as one bundle built by
vl-convert (the bundler altair's own offline HTML uses), for the Vega-Lite version altair writes.
Building it takes a second or two, so it is kept in the cache, keyed by both libraries' versions."""

from __future__ import annotations

import functools
from importlib.metadata import version

from slm_edge.cache import atomic_write_text, root_for


def vega_lite_version() -> str:
    """'6.1' for altair's 'v6.1.0' schema: the bundle must render the specs altair writes."""
    import altair as alt

    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """The bundle's source; it sets window.vegaEmbed (no module loader, no request to any host)."""
    import vl_convert

    key = f"vega-bundle-vl{vega_lite_version()}-vlconvert{version('vl-convert-python')}.js"
    path = root_for("report") / key
    if path.is_file():
        return path.read_text()
    source = vl_convert.javascript_bundle(vl_version=vega_lite_version())
    atomic_write_text(path, source)
    return source
