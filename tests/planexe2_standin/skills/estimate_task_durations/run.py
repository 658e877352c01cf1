import json


def run(ctx):
    wbs = ctx.read_json("wbs_project_level1_and_level2.json")
    result = ctx.llm("You estimate durations.", json.dumps(wbs), {"type": "object"})
    ctx.write_json("task_durations.json", result.data)
