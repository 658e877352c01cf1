# expect: dynamic-code
def compute(input):
    return {"x": globals()["__builtins__"]["eval"]("1 + 1")}
