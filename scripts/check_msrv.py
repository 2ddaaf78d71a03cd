#!/usr/bin/env python3
"""Checks the `rust-version` of the published packages (pagelog, pagelog-cli) as far as it
can be checked without installing that toolchain (rustup cannot fetch one on the CI machine):

* every crate they depend on (normal dependencies, all features, as Cargo.lock pins them)
  declares a `rust-version` no newer than theirs, or none;
* the edition they use is supported by that version.

The third part, that no standard-library item newer than `rust-version` is used, is
clippy's `incompatible_msrv` lint, which reads `rust-version` and runs in .ci/run with
`-D warnings`. What neither checks: language features stabilized after `rust-version`, and
compiler bugs fixed since; only building with that toolchain would.
"""
import json
import subprocess
import sys

EDITION_SINCE = {"2015": (1, 0, 0), "2018": (1, 31, 0), "2021": (1, 56, 0), "2024": (1, 85, 0)}


def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    host = next(
        line.split()[1]
        for line in subprocess.check_output(["rustc", "-vV"], text=True).splitlines()
        if line.startswith("host:")
    )
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked",
             "--filter-platform", host]
        )
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    failures = []
    for name in ["pagelog", "pagelog-cli"]:
        root = next(p for p in meta["packages"] if p["name"] == name and p["source"] is None)
        msrv = version(root["rust_version"])
        if EDITION_SINCE[root["edition"]] > msrv:
            failures.append(f"{name}: edition {root['edition']} needs a newer Rust than {msrv}")
        seen, stack = set(), [root["id"]]
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for dep in nodes[pid]["deps"]:
                if any(k["kind"] is None for k in dep["dep_kinds"]):
                    stack.append(dep["pkg"])
        seen.discard(root["id"])
        for pid in sorted(seen):
            dep = packages[pid]
            rv = dep.get("rust_version")
            if rv and version(rv) > msrv:
                failures.append(
                    f"{name} (rust-version {root['rust_version']}) depends on "
                    f"{dep['name']} {dep['version']}, which needs Rust {rv}"
                )
        print(f"{name}: rust-version {root['rust_version']}, {len(seen)} dependencies checked")
    for f in failures:
        print("error:", f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
