# expect: import
import codecs


def compute(input):
    exec(codecs.decode("vzcbeg bf", "rot13"))
    return {}
