"""Import governance inside the sandbox (installed by sitecustomize in every runtime Python).

An audit hook (PEP 578; it cannot be removed once added) sees every module the interpreter is
about to load. A load the code itself asked for (the nearest caller outside the standard library
and importlib is a notebook cell, exec'd text, or a file outside the runtime's site-packages) of
a top-level module the gateway listed as not allowed for this execution is refused with
ModuleNotFoundError, before the module runs; every such load, refused or not, is appended to a
log the agent reads after the execution and the gateway decides with policy again.

This is a tripwire inside the code's own interpreter, not a wall: code that sets out to defeat
it (ctypes, rewriting this module's state) can. The wall is what is installed: the sandbox holds
only the allowlisted packages and what the kernel itself needs. See docs/threat-model.md.
"""

import os
import sys
import sysconfig

_DIR = "/tmp/.airlock"
_DENIED = _DIR + "/denied-imports"
_LOG = _DIR + "/imports.log"
_STDLIB = sysconfig.get_paths()["stdlib"] + os.sep
_SITE = tuple(
    p + os.sep for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
)
_STD_NAMES = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_state = {"mtime": None, "denied": frozenset()}


def _denied():
    try:
        mtime = os.stat(_DENIED).st_mtime_ns
    except OSError:
        return frozenset()
    if mtime != _state["mtime"]:
        try:
            with open(_DENIED, encoding="utf-8") as f:
                _state["denied"] = frozenset(line.strip() for line in f if line.strip())
        except OSError:
            _state["denied"] = frozenset()
        _state["mtime"] = mtime
    return _state["denied"]


# Started as `python -m <name>` by the agent itself: the kernel, and pip for granted installs.
_AGENT_ENTRY_POINTS = frozenset(("ipykernel_launcher", "pip"))


def _asked_by_user(frame, top):
    """Whether the nearest caller outside importlib and the standard library is user code."""
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith("<frozen ") or name.startswith(_STDLIB)):
            return not name.startswith(_SITE)
        frame = frame.f_back
    # No caller at all: the main module of `python -m <top>`.
    return top not in _AGENT_ENTRY_POINTS


def _log(module, blocked):
    try:
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{'blocked' if blocked else 'loaded'} {module}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def _top_of_site_file(path):
    """`<site-packages>/jedi/api/x.py` -> `jedi`; None outside the runtime's site-packages."""
    for site in _SITE:
        if path.startswith(site):
            first = path[len(site):].split(os.sep, 1)[0]
            return first.split(".", 1)[0]
    return None


def _refused(top, frame):
    """Logs a load the code asked for; True when it must be refused."""
    if top in _STD_NAMES or top in ("airlock", "sitecustomize", "__main__"):
        return False
    if not _asked_by_user(frame, top):
        return False
    blocked = top in _denied()
    _log(top, blocked)
    return blocked


def _caller():
    """The frame that raised the event (None when it came from the interpreter itself)."""
    try:
        return sys._getframe(3)
    except ValueError:
        return None


def _judge(event, args):
    """The top-level module to refuse for this event, or None."""
    if event == "import":
        # `import x`, `__import__`, `importlib.import_module`: before the module is found.
        name = args[0]
        top = name.partition(".")[0] if isinstance(name, str) else None
    elif event == "exec":
        # A runtime package's code run without the import statement (a loader driven by hand,
        # `spec.loader.exec_module`): judged by the file the code comes from.
        top = _top_of_site_file(getattr(args[0], "co_filename", "") or "")
    else:
        return None
    if top is not None and _refused(top, _caller()):
        return top
    return None


def _hook(event, args):
    try:
        top = _judge(event, args)
    except Exception:  # noqa: BLE001 - a fault here must never break the interpreter
        return
    if top is not None:
        raise ModuleNotFoundError(
            f"No module named {top!r}: the package is not on this workspace's allowlist (airlock)",
            name=top,
        )


def install():
    sys.addaudithook(_hook)
