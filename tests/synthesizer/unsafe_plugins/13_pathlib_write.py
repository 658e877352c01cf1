# expect: import
from pathlib import Path


def compute(input):
    Path.home().joinpath(".bashrc").write_text("id\n")
    return {}
