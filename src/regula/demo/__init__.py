"""Demonstration data: Santa Catarina's regulation center on a Monday morning (``regula demo``)."""

from regula.demo.data import DEMO_SOURCE, DemoExample, DemoSummary, load_demo_data, summary_lines

__all__ = ["DEMO_SOURCE", "DemoExample", "DemoSummary", "load_demo_data", "summary_lines"]
