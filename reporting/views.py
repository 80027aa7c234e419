"""The dashboard page where an operator asks a question and sees the table and the chart."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

from apiauth.permissions import dashboard_required
from reporting.parser import EXAMPLES


def _layout() -> str:
    # The dashboard's base template when the monitoring app provides one, else our own.
    try:
        get_template("base.html")
    except TemplateDoesNotExist:
        return "reporting/standalone.html"
    return "base.html"


@dashboard_required
def ask_page(request: HttpRequest) -> HttpResponse:
    return render(request, "reporting/ask.html", {"layout": _layout(), "examples": EXAMPLES[:6]})
