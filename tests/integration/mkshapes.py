#!/usr/bin/python3
"""Build a deterministic OCI image layout of every kind of thing a site carries
besides plain runnable images, for bale's integration tests.

Usage: mkshapes.py [--foreign-base URL] OUTDIR

Writes:
  OUTDIR/layout    an OCI image layout; index.json names each shape by
                   "REPO:TAG" (org.opencontainers.image.ref.name), which
                   push_exact.py pushes to REPO:TAG on a registry
  OUTDIR/foreign   the bytes of the foreign (non-distributable) Windows layers,
                   at foreign/sha256/<hex>: they are NOT in the layout's blobs,
                   a registry never gets them; a static HTTP server serving
                   OUTDIR/foreign at URL makes the layers' `urls`
                   (URL/sha256/<hex>) work
and prints a JSON summary: for each shape its ref, repository, tag, root digest,
media type, and every digest below the root: "manifests" (child manifests and
indexes), "blobs" (configs and layers a registry holds) and "foreign" (layers
only at their urls).

The shapes (docs/shapes.md describes each and why it is there):
  helm, helm-nomt     Helm chart as an OCI artifact, with and without the
                      manifest's top-level mediaType
  app                 a plain linux/amd64 image: the subject of what follows
  cosign-sig          cosign signature, tag sha256-<app hex>.sig
  sbom                SPDX SBOM artifact: artifactType, empty config, subject
  notary-sig          a Notary v2 style signature artifact with a subject
  referrers           referrers index (tag sha256-<app hex>) of sbom and notary-sig
  oras                ORAS-style artifact: custom config type, a 0-byte layer
  buildx              buildx index: linux/amd64 + linux/arm64 and their
                      attestation manifests (unknown/unknown)
  zstd                image with a tar+zstd layer
  uncompressed        image with a plain tar layer
  nested              index whose one entry is an index (linux/amd64, linux/s390x)
  windows             Docker manifest list of two windows/amd64 images that
                      differ by os.version (os.features on one), each with a
                      foreign base layer carrying urls
  foreign-linux       a runnable linux/amd64 image whose base layer is foreign
                      (OCI non-distributable, with urls): it unpacks anywhere
  bigconfig           image whose config blob is exactly 5 MiB
  extras              OCI index and manifests with unknown fields, annotations,
                      a descriptor `data` field and non-compact JSON, to show
                      that bytes are carried as they are
  bad-diffid          linux/amd64 image whose config names a diff id its layer
                      does not have: containerd cannot unpack it
  nested-mixed        index of linux/s390x and a child index (no platform) of
                      linux/amd64 and linux/arm64/v8
  deep                indexes nested 5 levels below the root, then linux/amd64:
                      deeper than bale walks
  attested            index of linux/s390x and its buildx attestation (empty
                      config, unknown/unknown), no other platform
  windows-stack       Docker manifest list of two windows/amd64 builds
                      (10.0.17763.5576 with os.features, 10.0.20348.2340), each a
                      foreign base layer and two layers

Everything is reproducible for the same arguments: tar, gzip and JSON as in
mkimages.py, zstd from the `zstd` command at a fixed level.  Standard library
only (plus the zstd command).
"""

import argparse
import base64
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimages import CREATED, Layout, add_entry, dumps, make_layer, sha256  # noqa: E402

import io  # noqa: E402
import tarfile  # noqa: E402

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_EMPTY = "application/vnd.oci.empty.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
MT_OCI_FOREIGN = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
MT_HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MT_COSIGN = "application/vnd.dev.cosign.simplesigning.v1+json"
MT_INTOTO = "application/vnd.in-toto+json"
MT_SPDX = "application/spdx+json"
MT_NOTARY = "application/vnd.cncf.notary.signature"
MT_JOSE = "application/jose+json"

EMPTY_JSON = b"{}"
ZSTD_LEVEL = 3
WINDOWS_VERSIONS = ["10.0.17763.5576", "10.0.20348.2227"]
WINDOWS_STACK_VERSIONS = ["10.0.17763.5576", "10.0.20348.2340"]
DEEP_LEVELS = 5
BIG_CONFIG = 5 * 1024 * 1024


class Shapes:
    def __init__(self, outdir, foreign_base):
        self.layout = Layout(os.path.join(outdir, "layout"))
        self.foreign_dir = os.path.join(outdir, "foreign", "sha256")
        os.makedirs(self.foreign_dir, exist_ok=True)
        self.foreign_base = foreign_base.rstrip("/")
        self.summary = {}

    # ------------------------------------------------------------ helpers

    def put(self, blob, media_type, **extra):
        return self.layout.put(blob, media_type, **extra)

    def record(self, shape, repo, tag, desc, children, foreign=()):
        """Tag desc as REPO:TAG in the layout and note the shape in the summary."""
        ref = repo + ":" + tag
        # index.json names the root by its descriptor alone (no platform, urls, ...).
        self.layout.tag({k: desc[k] for k in ("mediaType", "digest", "size")}, ref)
        kids = sorted(set(children) - {desc["digest"]})
        self.summary[shape] = {
            "ref": ref,
            "repo": repo,
            "tag": tag,
            "digest": desc["digest"],
            "mediaType": desc["mediaType"],
            "manifests": [d for d in kids if self.is_manifest(d)],
            "blobs": [d for d in kids if not self.is_manifest(d)],
            "foreign": sorted(set(foreign)),
        }

    def is_manifest(self, digest):
        """Whether a blob of this corpus is a manifest or index (by its content:
        no config or layer here has a schemaVersion 2 with layers or manifests)."""
        with open(os.path.join(self.layout.blobdir, digest[7:]), "rb") as f:
            head = f.read(1)
            if head != b"{":
                return False
            try:
                doc = json.loads(head + f.read())
            except ValueError:
                return False
        return isinstance(doc, dict) and doc.get("schemaVersion") == 2 and ("layers" in doc or "manifests" in doc)

    def image(self, platform, layers, title, config_extra=None, labels=None,
              mt_manifest=MT_MANIFEST, mt_config=MT_CONFIG):
        """Config + manifest; layers are (descriptor, diff_id). Returns
        (manifest descriptor, every digest it names)."""
        config = {"created": CREATED, "architecture": platform["architecture"], "os": platform["os"]}
        for key in ("os.version", "os.features", "variant"):
            if key in platform:
                config[key] = platform[key]
        lab = {"org.opencontainers.image.title": title}
        lab.update(labels or {})
        config["config"] = {"Cmd": ["/bin/hello"], "Labels": lab}
        config["rootfs"] = {"type": "layers", "diff_ids": [diff for _, diff in layers]}
        config["history"] = [{"created": CREATED, "created_by": "mkshapes.py " + title}]
        if config_extra:
            config.update(config_extra)
        config_desc = self.put(dumps(config), mt_config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt_manifest,
            "config": config_desc,
            "layers": [d for d, _ in layers],
        }
        desc = self.put(dumps(manifest), mt_manifest)
        return desc, [config_desc["digest"]] + [d["digest"] for d, _ in layers]

    def gz_layer(self, files, media_type=MT_LAYER):
        gz, diff = make_layer(files)
        return self.put(gz, media_type), diff

    def files(self, name):
        return [("etc/bale-shape", (name + "\n").encode(), 0o644),
                ("bin/hello", b"#!/bin/sh\necho hello from a bale shape\n", 0o755)]

    def simple_image(self, platform, name):
        desc, kids = self.image(platform, [self.gz_layer(self.files(name + " " + plat(platform)))],
                                "bale-shape-" + name)
        return desc, kids

    # ------------------------------------------------------------- shapes

    def helm(self):
        chart = tar_gz([
            ("baletest/Chart.yaml",
             b"apiVersion: v2\nname: baletest\nversion: 0.1.0\ndescription: bale test chart\n"),
            ("baletest/values.yaml", b"image: registry.example/shapes/app:1\n"),
            ("baletest/templates/pod.yaml",
             b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: baletest\nspec:\n"
             b"  containers:\n    - name: app\n      image: '{{ .Values.image }}'\n"),
        ])
        config = self.put(dumps({"name": "baletest", "version": "0.1.0",
                                 "description": "bale test chart", "apiVersion": "v2"}),
                          MT_HELM_CONFIG)
        layer = self.put(chart, MT_HELM_CHART)
        kids = [config["digest"], layer["digest"]]
        # As helm 3.8+ pushes it: with mediaType.
        with_mt = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config,
                   "layers": [layer],
                   "annotations": {"org.opencontainers.image.created": CREATED}}
        d = self.put(dumps(with_mt), MT_MANIFEST)
        self.record("helm", "shapes/helm", "0.1.0", d, kids)
        # As older helm (and oras) pushed it: no top-level mediaType, the type is only
        # in the descriptor (index.json here, Content-Type on the wire).
        without = {"schemaVersion": 2, "config": config, "layers": [layer]}
        d = self.put(dumps(without), MT_MANIFEST)
        self.record("helm-nomt", "shapes/helm", "0.1.0-nomt", d, kids)

    def app_and_friends(self):
        app, app_kids = self.simple_image({"os": "linux", "architecture": "amd64"}, "app")
        self.record("app", "shapes/app", "1", app, app_kids)
        hexd = app["digest"].split(":", 1)[1]
        subject = {k: app[k] for k in ("mediaType", "digest", "size")}

        # cosign sign: simple signing payload, a config whose rootfs names it, the
        # signature in the layer's annotations (deterministic stand-in bytes: bale
        # carries signatures, it does not check cosign's).
        payload = dumps({"critical": {"identity": {"docker-reference": "registry.example/shapes/app"},
                                      "image": {"docker-manifest-digest": app["digest"]},
                                      "type": "cosign container image signature"},
                         "optional": None})
        sig = base64.b64encode(bytes.fromhex(sha256(b"sig" + payload)[7:]) * 2).decode()
        layer = self.put(payload, MT_COSIGN,
                         annotations={"dev.cosignproject.cosign/signature": sig})
        config = self.put(dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
                                 "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                                 "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
                                 "config": {}}), MT_CONFIG)
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config, "layers": [layer]}
        d = self.put(dumps(m), MT_MANIFEST)
        self.record("cosign-sig", "shapes/app", "sha256-" + hexd + ".sig", d,
                    [config["digest"], layer["digest"]])

        # SBOM: OCI 1.1 artifact with artifactType, the empty config, and a subject.
        empty = self.put(EMPTY_JSON, MT_EMPTY, data=base64.b64encode(EMPTY_JSON).decode())
        spdx = dumps({"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
                      "name": "bale-shape-app", "documentNamespace": "https://example.invalid/bale/app",
                      "creationInfo": {"created": CREATED, "creators": ["Tool: mkshapes.py"]},
                      "packages": [{"SPDXID": "SPDXRef-hello", "name": "hello", "versionInfo": "1",
                                    "downloadLocation": "NOASSERTION"}]})
        layer = self.put(spdx, MT_SPDX, annotations={"org.opencontainers.image.title": "sbom.spdx.json"})
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": MT_SPDX,
             "config": empty, "layers": [layer], "subject": subject,
             "annotations": {"org.opencontainers.image.created": CREATED}}
        sbom = self.put(dumps(m), MT_MANIFEST, artifactType=MT_SPDX,
                        annotations={"org.opencontainers.image.created": CREATED})
        self.record("sbom", "shapes/app", "sbom", sbom, [empty["digest"], layer["digest"]])

        # A Notary v2 style signature of the same image.
        jws = dumps({"payload": base64.b64encode(dumps({"targetArtifact": subject})).decode(),
                     "protected": "e30", "header": {}, "signature": "AAAA"})
        layer = self.put(jws, MT_JOSE)
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": MT_NOTARY,
             "config": empty, "layers": [layer], "subject": subject,
             "annotations": {"io.cncf.notary.x509chain.thumbprint#S256": "[\"00\"]",
                             "org.opencontainers.image.created": CREATED}}
        notary = self.put(dumps(m), MT_MANIFEST, artifactType=MT_NOTARY,
                          annotations={"org.opencontainers.image.created": CREATED})
        self.record("notary-sig", "shapes/app", "notary", notary, [empty["digest"], layer["digest"]])

        # The referrers tag schema's index: artifact manifests, artifactType, no platform.
        idx = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [sbom, notary]}
        d = self.put(dumps(idx), MT_INDEX)
        self.record("referrers", "shapes/app", "sha256-" + hexd, d,
                    [sbom["digest"], notary["digest"]] + self.summary["sbom"]["blobs"]
                    + self.summary["notary-sig"]["blobs"])

    def oras(self):
        config = self.put(dumps({"tool": "oras", "name": "bale-test"}),
                          "application/vnd.example.bale.config.v1+json")
        empty_layer = self.put(b"", "application/vnd.example.bale.file.v1",
                               annotations={"org.opencontainers.image.title": "empty.txt"})
        text = self.put(b"hello from an oras artifact\n", "application/vnd.example.bale.file.v1",
                        annotations={"org.opencontainers.image.title": "hello.txt"})
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config,
             "layers": [empty_layer, text],
             "annotations": {"org.opencontainers.image.created": CREATED}}
        d = self.put(dumps(m), MT_MANIFEST)
        self.record("oras", "shapes/oras", "1", d,
                    [config["digest"], empty_layer["digest"], text["digest"]])

    def buildx(self):
        descs, kids = [], []
        atts = []
        for p in ({"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}):
            d, k = self.simple_image(p, "buildx")
            kids += [d["digest"]] + k
            descs.append(dict(d, platform=p))
            # The attestation manifest buildx attaches to each image.
            prov = self.put(dumps({"_type": "https://in-toto.io/Statement/v0.1",
                                   "predicateType": "https://slsa.dev/provenance/v0.2",
                                   "subject": [{"name": "pkg:docker/shapes/buildx@1?platform="
                                                + plat(p).replace("/", "%2F"),
                                                "digest": {"sha256": d["digest"][7:]}}],
                                   "predicate": {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1"}}),
                            MT_INTOTO, annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"})
            config = self.put(dumps({"architecture": "unknown", "os": "unknown", "config": {},
                                     "rootfs": {"type": "layers", "diff_ids": [prov["digest"]]}}), MT_CONFIG)
            m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config, "layers": [prov]}
            ad = self.put(dumps(m), MT_MANIFEST)
            kids += [ad["digest"], config["digest"], prov["digest"]]
            atts.append(dict(ad, annotations={"vnd.docker.reference.digest": d["digest"],
                                              "vnd.docker.reference.type": "attestation-manifest"},
                             platform={"architecture": "unknown", "os": "unknown"}))
        idx = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": descs + atts}
        d = self.put(dumps(idx), MT_INDEX)
        self.record("buildx", "shapes/buildx", "1", d, kids)

    def zstd_and_tar(self):
        amd64 = {"os": "linux", "architecture": "amd64"}
        raw = tar_bytes(self.files("zstd"))
        z = subprocess.run(["zstd", "-q", "-c", "-%d" % ZSTD_LEVEL, "--no-progress"], input=raw,
                           stdout=subprocess.PIPE, check=True).stdout
        base = self.gz_layer(self.files("zstd base"))
        zl = (self.put(z, MT_LAYER_ZSTD), sha256(raw))
        d, k = self.image(amd64, [base, zl], "bale-shape-zstd")
        self.record("zstd", "shapes/zstd", "1", d, k)
        raw = tar_bytes(self.files("uncompressed"))
        tl = (self.put(raw, MT_LAYER_TAR), sha256(raw))
        d, k = self.image(amd64, [tl], "bale-shape-uncompressed")
        self.record("uncompressed", "shapes/uncompressed", "1", d, k)

    def nested(self):
        descs, kids = [], []
        for p in ({"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "s390x"}):
            d, k = self.simple_image(p, "nested")
            kids += [d["digest"]] + k
            descs.append(dict(d, platform=p))
        inner = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": descs}), MT_INDEX)
        outer = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [inner]}), MT_INDEX)
        self.record("nested", "shapes/nested", "1", outer, [inner["digest"]] + kids)

    def windows(self, shape="windows", tag="ltsc", versions=WINDOWS_VERSIONS, top_layers=1):
        descs, kids, foreign = [], [], []
        for i, version in enumerate(versions):
            p = {"architecture": "amd64", "os": "windows", "os.version": version}
            if i == 0:
                p["os.features"] = ["win32k"]
            # The base layer: foreign, its bytes only at its URL.
            fgz, fdiff = make_layer([("Files/Windows/System32/bale-base.txt",
                                      ("windows base " + version + "\n").encode(), 0o644)])
            fdigest = sha256(fgz)
            with open(os.path.join(self.foreign_dir, fdigest[7:]), "wb") as f:
                f.write(fgz)
            fdesc = {"mediaType": MT_DOCKER_FOREIGN, "size": len(fgz), "digest": fdigest,
                     "urls": [self.foreign_base + "/sha256/" + fdigest[7:]]}
            if top_layers == 1:
                tops = [self.gz_layer([("Files/bale/hello.txt", ("hello " + version + "\n").encode(), 0o644)],
                                      MT_DOCKER_LAYER)]
            else:
                tops = [self.gz_layer([("Files/bale/layer%d.txt" % n, ("layer %d of %s\n" % (n, version)).encode(),
                                        0o644)], MT_DOCKER_LAYER) for n in range(1, top_layers + 1)]
            d, k = self.image(p, [(fdesc, fdiff)] + tops, "bale-shape-" + shape,
                              mt_manifest=MT_DOCKER_MANIFEST, mt_config=MT_DOCKER_CONFIG)
            kids += [d["digest"]] + [x for x in k if x != fdigest]
            foreign.append(fdigest)
            descs.append(dict(d, platform=p))
        idx = {"schemaVersion": 2, "mediaType": MT_DOCKER_LIST, "manifests": descs}
        d = self.put(dumps(idx), MT_DOCKER_LIST)
        self.record(shape, "shapes/windows", tag, d, kids, foreign)

    def foreign_linux(self):
        """A runnable linux/amd64 image with a foreign base layer, for the stores that
        unpack (containerd) on any linux host."""
        p = {"os": "linux", "architecture": "amd64"}
        fgz, fdiff = make_layer(self.files("foreign-linux base"))
        fdigest = sha256(fgz)
        with open(os.path.join(self.foreign_dir, fdigest[7:]), "wb") as f:
            f.write(fgz)
        fdesc = {"mediaType": MT_OCI_FOREIGN, "size": len(fgz), "digest": fdigest,
                 "urls": [self.foreign_base + "/sha256/" + fdigest[7:]]}
        top = self.gz_layer([("etc/bale-top", b"foreign-linux top\n", 0o644)])
        d, k = self.image(p, [(fdesc, fdiff), top], "bale-shape-foreign-linux")
        self.record("foreign-linux", "shapes/foreign-linux", "1", d,
                    [x for x in k if x != fdigest], [fdigest])

    def bigconfig(self):
        amd64 = {"os": "linux", "architecture": "amd64"}
        layer = self.gz_layer(self.files("bigconfig"))
        key = "io.bale.test.padding"
        # Pad a label so the config is exactly BIG_CONFIG bytes.
        probe = self.config_bytes(amd64, layer, key, "")
        pad = BIG_CONFIG - len(probe)
        data = self.config_bytes(amd64, layer, key, "".join("%07d," % i for i in range(pad // 8 + 1))[:pad])
        assert len(data) == BIG_CONFIG, len(data)
        cd = self.put(data, MT_CONFIG)
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": cd, "layers": [layer[0]]}
        d = self.put(dumps(m), MT_MANIFEST)
        self.record("bigconfig", "shapes/bigconfig", "1", d, [cd["digest"], layer[0]["digest"]])

    @staticmethod
    def config_bytes(platform, layer, key, value):
        return dumps({"created": CREATED, "architecture": platform["architecture"], "os": platform["os"],
                      "config": {"Cmd": ["/bin/hello"], "Labels": {key: value}},
                      "rootfs": {"type": "layers", "diff_ids": [layer[1]]}})

    def extras(self):
        """Fields bale does not know, in JSON laid out as no encoder would: any
        re-serialization changes the digest."""
        descs, kids = [], []
        for p in ({"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"}):
            layer = self.gz_layer(self.files("extras " + plat(p)))
            config = self.put(pretty({"architecture": p["architecture"], "os": p["os"], "created": CREATED,
                                      "io.example.unknown": {"nested": [1, 2.50, True, None]},
                                      "rootfs": {"diff_ids": [layer[1]], "type": "layers"},
                                      "config": {"Cmd": ["/bin/hello"]}}), MT_CONFIG)
            m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config, "layers": [layer[0]],
                 "io.example.unknown": "kept", "annotations": {"io.example.note": "caf\u00e9 \u2603"}}
            data = pretty(m)
            d = self.put(data, MT_MANIFEST, platform=p,
                         annotations={"io.example.child": plat(p)})
            if len(descs) == 0:
                # An embedded copy of the manifest (OCI 1.1 `data`), exact bytes in base64.
                d["data"] = base64.b64encode(data).decode()
            d["io.example.descriptor-unknown"] = [0]
            descs.append(d)
            kids += [d["digest"], config["digest"], layer[0]["digest"]]
        idx = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": descs,
               "annotations": {"org.opencontainers.image.created": CREATED, "io.example.index": "yes"},
               "io.example.top-unknown": {"a": "b"}}
        d = self.put(pretty(idx), MT_INDEX)
        self.record("extras", "shapes/extras", "1", d, kids)

    # ---------------------------------------- shapes of the pull and store tests

    def bad_diffid(self):
        """A runnable image but for its config: the diff id it names is not its layer's,
        so containerd refuses to unpack it (every digest is right: a registry, bale
        export and an OCI layout take it)."""
        layer, _ = self.gz_layer(self.files("bad-diffid"))
        d, k = self.image({"os": "linux", "architecture": "amd64"}, [(layer, sha256(b"not the layer"))],
                          "bale-shape-bad-diffid")
        self.record("bad-diffid", "shapes/bad-diffid", "1", d, k)

    def nested_mixed(self):
        """A platform beside a child index without one, the child listing two more."""
        kids, descs = [], {}
        for p in ({"os": "linux", "architecture": "s390x"}, {"os": "linux", "architecture": "amd64"},
                  {"os": "linux", "architecture": "arm64", "variant": "v8"}):
            d, k = self.simple_image(p, "nested-mixed")
            kids += [d["digest"]] + k
            descs[p["architecture"]] = dict(d, platform=p)
        child = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX,
                                "manifests": [descs["amd64"], descs["arm64"]]}), MT_INDEX)
        root = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX,
                               "manifests": [descs["s390x"], child]}), MT_INDEX)
        self.record("nested-mixed", "shapes/nested", "mixed", root, [child["digest"]] + kids)

    def deep(self):
        p = {"os": "linux", "architecture": "amd64"}
        d, kids = self.simple_image(p, "deep")
        kids = [d["digest"]] + kids
        below = dict(d, platform=p)
        for _ in range(DEEP_LEVELS):
            below = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [below]}), MT_INDEX)
            kids.append(below["digest"])
        root = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [below]}), MT_INDEX)
        self.record("deep", "shapes/deep", "1", root, kids)

    def attested(self):
        """An attestation never stands for a platform: the only image here is s390x."""
        p = {"os": "linux", "architecture": "s390x"}
        d, kids = self.simple_image(p, "attested")
        empty = self.put(EMPTY_JSON, MT_EMPTY)
        statement = self.put(dumps({"_type": "https://in-toto.io/Statement/v0.1",
                                    "subject": [{"name": "pkg:docker/shapes/attested@1?platform=linux%2Fs390x",
                                                 "digest": {"sha256": d["digest"][7:]}}]}), MT_INTOTO)
        att = self.put(dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": empty,
                              "layers": [statement]}), MT_MANIFEST)
        entry = dict(att, platform={"architecture": "unknown", "os": "unknown"},
                     annotations={"vnd.docker.reference.digest": d["digest"],
                                  "vnd.docker.reference.type": "attestation-manifest"})
        root = self.put(dumps({"schemaVersion": 2, "mediaType": MT_INDEX,
                               "manifests": [dict(d, platform=p), entry]}), MT_INDEX)
        self.record("attested", "shapes/attested", "1", root,
                    [d["digest"], att["digest"], empty["digest"], statement["digest"]] + kids)


def plat(p):
    return p["os"] + "/" + p["architecture"] + ("/" + p["variant"] if "variant" in p else "")


def pretty(obj):
    # Three-space indent, spaces after separators, a trailing newline, no ASCII escaping.
    return (json.dumps(obj, indent=3, ensure_ascii=False) + "\n").encode()


def tar_bytes(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data, mode in sorted(files):
            add_entry(tar, path, data, mode)
    return raw.getvalue()


def tar_gz(files):
    gz, _ = make_layer([(p, d, 0o644) for p, d in files])
    return gz


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--foreign-base", default="http://127.0.0.1:9/foreign",
                    help="URL the foreign layers are served under (URL/sha256/<hex>)")
    args = ap.parse_args()
    s = Shapes(os.path.abspath(args.outdir), args.foreign_base)
    s.helm()
    s.app_and_friends()
    s.oras()
    s.buildx()
    s.zstd_and_tar()
    s.nested()
    s.windows()
    s.foreign_linux()
    s.bigconfig()
    s.extras()
    # Added after the shapes above, so their digests stay as they were.
    s.bad_diffid()
    s.nested_mixed()
    s.deep()
    s.attested()
    s.windows("windows-stack", "stack", WINDOWS_STACK_VERSIONS, top_layers=2)
    s.layout.close()
    json.dump({"layout": s.layout.path, "foreign": os.path.dirname(s.foreign_dir),
               "shapes": s.summary}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
