# expect: import
import shutil


def compute(input):
    shutil.rmtree("/srv/hub", ignore_errors=True)
    return {}
