"""A stand-in for PlanExe2's runner (``python -m planexe_skill``), written from its documented
behaviour: PlanExe2 is not on the package index. See ``planexe_skill/__init__.py``."""
