# expect: dynamic-code
def compute(input):
    code = compile(input["src"], "<spec>", "eval")
    return {"code": str(code)}
