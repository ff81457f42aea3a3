# A target whose names are chosen to attack whoever reads its profile: a function, a
# file and a thread whose names hold ESC (a clear-screen sequence), BEL, NUL, a newline
# that would forge a line, a C1 control and an XML-forbidden U+FFFF. framescope must show
# them escaped in text outputs and keep its SVGs well-formed XML.
#
# Usage: evil_names.py [SECONDS]  (default: until killed). Prints "ready" when every
# thread is parked in the evil function.
import sys
import threading
import time

EVIL = "evil\x1b[2J\x07\x00\nFORGED LINE\u0085\uffff"
EVIL_FILE = "evil\x1b[2Jname\x07\x00\n.py"

SOURCE = """
def worker(seconds):
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        for i in range(2000):
            total += i * i
    return total
"""

namespace = {"time": time}
# compile() refuses a NUL in a file name; code.replace() does not.
exec(compile(SOURCE, "evil\x1b[2Jname\x07\n.py", "exec"), namespace)
plain = namespace["worker"]
code = plain.__code__.replace(co_name=EVIL, co_filename=EVIL_FILE)
if sys.version_info >= (3, 11):
    code = code.replace(co_qualname=EVIL)
worker = type(plain)(code, namespace, EVIL)
worker.__qualname__ = EVIL

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1e9
thread = threading.Thread(target=worker, args=(seconds,), name="thread" + EVIL)
thread.start()
time.sleep(0.2)
print("ready", flush=True)
worker(seconds)
thread.join()
