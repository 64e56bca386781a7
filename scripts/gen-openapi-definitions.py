#!/usr/bin/env python3
"""Generates crates/krust-api/src/openapi/definitions.json: the Kubernetes v1.33 OpenAPI v2
definitions (schemas with descriptions and the x-kubernetes-* extensions: group-version-kind,
patch strategy and merge key, list type and map keys, map type).

Source: the v1.33 schema bundle of the PyPI package kubernetes-validate (Apache-2.0), which is
upstream's published OpenAPI converted to JSON Schema. This script converts it back to the
OpenAPI v2 shape upstream serves: nullable types collapsed, `$ref`s to `#/definitions/`,
IntOrString and Quantity as upstream declares them, and the enum that the conversion added to
apiVersion/kind removed.

Usage: scripts/gen-openapi-definitions.py   (downloads the wheel with pip into a temp dir)
"""
import json
import os
import subprocess
import sys
import tempfile
import zipfile

VERSION = "1.37.0"
INNER = "kubernetes_validate/kubernetes-json-schema/v1.33.0-local/_definitions.json"
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "krust-api", "src", "openapi", "definitions.json")
# Groups whose schemas krust does not serve (kept out to save space).
SKIP_PREFIXES = (
    "io.k8s.api.resource.",
    "io.k8s.api.storagemigration.",
    "io.k8s.api.apiserverinternal.",
)

INT_OR_STRING = {
    "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.",
    "format": "int-or-string",
    "type": "string",
}
QUANTITY = {
    "description": "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.",
    "type": "string",
}


def normalize(node, in_properties_of=None):
    if isinstance(node, list):
        return [normalize(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "type" and isinstance(v, list):
            non_null = [t for t in v if t != "null"]
            out[k] = non_null[0] if len(non_null) == 1 else non_null
        elif k == "$ref" and isinstance(v, str):
            out[k] = v.replace("#/$defs/", "#/definitions/")
        elif k == "properties" and isinstance(v, dict):
            props = {}
            for pk, pv in v.items():
                pv = normalize(pv)
                if pk in ("apiVersion", "kind") and isinstance(pv, dict):
                    pv.pop("enum", None)
                props[pk] = pv
            out[k] = props
        else:
            out[k] = normalize(v)
    return out


# MutatingAdmissionPolicy: 1.33 serves admissionregistration.k8s.io/v1alpha1; its v1beta1
# (1.34) has the same schema, and krust serves both. The v1beta1 definitions are the
# v1alpha1 ones under the new version (types 1.33 already has at v1beta1 are kept).
ALIASES = [("io.k8s.api.admissionregistration.v1alpha1.", "io.k8s.api.admissionregistration.v1beta1.", "v1beta1")]


def add_aliases(result):
    for old, new, version in ALIASES:
        for name in [n for n in result if n.startswith(old)]:
            text = json.dumps(result[name]).replace(f'"#/definitions/{old}', f'"#/definitions/{new}')
            schema = json.loads(text)
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                gvk["version"] = version
            result.setdefault(new + name[len(old):], schema)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp,
             f"kubernetes-validate=={VERSION}"],
            check=True,
        )
        wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
        with zipfile.ZipFile(wheel) as z:
            defs = json.loads(z.read(INNER))["$defs"]
    result = {}
    for name, schema in sorted(defs.items()):
        if name.startswith(SKIP_PREFIXES):
            continue
        if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
            result[name] = INT_OR_STRING
        elif name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            result[name] = QUANTITY
        else:
            result[name] = normalize(schema)
    add_aliases(result)
    with open(OUT, "w") as f:
        json.dump(result, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"wrote {len(result)} definitions to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
