"""The predictive maintenance window job on per-test topics (from ``MAINT_SOURCE``, ``MAINT_SINK``, ``MAINT_NAME``)."""

from __future__ import annotations

import os

from examples.predictive_maintenance import build_job

if os.environ.get("MAINT_SOURCE"):
    job = build_job(name=os.environ["MAINT_NAME"], source=os.environ["MAINT_SOURCE"], sink=os.environ["MAINT_SINK"])
