# expect: internals
def compute(input):
    gen = (x for x in [1])
    return {"g": str(gen.gi_frame.f_back.f_globals)}
