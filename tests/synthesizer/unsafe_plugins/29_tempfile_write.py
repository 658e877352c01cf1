# expect: import
import tempfile


def compute(input):
    tempfile.NamedTemporaryFile(dir="/var/lib", delete=False).write(b"x")
    return {}
