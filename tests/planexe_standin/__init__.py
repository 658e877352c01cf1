"""A stand-in for PlanExe's worker (``worker_plan_api``, ``worker_plan_internal``): PlanExe is
not on the package index and needs LLMs. Only what the PlanExe adapter touches is here, with
PlanExe's names, file names and output schemas; the upstream stages answer from a script of
recorded outputs instead of an LLM, and count their calls in ``llm_calls.txt``."""
