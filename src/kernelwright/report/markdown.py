"""The run report's tables in GitHub-flavoured Markdown, for papers and pull requests."""

from __future__ import annotations

from .context import ReportContext
from .page import build_page
from .templating import environment


def render_markdown(context: ReportContext) -> str:
    return environment(autoescape=False).get_template("report.md.j2").render(page=build_page(context))
