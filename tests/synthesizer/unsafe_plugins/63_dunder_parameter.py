# expect: dunder
def compute(input, __builtins__=None):
    return {}
