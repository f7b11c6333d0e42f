# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Where things are: in this tree, and httpd's own directories (from apxs)."""

import functools
import os
import shutil
import subprocess

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(TOP, "tools")
EMULATOR = os.path.join(TOOLS, "kvc_emulator.py")
MODULE_LIST = os.path.join(TOOLS, "httpd-modules.txt")
# The module under test as tools/build.sh leaves it, never an installed copy.
MODULE = os.path.join(TOP, ".libs", "mod_kvcache.so")


@functools.lru_cache(maxsize=None)
def apxs(name):
    """One of httpd's build settings (apxs -q NAME): LIBEXECDIR, SBINDIR, ..."""
    binary = shutil.which("apxs") or shutil.which("apxs2") or "apxs"
    return subprocess.run([binary, "-q", name], check=True, capture_output=True,
                          text=True).stdout.strip()


def httpd_binary():
    return os.path.join(apxs("SBINDIR"), apxs("TARGET"))


def modules_dir():
    return apxs("LIBEXECDIR")
