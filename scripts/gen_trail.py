#!/usr/bin/env python3
"""Deterministic generator of realistic AWS CloudTrail S3 trees (tests/benchmarks).

Usage:
    python3 scripts/gen_trail.py --out DIR [--files 200] [--seed 1]
        [--accounts 111122223333,444455556666]
        [--regions us-east-1,eu-west-1,ap-southeast-2]
        [--start 2021-01-01] [--days 60] [--org o-abc123xyz0]
        [--mean-records 15] [--digests] [--plain-json-fraction 0.0] [--extras]

Writes log files with the exact CloudTrail key grammar

    DIR/AWSLogs/[<org>/]<acct>/CloudTrail/<region>/YYYY/MM/DD/
        <acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz

whose content is `{"Records":[...]}` serialised like CloudTrail's Java
serialiser (compact, UTF-8, `/` escaped as `\\/`, `< > & = '` as \\u003c ...).

--digests   hourly digest chain per account-region under CloudTrail-Digest/
            (hashValue = sha256 of the *uncompressed* log bytes, fake signatures).
--extras    README.txt at the root, a .DS_Store in a day folder and two
            CloudTrail-Insight files (Start/End pair).
--plain-json-fraction p   that fraction of log files is written as plain `.json`.

Everything is drawn from one random.Random(seed) in a fixed order and gzip is
called with mtime=0, so the same arguments give a byte-identical tree (given
the same zlib build). Pure stdlib, Python 3.11+.

Prints one summary line: files, records, gz bytes (log files as stored on
disk), raw bytes (uncompressed log JSON), plus digest/insight/plain counts.
"""

import argparse
import base64
import bisect
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import sys
import random
import time

# ---------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                            allow_nan=False, check_circular=False)


def ct_dumps(obj):
    """Serialise like CloudTrail: compact JSON, then Java-style escapes.

    The replacements below are safe on the whole document because, in compact
    JSON produced with allow_nan=False, the characters / < > & = ' can only
    occur inside string tokens (structure is {}[]:, digits, -+.eE, true,
    false, null).  '/' is handled first; the later replacement texts contain
    no target characters, so nothing is escaped twice.
    """
    s = _ENCODER.encode(obj)
    return (s.replace("/", "\\/")
             .replace("<", "\\u003c")
             .replace(">", "\\u003e")
             .replace("&", "\\u0026")
             .replace("=", "\\u003d")
             .replace("'", "\\u0027"))


# ---------------------------------------------------------------------------
# Small random helpers (all take the shared rng)
# ---------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def uid(r):
    """UUID4-shaped string from the seeded rng."""
    h = "%032x" % r.getrandbits(128)
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16],
                                  "89ab"[int(h[16], 16) & 3], h[17:20], h[20:])


def hexs(r, n):
    """n lowercase hex digits."""
    return "%0*x" % (n, r.getrandbits(4 * n))


def alnum(r, n, alphabet=ALNUM):
    return "".join(r.choices(alphabet, k=n))


def b64(r, nbytes):
    """Base64 text (contains / + = which exercise the escaper)."""
    return base64.b64encode(r.randbytes(nbytes)).decode("ascii")


def iso(t):
    """Epoch seconds -> YYYY-MM-DDTHH:MM:SSZ."""
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % time.gmtime(t)[:6]


def java_date(t):
    """Epoch seconds -> 'Jan 1, 2021, 1:05:09 PM' (CloudTrail's Date style)."""
    y, mo, d, h, mi, s = time.gmtime(t)[:6]
    return "%s %d, %d, %d:%02d:%02d %s" % (MONTHS[mo - 1], d, y, (h % 12) or 12,
                                           mi, s, "AM" if h < 12 else "PM")


def zipf_cum(n, s=1.1):
    """Cumulative Zipf-like weights for n ranks."""
    out, acc = [], 0.0
    for i in range(n):
        acc += 1.0 / (i + 1) ** s
        out.append(acc)
    return out


# ---------------------------------------------------------------------------
# Static pools
# ---------------------------------------------------------------------------

UA_CLI = [
    "aws-cli/2.13.0 Python/3.11.4 Linux/5.10.186-179.751.amzn2.x86_64 exe/x86_64.amzn.2 prompt/off command/s3.ls",
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/ec2.describe-instances",
    "aws-cli/1.18.147 Python/2.7.18 Linux/4.14.200-155.322.amzn2.x86_64 botocore/1.18.6",
]
UA_SDK = [
    "Boto3/1.28.0 md/Botocore#1.31.0 ua/2.0 os/linux#5.10.0 md/arch#x86_64 lang/python#3.11.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.0",
    "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.20.6 md/GOOS#linux md/GOARCH#amd64 api/sts#1.19.0",
    "aws-sdk-java/1.12.488 Linux/5.10.184 OpenJDK_64-Bit_Server_VM/25.372-b07 java/1.8.0_372 vendor/Amazon.com_Inc. exec-env/AWS_Lambda_java8",
    "APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.17.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.21.0 os/linux lang/go#1.20.8 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.118.0",
    "aws-sdk-js/3.398.0 os/linux/5.10 lang/js md/nodejs/18.17.1 api/dynamodb/3.398.0 exec-env/AWS_Lambda_nodejs18.x",
    "aws-sdk-nodejs/2.1467.0 linux/v18.18.0 exec-env/AWS_ECS_FARGATE promise",
]
UA_CONSOLE = [
    "console.amazonaws.com",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.184-194.730.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "AWS Internal",
]
UA_BROWSER = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
]
SERVICES = ["cloudtrail.amazonaws.com", "config.amazonaws.com", "lambda.amazonaws.com",
            "ec2.amazonaws.com", "autoscaling.amazonaws.com", "ssm.amazonaws.com"]
MACHINE_ROLES = [
    ("ecsTaskExecutionRole", "/"), ("lambda-order-processor-role", "/service-role/"),
    ("github-actions-deploy", "/"), ("eks-nodegroup-NodeInstanceRole-1A2B3C4D5E6F", "/"),
    ("OrganizationAccountAccessRole", "/"), ("datadog-integration", "/"),
    ("terraform-ci", "/ci/"), ("EC2-SSM-Role", "/"), ("backup-job-role", "/"),
    ("AWSServiceRoleForConfig", "/aws-service-role/config.amazonaws.com/"),
]
HUMANS = ["jane.doe@example.com", "li.wei@example.com", "dev+test@example.com",
          "k.nakamura@example.com", "ops=oncall@example.com", "sam.okafor@example.com"]
IAM_USERS = ["alice", "bob", "ci-deployer", "terraform", "svc-backup", "first.last@example.com",
             "deploy+ci", "ops=oncall"]
S3_KEY_TEMPLATES = [
    "logs/{y}/{m}/{d}/app-{n}.log.gz", "data/part-{n:05d}.snappy.parquet",
    "uploads/写真/IMG_{n:04d}.jpg", "reports/Q{q} <draft> & notes.pdf",
    "images/thumb=small'{n}.png", "exports/café/{y}-{m}-{d}.csv", "backups/db-{n}.dump",
    "index.html",
]
TLS = [("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"), ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
       ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")]
IP_FIRST = [3, 18, 34, 35, 44, 52, 54, 73, 81, 98, 176, 203]

# eventVersion mix: index == minor version, so "1.05+" is `vi >= 5`.
VERSIONS = ["1.0", "1.01", "1.02", "1.03", "1.04", "1.05", "1.06", "1.07",
            "1.08", "1.09", "1.10", "1.11"]
VERSION_CUM = []
_acc = 0.0
for _w in [0.3, 0.3, 0.5, 0.5, 1.0, 2.0, 2.0, 3.0, 18.0, 20.0, 25.0, 27.0]:
    _acc += _w
    VERSION_CUM.append(_acc)


# ---------------------------------------------------------------------------
# Accounts and principals
# ---------------------------------------------------------------------------

class Principal:
    """One identity; `ident` is the static userIdentity dict (AssumedRole
    identities get a per-file copy with a fresh session creationDate)."""
    __slots__ = ("kind", "type", "ident", "arn", "ips", "uas", "console", "session")

    def identity(self, r, deliver):
        if not self.session:
            return self.ident
        d = dict(self.ident)
        sc = dict(d["sessionContext"])
        sc["attributes"] = {"creationDate": iso(deliver - 900 - r.randrange(3000)),
                            "mfaAuthenticated": "true" if self.console and r.random() < 0.5 else "false"}
        d["sessionContext"] = sc
        return d


class Account:
    """Per-account resource pools and principal pool (with Zipf weights)."""

    def __init__(self, r, acct, others):
        self.id = acct
        a = acct
        self.buckets = ["acme-data-lake-" + a, "app-assets-prod", "terraform-state-" + a,
                        "aws-cloudtrail-logs-%s-%s" % (a, hexs(r, 8))]
        self.instances = ["i-0" + hexs(r, 16) for _ in range(10)]
        self.sgs = [("sg-0" + hexs(r, 16), n) for n in ("default", "web-sg", "db-sg", "bastion")]
        self.vpc = "vpc-0" + hexs(r, 16)
        self.subnets = ["subnet-0" + hexs(r, 16) for _ in range(3)]
        self.amis = ["ami-0" + hexs(r, 16) for _ in range(3)]
        self.kms = [uid(r) for _ in range(3)]
        self.functions = ["order-processor", "thumbnail-gen", "auth-authorizer", "nightly-report"]
        self.tables = ["Orders", "Users", "sessions-prod"]
        self.log_groups = ["/aws/lambda/order-processor", "/ecs/app-prod",
                           "/aws/rds/cluster/db/postgresql", "/aws/lambda/thumbnail-gen"]
        self.params = ["/app/prod/db-password", "/app/prod/api_key", "/cwagent/config",
                       "/app/staging/feature-flags"]
        self.secrets = ["prod/db-credentials-" + alnum(r, 6), "prod/stripe-" + alnum(r, 6)]
        self.repos = ["app", "worker", "base-images/python"]
        self.zones = ["Z0" + alnum(r, 18, UPPER_ALNUM) for _ in range(2)]
        self.store = "d-90" + hexs(r, 8)
        self.principals = self._principals(r, others)
        self.cum = zipf_cum(len(self.principals))
        self.roles = [p.ident["sessionContext"]["sessionIssuer"]["userName"]
                      for p in self.principals if p.type == "AssumedRole"]

    def _principals(self, r, others):
        a = self.id
        # common kinds get shuffled Zipf ranks; rare kinds land in the tail
        kinds = ["sso"] * 4 + ["role"] * 9 + ["user_console"] * 2 + ["user_key"] * 4 + ["service"] * 6
        r.shuffle(kinds)
        for k in ["root", "federated", "account", "account", "idc"]:
            kinds.insert(r.randint(10, len(kinds)), k)
        out = []
        for k in kinds:
            p = Principal()
            p.session = False
            p.console = k in ("sso", "user_console", "root", "federated", "idc")
            p.kind = "service" if k == "service" else ("human" if p.console else "machine")
            if k in ("sso", "role"):
                if k == "sso":
                    role = "AWSReservedSSO_%s_%s" % (r.choice(["AdministratorAccess", "ReadOnly", "PowerUser"]), hexs(r, 16))
                    path, sess = "/aws-reserved/sso.amazonaws.com/", r.choice(HUMANS)
                else:
                    role, path = r.choice(MACHINE_ROLES)
                    sess = r.choice(["i-0" + hexs(r, 16), "botocore-session-%d" % r.randrange(1600000000, 1700000000),
                                     "GitHubActions", "aws-go-sdk-%d" % r.randrange(10 ** 12, 10 ** 13),
                                     "AWSConfig-Describe", "terraform-run-%d" % r.randrange(1000)])
                rid = "AROA" + alnum(r, 17, UPPER_ALNUM)
                p.arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (a, role, sess)
                sc = {"sessionIssuer": {"type": "Role", "principalId": rid,
                                        "arn": "arn:aws:iam::%s:role%s%s" % (a, path, role),
                                        "accountId": a, "userName": role},
                      "webIdFederationData": {}, "attributes": {}}
                if sess.startswith("i-0"):
                    sc["ec2RoleDelivery"] = "2.0"
                p.ident = {"type": "AssumedRole", "principalId": rid + ":" + sess, "arn": p.arn,
                           "accountId": a, "accessKeyId": "ASIA" + alnum(r, 16, UPPER_ALNUM),
                           "sessionContext": sc}
                p.type, p.session = "AssumedRole", True
            elif k in ("user_console", "user_key"):
                name = r.choice(IAM_USERS)
                p.arn = "arn:aws:iam::%s:user/%s" % (a, name)
                p.ident = {"type": "IAMUser", "principalId": "AIDA" + alnum(r, 17, UPPER_ALNUM),
                           "arn": p.arn, "accountId": a,
                           "accessKeyId": "AKIA" + alnum(r, 16, UPPER_ALNUM), "userName": name}
                p.type = "IAMUser"
            elif k == "service":
                svc = r.choice(SERVICES)
                p.ident = {"type": "AWSService", "invokedBy": svc}
                p.arn, p.type = svc, "AWSService"
            elif k == "root":
                p.arn = "arn:aws:iam::%s:root" % a
                p.ident = {"type": "Root", "principalId": a, "arn": p.arn, "accountId": a,
                           "accessKeyId": "ASIA" + alnum(r, 16, UPPER_ALNUM)}
                p.type = "Root"
            elif k == "federated":
                broker = "fedbroker"
                p.arn = "arn:aws:sts::%s:federated-user/%s" % (a, "contractor-x")
                p.ident = {"type": "FederatedUser", "principalId": a + ":contractor-x", "arn": p.arn,
                           "accountId": a, "accessKeyId": "ASIA" + alnum(r, 16, UPPER_ALNUM),
                           "sessionContext": {
                               "sessionIssuer": {"type": "IAMUser", "principalId": "AIDA" + alnum(r, 17, UPPER_ALNUM),
                                                 "arn": "arn:aws:iam::%s:user/%s" % (a, broker),
                                                 "accountId": a, "userName": broker},
                               "webIdFederationData": {}, "attributes": {}}}
                p.type, p.session = "FederatedUser", True
            elif k == "account":
                other = r.choice(others) if others else "%012d" % r.randrange(10 ** 12)
                p.ident = {"type": "AWSAccount",
                           "principalId": "AROA" + alnum(r, 17, UPPER_ALNUM) + ":cross-account-reader",
                           "accountId": other}
                p.arn, p.type = "arn:aws:iam::%s:root" % other, "AWSAccount"
            else:  # idc
                p.ident = {"type": "IdentityCenterUser", "accountId": a,
                           "onBehalfOf": {"userId": uid(r),
                                          "identityStoreArn": "arn:aws:identitystore::%s:identitystore/%s" % (a, self.store)},
                           "credentialId": alnum(r, 60)}
                p.arn, p.type = "arn:aws:identitystore::%s:user" % a, "IdentityCenterUser"
            # source IPs and user agents
            if p.type == "AWSService":
                p.ips = [p.arn, p.arn, "AWS Internal"]
                p.uas = [p.arn]
            else:
                if r.random() < 0.12:
                    p.ips = ["2600:1f18:%x:%x:%x:%x:%x:%x" % tuple(r.randrange(65536) for _ in range(6))]
                else:
                    p.ips = ["%d.%d.%d.%d" % (r.choice(IP_FIRST), r.randrange(256), r.randrange(256),
                                              r.randrange(1, 255)) for _ in range(r.randint(1, 3))]
                if p.console:
                    p.uas = UA_CONSOLE + [r.choice(UA_CLI)]
                else:
                    p.uas = r.sample(UA_SDK + UA_CLI, r.randint(1, 3))
            out.append(p)
        return out


# ---------------------------------------------------------------------------
# API builders: f(c) -> (requestParameters, responseElements, additionalEventData, resources)
# `c` is the per-file Ctx (rng, account, region, principal, event time).
# ---------------------------------------------------------------------------

class Ctx:
    __slots__ = ("r", "a", "region", "p", "t")


def _res(a, typ, arn):
    return {"accountId": a.id, "type": typ, "ARN": arn}


def _s3_key(r):
    tpl = r.choice(S3_KEY_TEMPLATES)
    return tpl.format(y=2021, m="%02d" % r.randint(1, 12), d="%02d" % r.randint(1, 28),
                      n=r.randrange(100000), q=r.randint(1, 4))


def _s3_object(c, name, resp_extra=False):
    r, a = c.r, c.a
    b, k = r.choice(a.buckets), _s3_key(r)
    req = {"bucketName": b, "Host": "%s.s3.%s.amazonaws.com" % (b, c.region), "key": k}
    if r.random() < 0.3:
        req["x-id"] = name
    size = r.choice([0, 512, 4096, 1048576, r.randrange(10 ** 7)])
    extra = {"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
             "bytesTransferredIn": float(size) if name == "PutObject" else 0,
             "AuthenticationMethod": "AuthHeader", "x-amz-id-2": b64(r, 57),
             "bytesTransferredOut": size if name == "GetObject" else 0}
    resp = None
    if resp_extra:
        resp = {"x-amz-server-side-encryption": "AES256", "x-amz-version-id": alnum(r, 32)}
    return req, resp, extra, [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::%s/%s" % (b, k)},
                              _res(a, "AWS::S3::Bucket", "arn:aws:s3:::" + b)]


def b_s3_get(c):
    return _s3_object(c, "GetObject")


def b_s3_put(c):
    return _s3_object(c, "PutObject", resp_extra=c.r.random() < 0.6)


def b_s3_delete(c):
    return _s3_object(c, "DeleteObject")


def b_s3_list(c):
    return {"Host": "s3.%s.amazonaws.com" % c.region}, None, {
        "SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
        "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": b64(c.r, 57), "bytesTransferredOut": c.r.randrange(200, 5000)}, None


def b_s3_bucket_q(c):
    b = c.r.choice(c.a.buckets)
    q = "acl" if c.r.random() < 0.6 else "location"
    return ({"bucketName": b, "Host": "%s.s3.%s.amazonaws.com" % (b, c.region), q: ""}, None,
            {"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
             "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
             "x-amz-id-2": b64(c.r, 57), "bytesTransferredOut": c.r.randrange(100, 900)},
            [_res(c.a, "AWS::S3::Bucket", "arn:aws:s3:::" + b)])


def b_ec2_describe_instances(c):
    r = c.r
    req = {"instancesSet": {}, "filterSet": {}}
    if r.random() < 0.5:
        req["filterSet"] = {"items": [{"name": "instance-state-name",
                                       "valueSet": {"items": [{"value": "running"}]}}]}
    if r.random() < 0.3:
        req["instancesSet"] = {"items": [{"instanceId": i} for i in r.sample(c.a.instances, 2)]}
    return req, None, None, None


def b_ec2_run(c):
    r, a = c.r, c.a
    iid, sg = "i-0" + hexs(r, 16), r.choice(a.sgs)
    ip = "10.0.%d.%d" % (r.randrange(256), r.randrange(1, 255))
    itype = r.choice(["t3.micro", "m5.large", "c6g.xlarge"])
    az = c.region + r.choice("abc")
    req = {"instancesSet": {"items": [{"imageId": r.choice(a.amis), "minCount": 1, "maxCount": 1}]},
           "instanceType": itype, "blockDeviceMapping": {}, "monitoring": {"enabled": False},
           "disableApiTermination": False, "disableApiStop": False, "clientToken": uid(r),
           "tagSpecificationSet": {"items": [{"resourceType": "instance",
                                              "tags": [{"key": "Name", "value": "web-%d" % r.randrange(50)},
                                                       {"key": "Owner", "value": "José Álvarez"}]}]}}
    resp = {"requestId": uid(r), "reservationId": "r-0" + hexs(r, 16), "ownerId": a.id, "groupSet": {},
            "instancesSet": {"items": [{
                "instanceId": iid, "imageId": req["instancesSet"]["items"][0]["imageId"],
                "instanceState": {"code": 0, "name": "pending"},
                "privateDnsName": "ip-%s.ec2.internal" % ip.replace(".", "-"),
                "amiLaunchIndex": 0, "productCodes": {}, "instanceType": itype,
                "launchTime": c.t * 1000, "placement": {"availabilityZone": az, "tenancy": "default"},
                "monitoring": {"state": "disabled"}, "subnetId": r.choice(a.subnets), "vpcId": a.vpc,
                "privateIpAddress": ip, "stateReason": {"code": "pending", "message": "pending"},
                "architecture": "x86_64", "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda",
                "blockDeviceMapping": {}, "virtualizationType": "hvm", "hypervisor": "xen",
                "groupSet": {"items": [{"groupId": sg[0], "groupName": sg[1]}]},
                "sourceDestCheck": True, "ebsOptimized": False, "enaSupport": True,
                "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                "enclaveOptions": {"enabled": False},
                "metadataOptions": {"state": "pending", "httpTokens": "required",
                                    "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"}}]},
            "requesterId": "%012d" % r.randrange(10 ** 12)}
    return req, resp, None, None


def b_ec2_terminate(c):
    r = c.r
    iid = r.choice(c.a.instances)
    return ({"instancesSet": {"items": [{"instanceId": iid}]}},
            {"requestId": uid(r), "instancesSet": {"items": [{
                "instanceId": iid, "currentState": {"code": 32, "name": "shutting-down"},
                "previousState": {"code": 16, "name": "running"}}]}}, None, None)


def b_ec2_describe_sgs(c):
    r = c.r
    req = {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}
    if r.random() < 0.4:
        req["filterSet"] = {"items": [{"name": "vpc-id", "valueSet": {"items": [{"value": c.a.vpc}]}}]}
    return req, None, None, None


def b_ec2_authorize(c):
    r, a = c.r, c.a
    sg = r.choice(a.sgs)[0]
    port = r.choice([22, 443, 5432, 8080])
    req = {"groupId": sg, "ipPermissions": {"items": [{
        "ipProtocol": "tcp", "fromPort": port, "toPort": port, "groups": {},
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "port %d <temp> & 'open'" % port}]},
        "ipv6Ranges": {}, "prefixListIds": {}}]}}
    resp = {"requestId": uid(r), "_return": True, "securityGroupRuleSet": {"items": [{
        "groupOwnerId": a.id, "groupId": sg, "securityGroupRuleId": "sgr-0" + hexs(r, 16),
        "isEgress": False, "ipProtocol": "tcp", "fromPort": port, "toPort": port,
        "cidrIpv4": "0.0.0.0/0"}]}}
    return req, resp, None, None


def b_ec2_tags(c):
    r = c.r
    return ({"resourcesSet": {"items": [{"resourceId": r.choice(c.a.instances)}]},
             "tagSet": {"items": [{"key": r.choice(["Owner", "CostCenter", "Name"]),
                                   "value": r.choice(["José Álvarez", "cc-1234", "Müller/ops", "東京-web"])}]}},
            {"requestId": uid(r), "_return": True}, None, None)


def b_ec2_volumes(c):
    return {"volumeSet": {}, "filterSet": {}, "maxResults": 500}, None, None, None


POLICY = ('{\n  "Version": "2012-10-17",\n  "Statement": [{\n    "Effect": "Allow",\n'
          '    "Action": ["s3:GetObject", "s3:PutObject"],\n'
          '    "Resource": "arn:aws:s3:::acme-data-lake/*",\n'
          '    "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data"}}\n  }]\n}')
TRUST = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
         '{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}')


def b_iam_get_user(c):
    return {"userName": c.r.choice(IAM_USERS)}, None, None, None


def b_iam_list_roles(c):
    return ({"maxItems": 100} if c.r.random() < 0.5 else None), None, None, None


def b_iam_get_role(c):
    return {"roleName": c.r.choice(c.a.roles)}, None, None, None


def b_iam_create_role(c):
    r, a = c.r, c.a
    name = "svc-%s-role" % alnum(r, 6).lower()
    return ({"roleName": name, "path": "/service-role/", "assumeRolePolicyDocument": TRUST,
             "description": "Role for café ☕ pipeline <beta>"},
            {"role": {"path": "/service-role/", "roleName": name, "roleId": "AROA" + alnum(r, 17, UPPER_ALNUM),
                      "arn": "arn:aws:iam::%s:role/service-role/%s" % (a.id, name),
                      "createDate": java_date(c.t),
                      "assumeRolePolicyDocument": "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"}},
            None, None)


def b_iam_put_role_policy(c):
    return ({"roleName": c.r.choice(c.a.roles), "policyName": "inline-data-access",
             "policyDocument": POLICY}, None, None, None)


def b_iam_attach(c):
    return ({"roleName": c.r.choice(c.a.roles),
             "policyArn": c.r.choice(["arn:aws:iam::aws:policy/ReadOnlyAccess",
                                      "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"])},
            None, None, None)


def _assume_role_resp(c, role_arn, sess):
    r = c.r
    return {"credentials": {"accessKeyId": "ASIA" + alnum(r, 16, UPPER_ALNUM),
                            "sessionToken": b64(r, 150), "expiration": java_date(c.t + 3600)},
            "assumedRoleUser": {"assumedRoleId": "AROA%s:%s" % (alnum(r, 17, UPPER_ALNUM), sess),
                                "arn": role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/" + sess}}


def b_sts_assume(c):
    r, a = c.r, c.a
    role = r.choice(a.roles)
    arn = "arn:aws:iam::%s:role/%s" % (a.id, role)
    sess = r.choice(["botocore-session-%d" % (c.t - 5), "GitHubActions", "awslambda_%d_%d" % (r.randrange(1000), c.t)])
    req = {"roleArn": arn, "roleSessionName": sess}
    if r.random() < 0.5:
        req["durationSeconds"] = 3600
    return req, _assume_role_resp(c, arn, sess), None, [_res(a, "AWS::IAM::Role", arn)]


def b_sts_web_identity(c):
    r, a = c.r, c.a
    arn = "arn:aws:iam::%s:role/github-actions-deploy" % a.id
    sess = "GitHubActions"
    resp = _assume_role_resp(c, arn, sess)
    resp["subjectFromWebIdentityToken"] = "repo:acme/app:ref:refs/heads/main"
    resp["provider"] = "arn:aws:iam::%s:oidc-provider/token.actions.githubusercontent.com" % a.id
    resp["audience"] = "sts.amazonaws.com"
    return ({"roleArn": arn, "roleSessionName": sess, "durationSeconds": 3600}, resp,
            {"identityProvider": "token.actions.githubusercontent.com"}, [_res(a, "AWS::IAM::Role", arn)])


def b_null(c):
    return None, None, None, None


def _kms_arn(c):
    return "arn:aws:kms:%s:%s:key/%s" % (c.region, c.a.id, c.r.choice(c.a.kms))


def b_kms_decrypt(c):
    r, arn = c.r, _kms_arn(c)
    if r.random() < 0.5:
        ec = {"aws:lambda:FunctionArn": "arn:aws:lambda:%s:%s:function:%s" % (c.region, c.a.id, r.choice(c.a.functions))}
    else:
        ec = {"aws:s3:arn": "arn:aws:s3:::%s/%s" % (r.choice(c.a.buckets), _s3_key(r))}
    return ({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": ec}, None, None,
            [_res(c.a, "AWS::KMS::Key", arn)])


def b_kms_gdk(c):
    r, arn = c.r, _kms_arn(c)
    return ({"keyId": arn, "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::" + r.choice(c.a.buckets)},
             "keySpec": "AES_256"}, None, None, [_res(c.a, "AWS::KMS::Key", arn)])


def b_kms_describe(c):
    arn = _kms_arn(c)
    return {"keyId": c.r.choice(["alias/aws/s3", "alias/app-prod", arn])}, None, None, [_res(c.a, "AWS::KMS::Key", arn)]


def b_kms_rotate(c):
    return None, None, None, [_res(c.a, "AWS::KMS::Key", _kms_arn(c))]


def _fn_arn(c, fn):
    return "arn:aws:lambda:%s:%s:function:%s" % (c.region, c.a.id, fn)


def b_lambda_invoke(c):
    fn = c.r.choice(c.a.functions)
    arn = _fn_arn(c, fn)
    return ({"functionName": arn, "invocationType": c.r.choice(["RequestResponse", "Event"])},
            None, {"functionVersion": arn + ":$LATEST"}, [_res(c.a, "AWS::Lambda::Function", arn)])


def b_lambda_list(c):
    return ({"maxItems": 50} if c.r.random() < 0.3 else None), None, None, None


def b_lambda_get(c):
    return {"functionName": c.r.choice(c.a.functions)}, None, None, None


def b_lambda_update(c):
    r, a = c.r, c.a
    fn = r.choice(a.functions)
    return ({"functionName": fn, "s3Bucket": a.buckets[1], "s3Key": "builds/%s/%s.zip" % (fn, hexs(r, 7)),
             "publish": False, "dryRun": False},
            {"functionName": fn, "functionArn": _fn_arn(c, fn), "runtime": "python3.11",
             "role": "arn:aws:iam::%s:role/service-role/lambda-order-processor-role" % a.id,
             "handler": "app.handler", "codeSize": r.randrange(1000, 5 * 10 ** 7), "description": "",
             "timeout": 30, "memorySize": 512, "lastModified": iso(c.t)[:-1] + ".000+0000",
             "codeSha256": b64(r, 32), "version": "$LATEST", "tracingConfig": {"mode": "PassThrough"},
             "revisionId": uid(r), "state": "Active", "lastUpdateStatus": "InProgress",
             "architectures": ["x86_64"], "ephemeralStorage": {"size": 512}},
            None, None)


def b_ct_describe(c):
    return ({"includeShadowTrails": False} if c.r.random() < 0.5 else {"trailNameList": []}), None, None, None


def b_ct_lookup(c):
    return ({"maxResults": 50, "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}],
             "startTime": java_date(c.t - 86400)}, None, None, None)


def b_ct_status(c):
    return {"name": "arn:aws:cloudtrail:%s:%s:trail/management-events" % (c.region, c.a.id)}, None, None, None


def b_logs_stream(c):
    r = c.r
    return ({"logGroupName": r.choice(c.a.log_groups),
             "logStreamName": "2021/%02d/%02d/[$LATEST]%s" % (r.randint(1, 12), r.randint(1, 28), hexs(r, 32))},
            None, None, None)


def b_logs_describe(c):
    return {"logGroupNamePrefix": c.r.choice(["/aws/lambda/", "/ecs/"])}, None, None, None


def b_logs_create(c):
    return {"logGroupName": "/aws/lambda/fn-" + alnum(c.r, 8).lower()}, None, None, None


def _table(c):
    t = c.r.choice(c.a.tables)
    return t, [_res(c.a, "AWS::DynamoDB::Table", "arn:aws:dynamodb:%s:%s:table/%s" % (c.region, c.a.id, t))]


def b_ddb_describe(c):
    return {"tableName": c.r.choice(c.a.tables)}, None, None, None


def b_ddb_get(c):
    t, res = _table(c)
    return {"tableName": t, "key": {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"}, "consistentRead": c.r.random() < 0.3}, None, None, res


def b_ddb_put(c):
    t, res = _table(c)
    return ({"tableName": t, "key": {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS", "sk": "HIDDEN_DUE_TO_SECURITY_REASONS"},
             "returnConsumedCapacity": "TOTAL"}, None, None, res)


def b_ddb_query(c):
    t, res = _table(c)
    req = {"tableName": t, "keyConditionExpression": "#pk = :v AND begins_with(#sk, :p)",
           "limit": c.r.choice([10, 25, 100])}
    if c.r.random() < 0.4:
        req["indexName"] = "gsi1"
    return req, None, None, res


def b_console_login(c):
    return None, {"ConsoleLogin": "Success"}, {
        "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_"
                   + c.region + "_" + hexs(c.r, 16),
        "MobileVersion": "No", "MFAUsed": c.r.choice(["No", "Yes"])}, None


def b_r53_change(c):
    r = c.r
    return ({"hostedZoneId": r.choice(c.a.zones), "changeBatch": {"changes": [{
                "action": "UPSERT", "resourceRecordSet": {
                    "name": r.choice(["api.example.com", "www.example.com", "_dmarc.example.com"]),
                    "type": "A", "tTL": 300, "resourceRecords": [{"value": "203.0.113.%d" % r.randrange(256)}]}}]}},
            {"changeInfo": {"id": "/change/C0" + alnum(r, 18, UPPER_ALNUM), "status": "PENDING",
                            "submittedAt": java_date(c.t)}}, None, None)


def b_ssm_get(c):
    return {"name": c.r.choice(c.a.params), "withDecryption": c.r.random() < 0.6}, None, None, None


def b_ssm_gets(c):
    return {"names": c.r.sample(c.a.params, 2), "withDecryption": False}, None, None, None


def b_secret(c):
    return ({"secretId": "arn:aws:secretsmanager:%s:%s:secret:%s" % (c.region, c.a.id, c.r.choice(c.a.secrets))},
            None, None, None)


def b_alarms(c):
    return ({"maxRecords": 100} if c.r.random() < 0.5 else {"alarmNames": ["HighCPU", "5xx-rate>1%"]}), None, None, None


def b_config_eval(c):
    r = c.r
    return ({"evaluations": [{"complianceResourceType": "AWS::EC2::Instance",
                              "complianceResourceId": r.choice(c.a.instances),
                              "complianceType": r.choice(["COMPLIANT", "NON_COMPLIANT"]),
                              "orderingTimestamp": java_date(c.t - 600)}],
             "resultToken": b64(r, 96), "testMode": False},
            {"failedEvaluations": []}, None, None)


def b_ecr_token(c):
    return ({"registryIds": [c.a.id]} if c.r.random() < 0.3 else None), None, None, None


def b_ecr_batch(c):
    repo = c.r.choice(c.a.repos)
    return ({"imageIds": [{"imageTag": c.r.choice(["latest", "v1.4.2"])}],
             "acceptedMediaTypes": ["application/vnd.docker.distribution.manifest.v2+json",
                                    "application/vnd.oci.image.manifest.v1+json"],
             "repositoryName": repo, "registryId": c.a.id}, None, None,
            [_res(c.a, "AWS::ECR::Repository", "arn:aws:ecr:%s:%s:repository/%s" % (c.region, c.a.id, repo))])


class Api:
    """Catalogue entry. w = weights for (human, machine, service) callers."""
    __slots__ = ("src", "name", "fn", "ro", "data", "w", "glob", "api_version",
                 "noreqid", "etype", "s3id", "vpce", "shared", "svc")

    def __init__(self, src, name, fn, ro, data, w, glob=False, api_version=None, noreqid=False,
                 etype="AwsApiCall", vpce=False, shared=0.0):
        self.src, self.name, self.fn, self.ro, self.data, self.w = src, name, fn, ro, data, w
        self.glob, self.api_version, self.noreqid, self.etype = glob, api_version, noreqid, etype
        self.s3id = src == "s3.amazonaws.com"
        self.vpce, self.shared = vpce, shared
        self.svc = src.split(".")[0]


S3, EC2, IAM, STS, KMS = ("s3.amazonaws.com", "ec2.amazonaws.com", "iam.amazonaws.com",
                          "sts.amazonaws.com", "kms.amazonaws.com")
APIS = [
    Api(S3, "GetObject", b_s3_get, True, True, (6, 14, 2), vpce=True),
    Api(S3, "PutObject", b_s3_put, False, True, (2, 7, 3), vpce=True),
    Api(S3, "DeleteObject", b_s3_delete, False, True, (0.5, 1, 0)),
    Api(S3, "ListBuckets", b_s3_list, True, False, (3, 1, 0)),
    Api(S3, "GetBucketAcl", b_s3_bucket_q, True, False, (1, 1, 8)),
    Api(EC2, "DescribeInstances", b_ec2_describe_instances, True, False, (4, 6, 6)),
    Api(EC2, "RunInstances", b_ec2_run, False, False, (0.3, 0.5, 0.5)),
    Api(EC2, "TerminateInstances", b_ec2_terminate, False, False, (0.2, 0.4, 0.3)),
    Api(EC2, "DescribeSecurityGroups", b_ec2_describe_sgs, True, False, (2, 2, 1)),
    Api(EC2, "AuthorizeSecurityGroupIngress", b_ec2_authorize, False, False, (0.3, 0.2, 0)),
    Api(EC2, "CreateTags", b_ec2_tags, False, False, (0.4, 0.6, 0.5)),
    Api(EC2, "DescribeVolumes", b_ec2_volumes, True, False, (1, 1.5, 2)),
    Api(IAM, "GetUser", b_iam_get_user, True, False, (1, 0.5, 0), glob=True),
    Api(IAM, "ListRoles", b_iam_list_roles, True, False, (1.5, 0.5, 0.5), glob=True),
    Api(IAM, "GetRole", b_iam_get_role, True, False, (1, 1.5, 0.5), glob=True),
    Api(IAM, "CreateRole", b_iam_create_role, False, False, (0.2, 0.2, 0), glob=True),
    Api(IAM, "PutRolePolicy", b_iam_put_role_policy, False, False, (0.2, 0.2, 0), glob=True),
    Api(IAM, "AttachRolePolicy", b_iam_attach, False, False, (0.2, 0.2, 0), glob=True),
    Api(STS, "AssumeRole", b_sts_assume, True, False, (3, 8, 10), shared=0.25),
    Api(STS, "GetCallerIdentity", b_null, True, False, (2, 3, 0)),
    Api(STS, "AssumeRoleWithWebIdentity", b_sts_web_identity, True, False, (0, 1, 0)),
    Api(KMS, "Decrypt", b_kms_decrypt, True, False, (2, 8, 8), vpce=True, shared=0.05),
    Api(KMS, "GenerateDataKey", b_kms_gdk, True, False, (1, 4, 5), vpce=True),
    Api(KMS, "DescribeKey", b_kms_describe, True, False, (0.5, 1, 1)),
    Api(KMS, "RotateKey", b_kms_rotate, False, False, (0, 0, 0.05), noreqid=True, etype="AwsServiceEvent"),
    Api("lambda.amazonaws.com", "Invoke", b_lambda_invoke, False, True, (1, 3, 3)),
    Api("lambda.amazonaws.com", "ListFunctions20150331", b_lambda_list, True, False, (1, 0.5, 0)),
    Api("lambda.amazonaws.com", "GetFunction20150331v2", b_lambda_get, True, False, (0.8, 0.8, 0)),
    Api("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", b_lambda_update, False, False, (0.2, 0.3, 0)),
    Api("cloudtrail.amazonaws.com", "DescribeTrails", b_ct_describe, True, False, (0.6, 0.4, 1)),
    Api("cloudtrail.amazonaws.com", "LookupEvents", b_ct_lookup, True, False, (0.5, 0.2, 0)),
    Api("cloudtrail.amazonaws.com", "GetTrailStatus", b_ct_status, True, False, (0.3, 0.3, 1)),
    Api("logs.amazonaws.com", "CreateLogStream", b_logs_stream, False, False, (0, 3, 6)),
    Api("logs.amazonaws.com", "DescribeLogGroups", b_logs_describe, True, False, (1, 0.5, 0.5)),
    Api("logs.amazonaws.com", "CreateLogGroup", b_logs_create, False, False, (0.1, 0.2, 0.3)),
    Api("dynamodb.amazonaws.com", "DescribeTable", b_ddb_describe, True, False, (1, 1.5, 0.5)),
    Api("dynamodb.amazonaws.com", "GetItem", b_ddb_get, True, True, (0.5, 3, 0), vpce=True),
    Api("dynamodb.amazonaws.com", "PutItem", b_ddb_put, False, True, (0.2, 2, 0), vpce=True),
    Api("dynamodb.amazonaws.com", "Query", b_ddb_query, True, True, (0.3, 2, 0), vpce=True),
    Api("signin.amazonaws.com", "ConsoleLogin", b_console_login, False, False, (3, 0, 0),
        noreqid=True, etype="AwsConsoleSignIn"),
    Api("route53.amazonaws.com", "ChangeResourceRecordSets", b_r53_change, False, False, (0.1, 0.2, 0),
        glob=True, api_version="2013-04-01"),
    Api("route53.amazonaws.com", "ListHostedZones", b_null, True, False, (0.5, 0.3, 0),
        glob=True, api_version="2013-04-01"),
    Api("ssm.amazonaws.com", "GetParameter", b_ssm_get, True, False, (0.5, 3, 1), vpce=True),
    Api("ssm.amazonaws.com", "GetParameters", b_ssm_gets, True, False, (0.2, 1, 0.5)),
    Api("secretsmanager.amazonaws.com", "GetSecretValue", b_secret, True, False, (0.3, 2, 0), vpce=True),
    Api("monitoring.amazonaws.com", "DescribeAlarms", b_alarms, True, False, (1, 0.5, 0)),
    Api("config.amazonaws.com", "PutEvaluations", b_config_eval, False, False, (0, 0.3, 2)),
    Api("ecr.amazonaws.com", "GetAuthorizationToken", b_ecr_token, True, False, (0.3, 1.5, 0.5)),
    Api("ecr.amazonaws.com", "BatchGetImage", b_ecr_batch, True, False, (0.2, 1.5, 0.5)),
]
KIND_INDEX = {"human": 0, "machine": 1, "service": 2}


def api_tables(region):
    """Per caller kind: (apis, cumulative weights) usable in `region`
    (global services like IAM/Route 53 are only logged in us-east-1)."""
    out = {}
    for kind, ki in KIND_INDEX.items():
        apis = [x for x in APIS if x.w[ki] > 0 and (not x.glob or region == "us-east-1")]
        cum, acc = [], 0.0
        for x in apis:
            acc += x.w[ki]
            cum.append(acc)
        out[kind] = (apis, cum, acc)
    return out


GENERIC_ERRORS = [
    ("AccessDenied", "User: {arn} is not authorized to perform: {svc}:{name} on resource: {res} "
                     "because no identity-based policy allows the {svc}:{name} action"),
    ("ThrottlingException", "Rate exceeded"),
]
SERVICE_ERRORS = {
    "s3": [("AccessDenied", "Access Denied"), ("NoSuchKey", "The specified key does not exist."),
           ("NoSuchBucket", "The specified bucket does not exist")],
    "ec2": [("Client.UnauthorizedOperation", "You are not authorized to perform this operation. "
             "User: {arn} is not authorized to perform: ec2:{name} with an explicit deny in a service control "
             "policy. Encoded authorization failure message: {b64}"),
            ("Client.InvalidInstanceID.NotFound", "The instance ID '{iid}' does not exist"),
            ("Client.RequestLimitExceeded", "Request limit exceeded.")],
    "iam": [("NoSuchEntityException", "The role with name ghost-role cannot be found.")],
    "dynamodb": [("ResourceNotFoundException", "Requested resource not found"),
                 ("ConditionalCheckFailedException", "The conditional request failed")],
    "kms": [("AccessDeniedException", "User: {arn} is not authorized to perform: kms:{name} on this resource "
             "because the resource does not exist in this Region, no resource-based policies allow access, "
             "or a resource-based policy explicitly denies access")],
    "lambda": [("ResourceNotFoundException", "Function not found: arn:aws:lambda:{region}:{acct}:function:ghost")],
    "sts": [("ExpiredTokenException", "The security token included in the request is expired")],
}


def make_error(c, api):
    """(errorCode, errorMessage) for a failing call."""
    r = c.r
    opts = SERVICE_ERRORS.get(api.svc)
    code, tpl = r.choice(opts) if opts and r.random() < 0.6 else r.choice(GENERIC_ERRORS)
    if "{" not in tpl:
        return code, tpl
    return code, tpl.format(arn=c.p.arn, svc=api.svc, name=api.name, region=c.region, acct=c.a.id,
                            res="arn:aws:%s:%s:%s:*" % (api.svc, c.region, c.a.id),
                            b64=b64(r, 60), iid=r.choice(c.a.instances))


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------

def make_record(c, vi, api, ident):
    """Build one CloudTrail record dict in CloudTrail's key order."""
    r, p, a = c.r, c.p, c.a
    req, resp, extra, res = api.fn(c)
    ua = r.choice(p.uas)
    console = False
    if api.etype == "AwsServiceEvent":
        ident = {"accountId": a.id, "invokedBy": api.src}
        ip = ua = api.src
    elif api.name == "ConsoleLogin":
        ua, ip, console = r.choice(UA_BROWSER), r.choice(p.ips), True
    else:
        ip = r.choice(p.ips)
        console = p.console and ua in UA_CONSOLE
    if vi == 11 and p.type == "AssumedRole" and r.random() < 0.01:
        ident = dict(ident)
        ident["inScopeOf"] = {"issuerType": "AWS::Lambda::Function",
                              "credentialsIssuedTo": "arn:aws:lambda:%s:%s:function:%s" % (c.region, a.id, a.functions[0])}
    if r.random() < 0.005:
        ident = dict(ident)
        ident["identityExperimentalField"] = {"flag": True, "note": "x/y"}

    rec = {"eventVersion": VERSIONS[vi], "userIdentity": ident, "eventTime": iso(c.t),
           "eventSource": api.src, "eventName": api.name, "awsRegion": c.region,
           "sourceIPAddress": ip, "userAgent": ua}
    if r.random() < 0.05 and api.etype == "AwsApiCall":
        code, msg = make_error(c, api)
        rec["errorCode"], rec["errorMessage"] = code, msg
        resp = None
    elif api.name == "ConsoleLogin" and r.random() < 0.1:
        rec["errorMessage"] = "Failed authentication"  # real failures carry no errorCode
        resp = {"ConsoleLogin": "Failure"}
        if p.type == "IAMUser" and r.random() < 0.5:
            ident = rec["userIdentity"] = dict(ident, userName="HIDDEN_DUE_TO_SECURITY_REASONS", accessKeyId="")
    rec["requestParameters"] = req
    rec["responseElements"] = resp
    if extra is not None:
        rec["additionalEventData"] = extra
    if not api.noreqid:
        rec["requestID"] = ("%016X" % r.getrandbits(64)) if api.s3id else uid(r)
    rec["eventID"] = uid(r)
    if vi >= 5:
        rec["readOnly"] = api.ro
        if res is not None:
            rec["resources"] = res
    rec["eventType"] = api.etype
    if api.api_version:
        rec["apiVersion"] = api.api_version
    if vi >= 5:
        rec["managementEvent"] = not api.data
    rec["recipientAccountId"] = a.id
    if (p.type == "AWSAccount" or (api.shared and r.random() < api.shared)) and api.etype == "AwsApiCall":
        rec["sharedEventID"] = uid(r)
    if vi >= 6 and api.vpce and r.random() < 0.08:
        rec["vpcEndpointId"] = "vpce-0" + hexs(r, 16)
        if vi >= 9:
            rec["vpcEndpointAccountId"] = a.id
    if vi >= 8:
        rec["eventCategory"] = "Data" if api.data else "Management"
        if vi >= 9 and r.random() < 0.002:
            rec["addendum"] = {"reason": r.choice(["DELIVERY_DELAY", "UPDATED_DATA", "SERVICE_OUTAGE"]),
                               "updatedFields": "userIdentity,requestParameters",
                               "originalRequestID": uid(r), "originalEventID": uid(r)}
        if vi >= 10 and api.s3id and r.random() < 0.01:
            rec["edgeDeviceDetails"] = {"type": "SnowballEdge", "deviceID": "JID" + uid(r),
                                        "snowballEdge": {"deviceType": "SBE-C", "softwareVersion": "102"}}
        if p.type != "AWSService" and api.etype == "AwsApiCall":
            tv, cs = TLS[r.randrange(3)]
            rec["tlsDetails"] = {"tlsVersion": tv, "cipherSuite": cs,
                                 "clientProvidedHostHeader": "%s.%s.amazonaws.com" % (api.svc, c.region)}
        if console:
            rec["sessionCredentialFromConsole"] = "true"
    # rare shape variations tools must tolerate
    x = r.random()
    if x < 0.02:
        items = list(rec.items())
        i = r.randrange(len(items) - 1)
        items[i], items[i + 1] = items[i + 1], items[i]
        rec = dict(items)
    elif x < 0.025:
        items = list(rec.items())
        items.insert(r.randrange(1, len(items) + 1), ("newFeatureField", {"a": 1}))
        rec = dict(items)
    return rec


RECORDS_PER_FILE = None


def records_count(r):
    """Skewed records-per-file: ~45% tiny (1-3), most 5-40, ~1% large (200-1500);
    with --records-per-file, that many give or take 10%."""
    if RECORDS_PER_FILE:
        return max(1, int(RECORDS_PER_FILE * (0.9 + 0.2 * r.random())))
    x = r.random()
    if x < 0.45:
        return r.randint(1, 3)
    if x < 0.45 + LARGE_P:
        return int(200 * 7.5 ** r.random())  # log-uniform 200..1500
    return int(5 + 36 * r.random() ** MED_K)


def tune_counts(mean):
    """Pick the large-file share and medium-size skew so the mean is ~`mean`:
    below 15 shrink the large share and medium sizes, above 15 grow the
    large share (tiny files stay at 45%)."""
    global LARGE_P, MED_K
    if mean <= 15:
        LARGE_P = 0.01 * max(0.0, (mean - 2) / 13.0)
        med_mean = (mean - 0.45 * 2 - LARGE_P * 646) / (1 - 0.45 - LARGE_P)
    else:
        med_mean = (15 - 0.9 - 6.46) / 0.54
        LARGE_P = min(0.5, (mean - 0.9 - 0.55 * med_mean) / (646 - med_mean))
    med_mean = min(max(med_mean, 5.6), 22.0)
    MED_K = 36.0 / (med_mean - 4.5) - 1.0  # E[int(5+36u^k)] ~= 4.5 + 36/(k+1)


LARGE_P, MED_K = 0.01, 2.0


# ---------------------------------------------------------------------------
# Tree writing
# ---------------------------------------------------------------------------

def write(path, data, made):
    d = os.path.dirname(path)
    if d not in made:
        os.makedirs(d, exist_ok=True)
        made.add(d)
    with open(path, "wb") as f:
        f.write(data)


def ymd_path(t):
    g = time.gmtime(t)
    return "%04d/%02d/%02d" % (g.tm_year, g.tm_mon, g.tm_mday)


def stamp_min(t):
    return "%04d%02d%02dT%02d%02dZ" % time.gmtime(t)[:5]


def stamp_sec(t):
    return "%04d%02d%02dT%02d%02d%02dZ" % time.gmtime(t)[:6]


def plan_deliveries(r, streams, n, start, days):
    """Choose N delivery times: ~every 5 min per stream, thinned at random.
    Returns sorted [(epoch, stream_index)]."""
    weights = [w for (_, _, w) in streams]
    total = sum(weights)
    raw = [n * w / total for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    slots = days * 288
    out = []
    for si, k in enumerate(counts):
        chosen = r.sample(range(slots), k) if k <= slots else \
            list(range(slots)) + [r.randrange(slots) for _ in range(k - slots)]
        for s in chosen:
            out.append((start + s * 300 + 60 * r.randrange(5), si))
    out.sort()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--accounts", default="111122223333,444455556666")
    ap.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-2")
    ap.add_argument("--start", default="2021-01-01")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--org", default=None, help="org id, e.g. o-abc123xyz0 (org trail layout)")
    ap.add_argument("--mean-records", type=float, default=15.0)
    ap.add_argument("--records-per-file", type=int, default=None,
                    help="every file holds about this many records (large-file trees)")
    ap.add_argument("--digests", action="store_true")
    ap.add_argument("--plain-json-fraction", type=float, default=0.0)
    ap.add_argument("--extras", action="store_true")
    args = ap.parse_args(argv)

    accounts = [x.strip() for x in args.accounts.split(",") if x.strip()]
    regions = [x.strip() for x in args.regions.split(",") if x.strip()]
    for a in accounts:
        if not re.fullmatch(r"\d{12}", a):
            ap.error("account ids must be 12 digits: %r" % a)
    for g in regions:
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", g):
            ap.error("bad region %r" % g)
    if args.org and not re.fullmatch(r"o-[a-z0-9]{10,32}", args.org):
        ap.error("bad org id %r" % args.org)
    if args.files < 0 or args.days < 1:
        ap.error("--files must be >= 0 and --days >= 1")
    start = int(dt.datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc).timestamp())
    tune_counts(args.mean_records)
    global RECORDS_PER_FILE
    RECORDS_PER_FILE = args.records_per_file

    r = random.Random(args.seed)
    out = args.out
    prefix = "AWSLogs/" + (args.org + "/" if args.org else "")
    bucket = "aws-cloudtrail-logs-%s-%s" % (accounts[0], hexs(r, 8))
    trail = "aws-controltower-BaselineCloudTrail" if args.org else "management-events"
    home = regions[0]

    accts = {a: Account(r, a, [o for o in accounts if o != a]) for a in accounts}
    tables = {g: api_tables(g) for g in regions}
    # streams = (account, region, weight); home region and some accounts busier
    streams = []
    for a in accounts:
        aw = 0.5 + 1.5 * r.random()
        for gi, g in enumerate(regions):
            streams.append((a, g, aw * (3.0 if gi == 0 else 1.0)))
    plan = plan_deliveries(r, streams, args.files, start, args.days)

    made = set()
    c = Ctx()
    c.r = r
    n_rec = gz_bytes = raw_bytes = n_plain = 0
    logs = []  # (stream, deliver, key, sha256, oldest, newest)
    for deliver, si in plan:
        acct, region, _ = streams[si]
        a = accts[acct]
        c.a, c.region = a, region
        n = records_count(r)
        versions = r.choices(range(12), cum_weights=VERSION_CUM, k=n)
        pidx = r.choices(range(len(a.principals)), cum_weights=a.cum, k=n)
        idents = {}
        recs = []
        lo, hi = None, None
        for vi, pi in zip(versions, pidx):
            p = a.principals[pi]
            ident = idents.get(pi)
            if ident is None:
                ident = idents[pi] = p.identity(r, deliver)
            apis, cum, tot = tables[region][p.kind]
            api = apis[bisect.bisect_right(cum, r.random() * tot)]
            c.p = p
            c.t = t = deliver - 1 - r.randrange(900)
            lo = t if lo is None or t < lo else lo
            hi = t if hi is None or t > hi else hi
            recs.append(make_record(c, vi, api, ident))
        raw = ct_dumps({"Records": recs}).encode("utf-8")
        plain = r.random() < args.plain_json_fraction
        name = "%s_CloudTrail_%s_%s_%s.json" % (acct, region, stamp_min(deliver), alnum(r, 16))
        key = "%s%s/CloudTrail/%s/%s/%s" % (prefix, acct, region, ymd_path(deliver), name)
        if plain:
            data = raw
            n_plain += 1
        else:
            key += ".gz"
            data = gzip.compress(raw, mtime=0)
        write(os.path.join(out, key), data, made)
        n_rec += n
        gz_bytes += len(data)
        raw_bytes += len(raw)
        logs.append((si, deliver, key, hashlib.sha256(raw).hexdigest(), lo, hi))

    n_dig = write_digests(r, out, made, prefix, bucket, trail, home, streams, logs) if args.digests else 0
    n_ins = 0
    if args.extras:
        n_ins = write_extras(r, out, made, prefix, accts[accounts[0]], regions[0], start, args.days, logs)
    print("files=%d records=%d gz_bytes=%d raw_bytes=%d digests=%d insights=%d plain_json=%d"
          % (len(plan), n_rec, gz_bytes, raw_bytes, n_dig, n_ins, n_plain))


def write_digests(r, out, made, prefix, bucket, trail, home, streams, logs):
    """Hourly digest chain per account-region, from the first to the last
    hour that holds a log file (empty hours get logFiles: [])."""
    by_stream = {}
    for e in logs:
        by_stream.setdefault(e[0], []).append(e)
    count = 0
    for si in sorted(by_stream):
        acct, region, _ = streams[si]
        files = by_stream[si]
        phase = r.randrange(3600)  # digest windows are not aligned to the hour
        fingerprint = hexs(r, 32)
        buckets = {}
        for e in files:
            buckets.setdefault((e[1] - phase) // 3600, []).append(e)
        k0, k1 = min(buckets), max(buckets)
        prev = None  # (key, sha256 of uncompressed, fake signature)
        for k in range(k0, k1 + 1):
            begin, end = phase + k * 3600, phase + (k + 1) * 3600
            name = "%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz" % (acct, region, trail, home, stamp_sec(end))
            key = "%s%s/CloudTrail-Digest/%s/%s/%s" % (prefix, acct, region, ymd_path(end), name)
            entries = buckets.get(k, [])
            lf = [{"s3Bucket": bucket, "s3Object": e[2], "hashValue": e[3], "hashAlgorithm": "SHA-256",
                   "newestEventTime": iso(e[5]), "oldestEventTime": iso(e[4])} for e in entries]
            doc = {"awsAccountId": acct, "digestStartTime": iso(begin), "digestEndTime": iso(end),
                   "digestS3Bucket": bucket, "digestS3Object": key,
                   "digestPublicKeyFingerprint": fingerprint, "digestSignatureAlgorithm": "SHA256withRSA",
                   "newestEventTime": iso(max(e[5] for e in entries)) if entries else None,
                   "oldestEventTime": iso(min(e[4] for e in entries)) if entries else None,
                   "previousDigestS3Bucket": bucket if prev else None,
                   "previousDigestS3Object": prev[0] if prev else None,
                   "previousDigestHashValue": prev[1] if prev else None,
                   "previousDigestHashAlgorithm": "SHA-256" if prev else None,
                   "previousDigestSignature": prev[2] if prev else None,
                   "logFiles": lf}
            raw = ct_dumps(doc).encode("utf-8")
            write(os.path.join(out, key), gzip.compress(raw, mtime=0), made)
            prev = (key, hashlib.sha256(raw).hexdigest(), r.randbytes(256).hex())
            count += 1
    return count


def write_extras(r, out, made, prefix, a, region, start, days, logs):
    """README.txt, a .DS_Store in a day folder and an Insights Start/End pair."""
    write(os.path.join(out, "README.txt"),
          b"Synthetic CloudTrail tree generated by scripts/gen_trail.py (not a log file).\n", made)
    if logs:
        day_dir = os.path.dirname(os.path.join(out, logs[0][2]))
        write(os.path.join(day_dir, ".DS_Store"), b"\x00\x00\x00\x01Bud1" + bytes(r.randrange(256) for _ in range(64)), made)
    t0 = start + (days * 86400) // 2 + r.randrange(3600)
    shared = uid(r)
    arn = next(p.arn for p in a.principals if p.type != "AWSService")
    count = 0
    for state, t in (("Start", t0), ("End", t0 + 1800 + r.randrange(1800))):
        stats = {"baseline": {"average": 0.0000882145}, "insight": {"average": 2.6}}
        if state == "End":
            stats["insightDuration"] = 30
            stats["baselineDuration"] = 11336
        rec = {"eventVersion": "1.07", "eventTime": iso(t - 60 * (5 if state == "Start" else 0)),
               "awsRegion": region, "eventID": uid(r), "eventType": "AwsCloudTrailInsight",
               "recipientAccountId": a.id, "sharedEventID": shared,
               "insightDetails": {"state": state, "eventSource": "ec2.amazonaws.com",
                                  "eventName": "DescribeInstances", "insightType": "ApiCallRateInsight",
                                  "insightContext": {"statistics": stats, "attributions": [
                                      {"attribute": "userIdentityArn",
                                       "insight": [{"value": arn, "average": 2.6}],
                                       "baseline": [{"value": arn, "average": 0.0000882145}]},
                                      {"attribute": "userAgent",
                                       "insight": [{"value": UA_CLI[1], "average": 2.6}],
                                       "baseline": [{"value": UA_CLI[1], "average": 0.0000882145}]},
                                      {"attribute": "errorCode",
                                       "insight": [{"value": "null", "average": 2.6}],
                                       "baseline": [{"value": "null", "average": 0.0000882145}]}]}},
               "eventCategory": "Insight"}
        raw = ct_dumps({"Records": [rec]}).encode("utf-8")
        key = "%s%s/CloudTrail-Insight/%s/%s/%s_CloudTrail-Insight_%s_%s_%s.json.gz" % (
            prefix, a.id, region, ymd_path(t), a.id, region, stamp_min(t), alnum(r, 16))
        write(os.path.join(out, key), gzip.compress(raw, mtime=0), made)
        count += 1
    return count


if __name__ == "__main__":
    sys.exit(main())
