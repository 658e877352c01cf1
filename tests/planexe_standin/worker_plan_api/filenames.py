"""PlanExe's ``FilenameEnum`` (the entries the stand-in pipeline uses, with PlanExe's values)."""

from enum import StrEnum


class FilenameEnum(StrEnum):
    START_TIME = "001-1-start_time.json"
    INITIAL_PLAN = "001-2-plan.txt"
    IDENTIFY_RISKS_RAW = "003-1-identify_risks_raw.json"
    IDENTIFY_RISKS_MARKDOWN = "003-2-identify_risks.md"
    WBS_PROJECT_LEVEL1_AND_LEVEL2 = "019-wbs_project_level1_and_level2.json"
    TASK_DURATIONS_RAW_TEMPLATE = "022-1-{}-task_durations_raw.json"
    TASK_DURATIONS = "022-2-task_durations.json"
    REPORT = "030-report.html"
    PIPELINE_COMPLETE = "999-pipeline_complete.txt"


class ExtraFilenameEnum(StrEnum):
    LOG_TXT = "log.txt"
    PIPELINE_STOP_REQUESTED_FLAG = "pipeline_stop_requested.txt"
