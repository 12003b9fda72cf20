"""The demo campus's people as a directory file, imported by the console like any college's
(issue 11): `make run` and the test session hand it over as PEOPLE_SEED_FILE."""

from __future__ import annotations

from pathlib import Path

import yaml

from cctv.plumbing.passwords import hash_password


def demo_people_file(path: Path) -> Path:
    from demo.campus import DEMO_PASSWORD, DEMO_PEOPLE

    if path.exists() and _accounts(path) == {p.account for p in DEMO_PEOPLE}:
        return path  # hashing the password is slow; a file of the same people is kept
    shared_hash = hash_password(DEMO_PASSWORD)
    rows = []
    for p in DEMO_PEOPLE:
        start, end = p.shift
        rows.append(
            {
                "account": p.account,
                "name": p.name,
                "department": p.department,
                "roles": [p.role],
                "zone": p.zone,
                "shift": "" if start == end else f"{start:%H:%M}-{end:%H:%M}",
                "password_hash": shared_hash,
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"people": rows}, allow_unicode=True), encoding="utf-8")
    return path


def _accounts(path: Path) -> set[str]:
    """The accounts a people file holds (none when it cannot be read): a home from an older
    `make run` gets the people the demo has gained since."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {str(row["account"]) for row in data.get("people", [])}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return set()
