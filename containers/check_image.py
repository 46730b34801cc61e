"""Run in an image build after its lock is installed (--no-deps): fail when the installed packages conflict (pip's
own check, counting only complaints the base image did not already have), and print where the base image's packages
differ from containers/locks/<image>.base.txt, the constraints CI resolved the lock against.

    python containers/check_image.py IMAGE PIP_CHECK_BEFORE   (PIP_CHECK_BEFORE: `pip check` output of the bare base)
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement  # pip is in every image; packaging may not be

LOCKS = Path(__file__).resolve().parent / "locks"


def base_drift(image: str) -> list[str]:
    """`name: base file X, image Y` for each base pin (whose marker holds here) the image does not satisfy."""
    base = LOCKS / f"{image}.base.txt"
    if not base.is_file():
        return []
    out = []
    for line in base.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        req = Requirement(line.split(" #")[0])
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            installed = "absent"
        if installed == "absent" or not req.specifier.contains(installed, prereleases=True):
            out.append(f"{req.name}: {base.name} {req.specifier}, image {installed}")
    return out


def main(image: str, before: Path) -> int:
    drift = base_drift(image)
    if drift:
        print(
            f"check_image.py: the base differs from {image}.base.txt in {len(drift)} packages (the lock was "
            "resolved against that file; pip's check below decides whether it matters):",
            *drift,
            sep="\n  ",
        )
    known = set(before.read_text().splitlines())
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    new = [line for line in check.stdout.splitlines() if line not in known and "No broken requirements" not in line]
    if new:
        print(
            f"check_image.py: installing containers/locks/{image}.txt broke the image's requirements:",
            *new,
            sep="\n  ",
            file=sys.stderr,
        )
        print(
            f"fix: make containers/locks/{image}.base.txt the image's own `pip freeze`, rerun "
            "`python containers/lock_images.py` and commit containers/locks/",
            file=sys.stderr,
        )
        return 1
    print(f"check_image.py: {image}: no new conflicts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
