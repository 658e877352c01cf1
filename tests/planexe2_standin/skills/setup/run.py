def run(ctx):
    raw = ctx.read_json("plan_raw.json")
    ctx.write_text(
        "plan.txt",
        f"Plan:\n{raw['plan_prompt']}\n\nToday's date:\n{raw['pretty_date']}\n\nProject start ASAP",
    )
