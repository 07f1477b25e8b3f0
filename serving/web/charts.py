"""Charts: plotly figures built here, drawn in the browser by the plotly.js bundled in the `plotly` package."""

from __future__ import annotations

from pathlib import Path

import plotly
import plotly.graph_objects as go

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def figure(title: str, x_title: str = "", y_title: str = "") -> go.Figure:
    """An empty figure in the pages' style: fills its box's width, legend below, no plotly logo."""
    fig = go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin={"l": 48, "r": 12, "t": 40, "b": 40},
        height=320,
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    return fig


def spec(fig: go.Figure) -> str:
    """The figure as JSON for a `<script type="application/json" data-chart>` element the page script draws."""
    return fig.to_json()
