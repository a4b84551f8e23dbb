#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ from the repository's own fixtures.

Run from anywhere: `python3 fuzz/seeds.py`. Seeds are named after what they are, so a rerun
overwrites rather than adds. The OpenPGP seeds need gpg (a fresh key each run), so they are
only written when missing.
"""
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import bz2
import gzip
import lzma
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
APPC = os.path.join(ROOT, "crates", "appc", "testdata")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def manifests():
    vectors = json.load(open(os.path.join(APPC, "validation-vectors.json")))["vectors"]
    for i, v in enumerate(vectors):
        if v["kind"] == "ImageManifest":
            put("image_manifest", f"vector-{i:03}", json.dumps(v["input"]))
        elif v["kind"] == "PodManifest":
            put("pod_manifest", f"vector-{i:03}", json.dumps(v["input"]))
    ex = os.path.join(APPC, "examples")
    put("image_manifest", "example-image", open(os.path.join(ex, "image.json"), "rb").read())
    for n in ("pod_runtime", "pod_template"):
        put("pod_manifest", "example-" + n, open(os.path.join(ex, n + ".json"), "rb").read())


def discovery():
    d = os.path.join(ROOT, "crates", "jetpack-fetch", "testdata", "discovery")
    for n in sorted(os.listdir(d)):
        put("discovery_html", n, open(os.path.join(d, n), "rb").read())


def aci(entries):
    """An ACI: `manifest`, `rootfs/` and `entries` (TarInfo, data) in order."""
    manifest = json.dumps({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/fuzz",
        "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
        "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"},
    }).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(name, kind=tarfile.REGTYPE, data=b"", **kw):
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.size = len(data) if kind == tarfile.REGTYPE else 0
            ti.mtime = 1_700_000_000
            ti.mode = kw.pop("mode", 0o755 if kind == tarfile.DIRTYPE else 0o644)
            for k, v in kw.items():
                setattr(ti, k, v)
            t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("manifest", data=manifest)
        add("rootfs", tarfile.DIRTYPE)
        for e in entries:
            add(**e)
    return buf.getvalue()


def acis():
    small = aci([
        dict(name="rootfs/bin", kind=tarfile.DIRTYPE),
        dict(name="rootfs/bin/sh", data=b"#!/bin/sh\necho hi\n", mode=0o755),
        dict(name="rootfs/bin/link", kind=tarfile.SYMTYPE, linkname="sh"),
        dict(name="rootfs/bin/hard", kind=tarfile.LNKTYPE, linkname="rootfs/bin/sh"),
        dict(name="rootfs/etc", kind=tarfile.DIRTYPE),
        dict(name="rootfs/etc/fifo", kind=tarfile.FIFOTYPE),
        dict(name="rootfs/etc/null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3),
        dict(name="rootfs/etc/suid", data=b"x", mode=0o4755, uid=1000, gid=1000),
        dict(name="rootfs/etc/attr", data=b"y",
             pax_headers={"SCHILY.xattr.user.fuzz": "value"}),
    ])
    put("aci_import", "small.tar", small)
    put("aci_import", "small.tar.gz", gzip.compress(small, mtime=0))
    put("aci_import", "small.tar.bz2", bz2.compress(small))
    put("aci_import", "small.tar.xz", lzma.compress(small))
    if shutil.which("zstd"):
        zst = subprocess.run(["zstd", "-q", "-c", "-3"], input=small, capture_output=True,
                             check=True).stdout
        put("aci_import", "small.tar.zst", zst)
    put("aci_import", "empty-rootfs.tar", aci([]))
    deep = [dict(name="rootfs/" + "/".join(["d"] * n), kind=tarfile.DIRTYPE) for n in range(1, 9)]
    put("aci_import", "nested.tar", aci(deep))
    put("aci_import", "escape-symlink.tar", aci([
        dict(name="rootfs/up", kind=tarfile.SYMTYPE, linkname="../../etc"),
        dict(name="rootfs/up/passwd", data=b"x"),
    ]))


def requests():
    pod = "0123456789abcdef0123456789abcdef"
    host = "fedcba9876543210fedcba9876543210"
    reqs = {
        "get-manifest": (0, f"GET /{pod}/acMetadata/v1/pod/manifest HTTP/1.1\r\nHost: x\r\n\r\n"),
        "get-uuid-http10": (0, f"GET /{pod}/acMetadata/v1/pod/uuid HTTP/1.0\r\n\r\n"),
        "head-annotation": (4, f"HEAD /{pod}/acMetadata/v1/pod/annotations/example.com/who HTTP/1.1\r\n\r\n"),
        "app-annotations": (0, f"GET /{pod}/acMetadata/v1/apps/web/annotations HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
                               f"GET /{pod}/acMetadata/v1/apps/web/image/id HTTP/1.1\r\n\r\n"
                               f"GET /{pod}/acMetadata/v1/apps/web/image/manifest HTTP/1.1\r\nConnection: close\r\n\r\n"),
        "sign": (0, f"POST /{pod}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 17\r\n\r\ncontent=hello+%21"),
        "sign-chunked": (8, f"POST /{pod}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                            "Expect: 100-continue\r\n\r\n7;ext=1\r\ncontent\r\n6\r\n=hello\r\n0\r\nTrailer: x\r\n\r\n"),
        "verify": (0, f"POST /{pod}/acMetadata/v1/pod/hmac/verify?uuid=6733c088-a507-4694-aabf-edbe4fc5266f&signature=AAAA HTTP/1.1\r\n"
                      "Content-Length: 13\r\n\r\ncontent=hello"),
        "loopback": (1, f"GET /{host}/acMetadata/v1/pod/uuid HTTP/1.1\r\n\r\n"),
        "stranger": (2, f"GET /{pod}/acMetadata/v1/pod/uuid HTTP/1.1\r\n\r\n"),
        "bad-version": (0, "GET / HTTP/2.0\r\n\r\n"),
        "smuggle": (0, f"POST /{pod}/acMetadata/v1/pod/hmac/sign HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"),
        "long-head": (0, "GET /" + "a" * 1100 + " HTTP/1.1\r\n\r\n"),
        "method": (0, f"DELETE /{pod}/acMetadata/v1/pod/uuid HTTP/1.1\r\n\r\n"),
    }
    for name, (how, text) in reqs.items():
        put("mds_request", name, bytes([how]) + text.encode())


def confs():
    put("cni_conf", "default.conflist", json.dumps({
        "cniVersion": "1.0.0", "name": "default",
        "plugins": [
            {"type": "bridge", "bridge": "jetpack0", "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "172.29.0.0/16"}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/var/lib/jetpack/net/leases"}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "bandwidth", "capabilities": {"bandwidth": True}},
        ],
        "jetpack": {"store": "/var/lib/jetpack"},
    }, indent=2))
    put("cni_conf", "single.conf", json.dumps({
        "cniVersion": "0.4.0", "name": "mynet", "type": "macvlan", "master": "eth0",
        "ipam": {"type": "host-local", "subnet": "fd00::/64", "gateway": "fd00::1"},
    }))
    put("jetpack_conf", "all-keys.conf", "\n".join([
        "# every key",
        "root = /var/lib/jetpack",
        "storage = dir",
        "zfs.dataset: tank/jetpack",
        "debug = on",
        "pods.private-users = off",
        "fetch.ca-file = /etc/ssl/a.pem,/etc/ssl/b.pem",
        "fetch.timeout = 30",
        "net.dir = /etc/jetpack/net.d",
        "net.plugin-path = /usr/lib/cni",
        "net.default-bridge = jetpack0",
        "net.default-subnet = 172.29.0.0/16",
        "import.max-size = 1G",
        "mds.port = 1104",
        "mds.user = nobody",
        "! ignored",
        "",
    ]))
    put("jetpack_conf", "bad-line.conf", "storage = zfs\nno separator here\n")


def pgp():
    d = os.path.join(CORPUS, "pgp_keys")
    if os.path.isdir(d) and os.listdir(d):
        return
    signed = b"jetpack fuzz data\n"
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, GNUPGHOME=home)
        def gpg(*args, data=None):
            return subprocess.run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback",
                                   "--passphrase", "", *args], input=data, env=env,
                                  capture_output=True, check=True).stdout
        for algo in ("ed25519", "rsa2048"):
            gpg("--quick-gen-key", f"Fuzz {algo} <fuzz@example.com>", algo, "sign", "2030-01-01")
            key = gpg("--export", "fuzz@example.com")
            armored = gpg("--armor", "--export", "fuzz@example.com")
            sig = gpg("--detach-sign", "-u", "fuzz@example.com", data=signed)
            asig = gpg("--armor", "--detach-sign", "-u", "fuzz@example.com", data=signed)
            put("pgp_keys", f"{algo}-key", key)
            put("pgp_keys", f"{algo}-key.asc", armored)
            put("pgp_keys", f"{algo}-sig.asc", asig)
            put("pgp_keys", f"{algo}-key-and-sig", struct.pack("<H", len(key)) + key + sig)
            put("pgp_keys", f"{algo}-armored-key-and-sig",
                struct.pack("<H", len(armored)) + armored + asig)
            gpg("--yes", "--delete-secret-and-public-key",
                gpg("--list-keys", "--with-colons", "fuzz@example.com").decode()
                .split("fpr:::::::::")[1].split(":")[0])


def oci():
    """Documents and references as jetpack-oci's own tests write them (byte 0: what it is)."""
    d = "sha256:" + "1" * 64
    def manifest(media, layer):
        return json.dumps({
            "schemaVersion": 2, "mediaType": media,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": 2, "digest": d},
            "layers": [{"mediaType": layer, "size": 3, "digest": d}]})
    docs = {
        "docker-manifest": (0, 0, manifest("application/vnd.docker.distribution.manifest.v2+json",
                                           "application/vnd.docker.image.rootfs.diff.tar.gzip")),
        "oci-manifest": (0, 2, manifest("application/vnd.oci.image.manifest.v1+json",
                                        "application/vnd.oci.image.layer.v1.tar+zstd")),
        "docker-list": (0, 0, json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1,
                 "digest": d, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 1,
                 "digest": d, "platform": {"os": "linux", "architecture": "arm64",
                                           "variant": "v8"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                 "digest": d, "platform": {"os": "unknown", "architecture": "unknown"}}]})),
        "bare-index": (0, 0, '{"schemaVersion":2,"manifests":[]}'),
        "schema1": (0, 0, '{"schemaVersion":1,"name":"x","fsLayers":[]}'),
        "nginx-config": (1, None, json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2024-05-01T10:00:00.123456789Z",
            "author": "NGINX Docker Maintainers",
            "config": {
                "User": "nginx",
                "ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "53/udp": {}, "x/tcp": {}},
                "Env": ["PATH=/usr/local/bin:/usr/bin", "NGINX_VERSION=1.25", "PATH=/bin", "BAD"],
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "WorkingDir": "/srv",
                "Volumes": {"/var/cache/nginx": {}, "/var/log/nginx": {}, "relative": {}},
                "Labels": {"maintainer": "NGINX <docker-maint@nginx.com>",
                           "homepage": "not a url", "org.opencontainers.image.version": "1.25"},
                "StopSignal": "SIGQUIT"},
            "rootfs": {"type": "layers", "diff_ids": [d, "sha256:" + "2" * 64]}})),
        "riscv-config": (1, None, '{"architecture":"riscv64","os":"linux",'
                                  '"rootfs":{"type":"layers","diff_ids":[]}}'),
        "docker-save": (2, None, '[{"Config":"abc.json","RepoTags":["busybox:latest"],'
                                 '"Layers":["l1/layer.tar","l2/layer.tar"]}]'),
    }
    for name, (what, media, text) in docs.items():
        head = bytes([what]) + (bytes([media]) if media is not None else b"")
        put("oci_image", name, head + text.encode())
    refs = ["docker://busybox", "docker://bitnami/redis:7.2", "docker://docker.io/busybox:1.36",
            f"docker://localhost:5000/team/app:v1.2@{d}", f"docker://quay.io/coreos/etcd@{d}",
            "docker://[::1]:5000/app", "docker://a__b/c-d.e_f---g", "oci:/tmp/layout:v1",
            "oci-archive:img.tar", "docker-archive:/x/save.tar:busybox:1.36"]
    for i, r in enumerate(refs):
        put("oci_image", f"reference-{i:02}", b"\x03" + r.encode())


if __name__ == "__main__":
    manifests()
    discovery()
    acis()
    requests()
    confs()
    pgp()
    oci()
