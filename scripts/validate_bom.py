#!/usr/bin/env python3
"""Validates CycloneDX BOMs with the CycloneDX project's own library (cyclonedx-python-lib):
the JSON schema of the BOM's spec version, strictly (no property the schema does not
define), and that the library reads it back.

    pip install cyclonedx-python-lib jsonschema
    python3 scripts/validate_bom.py bom.json [more.json ...]

Exit 1 when one does not validate.
"""
import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    failed = False
    for path in sys.argv[1:]:
        text = open(path, encoding="utf-8").read()
        doc = json.loads(text)
        version = {"1.6": SchemaVersion.V1_6, "1.5": SchemaVersion.V1_5}.get(doc.get("specVersion"))
        if version is None:
            print(f"{path}: specVersion {doc.get('specVersion')!r} is not one this check knows")
            failed = True
            continue
        error = JsonStrictValidator(version).validate_str(text)
        if error is not None:
            print(f"{path}: does NOT validate against CycloneDX {doc['specVersion']}: {error}")
            failed = True
            continue
        print(f"{path}: valid CycloneDX {doc['specVersion']} ({len(doc.get('components', []))} components)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
