"""Demonstration data: Santa Catarina's regulation center on a Monday morning (``regula demo``)."""

from regula.demo.generation import DEMO_SOURCE
from regula.demo.loading import load_demo_data
from regula.demo.summary import DemoExample, DemoSummary, summary_lines

__all__ = ["DEMO_SOURCE", "DemoExample", "DemoSummary", "load_demo_data", "summary_lines"]
