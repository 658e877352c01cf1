# expect: rebinding
def compute(input):
    if (getattr := input.get):
        return {"v": getattr("x", "keys")}
    return {}
