# expect: dynamic-code
def compute(input, tools=None):
    runner = (tools or {}).get("x") or input
    return {"v": runner.eval("1 + 1")}
