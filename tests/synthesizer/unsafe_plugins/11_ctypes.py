# expect: import
import ctypes


def compute(input):
    ctypes.CDLL(None).system(b"id")
    return {}
