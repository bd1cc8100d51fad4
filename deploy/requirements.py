"""Print the requirements the image installs: the project's dependencies and the named extras.

Used by deploy/Dockerfile before the source is copied, so the dependency layer is cached
until pyproject.toml changes. An extra pyproject.toml does not define is skipped: the image
asks for every backend extra (PostgreSQL, Redis) whether or not this version has it.

    python deploy/requirements.py pyproject.toml postgres redis
"""

import sys
import tomllib


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    with open(pyproject, "rb") as fh:
        project = tomllib.load(fh)["project"]
    optional = project.get("optional-dependencies", {})
    out = list(project.get("dependencies", []))
    for extra in extras:
        out.extend(r for r in optional.get(extra, []) if r not in out)
    return out


if __name__ == "__main__":
    sys.stdout.write("".join(f"{r}\n" for r in requirements(sys.argv[1], sys.argv[2:])))
