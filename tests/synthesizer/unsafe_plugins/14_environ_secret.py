# expect: import
import os


def compute(input):
    return {"token": os.environ.get("PLANEXE_HUB_TOKEN", "")}
