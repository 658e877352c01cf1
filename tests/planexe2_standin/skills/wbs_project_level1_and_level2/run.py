def run(ctx):
    result = ctx.llm("You write a WBS.", ctx.read_text("plan.txt"), {"type": "object"})
    ctx.write_json("wbs_project_level1_and_level2.json", result.data)
