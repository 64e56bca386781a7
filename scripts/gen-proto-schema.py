#!/usr/bin/env python3
"""Generates crates/krust-api/src/protobuf/schema.txt, the protobuf schema krust uses to decode
`application/vnd.kubernetes.protobuf` request bodies into JSON.

Inputs (read from the cargo registry cache, nothing is downloaded):
  * k8s-pb 0.9.0       prost-generated messages: field numbers and wire types;
  * k8s-openapi 0.29.0 (v1_33) serde code: the JSON name of every field;
  * optionally (--go-binary) a Kubernetes Go binary such as kubectl: its reflection data says
    which scalar fields are Go value fields tagged `omitempty` (see go_omit_zero below).
Messages and structs are matched by module path (api/core/v1, apimachinery/pkg/apis/meta/v1,
...), struct name (case-insensitively: k8s-pb writes `JsonSchemaProps`, k8s-openapi
`JSONSchemaProps`) and field name. A field k8s-openapi v1_33 lacks takes its name from the same
struct in another version of the group, else from any k8s-openapi field of the same spelling
(hostIP, podCIDRs), else lowerCamelCase.

Output format (one record per line, `#` starts a comment line):
  G <group> <package>          API group -> package prefix ("-" is the core group "")
  P <package>                  the package of the M lines that follow
  M <Message> [=<special>]     a message; special = custom JSON form (time, microtime, duration,
                               quantity, intorstring, rawjson, strings, propsorarray, propsorbool,
                               propsorstrings)
  F <tag> <json> <label> <type>
      label: o optional (emitted when on the wire, even if zero: proto2 presence)
             z optional, but a zero value is omitted (Go value field tagged omitempty: Go's
               encoder writes it even when zero, encoding/json drops it)
             r repeated (packed or not)
             m map (string keys; type is the value type)
             i inline (a Go embedded struct: its fields are merged into the parent; json is -)
      type:  string bool int32 int64 double float bytes, or a message: a bare name is in the
             current package, a dotted name is fully qualified

Usage (the committed schema was made with the second form):
  python3 scripts/gen-proto-schema.py [--registry DIR] [--out FILE] [--verbose]
  python3 scripts/gen-proto-schema.py --go-binary /usr/lib/google-cloud-sdk/bin/kubectl.1.33
  (any kubectl v1.33 binary works: kubectl links every k8s.io/api group; apiextensions and
  kube-aggregator types are not in it, so their scalar fields keep label o)
"""

import argparse
import glob
import os
import re
import sys

PB_CRATE = "k8s-pb-0.9.0"
OPENAPI_CRATE = "k8s-openapi-0.29.0"
OPENAPI_VERSION = "v1_33"
DEFAULT_OUT = "crates/krust-api/src/protobuf/schema.txt"

SCALARS = {"string", "bool", "int32", "int64", "double", "float", "bytes"}

# Messages whose JSON form is not an object of their fields (Go types with custom JSON).
SPECIAL = {
    "apimachinery.pkg.apis.meta.v1.Time": "time",
    "apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "apimachinery.pkg.apis.meta.v1.FieldsV1": "rawjson",
    "apimachinery.pkg.apis.meta.v1.Verbs": "strings",
    "apimachinery.pkg.api.resource.Quantity": "quantity",
    "apimachinery.pkg.api.resource.QuantityValue": "quantity",
    "apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "apimachinery.pkg.runtime.RawExtension": "rawjson",
}
SPECIAL_BY_NAME = {
    # apiextensions v1 and v1beta1
    "Json": "rawjson",
    "JsonSchemaPropsOrArray": "propsorarray",
    "JsonSchemaPropsOrBool": "propsorbool",
    "JsonSchemaPropsOrStringArray": "propsorstrings",
    # authentication, authorization, certificates: `type ExtraValue []string`
    "ExtraValue": "strings",
}

# Groups that have no resource in k8s-pb (so no `impl Resource` to learn the package from).
EXTRA_GROUPS = {
    "meta.k8s.io": "apimachinery.pkg.apis.meta",
    "extensions": "api.extensions",
    "imagepolicy.k8s.io": "api.imagepolicy",
    "metrics.k8s.io": "metrics.pkg.apis.metrics",
    "custom.metrics.k8s.io": "metrics.pkg.apis.custom_metrics",
    "external.metrics.k8s.io": "metrics.pkg.apis.external_metrics",
}

# k8s-pb field name -> k8s-openapi field name where they differ beyond `r#` / trailing `_`.
FIELD_ALIASES = {"ref": "ref_path"}


# --- Optional: Go struct tags from a Kubernetes Go binary (kubectl) -------------------------
#
# Go's protobuf encoder for Kubernetes types (gogo) writes every non-pointer scalar field, zero
# or not, while encoding/json drops zero values of fields tagged `omitempty`. To decode into the
# JSON a JSON client would have sent, the schema marks such fields (label `z`: omit when zero).
# Which Go fields are pointers is in neither crate, but every Go binary keeps its types'
# reflection data: struct fields with their tags (`json:"replicas,omitempty"
# protobuf:"varint,1,opt,name=replicas"`) and types (`*int32`). This reads it from the ELF file.

GO_KIND_PTR, GO_KIND_SLICE, GO_KIND_STRUCT = 22, 23, 25
GO_SCALAR_KINDS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 24}  # bool, ints, floats, string


class GoBinary:
    def __init__(self, path):
        import struct as st

        self.st = st
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2:
            raise ValueError(f"{path}: not a 64-bit ELF file")
        shoff = st.unpack_from("<Q", d, 0x28)[0]
        shentsize, shnum, shstrndx = st.unpack_from("<HHH", d, 0x3A)
        raw = [st.unpack_from("<IIQQQQ", d, shoff + i * shentsize) for i in range(shnum)]
        strtab = raw[shstrndx][4]
        self.sections = {}
        for name, _typ, _flags, addr, offset, size in raw:
            end = d.index(b"\0", strtab + name)
            self.sections[d[strtab + name : end].decode()] = (addr, offset, size)
        self.ranges = [v for v in self.sections.values() if v[0] and v[2]]
        if ".typelink" not in self.sections or ".rodata" not in self.sections:
            raise ValueError(f"{path}: no Go type links (.typelink) found")
        self.types = self.sections[".rodata"][0]

    def off(self, va):
        for addr, offset, size in self.ranges:
            if addr <= va < addr + size:
                return offset + va - addr
        raise ValueError(f"address {va:#x} outside the file")

    def u8(self, va):
        return self.data[self.off(va)]

    def u64(self, va):
        return self.st.unpack_from("<Q", self.data, self.off(va))[0]

    def i32(self, va):
        return self.st.unpack_from("<i", self.data, self.off(va))[0]

    def varint(self, va):
        value, shift = 0, 0
        while True:
            b = self.u8(va)
            va += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value, va

    def name(self, va):
        """An abi.Name: flags, varint length, bytes, then (flag 2) a tag the same way."""
        flags = self.u8(va)
        n, p = self.varint(va + 1)
        text = self.data[self.off(p) : self.off(p) + n].decode("utf-8", "replace")
        tag = ""
        if flags & 2:
            tn, q = self.varint(p + n)
            tag = self.data[self.off(q) : self.off(q) + tn].decode("utf-8", "replace")
        return text, tag

    def type_name(self, t):
        text = self.name(self.types + self.i32(t + 40))[0]
        return text[1:] if self.u8(t + 20) & 2 else text  # tflagExtraStar

    def structs(self):
        """{(package path, struct name): [(field, tag, go kind)]} for structs reachable from the
        type links (abi.Type is 48 bytes; StructType adds PkgPath and the Fields slice)."""
        addr, offset, size = self.sections[".typelink"]
        links = self.st.unpack_from(f"<{size // 4}i", self.data, offset)
        seen, found = set(), {}
        todo = [self.types + o for o in links]
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            try:
                kind = self.u8(t + 23) & 0x1F
                if kind in (GO_KIND_PTR, GO_KIND_SLICE):
                    todo.append(self.u64(t + 48))
                if kind != GO_KIND_STRUCT:
                    continue
                fields = []
                base, count = self.u64(t + 56), self.u64(t + 64)
                for i in range(count):
                    f = base + 24 * i
                    fname, tag = self.name(self.u64(f))
                    ftype = self.u64(f + 8)
                    fields.append((fname, tag, self.u8(ftype + 23) & 0x1F))
                    todo.append(ftype)
                pkg = ""
                if self.u8(t + 20) & 1:  # tflagUncommon: abi.UncommonType follows at +80
                    pkg = self.name(self.types + self.i32(t + 80))[0]
                name = self.type_name(t).rsplit(".", 1)[-1]
                found[(pkg, name)] = fields
            except (ValueError, IndexError, UnicodeDecodeError):
                continue
        return found


def go_omit_zero(path):
    """{(module path, lowercased message): {tag: True when a zero value is dropped from JSON}}."""
    out = {}
    for (pkg, name), fields in GoBinary(path).structs().items():
        if not pkg.startswith("k8s.io/"):
            continue
        module = tuple(pkg[len("k8s.io/") :].replace("-", "_").split("/"))
        tags = {}
        for _fname, tag, kind in fields:
            pm = re.search(r'protobuf:"[a-z0-9]+,(\d+),', tag)
            jm = re.search(r'json:"([^"]*)"', tag)
            if not pm or not jm:
                continue
            opts = jm.group(1).split(",")[1:]
            scalar_value = kind in GO_SCALAR_KINDS or kind == GO_KIND_SLICE
            tags[int(pm.group(1))] = scalar_value and "omitempty" in opts
        if tags:
            out[(module, name.lower())] = tags
    if not out:
        raise ValueError("no Kubernetes API struct types found (not a Kubernetes client binary?)")
    return out


def find_crate(registry, name):
    pattern = os.path.join(registry, "*", name)
    hits = sorted(glob.glob(pattern))
    return hits[0] if hits else None


def lower_camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def norm_field(name):
    if name.startswith("r#"):
        name = name[2:]
    return name.rstrip("_")


PROST_RE = re.compile(r"#\[prost\((.*)\)\]\s*$")
STRUCT_RE = re.compile(r"^pub struct (\w+) \{")
FIELD_RE = re.compile(r"^pub ((?:r#)?\w+):\s*(.*)$", re.S)
IMPL_RE = re.compile(r"^impl crate::Resource for (\w+) \{")
CONST_RE = re.compile(r'^const (GROUP|VERSION|KIND): &\'static str = "([^"]*)";')
WRAPPERS = {"Option", "Box", "Vec", "BTreeMap", "String"}


def resolve_type(module, ty):
    """Resolves the message type named in a Rust field type to a dotted full name."""
    paths = re.findall(r"[A-Za-z_][A-Za-z0-9_:]*", ty)
    paths = [p for p in paths if p.split("::")[-1] not in WRAPPERS and p.split("::")[-1]]
    if len(paths) != 1:
        raise ValueError(f"cannot find the message type in {ty!r}")
    parts = paths[0].split("::")
    if parts[0] == "crate":
        return ".".join(parts[1:])
    base = list(module)
    while parts and parts[0] == "super":
        parts.pop(0)
        base.pop()
    return ".".join(base + parts)


def parse_pb_module(path, module):
    """Returns ({message: [(tag, field, label, type)]}, [(group, version, kind, message)])."""
    messages = {}
    resources = []
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    current = None
    impl = None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("///") or line.startswith("//"):
            continue
        m = STRUCT_RE.match(line)
        if m:
            current = m.group(1)
            messages[current] = []
            continue
        if line == "}":
            current = None
            if impl is not None and {"GROUP", "VERSION", "KIND"} <= impl.keys():
                resources.append((impl["GROUP"], impl["VERSION"], impl["KIND"], impl["name"]))
            impl = None
            continue
        m = IMPL_RE.match(line)
        if m:
            impl = {"name": m.group(1)}
            continue
        if impl is not None:
            m = CONST_RE.match(line)
            if m:
                impl[m.group(1)] = m.group(2)
            continue
        m = PROST_RE.match(line)
        if not m or current is None:
            continue
        attr = m.group(1)
        # The declaration may span lines (long BTreeMap types); read up to the closing `,`.
        decl = ""
        while i < len(lines):
            decl += lines[i]
            i += 1
            if decl.endswith(",") and decl.count("<") == decl.count(">"):
                break
        fm = FIELD_RE.match(decl)
        if not fm:
            raise ValueError(f"{path}: cannot parse field declaration {decl!r}")
        field, ty = fm.group(1), fm.group(2)
        tag = re.search(r'tag = "(\d+)"', attr)
        if not tag:
            raise ValueError(f"{path}: no tag in {attr!r}")
        tag = int(tag.group(1))
        bmap = re.match(r'btree_map = "string, (\w+)"', attr)
        if bmap:
            label, kind = "m", bmap.group(1)
        else:
            kind = re.match(r"(\w+)", attr).group(1)
            label = "r" if re.search(r"\brepeated\b", attr) else "o"
        if kind not in SCALARS and kind != "message":
            raise ValueError(f"{path}: unsupported field kind {kind!r} in {attr!r}")
        if kind == "message":
            kind = resolve_type(module, ty)
        messages[current].append((tag, field, label, kind))
    return messages, resources


def parse_openapi(root):
    """Returns {(module path, lowercased struct name): {normalized field: json name}}."""
    index = {}
    key_re = re.compile(r'^"([^"]+)" => Field::Key_(\w+),$')
    struct_re = re.compile(r"^pub struct (\w+) \{")
    for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), root)
        module = tuple(rel.split(os.sep)) if rel != "." else ()
        with open(path, encoding="utf-8") as f:
            struct = None
            for raw in f:
                line = raw.strip()
                m = struct_re.match(line)
                if m:
                    struct = m.group(1)
                    index.setdefault((module, struct.lower()), {})
                    continue
                m = key_re.match(line)
                if m and struct is not None:
                    index[(module, struct.lower())][norm_field(m.group(2))] = m.group(1)
    return index


def squash(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def openapi_keys(openapi, full):
    """JSON names for a message: from its own k8s-openapi struct, else from the struct of the
    same name in another version of the same group (k8s-openapi v1_33 lacks old beta versions
    and k8s-pb has a few newer ones). None when no version has it."""
    module, name = tuple(full.split(".")[:-1]), full.split(".")[-1].lower()
    own = openapi.get((module, name))
    if own:
        return own
    merged = None
    for (mod, struct), keys in sorted(openapi.items()):
        if struct == name and mod[:-1] == module[:-1] and keys:
            merged = dict(keys, **(merged or {}))
    return merged if merged is not None else own


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", default=os.path.expanduser("~/.cargo/registry/src"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--verbose", action="store_true", help="report fallback names and inlines")
    ap.add_argument(
        "--go-binary",
        help="a Kubernetes Go binary (e.g. kubectl) whose struct tags mark the value fields "
        "tagged omitempty (label z); without it every scalar field gets label o",
    )
    args = ap.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = args.out or os.path.join(repo, DEFAULT_OUT)
    pb = find_crate(args.registry, PB_CRATE)
    oa = find_crate(args.registry, OPENAPI_CRATE)
    if not pb or not oa:
        missing = ", ".join(n for n, p in ((PB_CRATE, pb), (OPENAPI_CRATE, oa)) if not p)
        sys.exit(
            f"error: {missing} not found under {args.registry}/*/.\n"
            "Fetch them once with a throwaway crate, e.g.:\n"
            "  cargo new /tmp/fetch-k8s && cd /tmp/fetch-k8s && \\\n"
            "  cargo add k8s-pb@0.9 && cargo add k8s-openapi@0.29 --features v1_33 && cargo fetch"
        )
    pb_src = os.path.join(pb, "src")
    oa_src = os.path.join(oa, "src", OPENAPI_VERSION)

    messages = {}  # full name -> fields
    groups = dict(EXTRA_GROUPS)
    for path in sorted(glob.glob(os.path.join(pb_src, "**", "mod.rs"), recursive=True)):
        rel = os.path.relpath(os.path.dirname(path), pb_src)
        if rel == ".":
            continue
        module = rel.split(os.sep)
        msgs, resources = parse_pb_module(path, module)
        for name, fields in msgs.items():
            messages[".".join(module + [name])] = fields
        for group, version, _kind, _msg in resources:
            if module[-1] != version:
                raise ValueError(f"{path}: resource version {version} outside its module")
            package = ".".join(module[:-1])
            if groups.setdefault(group, package) != package:
                raise ValueError(f"group {group!r} maps to {groups[group]} and {package}")

    openapi = parse_openapi(oa_src)

    # Every JSON name k8s-openapi knows, by squashed spelling: names fields of messages that
    # k8s-openapi lacks (old beta versions, lists) with the right acronyms (hostIP, podCIDRs).
    spellings = {}
    for keys in openapi.values():
        for json_name in keys.values():
            spellings.setdefault(squash(json_name), set()).add(json_name)
    global_names = {k: next(iter(v)) for k, v in spellings.items() if len(v) == 1}

    # JSON names, then inline detection for message fields that have no JSON name: a Go
    # embedded struct (`json:",inline"`) whose JSON fields appear in the parent's k8s-openapi
    # struct (Probe.handler, Volume.volumeSource, EphemeralContainer, NamedRuleWithOperations).
    unmatched = []
    resolved = {}

    def json_fields(full, visiting):
        """Squashed JSON names a message contributes to an object, inline fields expanded."""
        if full in visiting:
            return set()
        names = set()
        for _tag, json_name, label, kind in resolve(full, visiting | {full}):
            names |= json_fields(kind, visiting | {full}) if label == "i" else {squash(json_name)}
        return names

    def resolve(full, visiting=frozenset()):
        if full in resolved:
            return resolved[full]
        keys = openapi_keys(openapi, full)
        squashed = {squash(v): v for v in (keys or {}).values()}
        out_fields = []
        for tag, field, label, kind in messages[full]:
            f = norm_field(field)
            json_name = None
            if keys is not None:
                json_name = keys.get(f) or keys.get(FIELD_ALIASES.get(f, "")) or squashed.get(squash(f))
            if json_name is None and keys and label == "o" and kind in messages:
                child = json_fields(kind, visiting | {full})
                hits = sum(1 for c in child if c in squashed)
                if child and hits * 4 >= len(child) * 3:
                    label, json_name = "i", "-"
            if json_name is None:
                json_name = global_names.get(squash(f)) or lower_camel(f)
                if keys:
                    unmatched.append(f"{full}.{field} -> {json_name}")
            out_fields.append((tag, json_name, label, kind))
        resolved[full] = out_fields
        return out_fields

    for full in sorted(messages):
        resolve(full)

    try:
        omit_zero = go_omit_zero(args.go_binary) if args.go_binary else {}
    except (OSError, ValueError) as e:
        sys.exit(f"error: cannot read Go type information from {args.go_binary}: {e}")
    marked = 0
    for full, fields in resolved.items():
        module, name = tuple(full.split(".")[:-1]), full.split(".")[-1].lower()
        tags = omit_zero.get((module, name), {})
        for i, (tag, json_name, label, kind) in enumerate(fields):
            if label == "o" and kind in SCALARS and tags.get(tag):
                fields[i] = (tag, json_name, "z", kind)
                marked += 1

    for full, fields in resolved.items():
        for _tag, _json, _label, kind in fields:
            if kind not in SCALARS and kind not in resolved:
                raise ValueError(f"{full}: unknown message type {kind}")

    if args.verbose:
        for u in unmatched:
            print(f"not in k8s-openapi {OPENAPI_VERSION}: {u}", file=sys.stderr)
        for full, fields in resolved.items():
            for _tag, json_name, label, kind in fields:
                if label == "i":
                    print(f"inline: {full}.{json_name} ({kind})", file=sys.stderr)

    lines = [
        f"# Generated by scripts/gen-proto-schema.py from {PB_CRATE} (field numbers) and "
        f"{OPENAPI_CRATE} {OPENAPI_VERSION} (JSON names)"
        + (f", omitempty value fields from {os.path.basename(args.go_binary)}" if args.go_binary else "")
        + ". Do not edit; rerun the script.",
    ]
    for group in sorted(groups):
        lines.append(f"G {group or '-'} {groups[group]}")
    package = None
    for full in sorted(resolved):
        pkg, name = full.rsplit(".", 1)
        if pkg != package:
            lines.append(f"P {pkg}")
            package = pkg
        special = SPECIAL.get(full) or SPECIAL_BY_NAME.get(name)
        lines.append(f"M {name}" + (f" ={special}" if special else ""))
        for tag, json_name, label, kind in resolved[full]:
            if kind not in SCALARS and kind.rsplit(".", 1)[0] == pkg:
                kind = kind.rsplit(".", 1)[1]
            lines.append(f"F {tag} {json_name} {label} {kind}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(
        f"wrote {out}: {len(resolved)} messages, {sum(len(v) for v in resolved.values())} fields, "
        f"{len(groups)} groups, {len(unmatched)} fields unknown to k8s-openapi {OPENAPI_VERSION}, "
        f"{marked} omit-when-zero fields from {len(omit_zero)} Go structs",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
