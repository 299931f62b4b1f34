"""The kernel's own helpers, set up by the agent in every fresh kernel.

They live here, in the runtime's site-packages, rather than in a notebook cell: what they import
(matplotlib, IPython, duckdb and whatever those load lazily) is the runtime's doing, not the
code's, for the import governance in airlock._imports.
"""


def flush_figures():
    """Shows every open matplotlib figure as PNG after each execution, whatever backend the code
    selected (Agg + plt.show() displays nothing by itself), then closes them."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    import io

    from IPython.display import Image, display

    for num in plt.get_fignums():
        buf = io.BytesIO()
        plt.figure(num).savefig(buf, format="png", bbox_inches="tight")
        display(Image(data=buf.getvalue(), format="png"))
    plt.close("all")


def sql(encoded):
    """SQL without a connector: DuckDB over the session's files; a DataFrame or None."""
    import base64

    import duckdb

    rel = duckdb.sql(base64.b64decode(encoded).decode("utf-8"))
    return None if rel is None else rel.df()
