# expect: filesystem
def compute(input, path=None):
    return {"key": (path or input["path"]).read_text()}
