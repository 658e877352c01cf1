# expect: internals
def compute(input):
    try:
        raise ValueError("x")
    except ValueError as exc:
        frame = exc.args and None
        return {"g": str(frame.f_back.f_globals)}
