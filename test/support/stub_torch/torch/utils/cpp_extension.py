import os
import time


def load(**kw):
    time.sleep(float(os.environ.get("STUB_BUILD_SECONDS", "0")))
    raise RuntimeError("stub build failed")
