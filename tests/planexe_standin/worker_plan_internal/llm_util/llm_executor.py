"""PlanExe's ``PipelineStopRequested``: what the progress callback raises to stop a run."""


class PipelineStopRequested(RuntimeError):
    pass
