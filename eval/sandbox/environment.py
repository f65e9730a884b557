"""What the sandbox workers take from the harness's environment, and what this machine supports.

Import path. A worker starts with `-s -S` (no user site, no .pth code: see
codemix.eval.sandbox.executor), so on its own it would see only the interpreter's standard library,
and in a virtual environment `site` would not even find the environment's site-packages (without
`site`, sys.prefix is the base interpreter's). Samples must import exactly what the environment
codemix runs in imports, so the harness hands its own sys.path to the workers, less the entries
that mean "wherever the harness happened to be": the cwd and the repository codemix runs from.

Source tree. Where codemix runs from a checkout (an editable install: the package folders of
the repository are mapped under `codemix`), the workers hide the whole checkout in their mount
namespace, as they hide home directories: a sample reads neither the tests, the data nor the git
history, and cannot import codemix from it (a sample has no use for the harness's modules). A
wheel installed in site-packages is left alone: that directory is the environment's.

In the worker (`set_import_path`, `DeferredPthCode`): that path becomes sys.path, and the code of
the site directories' .pth files, which `site` would have run, runs only when a sample's import
finds nothing without it.

Machine support. `probe` runs once per interpreter, in a throwaway process (the calls it makes,
unshare and loading a seccomp filter, cannot be undone in the harness): which namespaces the
kernel grants, whether the samples' uid switch works, whether pyseccomp imports and a filter
loads. Every layer the machine supports must then be active in every worker, unless the caller
switched it off or accepted weaker isolation for it (`check_worker_layers`): a worker that lost a
layer to a misconfigured environment stops the run instead of running on quietly.
"""

from __future__ import annotations

import json
import os
import sys

# os.path, not pathlib: the workers import this module, and every module they hold is copied
# into each sample's fork.
_SANDBOX_DIR = os.path.dirname(os.path.realpath(__file__))
# Accepting weaker isolation from the environment too, so that every process of a run (sweep
# cells, cluster jobs) inherits the choice made on the command line.
ALLOW_WEAKER_ENV = "CODEMIX_ALLOW_WEAKER_ISOLATION"
# Layers the workers build on the mount namespace, and the states that count as in force.
MOUNT_DERIVED = {"read-only-filesystem": ("used",), "private-tmp": ("used",),
                 "hidden-home": ("used", "unused: no home directory found"),
                 "hidden-source-tree": ("used", "unused: codemix runs from an installed package")}
_PROBE_TIMEOUT_S = 60.0
HIDDEN_PROBLEM_FILES = "hidden-problem-files"  # not probed: asked for by the scorer (hidden_paths)


def package_dirs() -> tuple[tuple[str, str], ...]:
    """(module name, directory) of codemix, codemix.eval and codemix.eval.sandbox: the workers and
    the probe import their modules by location (see `bootstrap`)."""
    return (("codemix", os.path.dirname(os.path.realpath(sys.modules["codemix"].__file__))),
            ("codemix.eval", os.path.dirname(_SANDBOX_DIR)), ("codemix.eval.sandbox", _SANDBOX_DIR))


def bootstrap(module: str, function: str) -> str:
    """`python -c` code that runs codemix.eval.sandbox.<module>.<function>() with stand-in package
    objects for codemix, codemix.eval and codemix.eval.sandbox (their __init__ files are not run),
    so nothing else of codemix is imported and no codemix directory goes on sys.path."""
    return ("import sys, types; sys.path[:] = [p for p in sys.path if p]\n"
            f"for name, path in {package_dirs()!r}:\n"
            "    m = types.ModuleType(name); m.__path__ = [path]; m.__file__ = path + '/__init__.py'; sys.modules[name] = m\n"
            f"from codemix.eval.sandbox.{module} import {function}; sys.exit({function}())")


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def source_tree() -> str | None:
    """The repository codemix runs from, or None for an installed wheel. In a checkout the package
    folders sit side by side (codemix/, eval/, ...) and are mapped under `codemix`; in a wheel
    codemix/eval/ is inside codemix/."""
    codemix_dir = dict(package_dirs())["codemix"]
    eval_dir = os.path.dirname(_SANDBOX_DIR)
    if _is_under(eval_dir, codemix_dir):
        return None
    root = os.path.dirname(codemix_dir)
    return root if _is_under(eval_dir, root) else None


def samples_import_path(path: list[str] | None = None) -> list[str]:
    """`path` (default: the harness's sys.path) as absolute directories, without the entries
    that stand for the cwd ('' and the cwd itself) and those inside the source tree, except the
    Python environment's own directories (a virtual environment may live in the checkout)."""
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:  # the cwd was removed: no entry can mean it any more
        cwd = None
    source = source_tree()
    environment = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    out: list[str] = []
    for entry in sys.path if path is None else path:
        if not entry or (cwd is None and not os.path.isabs(entry)):
            continue
        absolute = os.path.abspath(entry)
        real = os.path.realpath(absolute)
        own = any(_is_under(real, e) for e in environment)
        if not own and (real == cwd or (source is not None and _is_under(real, source))):
            continue
        if absolute not in out:
            out.append(absolute)
    return out


def site_directories(path: list[str]) -> list[str]:
    """The site directories of the running interpreter that are on `path`: where `site` ran .pth
    files in the harness (the workers run that code only when an import misses)."""
    import site

    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if d in path]


def allowed_weaker(given, optional: tuple[str, ...]) -> set[str]:
    """The layers for which weaker isolation is accepted: `given` (a list, or None for the
    CODEMIX_ALLOW_WEAKER_ISOLATION variable: comma-separated names or `all`)."""
    from codemix.core.errors import CodemixError

    if given is None:
        given = [x.strip() for x in os.environ.get(ALLOW_WEAKER_ENV, "").split(",") if x.strip()]
        source = f"{ALLOW_WEAKER_ENV}={os.environ.get(ALLOW_WEAKER_ENV, '')}"
    else:
        given, source = list(given), "--allow-weaker-isolation"
    if "all" in given:
        return set(optional)
    unknown = sorted(set(given) - set(optional))
    if unknown:
        raise CodemixError(f"{source}: unknown isolation layer(s) {', '.join(unknown)}; "
                           f"layers: {', '.join(optional)} or all")
    return set(given)


_probed: dict[tuple, dict] = {}


def probe(python: str, command_prefix: list[str], sample_uid: int) -> dict:
    """Run `probe_main` in a fresh process of `python` (with `site`, as any program of that
    environment starts); its report: {"layers": {layer: "supported" | "unsupported: why"},
    "sys_path": [...], "site_dirs": [...]}. Once per interpreter and prefix in a process (~40 ms
    each): what the machine supports does not change while it runs."""
    key = (python, tuple(command_prefix), sample_uid)
    if key not in _probed:
        _probed[key] = _run_probe(python, command_prefix, sample_uid)
    return _probed[key]


def _run_probe(python: str, command_prefix: list[str], sample_uid: int) -> dict:
    import subprocess

    from codemix.core.errors import CodemixError

    cmd = [*command_prefix, python, "-c", bootstrap("environment", "probe_main"), json.dumps({"sample_uid": sample_uid})]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CodemixError(f"sandbox: could not probe the isolation this machine supports with {python}: {e}") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise CodemixError(f"sandbox: could not probe the isolation this machine supports with {python}: {reason}")
    return json.loads(lines[-1])


def probe_main() -> int:
    """In the probe process: try each layer as a worker would, print the report as JSON."""
    from codemix.eval.sandbox import isolation as iso

    cfg = json.loads(sys.argv[1])
    layers: dict[str, str] = {}
    try:
        seccomp_filter = iso.build_seccomp_filter()
    except Exception as e:
        seccomp_filter = None
        layers["seccomp"] = f"unsupported: {type(e).__name__}: {e}"
    root = os.geteuid() == 0
    for name, refused in iso.enter_namespaces().items():
        layers[name] = "supported" if refused is None else f"unsupported: {refused}"
    if root:
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(cfg["sample_uid"], cfg["sample_uid"], cfg["sample_uid"])
                os.setresuid(cfg["sample_uid"], cfg["sample_uid"], cfg["sample_uid"])
            finally:
                os._exit(0 if os.getuid() == cfg["sample_uid"] else 1)
        ok = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        layers["unprivileged-uid"] = "supported" if ok else "unsupported: setresuid to the samples' uid failed"
    if seccomp_filter is not None:  # last: the filter refuses the unshare calls above
        try:
            iso.set_no_new_privs()
            seccomp_filter.load()
            layers["seccomp"] = "supported"
        except Exception as e:
            layers["seccomp"] = f"unsupported: {type(e).__name__}: {e}"
    path = samples_import_path()
    print(json.dumps({"layers": layers, "sys_path": path, "site_dirs": site_directories(path)}))
    return 0


# ---------------------------------------------------------------- in the worker

def set_import_path(sys_path: list[str]) -> None:
    """Samples import what the harness's environment imports: its sys.path (computed by the
    harness, without its cwd and the checkout: samples_import_path), taken as is.
    The worker starts with -S (see codemix.eval.sandbox.executor), so no .pth file's code has run
    here; the directories .pth files name are on that path already, and their code (an editable
    install's import hook, say) runs only when an import finds nothing: see DeferredPthCode.
    exit(), quit() and help() become builtins again, as `site` would have made them."""
    import site

    sys.path[:] = sys_path
    site.setquit()
    site.setcopyright()
    site.sethelper()


class DeferredPthCode:
    """Last finder on sys.meta_path: the first top-level import that no other finder satisfies
    runs the site directories' .pth files as `site` would (site.addsitedir) and is tried once
    more.

    `site` at start-up would run them for every sample: in the pyenv interpreter here they import
    certifi, pathlib, zipfile and importlib.resources, 4.3 MB of memory and 67 mappings that every
    sample's fork copies. Deferred, a sample that imports only what is installed never pays, and
    one that imports what a .pth hook provides still gets it."""

    def __init__(self, site_dirs: list[str]):
        self.site_dirs = site_dirs

    def find_spec(self, name, path=None, target=None):
        import site

        if path is not None:
            # A submodule: packages probe for optional ones (numpy does) and .pth hooks map
            # top-level names, so only a top-level miss is worth the .pth code (~5-10 ms).
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for d in self.site_dirs:
            site.addsitedir(d)
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                return spec
        return None


def required_layers(supported: dict[str, str], disabled: set[str], allowed: set[str]) -> set[str]:
    """The layers every worker must have in force: supported here, neither switched off nor
    accepted weaker."""
    return {name for name, state in supported.items() if state == "supported"} - disabled - allowed


def check_worker_layers(index: int, detail: dict[str, str], required: set[str]) -> None:
    """Raise CodemixError naming the first required layer worker `index` does not have in force,
    and how to accept running without it."""
    from codemix.core.errors import CodemixError

    for name in sorted(required):
        wanted = [(name, ("used",))]
        if name == "mount-namespace":
            wanted += list(MOUNT_DERIVED.items())
        for layer, states in wanted:
            state = detail.get(layer, "missing")
            if state not in states:
                why = ("is asked for (the benchmark's problem files are to be hidden)" if layer == HIDDEN_PROBLEM_FILES
                       else "is supported on this machine")
                raise CodemixError(
                    f"sandbox isolation layer {layer} {why} but not in force in sandbox "
                    f"worker {index} ({state}); fix that, or run with weaker isolation: "
                    f"--allow-weaker-isolation {name} (or {ALLOW_WEAKER_ENV}={name}, Executor(allow_weaker=[{name!r}]))")
