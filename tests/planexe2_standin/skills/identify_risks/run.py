def run(ctx):
    result = ctx.llm("You identify risks.", ctx.read_text("plan.txt"), {"type": "object"})
    ctx.write_json("identify_risks_raw.json", result.data)
    lines = [
        f"## Risk {n} - {r['risk_area']}\n\n{r['risk_description']}\n"
        for n, r in enumerate(result.data["risks"], start=1)
    ]
    ctx.write_text("identify_risks.md", "\n".join(lines))
