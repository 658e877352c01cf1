# expect: import
import gc


def compute(input):
    return {"n": len(gc.get_objects())}
