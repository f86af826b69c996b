"""Shape and security invariants of infra/template.yaml (and samconfig.toml).

Run by scripts/validate-template.sh (`make validate`, `make test`) with the pinned
tools in .venv/infra. Offline: the SAM transform runs locally (samtranslator), and
intrinsic functions are evaluated here with made-up function URLs, for a default
deployment and for one with a custom domain.

Each check is a function returning a list of problems, so the same checks run
against the real template (must find none) and against deliberately broken copies
(must find some): a check that can never fail proves nothing.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest
from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
PACKAGE_SCRIPT = ROOT / "scripts" / "package.sh"

# Public functions, each behind its own function URL:
# function name (cargo package, binary, URL path) -> logical id in the template
FUNCTIONS = {
    "authorize": "AuthorizeFunction",
    "callback": "CallbackFunction",
    "token": "TokenFunction",
    "refresh": "RefreshFunction",
    "change-password": "ChangePasswordFunction",
    "discovery": "DiscoveryFunction",
    "introspect": "IntrospectFunction",
    "revoke": "RevokeFunction",
    "userinfo": "UserinfoFunction",
}
# Scheduled functions: no URL, invoked only by their EventBridge schedule.
SCHEDULED = {"maintenance": "MaintenanceFunction"}
SCHEDULES = {"maintenance": "rate(1 hour)"}
ALL_FUNCTIONS = {**FUNCTIONS, **SCHEDULED}
# Each function's MemorySize: at least Lambda's minimum, at most one full vCPU
# (1,769 MB; every function runs one request at a time on one thread, so more
# memory buys no more CPU it could use).
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 1769
URL_VARS = {
    "authorize": "TOLLGATE_URL_AUTHORIZE",
    "callback": "TOLLGATE_URL_CALLBACK",
    "token": "TOLLGATE_URL_TOKEN",
    "refresh": "TOLLGATE_URL_REFRESH",
    "change-password": "TOLLGATE_URL_CHANGE_PASSWORD",
    "discovery": "TOLLGATE_URL_DISCOVERY",
    "introspect": "TOLLGATE_URL_INTROSPECT",
    "revoke": "TOLLGATE_URL_REVOKE",
    "userinfo": "TOLLGATE_URL_USERINFO",
}
# Least privilege: exactly these table actions per function, from the code
# (shared/src/store/dynamo/*.rs, grepped per handler):
#   GetItem        tenant, client, user, refresh token, family, code, ... (every function)
#   BatchGetItem   an access token's record + family + user in one read
#                  (flows/inspect.rs access_token: introspect, userinfo)
#   UpdateItem     the sliding deadline (at most once a minute per token: introspect,
#                  userinfo), an access token's revoked mark and a family's (revoke)
#   Query          the tenant's clients' web origins for a CORS preflight
#                  (flows/cors.rs allowed_for_preflight: token, refresh, introspect,
#                  revoke, userinfo), on the base table, never the `list` index
#   maintenance    (admin_keys.rs maintain, change_keys -> store/dynamo/due.rs,
#                  directory.rs): Query of the `due` index only (the tenants due),
#                  GetItem (a tenant read strongly consistently, the sweep's progress),
#                  UpdateItem (a key change: JWKS, generation and due time; a due time;
#                  the sweep), Scan (the one-time sweep of tenants older than the index)
ITEM_RW = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
CORS = {"dynamodb:Query"}
TABLE_ACTIONS = {
    "authorize": {"dynamodb:GetItem"},
    "callback": ITEM_RW,
    "token": ITEM_RW | CORS,
    # refresh: the family read and rotated (one conditional UpdateItem), the
    # user read, a reused family revoked (UpdateItem); it never puts or deletes.
    "refresh": {"dynamodb:GetItem", "dynamodb:UpdateItem"} | CORS,
    "change-password": ITEM_RW,
    "discovery": {"dynamodb:GetItem"},
    "introspect": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"} | CORS,
    "revoke": {"dynamodb:GetItem", "dynamodb:UpdateItem"} | CORS,
    # userinfo also serves the user's upstream connections: GET lists them (the
    # `list` index, then BatchGetItem), DELETE removes one (DeleteItem).
    "userinfo": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} | CORS,
    # + the upkeep of upstream connections: consistent batch reads of the due ones.
    "maintenance": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:Query"},
}
# Which of the stack's secrets each function may read (and no other): a tenant's
# private signing keys, a client's secret hash, the stack's login key, the URL
# document, a tenant's vault keys (upstream tokens at rest: read by every function
# that opens or seals them — token, callback, userinfo, maintenance). introspect, revoke and userinfo check access tokens against the public
# JWKS on the tenant item, so they never need a private key.
# An upstream provider's client secret (`upstream_secret`) is read by the functions
# that call providers (userinfo: the revocation of DELETE …/connections).
ALL_SECRETS = {"tenant_key", "client_secret", "login_key", "urls_doc", "vault_key", "upstream_secret"}
SECRET_READS = {
    "authorize": ALL_SECRETS,
    "callback": ALL_SECRETS,
    "token": ALL_SECRETS,
    "refresh": ALL_SECRETS,
    "change-password": ALL_SECRETS,
    "discovery": {"urls_doc"},
    "introspect": {"client_secret", "urls_doc"},
    "revoke": {"client_secret", "urls_doc"},
    "userinfo": {"urls_doc", "vault_key", "upstream_secret"},
    "maintenance": {"tenant_key", "vault_key", "upstream_secret", "urls_doc"},
}
# Secrets Manager actions per function: the public functions only read; maintenance
# reads and rewrites each tenant's signing-key set (admin.rs load_key_set,
# store_key_set: GetSecretValue, PutSecretValue), nothing else.
SECRET_ACTIONS = {name: {"secretsmanager:GetSecretValue"} for name in FUNCTIONS} | {
    "maintenance": {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"},
}
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

REGION, ACCOUNT, STACK = "ca-central-1", "123456789012", "tollgate-canada"
DOMAIN = "ca.auth.example.com"
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
TABLE_NAME = f"{STACK}-Table-1A2B3C4D5E6F"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE_NAME}"
# Table actions granted on an index instead of the table: only the maintenance's
# Query of the `due` index.
INDEX_GRANTS = {
    "maintenance": {("dynamodb:Query", f"{TABLE_ARN}/index/due")},
    # GET …/connections: the user's connections through the keys-only `list` index.
    "userinfo": {("dynamodb:Query", f"{TABLE_ARN}/index/list")},
}
DEFAULT = {}
WITH_DOMAIN = {"CustomDomain": DOMAIN, "CertificateArn": CERT, "HostedZoneId": "Z0123456789ABCDEFGHIJ"}


def fake_url_host(logical_id: str) -> str:
    """A random-looking function URL host, distinct per function."""
    return f"{logical_id.lower()[:20]}x7q.lambda-url.{REGION}.on.aws"


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbC123"


# ---------------------------------------------------------------------------
# loading and transforming


def load_raw(path: Path = TEMPLATE) -> dict:
    tpl, matches = decode(str(path))
    assert not matches, f"{path} does not parse: {matches}"
    return json.loads(json.dumps(tpl))  # plain dicts, lists and strings


def sam_transform(raw: dict) -> dict:
    """What CloudFormation would run after `sam deploy` uploaded the zips."""
    t = copy.deepcopy(raw)
    for lid, r in t["Resources"].items():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = f"s3://artifacts/{lid}.zip"

    class NoManagedPolicies:  # only needed for policies named without an ARN: we use none
        def load(self):
            return {}

    return json.loads(json.dumps(transform(t, {}, NoManagedPolicies())))


@pytest.fixture(scope="module")
def raw() -> dict:
    return load_raw()


@pytest.fixture(scope="module")
def cfn(raw) -> dict:
    return sam_transform(raw)


# ---------------------------------------------------------------------------
# a small CloudFormation intrinsic evaluator (enough for this template)

NOVALUE = object()


class Evaluator:
    def __init__(self, tpl: dict, overrides: dict):
        self.tpl = tpl
        params = {}
        for name, p in tpl.get("Parameters", {}).items():
            params[name] = str(overrides.get(name, p.get("Default", "")))
        unknown = set(overrides) - set(params)
        assert not unknown, f"not template parameters: {unknown}"
        self.params = params
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._conds: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conds:
            self._conds[name] = bool(self.eval(self.tpl["Conditions"][name]))
        return self._conds[name]

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NOVALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        r = self.tpl["Resources"][name]
        if r["Type"] == "AWS::DynamoDB::Table":
            return TABLE_NAME
        if r["Type"] == "AWS::SecretsManager::Secret":
            return secret_arn(self.eval(r["Properties"]["Name"]))
        return f"{name}-physical-id"

    def getatt(self, name: str, attr: str):
        r = self.tpl["Resources"][name]
        if r["Type"] == "AWS::Lambda::Url" and attr == "FunctionUrl":
            return f"https://{fake_url_host(name.removesuffix('Url'))}/"
        if r["Type"] == "AWS::DynamoDB::Table" and attr == "Arn":
            return TABLE_ARN
        if r["Type"] == "AWS::CloudFront::Distribution" and attr == "DomainName":
            return "d1234abcdef8.cloudfront.net"
        if r["Type"] == "AWS::IAM::Role" and attr == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        if r["Type"] == "AWS::Lambda::Version" and attr == "Version":
            return "1"
        if r["Type"] == "AWS::Events::Rule" and attr == "Arn":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-{name}"
        raise AssertionError(f"evaluator: unexpected GetAtt {name}.{attr}")

    def sub(self, text: str, variables: dict) -> str:
        def one(m: re.Match) -> str:
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(self.eval(variables[key]))
            if "." in key and key.split(".")[0] in self.tpl["Resources"]:
                return str(self.getatt(*key.split(".", 1)))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def eval(self, node):
        if isinstance(node, list):
            return [v for v in (self.eval(x) for x in node) if v is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (k, v), = node.items()
            if k == "Ref":
                return self.ref(v)
            if k == "Fn::GetAtt":
                name, attr = v if isinstance(v, list) else v.split(".", 1)
                return self.getatt(name, attr)
            if k == "Fn::If":
                return self.eval(v[1] if self.condition(v[0]) else v[2])
            if k == "Fn::Equals":
                a, b = self.eval(v[0]), self.eval(v[1])
                return str(a) == str(b)
            if k == "Fn::Not":
                return not self.eval(v[0])
            if k == "Fn::And":
                return all(self.eval(x) for x in v)
            if k == "Fn::Or":
                return any(self.eval(x) for x in v)
            if k == "Condition":
                return self.condition(v)
            if k == "Fn::Sub":
                return self.sub(v, {}) if isinstance(v, str) else self.sub(v[0], v[1])
            if k == "Fn::Select":
                return self.eval(v[1])[int(self.eval(v[0]))]
            if k == "Fn::Split":
                return self.eval(v[1]).split(v[0])
            if k == "Fn::Join":
                return v[0].join(str(x) for x in self.eval(v[1]))
        return {k: e for k, e in ((k, self.eval(x)) for k, x in node.items()) if e is not NOVALUE}

    def resources(self) -> dict:
        """Resources that exist under these parameters, properties evaluated."""
        out = {}
        for lid, r in self.tpl["Resources"].items():
            if "Condition" in r and not self.condition(r["Condition"]):
                continue
            out[lid] = {**r, "Properties": self.eval(r.get("Properties", {}))}
        return out

    def outputs(self) -> dict:
        return {
            k: self.eval(o["Value"])
            for k, o in self.tpl.get("Outputs", {}).items()
            if "Condition" not in o or self.condition(o["Condition"])
        }


# ---------------------------------------------------------------------------
# checks: each returns a list of problems


def check_functions(raw: dict, cfn: dict) -> list[str]:
    p = []
    arch = raw["Parameters"].get("Architecture", {})
    if arch.get("Default") != "arm64":
        p.append(f"Architecture parameter must default to arm64, has {arch.get('Default')!r}")
    if sorted(arch.get("AllowedValues", [])) != ["arm64", "x86_64"]:
        p.append(f"Architecture must allow exactly arm64 and x86_64: {arch.get('AllowedValues')}")
    # Memory is chosen per function by measurement (`make bench`'s sweep), not
    # one stack-wide value: no parameter, nothing in Globals.
    if "MemorySize" in raw["Parameters"]:
        p.append("MemorySize must not be a parameter: each function sets its own")
    if "MemorySize" in raw.get("Globals", {}).get("Function", {}):
        p.append("MemorySize must not be in Globals: each function sets its own")
    if raw["Parameters"].get("LogRetentionDays", {}).get("Default") != 30:
        p.append("LogRetentionDays parameter must default to 30")
    serverless = {k for k, r in raw["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    if serverless != set(ALL_FUNCTIONS.values()):
        p.append(f"functions: expected {sorted(ALL_FUNCTIONS.values())}, found {sorted(serverless)}")
    for name, lid in ALL_FUNCTIONS.items():
        props = raw["Resources"].get(lid, {}).get("Properties", {})
        want = f"../target/lambda/{name}/bootstrap.zip"
        if props.get("CodeUri") != want:
            p.append(f"{lid}: CodeUri must be {want} (the zip `make package` builds)")
        if name in FUNCTIONS and props.get("FunctionUrlConfig", {}).get("AuthType") != "NONE":
            p.append(f"{lid}: needs FunctionUrlConfig AuthType NONE")
        if name in SCHEDULED and "FunctionUrlConfig" in props:
            p.append(f"{lid}: a scheduled function must have no function URL")
        mem = props.get("MemorySize")
        if not isinstance(mem, int) or not MIN_MEMORY_MB <= mem <= MAX_MEMORY_MB:
            p.append(f"{lid}: MemorySize must be set on the function, {MIN_MEMORY_MB}..{MAX_MEMORY_MB} MB (is {mem!r})")
    if p:  # the rest evaluates the template, which needs the above to hold
        return p
    for arch_value in ("arm64", "x86_64"):
        res = Evaluator(cfn, {"Architecture": arch_value}).resources()
        for name, lid in ALL_FUNCTIONS.items():
            f = res.get(lid, {}).get("Properties")
            if f is None:
                p.append(f"{lid}: no AWS::Lambda::Function after the SAM transform")
                continue
            if f.get("Runtime") != "provided.al2023":
                p.append(f"{lid}: Runtime must be provided.al2023, is {f.get('Runtime')}")
            if f.get("Handler") != "bootstrap":
                p.append(f"{lid}: Handler must be bootstrap")
            if f.get("Architectures") != [arch_value]:
                p.append(f"{lid}: Architectures {f.get('Architectures')} do not follow the parameter")
            lo, hi = (3, 30) if name in FUNCTIONS else (60, 900)
            if not lo <= int(f.get("Timeout", 3)) <= hi:
                p.append(f"{lid}: Timeout {f.get('Timeout')} outside {lo}..{hi} s")
            # The token vault's timing chain (shared/src/domain/upstream_refresh.rs):
            # upstream call 8 s < the token function's timeout 20 s < lease 30 s.
            if name == "token" and int(f.get("Timeout", 3)) != 20:
                p.append(f"{lid}: Timeout must be 20 s (upstream call 8 s < 20 s < lease 30 s), is {f.get('Timeout')}")
            want_mem = raw["Resources"][lid]["Properties"].get("MemorySize")
            if f.get("MemorySize") != want_mem:
                p.append(f"{lid}: MemorySize {f.get('MemorySize')} after the transform, {want_mem} in the template")
    return p


def check_function_urls(cfn: dict) -> list[str]:
    p = [f"{lid}: no function URL resource" for lid in FUNCTIONS.values() if f"{lid}Url" not in cfn["Resources"]]
    if p:
        return p
    res = Evaluator(cfn, DEFAULT).resources()
    for lid in FUNCTIONS.values():
        url = cfn["Resources"].get(f"{lid}Url")
        if not url or url["Type"] != "AWS::Lambda::Url":
            p.append(f"{lid}: no function URL resource")
            continue
        if url["Properties"].get("AuthType") != "NONE":
            p.append(f"{lid}Url: AuthType must be NONE")
        target = url["Properties"].get("TargetFunctionArn", {}).get("Ref", "")
        if target not in (lid, f"{lid}Aliaslive"):
            p.append(f"{lid}Url: targets {target!r}, not the function or its live alias")
        perms = {
            r["Properties"]["Action"]: r["Properties"]
            for r in res.values()
            if r["Type"] == "AWS::Lambda::Permission"
            and r["Properties"].get("FunctionName") in (f"{target}-physical-id", target)
        }
        if perms.get("lambda:InvokeFunctionUrl", {}).get("FunctionUrlAuthType") != "NONE":
            p.append(f"{lid}: missing public lambda:InvokeFunctionUrl permission")
        if perms.get("lambda:InvokeFunction", {}).get("InvokedViaFunctionUrl") is not True:
            p.append(f"{lid}: missing lambda:InvokeFunction permission limited to the function URL")
    return p


def check_logging(cfn: dict) -> list[str]:
    p = []
    ev = Evaluator(cfn, {"LogRetentionDays": 14})
    res = ev.resources()
    groups = set()
    for lid in ALL_FUNCTIONS.values():
        if lid not in cfn["Resources"]:
            p.append(f"{lid}: missing")
            continue
        lc = cfn["Resources"][lid]["Properties"].get("LoggingConfig", {})
        if lc.get("LogFormat") != "JSON":
            p.append(f"{lid}: LogFormat must be JSON")
        group = lc.get("LogGroup", {}).get("Ref")
        if not group or cfn["Resources"].get(group, {}).get("Type") != "AWS::Logs::LogGroup":
            p.append(f"{lid}: LoggingConfig.LogGroup must Ref a log group of this stack")
            continue
        groups.add(group)
        if str(res[group]["Properties"].get("RetentionInDays")) != "14":
            p.append(f"{group}: RetentionInDays does not follow LogRetentionDays")
    if len(groups) != len(ALL_FUNCTIONS) and not p:
        p.append("each function needs its own log group")
    return p


def check_concurrency(cfn: dict) -> list[str]:
    p = []
    off = Evaluator(cfn, DEFAULT).resources()
    on = Evaluator(cfn, {"ReservedConcurrency": 7, "ProvisionedConcurrency": 2}).resources()
    for lid in FUNCTIONS.values():
        if "ReservedConcurrentExecutions" in off[lid]["Properties"]:
            p.append(f"{lid}: reserved concurrency must be absent by default")
        if str(on[lid]["Properties"].get("ReservedConcurrentExecutions")) != "7":
            p.append(f"{lid}: ReservedConcurrency parameter not applied")
        alias = f"{lid}Aliaslive"
        if alias in off and "ProvisionedConcurrencyConfig" in off[alias]["Properties"]:
            p.append(f"{alias}: provisioned concurrency must be absent by default")
        pc = on.get(alias, {}).get("Properties", {}).get("ProvisionedConcurrencyConfig", {})
        if str(pc.get("ProvisionedConcurrentExecutions")) != "2":
            p.append(f"{lid}: ProvisionedConcurrency parameter not applied to the live alias")
    # A scheduled function serves no request: never provisioned concurrency; with
    # reserved concurrency on, exactly 1 (its runs never overlap); else none.
    for lid in SCHEDULED.values():
        if lid not in off:
            p.append(f"{lid}: missing")
            continue
        if "ReservedConcurrentExecutions" in off[lid]["Properties"]:
            p.append(f"{lid}: reserved concurrency must be absent by default")
        if str(on[lid]["Properties"].get("ReservedConcurrentExecutions")) != "1":
            p.append(f"{lid}: with ReservedConcurrency set, must reserve exactly 1")
        for res in (off, on):
            for r in res.values():
                if (r["Type"] == "AWS::Lambda::Alias" and r["Properties"].get("FunctionName") == f"{lid}-physical-id"
                        and "ProvisionedConcurrencyConfig" in r["Properties"]):
                    p.append(f"{lid}: a scheduled function must never have provisioned concurrency")
    return p


def check_table(raw: dict) -> list[str]:
    p = []
    tables = {k: r for k, r in raw["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    if len(tables) != 1:
        return [f"expected exactly one DynamoDB table, found {sorted(tables)}"]
    (lid, t), = tables.items()
    props = t["Properties"]
    if t.get("DeletionPolicy") != "Retain" or t.get("UpdateReplacePolicy") != "Retain":
        p.append(f"{lid}: DeletionPolicy and UpdateReplacePolicy must be Retain")
    if props.get("DeletionProtectionEnabled") is not True:
        p.append(f"{lid}: DeletionProtectionEnabled must be true")
    if props.get("BillingMode") != "PAY_PER_REQUEST":
        p.append(f"{lid}: must be on-demand (PAY_PER_REQUEST)")
    keys = {k["AttributeName"]: k["KeyType"] for k in props.get("KeySchema", [])}
    if keys != {"pk": "HASH", "sk": "RANGE"}:
        p.append(f"{lid}: key schema must be pk HASH, sk RANGE: {keys}")
    attrs = {a["AttributeName"]: a["AttributeType"] for a in props.get("AttributeDefinitions", [])}
    if attrs != {"pk": "S", "sk": "S", "lpk": "S", "lsk": "S", "dpk": "S", "due": "N"}:
        p.append(f"{lid}: attribute definitions must be pk, sk, lpk, lsk, dpk (S) and due (N): {attrs}")
    gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
    listing = gsis.get("list", {})
    gkeys = {k["AttributeName"]: k["KeyType"] for k in listing.get("KeySchema", [])}
    if gkeys != {"lpk": "HASH", "lsk": "RANGE"} or listing.get("Projection") != {"ProjectionType": "KEYS_ONLY"}:
        p.append(f"{lid}: needs the keys-only `list` index on lpk/lsk (the CLI's user listings): {gsis}")
    due = gsis.get("due", {})
    dkeys = {k["AttributeName"]: k["KeyType"] for k in due.get("KeySchema", [])}
    if dkeys != {"dpk": "HASH", "due": "RANGE"} or due.get("Projection") != {"ProjectionType": "KEYS_ONLY"}:
        p.append(f"{lid}: needs the keys-only `due` index on dpk/due (the maintenance's tenants due): {gsis}")
    if set(gsis) != {"list", "due"}:
        p.append(f"{lid}: indexes must be exactly `list` and `due`: {sorted(gsis)}")
    ttl = props.get("TimeToLiveSpecification", {})
    if ttl != {"AttributeName": "ttl", "Enabled": True}:
        p.append(f"{lid}: TTL must be enabled on `ttl`: {ttl}")
    pitr = props.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled") is not True:
        p.append(f"{lid}: point-in-time recovery must be on")
    return p


def check_login_key(cfn: dict) -> list[str]:
    p = []
    for overrides, prefix in ((DEFAULT, STACK), ({"SecretPrefix": "tg/ca"}, "tg/ca")):
        res = Evaluator(cfn, overrides).resources()
        secrets = {r["Properties"]["Name"]: r for r in res.values() if r["Type"] == "AWS::SecretsManager::Secret"}
        key = secrets.get(f"{prefix}/stack/login-tx-key")
        if key is None:
            p.append(f"no secret {prefix}/stack/login-tx-key (have {sorted(secrets)})")
            continue
        g = key["Properties"].get("GenerateSecretString", {})
        if int(g.get("PasswordLength", 32)) < 48 or g.get("ExcludePunctuation") is not True:
            p.append("login key: GenerateSecretString needs PasswordLength >= 48 and ExcludePunctuation")
        if "SecretStringTemplate" in g or "SecretString" in key["Properties"]:
            p.append("login key must be a generated plain string")
    return p


def iam_statements(cfn: dict):
    """(resource logical id, statement) for every identity policy in the template."""
    for lid, r in cfn["Resources"].items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::IAM::Role":
            for pol in props.get("Policies", []):
                for st in pol["PolicyDocument"]["Statement"]:
                    yield lid, st
        elif r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            for st in props["PolicyDocument"]["Statement"]:
                yield lid, st


def as_list(x):
    return x if isinstance(x, list) else [x]


def known_iam_actions() -> dict[str, set[str]]:
    import cfnlint

    data = json.loads((Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text())
    return {svc: {a.lower() for a in d.get("Actions", {})} for svc, d in data.items()}


def check_iam(cfn: dict) -> list[str]:
    p = []
    catalog = known_iam_actions()
    # 1. nowhere: a data action on "*" or an unknown action
    for lid, st in iam_statements(cfn):
        actions = as_list(st.get("Action", []))
        resources = as_list(st.get("Resource", []))
        for a in actions:
            svc, _, name = a.partition(":")
            if "*" in a and svc in ("dynamodb", "secretsmanager"):
                p.append(f"{lid}: wildcard action {a}")
            elif svc in catalog and name.lower() not in catalog[svc] and "*" not in a:
                p.append(f"{lid}: {a} is not an IAM action")
        data = [a for a in actions if a.split(":")[0] in ("dynamodb", "secretsmanager", "kms", "ssm")]
        if data and any(r == "*" for r in resources):
            p.append(f"{lid}: {data} on Resource '*'")
    # 2. per function: exactly its table actions on the table ARN, secret reads on the prefix
    for overrides, prefix in ((DEFAULT, STACK), ({"SecretPrefix": "tg/ca"}, "tg/ca")):
        ev = Evaluator(cfn, overrides)
        res = ev.resources()
        known = {
            "tenant_key": secret_arn(f"{prefix}/acme/signing-keys"),
            "client_secret": secret_arn(f"{prefix}/acme/clients/ABCDEFGHIJKLMNOPQRST"),
            "login_key": secret_arn(f"{prefix}/stack/login-tx-key"),
            "urls_doc": secret_arn(f"{prefix}/stack/urls"),
            "vault_key": secret_arn(f"{prefix}/acme/vault-keys"),
            "upstream_secret": secret_arn(f"{prefix}/acme/upstream/crm"),
        }
        other_stack = [
            secret_arn(f"{prefix}-other/acme/signing-keys"),
            secret_arn(f"{prefix}-other/acme/clients/ABCDEFGHIJKLMNOPQRST"),
            secret_arn(f"{prefix}-other/stack/urls"),
            secret_arn(f"{prefix}-other/acme/vault-keys"),
            secret_arn(f"{prefix}-other/acme/upstream/crm"),
        ]
        for name, lid in ALL_FUNCTIONS.items():
            if lid not in cfn["Resources"]:
                p.append(f"{lid}: missing")
                continue
            role_ref = cfn["Resources"][lid]["Properties"]["Role"]
            role = role_ref.get("Fn::GetAtt", [None])[0]
            if role not in res or res[role]["Type"] != "AWS::IAM::Role":
                p.append(f"{lid}: its role must be created by this template")
                continue
            managed = res[role]["Properties"].get("ManagedPolicyArns", [])
            if managed != [BASIC_EXECUTION]:
                p.append(f"{role}: managed policies must be only AWSLambdaBasicExecutionRole: {managed}")
            table_actions, secret_actions, secret_resources = set(), set(), []
            for pol in res[role]["Properties"].get("Policies", []):
                for st in pol["PolicyDocument"]["Statement"]:
                    if st.get("Effect") != "Allow":
                        continue
                    acts = set(as_list(st["Action"]))
                    rs = as_list(st["Resource"])
                    for a in acts:
                        svc = a.split(":")[0]
                        if svc == "dynamodb":
                            table_actions.add(a)
                            if all((a, r) in INDEX_GRANTS.get(name, set()) for r in rs):
                                continue
                            if rs != [TABLE_ARN]:
                                p.append(f"{role}: {a} must be on the table ARN only, is on {rs}")
                        elif svc == "secretsmanager":
                            secret_actions.add(a)
                            secret_resources += rs
                        elif svc != "logs":
                            p.append(f"{role}: unexpected action {a}")
            if table_actions != TABLE_ACTIONS[name]:
                p.append(f"{lid}: table actions {sorted(table_actions)} != {sorted(TABLE_ACTIONS[name])}")
            if secret_actions != SECRET_ACTIONS[name]:
                p.append(f"{lid}: secret actions {sorted(secret_actions)} != {sorted(SECRET_ACTIONS[name])}")

            def allowed(arn):
                return any(fnmatch.fnmatchcase(arn, r) for r in secret_resources)

            for r in secret_resources:
                if not r.startswith(f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}/"):
                    p.append(f"{role}: secret resource {r} is not under the stack prefix {prefix}/")
            if any(allowed(arn) for arn in other_stack):
                p.append(f"{role}: can read another prefix's secrets")
            for kind, arn in known.items():
                if kind in SECRET_READS[name] and not allowed(arn):
                    p.append(f"{lid}: cannot read {arn}")
                elif kind not in SECRET_READS[name] and allowed(arn):
                    p.append(f"{lid}: must not read {arn}")
    return p


# What tollgate-admin calls, from the code (shared/src/admin*.rs ->
# shared/src/store/dynamo/*.rs): `init` creates the table and its TTL; records
# are read and written item by item (transactions are authorised per item);
# `client list` and `issuer list` query the tenant's partition, `user list`
# queries the `list` index and batch-reads the users it names, `tenant list`
# scans the tenant items, `tenant delete` scans the tenant's hot items and
# batch-deletes them.
ADMIN_TABLE_ACTIONS = {(a, TABLE_ARN) for a in [
    "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
    "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
]} | {("dynamodb:Query", f"{TABLE_ARN}/index/list")}


def check_admin_policy(cfn: dict) -> list[str]:
    """The operators' policy: this table and this prefix only."""
    p = []
    res = Evaluator(cfn, DEFAULT).resources()
    pols = [r["Properties"]["PolicyDocument"] for r in res.values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    if len(pols) != 1:
        return [f"expected one managed policy for tollgate-admin, found {len(pols)}"]
    granted = set()
    for st in pols[0]["Statement"]:
        for a in as_list(st["Action"]):
            rs = as_list(st["Resource"])
            if a.startswith("dynamodb:"):
                granted |= {(a, r) for r in rs}
            if a.startswith("dynamodb:") and rs != [TABLE_ARN] and not (
                a == "dynamodb:Query" and rs == [f"{TABLE_ARN}/index/list"]
            ):
                p.append(f"AdminPolicy: {a} must be on the table only: {rs}")
            elif a.startswith("secretsmanager:") and rs != [secret_arn(f"{STACK}/*").removesuffix("-AbC123")]:
                p.append(f"AdminPolicy: {a} must be on the stack prefix only: {rs}")
            elif not a.startswith(("dynamodb:", "secretsmanager:")):
                p.append(f"AdminPolicy: unexpected {a}")
    missing = ADMIN_TABLE_ACTIONS - granted
    extra = {a for a, _ in granted} - {a for a, _ in ADMIN_TABLE_ACTIONS}
    if missing:
        p.append(f"AdminPolicy: tollgate-admin needs {sorted(missing)}")
    if extra:
        p.append(f"AdminPolicy: tollgate-admin never uses {sorted(extra)}")
    if "AdminPolicyArn" not in Evaluator(cfn, DEFAULT).outputs():
        p.append("the admin policy must be an output")
    return p


def refs_of(node) -> set[str]:
    """Logical ids a node refers to (Ref, GetAtt, Sub, DependsOn)."""
    out = set()
    if isinstance(node, list):
        for x in node:
            out |= refs_of(x)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::GetAtt":
                out.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text, variables = (v, {}) if isinstance(v, str) else (v[0], v[1])
                for m in re.findall(r"\$\{([^!][^}]*)\}", text):
                    if m not in variables:
                        out.add(m.split(".")[0])
                out |= refs_of(variables)
            else:
                out |= refs_of(v)
    return out


def dependency_graph(cfn: dict) -> dict[str, set[str]]:
    res = cfn["Resources"]
    g = {}
    for lid, r in res.items():
        deps = refs_of(r.get("Properties", {})) | set(as_list(r.get("DependsOn", [])))
        g[lid] = {d for d in deps if d in res and d != lid}
    return g


def check_no_cycles(cfn: dict) -> list[str]:
    known = set(cfn["Resources"]) | set(cfn.get("Parameters", {}))
    dangling = sorted(
        f"{lid} -> {d}"
        for lid, r in cfn["Resources"].items()
        for d in refs_of(r.get("Properties", {})) | set(as_list(r.get("DependsOn", [])))
        if d not in known and not d.startswith("AWS::")
    )
    if dangling:
        return [f"references to nothing: {dangling}"]
    g = dependency_graph(cfn)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(g[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return ["dependency cycle: " + " -> ".join(c)]
    # No function (or its role) may wait for a function URL or what is built from them.
    p = []
    url_bound = {k for k, r in cfn["Resources"].items() if r["Type"] in ("AWS::Lambda::Url", "AWS::CloudFront::Distribution")}
    url_bound |= {"UrlsDocument"}

    def closure(n, seen):
        for d in g.get(n, ()):
            if d not in seen:
                seen.add(d)
                closure(d, seen)
        return seen

    for lid in ALL_FUNCTIONS.values():
        bad = closure(lid, set()) & url_bound
        if bad:
            p.append(f"{lid} depends on {sorted(bad)}: functions must learn URLs at run time or from parameters")
    return p


def function_env(res: dict, lid: str) -> dict:
    return res[lid]["Properties"].get("Environment", {}).get("Variables", {})


def check_urls_default(cfn: dict) -> list[str]:
    """Without a custom domain: the URL document is right and every function can find it."""
    p = []
    for overrides, prefix in ((DEFAULT, STACK), ({"SecretPrefix": "tg/ca"}, "tg/ca")):
        ev = Evaluator(cfn, overrides)
        res = ev.resources()
        docs = [r for r in res.values() if r["Type"] == "AWS::SecretsManager::Secret" and r["Properties"]["Name"] == f"{prefix}/stack/urls"]
        if len(docs) != 1:
            p.append(f"no URL document secret {prefix}/stack/urls")
            continue
        try:
            doc = json.loads(docs[0]["Properties"].get("SecretString", ""))
        except json.JSONDecodeError as e:
            p.append(f"URL document is not JSON: {e}")
            continue
        want = {URL_VARS[n]: f"https://{fake_url_host(lid)}" for n, lid in FUNCTIONS.items()}
        want["TOLLGATE_ISSUER_BASE"] = want["TOLLGATE_URL_DISCOVERY"]
        if doc != want:
            p.append(f"URL document {doc} != {want}")
        for lid in FUNCTIONS.values():
            env = function_env(res, lid)
            if env.get("TOLLGATE_URLS_SECRET") != f"{prefix}/stack/urls":
                p.append(f"{lid}: TOLLGATE_URLS_SECRET must name the URL document, is {env.get('TOLLGATE_URLS_SECRET')!r}")
            if env.get("TOLLGATE_SECRET_PREFIX") != prefix:
                p.append(f"{lid}: TOLLGATE_SECRET_PREFIX must be {prefix}")
            if env.get("TOLLGATE_TABLE") != TABLE_NAME:
                p.append(f"{lid}: TOLLGATE_TABLE must be the table's name")
            for k, v in env.items():
                if "lambda-url" in str(v) or "127.0.0.1" in str(v):
                    p.append(f"{lid}: {k}={v}: no URL may be baked into a function's environment")
            if "TOLLGATE_FUNCTION_URL_TEMPLATE" in env or "TOLLGATE_ISSUER_BASE" in env:
                p.append(f"{lid}: must not set URL variables without a custom domain")
    return p


def cloudfront_route(dist: dict, path: str) -> str:
    """CloudFront's choice: the first behavior whose pattern matches (case-sensitive;
    `*` any run of characters, `?` exactly one), else the default behavior."""
    for b in dist.get("CacheBehaviors", []):
        rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in b["PathPattern"])
        if re.fullmatch(rx, path):
            return b["TargetOriginId"]
    return dist["DefaultCacheBehavior"]["TargetOriginId"]


ROUTES = {
    "/oauth2/acme/authorize": "authorize",
    "/OAuth2/acme/Authorize": "authorize",
    "/oauth2/acme/callback": "callback",
    "/OAuth2/acme/Callback": "callback",
    # The upstream providers' redirect back (the connect flow) reaches the host
    # that set the browser-binding cookie.
    "/oauth2/acme/upstream/maximizer/callback": "callback",
    "/OAuth2/acme/Upstream/maximizer/Callback": "callback",
    "/oauth2/acme/token": "token",
    "/OAuth2/acme/Token": "token",
    "/oauth2/acme/token/changepassword": "change-password",
    "/OAuth2/acme/Token/ChangePassword": "change-password",
    "/oauth2/acme/refresh": "refresh",
    "/oauth2/acme/.well-known/openid-configuration": "discovery",
    "/.well-known/oauth-authorization-server/oauth2/acme": "discovery",
    "/oauth2/acme/jwks.json": "discovery",
    "/oauth2/acme/introspect": "introspect",
    "/OAuth2/acme/Introspect": "introspect",
    "/oauth2/acme/revoke": "revoke",
    "/OAuth2/acme/Revoke": "revoke",
    "/oauth2/acme/userinfo": "userinfo",
    "/OAuth2/acme/UserInfo": "userinfo",
    "/OAuth2/acme/Userinfo": "userinfo",
    "/oauth2/acme/connections": "userinfo",
    "/OAuth2/acme/Connections": "userinfo",
    "/oauth2/acme/connections/crm": "userinfo",
    # a tenant named like an endpoint still routes by the last segment
    "/oauth2/token/authorize": "authorize",
    "/oauth2/authorize/jwks.json": "discovery",
    "/oauth2/introspect/token": "token",
    "/oauth2/userinfo/revoke": "revoke",
    "/oauth2/revoke/.well-known/openid-configuration": "discovery",
}


def check_custom_domain(cfn: dict) -> list[str]:
    p = []
    if any(r["Type"] == "AWS::CloudFront::Distribution" for r in Evaluator(cfn, DEFAULT).resources().values()):
        p.append("no CloudFront distribution may exist without CustomDomain")
    ev = Evaluator(cfn, WITH_DOMAIN)
    res = ev.resources()
    base = f"https://{DOMAIN}"
    for lid in FUNCTIONS.values():
        env = function_env(res, lid)
        if env.get("TOLLGATE_ISSUER_BASE") != base or env.get("TOLLGATE_FUNCTION_URL_TEMPLATE") != base:
            p.append(f"{lid}: with CustomDomain, TOLLGATE_ISSUER_BASE and TOLLGATE_FUNCTION_URL_TEMPLATE must be {base}")
        if "TOLLGATE_URLS_SECRET" in env:
            p.append(f"{lid}: with CustomDomain, no run-time URL lookup is needed")
    dists = [r["Properties"]["DistributionConfig"] for r in res.values() if r["Type"] == "AWS::CloudFront::Distribution"]
    if len(dists) != 1:
        return p + ["CustomDomain must create one CloudFront distribution"]
    d = dists[0]
    if d.get("Aliases") != [DOMAIN]:
        p.append("distribution must answer for CustomDomain")
    if d.get("ViewerCertificate", {}).get("AcmCertificateArn") != CERT:
        p.append("distribution must use CertificateArn")
    origins = {o["Id"]: o["DomainName"] for o in d.get("Origins", [])}
    for name, lid in FUNCTIONS.items():
        if origins.get(name) != fake_url_host(lid):
            p.append(f"origin {name} must be {lid}'s URL host, is {origins.get(name)}")
    for path, want in ROUTES.items():
        got = cloudfront_route(d, path)
        if got != want:
            p.append(f"CloudFront routes {path} to {got}, not {want}")
    for b in [d["DefaultCacheBehavior"], *d.get("CacheBehaviors", [])]:
        if b.get("CachePolicyId") != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad":
            p.append(f"{b.get('PathPattern', 'default')}: must not cache (Managed-CachingDisabled)")
        if b.get("OriginRequestPolicyId") != "b689b0a8-53d0-40ab-baf2-68738e2966ac":
            p.append(f"{b.get('PathPattern', 'default')}: must forward all but Host (Managed-AllViewerExceptHostHeader)")
        if b.get("ViewerProtocolPolicy") not in ("https-only", "redirect-to-https"):
            p.append(f"{b.get('PathPattern', 'default')}: must be HTTPS")
        if b["TargetOriginId"] != "discovery" and "POST" not in b.get("AllowedMethods", []):
            p.append(f"{b['PathPattern']}: must allow POST")
    records = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Route53::RecordSet"]
    if sorted(r["Type"] for r in records) != ["A", "AAAA"]:
        p.append("with HostedZoneId, A and AAAA alias records must be created")
    no_zone = Evaluator(cfn, {**WITH_DOMAIN, "HostedZoneId": ""}).resources()
    if any(r["Type"] == "AWS::Route53::RecordSet" for r in no_zone.values()):
        p.append("without HostedZoneId, no DNS record may be created")
    doc = next(
        (json.loads(r["Properties"]["SecretString"]) for r in res.values()
         if r["Type"] == "AWS::SecretsManager::Secret" and r["Properties"]["Name"].endswith("/stack/urls")),
        {},
    )
    if set(doc.values()) != {base} or set(doc) != {*URL_VARS.values(), "TOLLGATE_ISSUER_BASE"}:
        p.append(f"with CustomDomain the URL document must list {base} for every function: {doc}")
    rule = cfn.get("Rules", {}).get("CustomDomainNeedsCertificate")
    if not rule:
        p.append("a Rule must reject CustomDomain without CertificateArn")
    return p


def check_outputs(cfn: dict) -> list[str]:
    p = []
    out = Evaluator(cfn, DEFAULT).outputs()
    disc = f"https://{fake_url_host('DiscoveryFunction')}"
    want = {
        "AuthorizeUrl", "CallbackUrl", "TokenUrl", "RefreshUrl", "ChangePasswordUrl", "DiscoveryUrl",
        "IntrospectUrl", "RevokeUrl", "UserinfoUrl", "DiscoveryUrlPattern", "IssuerBase", "TableName", "SecretPrefix", "AdminEnvironment", "UrlsDocumentSecret",
        "AdminPolicyArn", "MaintenanceFunctionName",
    }
    missing = want - set(out)
    if missing:
        p.append(f"missing outputs: {sorted(missing)}")
    for name, lid in FUNCTIONS.items():
        key = lid.removesuffix("Function") + "Url"
        if out.get(key) != f"https://{fake_url_host(lid)}/":
            p.append(f"output {key} must be {lid}'s function URL")
    if out.get("DiscoveryUrlPattern") != f"{disc}/oauth2/{{tenant}}/.well-known/openid-configuration":
        p.append(f"DiscoveryUrlPattern is {out.get('DiscoveryUrlPattern')}")
    if out.get("IssuerBase") != disc:
        p.append("IssuerBase must be the discovery function's URL without a trailing slash")
    if out.get("MaintenanceFunctionName") != "MaintenanceFunction-physical-id":
        p.append("MaintenanceFunctionName must name the maintenance function (to run it by hand)")
    if out.get("TableName") != TABLE_NAME or out.get("SecretPrefix") != STACK:
        p.append("TableName / SecretPrefix outputs are wrong")
    env = dict(w.split("=", 1) for w in str(out.get("AdminEnvironment", "")).split())
    want_env = {
        "AWS_REGION": REGION, "TOLLGATE_TABLE": TABLE_NAME, "TOLLGATE_SECRET_PREFIX": STACK,
        "TOLLGATE_ISSUER_BASE": disc,
        **{URL_VARS[n]: f"https://{fake_url_host(lid)}" for n, lid in FUNCTIONS.items()},
    }
    if env != want_env:
        p.append(f"AdminEnvironment {env} != {want_env}")
    out_d = Evaluator(cfn, WITH_DOMAIN).outputs()
    if out_d.get("DiscoveryUrlPattern") != f"https://{DOMAIN}/oauth2/{{tenant}}/.well-known/openid-configuration":
        p.append("with CustomDomain, DiscoveryUrlPattern must use the domain")
    if "CustomDomainTarget" not in out_d:
        p.append("with CustomDomain, the CloudFront host must be an output")
    env_d = dict(w.split("=", 1) for w in str(out_d.get("AdminEnvironment", "")).split())
    if env_d.get("TOLLGATE_ISSUER_BASE") != f"https://{DOMAIN}" or env_d.get("TOLLGATE_FUNCTION_URL_TEMPLATE") != f"https://{DOMAIN}":
        p.append(f"with CustomDomain, AdminEnvironment must point at the domain: {env_d}")
    return p



def role_policy_pairs(res: dict, cfn: dict, lid: str) -> set[tuple[str, str]]:
    """(action, resource) pairs a function's own role allows (inline policies)."""
    role = cfn["Resources"][lid]["Properties"]["Role"].get("Fn::GetAtt", [None])[0]
    pairs = set()
    for pol in res.get(role, {}).get("Properties", {}).get("Policies", []):
        for st in pol["PolicyDocument"]["Statement"]:
            if st.get("Effect") == "Allow":
                pairs |= {(a, r) for a in as_list(st["Action"]) for r in as_list(st["Resource"])}
    return pairs


def check_maintenance(cfn: dict) -> list[str]:
    """The scheduled function: nothing public can invoke it, only its schedule does;
    exactly the environment and the policy it needs."""
    p = []
    for name, lid in SCHEDULED.items():
        if lid not in cfn["Resources"]:
            p.append(f"{lid}: missing")
            continue
        for overrides, prefix in ((DEFAULT, STACK), ({"SecretPrefix": "tg/ca"}, "tg/ca"), (WITH_DOMAIN, STACK)):
            res = Evaluator(cfn, overrides).resources()
            me = {f"{lid}-physical-id", f"{lid}Aliaslive-physical-id"}
            if any(r["Type"] == "AWS::Lambda::Url" and r["Properties"].get("TargetFunctionArn") in me for r in res.values()):
                p.append(f"{lid}: must have no function URL")
            rules = {
                k: r["Properties"] for k, r in res.items()
                if r["Type"] == "AWS::Events::Rule" and any(t.get("Arn") in me for t in r["Properties"].get("Targets", []))
            }
            if len(rules) != 1:
                p.append(f"{lid}: needs exactly one EventBridge rule invoking it, has {sorted(rules)}")
                continue
            (rule_id, rule), = rules.items()
            if rule.get("ScheduleExpression") != SCHEDULES[name] or "EventPattern" in rule:
                p.append(f"{lid}: schedule must be {SCHEDULES[name]}, is {rule.get('ScheduleExpression')}")
            if rule.get("State", "ENABLED") != "ENABLED":
                p.append(f"{lid}: its schedule must be enabled")
            rule_arn = Evaluator(cfn, overrides).getatt(rule_id, "Arn")
            perms = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Lambda::Permission" and r["Properties"].get("FunctionName") in me]
            want_perm = {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com", "SourceArn": rule_arn}
            if [{k: pr.get(k) for k in want_perm} for pr in perms] != [want_perm] or any(
                k not in (*want_perm, "FunctionName") for pr in perms for k in pr
            ):
                p.append(f"{lid}: the only invoke permission must be EventBridge's, from its rule: {perms}")
            env = {k: v for k, v in function_env(res, lid).items() if k.startswith("TOLLGATE_")}
            # The table, the secret prefix and the stack's URLs (a refresh resends the
            # callback URL as redirect_uri where the provider wants it).
            urls = (
                {"TOLLGATE_ISSUER_BASE", "TOLLGATE_FUNCTION_URL_TEMPLATE"} if overrides is WITH_DOMAIN
                else {"TOLLGATE_URLS_SECRET"}
            )
            if (
                env.get("TOLLGATE_TABLE") != TABLE_NAME
                or env.get("TOLLGATE_SECRET_PREFIX") != prefix
                or set(env) != {"TOLLGATE_TABLE", "TOLLGATE_SECRET_PREFIX", *urls}
                or ("TOLLGATE_URLS_SECRET" in env and env["TOLLGATE_URLS_SECRET"] != f"{prefix}/stack/urls")
            ):
                p.append(f"{lid}: environment must be exactly the table, the secret prefix and the URLs, is {env}")
            keys = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}/*/signing-keys-??????"
            secrets = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{prefix}"
            want = {
                ("dynamodb:BatchGetItem", TABLE_ARN),
                ("secretsmanager:GetSecretValue", f"{secrets}/*/upstream/*"),
                ("secretsmanager:GetSecretValue", f"{secrets}/stack/urls-??????"),
                ("dynamodb:GetItem", TABLE_ARN),
                ("dynamodb:Scan", TABLE_ARN),
                ("dynamodb:UpdateItem", TABLE_ARN),
                ("dynamodb:Query", f"{TABLE_ARN}/index/due"),
                ("secretsmanager:GetSecretValue", keys),
                ("secretsmanager:PutSecretValue", keys),
                # The vault keys, read only (background refresh of upstream connections).
                ("secretsmanager:GetSecretValue", keys.replace("/signing-keys-", "/vault-keys-")),
            }
            got = role_policy_pairs(res, cfn, lid)
            if got != want:
                p.append(f"{lid}: policy must be exactly {sorted(want)}; extra {sorted(got - want)}, missing {sorted(want - got)}")
    return p


# ---- alarms ----------------------------------------------------------------
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:tollgate-alarms"


def breaches(a: dict, value: float) -> bool:
    t = float(a["Threshold"])
    return {
        "GreaterThanOrEqualToThreshold": value >= t,
        "GreaterThanThreshold": value > t,
        "LessThanThreshold": value < t,
        "LessThanOrEqualToThreshold": value <= t,
    }[a["ComparisonOperator"]]


def metric_math(expr: str, values: dict):
    """Evaluates the small part of CloudWatch metric math the alarms use (one data
    point per metric; None = no data point). Both branches of IF are evaluated, so
    only call it with values that keep every division defined."""
    if not re.fullmatch(r"[A-Za-z0-9_ ()+\-*/.,<>=\[\]]+", expr):
        raise AssertionError(f"unexpected characters in {expr!r}")

    def fill(x, v):
        return v if x is None else x

    def if_(c, t, f):
        return t if c else f

    def sum_(xs):
        xs = [x for x in xs if x is not None]
        return sum(xs) if xs else None

    py = re.sub(r"\bIF\(", "if_(", re.sub(r"\bFILL\(", "fill(", re.sub(r"\bSUM\(", "sum_(", expr)))
    try:
        return eval(py, {"__builtins__": {}, "fill": fill, "if_": if_, "sum_": sum_}, dict(values))  # noqa: S307
    except ZeroDivisionError:  # CloudWatch: no data point
        return None


def stats_of(a: dict) -> dict[str, tuple]:
    """id -> (namespace, metric, dimensions, stat) of an alarm's MetricStat queries."""
    out = {}
    for q in a.get("Metrics", []):
        if "MetricStat" in q:
            m = q["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
            out[q["Id"]] = (m.get("Namespace"), m.get("MetricName"), dims, q["MetricStat"].get("Stat"))
    return out


def returned(a: dict) -> dict:
    return next((q for q in a.get("Metrics", []) if q.get("ReturnData", True)), {})


def is_5xx_rate_alarm(a: dict, fn: str) -> bool:
    stats = stats_of(a)
    ids = {metric: i for i, (ns, metric, dims, stat) in stats.items()
           if ns == "AWS/Lambda" and dims == {"FunctionName": fn} and stat == "Sum"}
    errors, requests = ids.get("Url5xxCount"), ids.get("UrlRequestCount")
    expr = returned(a).get("Expression")
    if not (errors and requests and expr):
        return False

    def at(e, r):
        v = metric_math(expr, {errors: e, requests: r})
        return v is not None and breaches(a, v)

    # an outage (half the requests fail) alarms; a healthy function, or one 5xx among
    # ten thousand requests, does not
    return at(50, 100) and at(100, 100) and not at(0, 100) and not at(1, 10_000)


INSIGHTS = re.compile(r'\s*SELECT\s+SUM\((\w+)\)\s+FROM\s+SCHEMA\(\s*"([^"]+)"\s*,\s*(\w+)\s*\)\s*', re.I)


def counts_across_tenants(a: dict, metric: str) -> bool:
    """A Metrics Insights SUM of a Tollgate EMF metric over the `tenant` schema: one
    series for every tenant, present and future."""
    m = INSIGHTS.fullmatch(returned(a).get("Expression", ""))
    return bool(m) and m.groups() == (metric, "Tollgate", "tenant") and len(a.get("Metrics", [])) == 1


def check_alarms(cfn: dict) -> list[str]:
    p = []
    res = Evaluator(cfn, DEFAULT).resources()
    alarms = {k: r["Properties"] for k, r in res.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    with_topic = {k: r["Properties"] for k, r in Evaluator(cfn, {"AlarmTopicArn": TOPIC}).resources().items()
                  if r["Type"] == "AWS::CloudWatch::Alarm"}
    if "AlarmTopicArn" not in cfn.get("Parameters", {}) or cfn["Parameters"]["AlarmTopicArn"].get("Default") != "":
        p.append("an optional AlarmTopicArn parameter (empty by default) must exist")
    functions = {f"{lid}-physical-id" for lid in ALL_FUNCTIONS.values()}
    for k, a in alarms.items():
        qs = a.get("Metrics", [])
        if qs:
            ids = [q["Id"] for q in qs]
            if len(set(ids)) != len(ids) or not all(re.fullmatch(r"[a-z][A-Za-z0-9_]*", i) for i in ids):
                p.append(f"{k}: metric query ids must be unique and start with a lower-case letter: {ids}")
            if sum(1 for q in qs if q.get("ReturnData", True)) != 1:
                p.append(f"{k}: exactly one query may return data")
            if sum(1 for q in qs if "MetricStat" in q) > 10:
                p.append(f"{k}: an alarm's metric math may use at most 10 metrics")
            for q in qs:
                e = q.get("Expression", "")
                if re.search(r"\bSEARCH\s*\(", e, re.I):
                    p.append(f"{k}: CloudWatch refuses alarms on SEARCH() expressions")
                if INSIGHTS.fullmatch(e):
                    period = int(q.get("Period", 0))
                    if period % 60 or period * int(a["EvaluationPeriods"]) > 3 * 3600:
                        p.append(f"{k}: a Metrics Insights alarm needs a whole-minute Period and a window of <= 3 h")
            for _, (_, _, dims, _) in stats_of(a).items():
                if "FunctionName" in dims and dims["FunctionName"] not in functions:
                    p.append(f"{k}: FunctionName {dims['FunctionName']} is not a function of this stack")
        elif a.get("Dimensions", [{}])[0].get("Value") not in functions:
            p.append(f"{k}: alarms on a single metric must name a function of this stack")
        if a.get("TreatMissingData") != "notBreaching":
            p.append(f"{k}: no data (no traffic, no event) must not breach")
        if a.get("AlarmActions") or a.get("OKActions"):
            p.append(f"{k}: without AlarmTopicArn, no alarm action")
        t = with_topic.get(k, {})
        if t.get("AlarmActions") != [TOPIC] or t.get("OKActions") != [TOPIC]:
            p.append(f"{k}: with AlarmTopicArn, ALARM and OK must notify it")
    for lid in FUNCTIONS.values():
        found = [k for k, a in alarms.items() if is_5xx_rate_alarm(a, f"{lid}-physical-id")]
        if len(found) != 1:
            p.append(f"{lid}: needs one alarm on its function URL's 5xx rate (Url5xxCount / UrlRequestCount), has {found}")
    for metric, outbreak in (("RefreshReuseDetected", 1), ("Throttles", 50)):
        found = [k for k, a in alarms.items() if counts_across_tenants(a, metric)]
        if len(found) != 1:
            p.append(f"needs one alarm on Tollgate {metric} summed over every tenant, has {found}")
        elif not breaches(alarms[found[0]], outbreak) or breaches(alarms[found[0]], 0):
            p.append(f"{found[0]}: must alarm on {outbreak} {metric} and not on 0")
    # Lambda throttling, any function of the stack
    everyone = {f"{lid}-physical-id" for lid in ALL_FUNCTIONS.values()}

    def sums_throttles(a):
        ids = {dims.get("FunctionName"): i for i, (ns, metric, dims, stat) in stats_of(a).items()
               if ns == "AWS/Lambda" and metric == "Throttles" and stat == "Sum"}
        expr = returned(a).get("Expression")
        if set(ids) != everyone or not expr:
            return False
        return all(
            breaches(a, metric_math(expr, {i: (1 if i == one else None) for i in ids.values()}) or 0)
            for one in ids.values()
        ) and not breaches(a, metric_math(expr, {i: 0 for i in ids.values()}) or 0)

    if not any(sums_throttles(a) for a in alarms.values()):
        p.append(f"needs an alarm on AWS/Lambda Throttles of every function: {sorted(everyone)}")
    for lid in SCHEDULED.values():
        if not any(
            a.get("Namespace") == "AWS/Lambda" and a.get("MetricName") == "Errors"
            and a.get("Dimensions") == [{"Name": "FunctionName", "Value": f"{lid}-physical-id"}]
            and breaches(a, 1)
            for a in alarms.values()
        ):
            p.append(f"{lid}: needs an alarm on its failed runs (AWS/Lambda Errors >= 1)")
    return p


def check_package_script(text: str) -> list[str]:
    """`make package` builds and zips every function the template deploys, and the
    template deploys every function crate of the workspace."""
    p = []
    m = re.search(r"^FUNCTIONS=\(([^)]*)\)", text, re.M)
    listed = m.group(1).split() if m else []
    if sorted(listed) != sorted(ALL_FUNCTIONS):
        p.append(f"scripts/package.sh FUNCTIONS {sorted(listed)} != the template's {sorted(ALL_FUNCTIONS)}")
    crates = sorted(d.name for d in (ROOT / "functions").iterdir() if (d / "Cargo.toml").is_file())
    if crates != sorted(ALL_FUNCTIONS):
        p.append(f"functions/ has crates {crates}, the template deploys {sorted(ALL_FUNCTIONS)}")
    return p


def check_samconfig(raw: dict, text: str) -> list[str]:
    p = []
    cfg = tomllib.loads(text)
    envs = {k: v["deploy"]["parameters"] for k, v in cfg.items() if isinstance(v, dict) and "deploy" in v}
    envs.pop("default", None)
    if len(envs) < 3:
        p.append(f"samconfig.toml needs at least three deploy environments, has {sorted(envs)}")
    stacks, regions = {}, {}
    for name, d in envs.items():
        for key in ("stack_name", "region", "capabilities", "parameter_overrides", "template_file"):
            if key not in d:
                p.append(f"[{name}.deploy.parameters] lacks {key}")
        if d.get("resolve_s3") is not True:
            p.append(f"[{name}]: resolve_s3 must be true")
        if d.get("template_file") != "infra/template.yaml":
            p.append(f"[{name}]: template_file must be infra/template.yaml")
        caps = d.get("capabilities", "")
        if "CAPABILITY_IAM" not in (caps if isinstance(caps, list) else caps.split()):
            p.append(f"[{name}]: capabilities must include CAPABILITY_IAM")
        stacks.setdefault(d.get("stack_name"), []).append(name)
        regions.setdefault(d.get("region"), []).append(name)
        overrides = d.get("parameter_overrides", "")
        words = overrides if isinstance(overrides, list) else overrides.split()
        kv = dict(w.split("=", 1) for w in words)
        for k in kv:
            if k not in raw["Parameters"]:
                p.append(f"[{name}]: parameter_overrides sets unknown parameter {k}")
        if kv.get("Architecture", "arm64") not in ("arm64", "x86_64"):
            p.append(f"[{name}]: Architecture must be arm64 or x86_64")
    for s, names in stacks.items():
        if len(names) > 1:
            p.append(f"environments {names} share stack name {s}")
    for r, names in regions.items():
        if len(names) > 1:
            p.append(f"environments {names} deploy to the same region {r}")
    return p


# ---------------------------------------------------------------------------
# the real template passes every check


def test_functions(raw, cfn):
    assert check_functions(raw, cfn) == []


def test_function_urls(cfn):
    assert check_function_urls(cfn) == []


def test_logging(cfn):
    assert check_logging(cfn) == []


def test_concurrency_parameters(cfn):
    assert check_concurrency(cfn) == []


def test_table(raw):
    assert check_table(raw) == []


def test_login_key_secret(cfn):
    assert check_login_key(cfn) == []


def test_iam_least_privilege(cfn):
    assert check_iam(cfn) == []


def test_admin_policy(cfn):
    assert check_admin_policy(cfn) == []


def test_no_dependency_cycle(cfn):
    assert check_no_cycles(cfn) == []


def test_urls_without_custom_domain(cfn):
    assert check_urls_default(cfn) == []


def test_custom_domain(cfn):
    assert check_custom_domain(cfn) == []


def test_outputs(cfn):
    assert check_outputs(cfn) == []


def test_samconfig(raw):
    assert check_samconfig(raw, SAMCONFIG.read_text()) == []


def test_maintenance_function(cfn):
    assert check_maintenance(cfn) == []


def test_alarms(cfn):
    assert check_alarms(cfn) == []


def test_userinfo_deletes_connection_items_only(raw):
    """DELETE …/connections removes a connection item; the function may delete
    nothing else (connection partitions are T#{tenant}#UC#{owner}#{provider})."""
    deletes = [st for st in statements(raw, "UserinfoFunction") if "dynamodb:DeleteItem" in as_list(st["Action"])]
    assert len(deletes) == 1, deletes
    assert as_list(deletes[0]["Action"]) == ["dynamodb:DeleteItem"], deletes
    assert deletes[0].get("Condition") == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["T#*#UC#*"]}
    }, deletes


def test_package_script_builds_every_function():
    assert check_package_script(PACKAGE_SCRIPT.read_text()) == []


# ---------------------------------------------------------------------------
# ... and each check catches a broken template


def mutated(raw: dict, edit) -> tuple[dict, dict]:
    bad = copy.deepcopy(raw)
    edit(bad)
    return bad, sam_transform(bad)


def statements(t: dict, lid: str) -> list:
    return t["Resources"][lid]["Properties"]["Policies"][0]["Statement"]


def _set_arch_default(t):
    t["Parameters"]["Architecture"]["Default"] = "x86_64"


def _memory_in_globals(t):
    t["Globals"]["Function"]["MemorySize"] = 128


def _memory_beyond_one_vcpu(t):
    t["Resources"]["TokenFunction"]["Properties"]["MemorySize"] = 3008


def _token_timeout_default(t):
    del t["Resources"]["TokenFunction"]["Properties"]["Timeout"]


def _drop_function(t):
    del t["Resources"]["RefreshFunction"]


def _no_url(t):
    del t["Resources"]["TokenFunction"]["Properties"]["FunctionUrlConfig"]


def _star_table(t):
    statements(t, "AuthorizeFunction")[0]["Resource"] = "*"


def _wildcard_action(t):
    statements(t, "CallbackFunction")[0]["Action"] = ["dynamodb:*"]


def _extra_action(t):
    statements(t, "AuthorizeFunction")[0]["Action"].append("dynamodb:Scan")


def _fake_action(t):
    statements(t, "TokenFunction")[0]["Action"].append("dynamodb:TransactWriteItems")


def _discovery_secrets(t):
    statements(t, "DiscoveryFunction")[1]["Resource"] = statements(t, "TokenFunction")[1]["Resource"]


def _all_secrets(t):
    statements(t, "TokenFunction")[1]["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}


def _introspect_reads_keys(t):
    statements(t, "IntrospectFunction")[1]["Resource"] = statements(t, "TokenFunction")[1]["Resource"]


def _userinfo_reads_client_secrets(t):
    statements(t, "UserinfoFunction")[1]["Resource"] = statements(t, "IntrospectFunction")[1]["Resource"]


def _userinfo_no_batch(t):
    statements(t, "UserinfoFunction")[0]["Action"].remove("dynamodb:BatchGetItem")


def _introspect_no_sliding_write(t):
    statements(t, "IntrospectFunction")[0]["Action"].remove("dynamodb:UpdateItem")


def _revoke_batch(t):
    statements(t, "RevokeFunction")[0]["Action"].append("dynamodb:BatchGetItem")


def _revoke_puts(t):
    statements(t, "RevokeFunction")[0]["Action"].append("dynamodb:PutItem")


def _token_no_query(t):
    statements(t, "TokenFunction")[0]["Action"].remove("dynamodb:Query")


def _query_on_index(t):
    statements(t, "IntrospectFunction")[0]["Resource"] = [
        {"Fn::GetAtt": ["Table", "Arn"]},
        {"Fn::Sub": "${Table.Arn}/index/*"},
    ]


def _admin_no_scan(t):
    t["Resources"]["AdminPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"].remove("dynamodb:Scan")


def _drop_new_function(t):
    del t["Resources"]["UserinfoFunction"]


def _new_function_shared_log_group(t):
    t["Resources"]["RevokeFunction"]["Properties"]["LoggingConfig"]["LogGroup"] = {"Ref": "IntrospectLogGroup"}


def _doc_without_userinfo(t):
    sub = t["Resources"]["UrlsDocument"]["Properties"]["SecretString"]["Fn::If"][2]["Fn::Sub"]
    sub[0] = re.sub(r',\s*"TOLLGATE_URL_USERINFO":"https://\$\{Userinfo\}"', "", sub[0])


def _no_userinfo_route(t):
    behaviors = t["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    behaviors[:] = [b for b in behaviors if b["TargetOriginId"] != "userinfo"]


def _admin_everything(t):
    t["Resources"]["AdminPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]["Resource"] = "*"


def _no_ttl(t):
    del t["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]


def _no_pitr(t):
    t["Resources"]["Table"]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] = False


def _delete_table(t):
    t["Resources"]["Table"]["DeletionPolicy"] = "Delete"


def _url_in_env(t):
    t["Globals"]["Function"]["Environment"]["Variables"]["TOLLGATE_URL_TOKEN"] = {"Fn::GetAtt": ["TokenFunctionUrl", "FunctionUrl"]}


def _text_logs(t):
    t["Resources"]["CallbackFunction"]["Properties"]["LoggingConfig"]["LogFormat"] = "Text"


def _short_login_key(t):
    t["Resources"]["LoginKeySecret"]["Properties"]["GenerateSecretString"]["PasswordLength"] = 32


def _swap_doc(t):
    sub = t["Resources"]["UrlsDocument"]["Properties"]["SecretString"]["Fn::If"][2]["Fn::Sub"]
    sub[1]["Token"], sub[1]["Refresh"] = sub[1]["Refresh"], sub[1]["Token"]


def _bad_route(t):
    behaviors = t["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["CacheBehaviors"]
    behaviors[2], behaviors[3] = behaviors[3], behaviors[2]  # /token before /token/changepassword
    behaviors[2]["PathPattern"] = "/??uth2/*/?oken*"  # now token, and greedy


def _maint(t):
    return t["Resources"]["MaintenanceFunction"]["Properties"]


def _drop_maintenance(t):
    del t["Resources"]["MaintenanceFunction"]


def _maintenance_url(t):
    _maint(t)["FunctionUrlConfig"] = {"AuthType": "NONE"}


def _maintenance_daily(t):
    _maint(t)["Events"]["Hourly"]["Properties"]["Schedule"] = "rate(1 day)"


def _maintenance_unscheduled(t):
    del _maint(t)["Events"]


def _maintenance_puts_items(t):
    statements(t, "MaintenanceFunction")[0]["Action"].append("dynamodb:PutItem")


def _maintenance_no_scan(t):
    statements(t, "MaintenanceFunction")[0]["Action"].remove("dynamodb:Scan")


def _maintenance_queries_the_table(t):
    statements(t, "MaintenanceFunction")[2]["Resource"] = {"Fn::GetAtt": ["Table", "Arn"]}


def _maintenance_queries_any_index(t):
    statements(t, "MaintenanceFunction")[2]["Resource"] = {"Fn::Sub": "${Table.Arn}/index/*"}


def _no_due_index(t):
    gsis = t["Resources"]["Table"]["Properties"]["GlobalSecondaryIndexes"]
    gsis[:] = [g for g in gsis if g["IndexName"] != "due"]


def _maintenance_all_secrets(t):
    statements(t, "MaintenanceFunction")[1]["Resource"] = statements(t, "TokenFunction")[1]["Resource"]


def _maintenance_creates_secrets(t):
    statements(t, "MaintenanceFunction")[1]["Action"].append("secretsmanager:CreateSecret")


def _maintenance_read_only(t):
    statements(t, "MaintenanceFunction")[1]["Action"].remove("secretsmanager:PutSecretValue")


def _public_function_writes_keys(t):
    statements(t, "TokenFunction")[1]["Action"].append("secretsmanager:PutSecretValue")


def _maintenance_shared_log_group(t):
    _maint(t)["LoggingConfig"]["LogGroup"] = {"Ref": "TokenLogGroup"}


def _maintenance_urls_env(t):
    del _maint(t)["Environment"]["Variables"]["TOLLGATE_URLS_SECRET"]


def _maintenance_provisioned(t):
    del _maint(t)["ProvisionedConcurrencyConfig"]


def _drop_token_5xx(t):
    del t["Resources"]["Token5xxRateAlarm"]


def _5xx_on_wrong_function(t):
    for q in t["Resources"]["Refresh5xxRateAlarm"]["Properties"]["Metrics"]:
        if "MetricStat" in q:
            q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] = {"Ref": "TokenFunction"}


def _5xx_rate_inverted(t):
    t["Resources"]["Revoke5xxRateAlarm"]["Properties"]["Metrics"][2]["Expression"] = "100 * requests / FILL(errors, 1)"


def _5xx_4xx(t):
    t["Resources"]["Userinfo5xxRateAlarm"]["Properties"]["Metrics"][0]["MetricStat"]["Metric"]["MetricName"] = "Url4xxCount"


def _drop_reuse_alarm(t):
    del t["Resources"]["RefreshReuseAlarm"]


def _reuse_by_search(t):
    t["Resources"]["RefreshReuseAlarm"]["Properties"]["Metrics"][0]["Expression"] = (
        "SUM(SEARCH('{Tollgate,tenant} MetricName=\"RefreshReuseDetected\"', 'Sum', 300))"
    )


def _reuse_one_tenant(t):
    t["Resources"]["RefreshReuseAlarm"]["Properties"]["Metrics"][0]["Expression"] = (
        'SELECT SUM(RefreshReuseDetected) FROM SCHEMA("Tollgate", tenant) WHERE tenant = \'acme\''
    )


def _throttles_wrong_metric(t):
    t["Resources"]["LoginThrottlesAlarm"]["Properties"]["Metrics"][0]["Expression"] = (
        'SELECT SUM(LoginFailures) FROM SCHEMA("Tollgate", tenant)'
    )


def _throttles_never(t):
    t["Resources"]["LoginThrottlesAlarm"]["Properties"]["Threshold"] = 1000


def _lambda_throttles_miss_one(t):
    m = t["Resources"]["FunctionThrottlesAlarm"]["Properties"]["Metrics"]
    m[-1]["Expression"] = m[-1]["Expression"].replace(", tmaintenance", "")
    m[:] = [q for q in m if q["Id"] != "tmaintenance"]


def _no_maintenance_errors_alarm(t):
    del t["Resources"]["MaintenanceErrorsAlarm"]


def _alarm_ignores_topic(t):
    del t["Resources"]["Callback5xxRateAlarm"]["Properties"]["AlarmActions"]


def _alarm_breaches_on_silence(t):
    t["Resources"]["Discovery5xxRateAlarm"]["Properties"]["TreatMissingData"] = "breaching"


MUTATIONS = [
    ("arch default", _set_arch_default, lambda r, c: check_functions(r, c)),
    ("memory in Globals", _memory_in_globals, lambda r, c: check_functions(r, c)),
    ("memory beyond one vCPU", _memory_beyond_one_vcpu, lambda r, c: check_functions(r, c)),
    ("token function without the vault's timeout", _token_timeout_default, lambda r, c: check_functions(r, c)),
    ("function missing", _drop_function, lambda r, c: check_functions(r, c) + check_no_cycles(c)),
    ("no function URL", _no_url, lambda r, c: check_functions(r, c) + check_function_urls(c)),
    ("table action on *", _star_table, lambda r, c: check_iam(c)),
    ("dynamodb:*", _wildcard_action, lambda r, c: check_iam(c)),
    ("extra table action", _extra_action, lambda r, c: check_iam(c)),
    ("non-existent IAM action", _fake_action, lambda r, c: check_iam(c)),
    ("discovery reads all secrets", _discovery_secrets, lambda r, c: check_iam(c)),
    ("secrets beyond the prefix", _all_secrets, lambda r, c: check_iam(c)),
    ("introspect reads signing keys", _introspect_reads_keys, lambda r, c: check_iam(c)),
    ("userinfo reads client secrets", _userinfo_reads_client_secrets, lambda r, c: check_iam(c)),
    ("userinfo without BatchGetItem", _userinfo_no_batch, lambda r, c: check_iam(c)),
    ("introspect without the sliding write", _introspect_no_sliding_write, lambda r, c: check_iam(c)),
    ("revoke with BatchGetItem", _revoke_batch, lambda r, c: check_iam(c)),
    ("revoke with PutItem", _revoke_puts, lambda r, c: check_iam(c)),
    ("token without Query (CORS preflight)", _token_no_query, lambda r, c: check_iam(c)),
    ("table actions on an index", _query_on_index, lambda r, c: check_iam(c)),
    ("userinfo function missing", _drop_new_function, lambda r, c: check_functions(r, c) + check_no_cycles(c)),
    ("two functions share a log group", _new_function_shared_log_group, lambda r, c: check_logging(c)),
    ("URL document without userinfo", _doc_without_userinfo, lambda r, c: check_urls_default(c)),
    ("CloudFront has no userinfo route", _no_userinfo_route, lambda r, c: check_custom_domain(c)),
    ("admin policy on *", _admin_everything, lambda r, c: check_admin_policy(c) + check_iam(c)),
    ("admin policy without Scan (tenant list)", _admin_no_scan, lambda r, c: check_admin_policy(c)),
    ("TTL off", _no_ttl, lambda r, c: check_table(r)),
    ("PITR off", _no_pitr, lambda r, c: check_table(r)),
    ("table not retained", _delete_table, lambda r, c: check_table(r)),
    ("URL in env (cycle)", _url_in_env, lambda r, c: check_no_cycles(c)),
    ("text logs", _text_logs, lambda r, c: check_logging(c)),
    ("short login key", _short_login_key, lambda r, c: check_login_key(c)),
    ("URL document swapped", _swap_doc, lambda r, c: check_urls_default(c)),
    ("CloudFront misroutes", _bad_route, lambda r, c: check_custom_domain(c)),
    ("maintenance function missing", _drop_maintenance, lambda r, c: check_functions(r, c) + check_maintenance(c)),
    ("maintenance has a function URL", _maintenance_url, lambda r, c: check_functions(r, c) + check_maintenance(c)),
    ("maintenance runs daily", _maintenance_daily, lambda r, c: check_maintenance(c)),
    ("maintenance never runs", _maintenance_unscheduled, lambda r, c: check_maintenance(c)),
    ("maintenance puts items", _maintenance_puts_items, lambda r, c: check_iam(c) + check_maintenance(c)),
    ("maintenance without Scan", _maintenance_no_scan, lambda r, c: check_iam(c)),
    ("maintenance queries the table", _maintenance_queries_the_table, lambda r, c: check_maintenance(c)),
    ("maintenance queries every index", _maintenance_queries_any_index, lambda r, c: check_iam(c)),
    ("no due index", _no_due_index, lambda r, c: check_table(r)),
    ("maintenance reads every secret", _maintenance_all_secrets, lambda r, c: check_iam(c)),
    ("maintenance creates secrets", _maintenance_creates_secrets, lambda r, c: check_iam(c)),
    ("maintenance cannot store keys", _maintenance_read_only, lambda r, c: check_iam(c)),
    ("a public function writes secrets", _public_function_writes_keys, lambda r, c: check_iam(c)),
    ("maintenance shares a log group", _maintenance_shared_log_group, lambda r, c: check_logging(c)),
    ("maintenance names the URL document", _maintenance_urls_env, lambda r, c: check_maintenance(c)),
    ("maintenance gets provisioned concurrency", _maintenance_provisioned, lambda r, c: check_concurrency(c)),
    ("token has no 5xx alarm", _drop_token_5xx, lambda r, c: check_alarms(c)),
    ("5xx alarm on another function", _5xx_on_wrong_function, lambda r, c: check_alarms(c)),
    ("5xx rate inverted", _5xx_rate_inverted, lambda r, c: check_alarms(c)),
    ("5xx alarm counts 4xx", _5xx_4xx, lambda r, c: check_alarms(c)),
    ("no refresh-reuse alarm", _drop_reuse_alarm, lambda r, c: check_alarms(c)),
    ("refresh-reuse alarm on SEARCH", _reuse_by_search, lambda r, c: check_alarms(c)),
    ("refresh-reuse alarm on one tenant", _reuse_one_tenant, lambda r, c: check_alarms(c)),
    ("throttle alarm on the wrong metric", _throttles_wrong_metric, lambda r, c: check_alarms(c)),
    ("throttle alarm never fires", _throttles_never, lambda r, c: check_alarms(c)),
    ("Lambda throttle alarm misses a function", _lambda_throttles_miss_one, lambda r, c: check_alarms(c)),
    ("no maintenance errors alarm", _no_maintenance_errors_alarm, lambda r, c: check_alarms(c)),
    ("alarm ignores the topic", _alarm_ignores_topic, lambda r, c: check_alarms(c)),
    ("alarm breaches on silence", _alarm_breaches_on_silence, lambda r, c: check_alarms(c)),
]


@pytest.mark.parametrize("name,edit,check", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_checks_catch_broken_templates(raw, name, edit, check):
    try:
        bad_raw, bad_cfn = mutated(raw, edit)
        problems = check(bad_raw, bad_cfn)
    except Exception as e:  # the SAM transform or the check refused the template outright
        problems = [f"{type(e).__name__}: {e}"]
    assert problems, f"mutation {name!r} was not detected"


def test_package_check_catches_a_missing_function():
    good = PACKAGE_SCRIPT.read_text()
    without = re.sub(r"^(FUNCTIONS=\(.*)\bmaintenance\b", r"\1", good, flags=re.M)
    assert without != good
    assert check_package_script(without)


def test_samconfig_check_catches_mistakes(raw):
    good = SAMCONFIG.read_text()
    assert check_samconfig(raw, good.replace("CAPABILITY_IAM", "CAPABILITY_NONE"))
    assert check_samconfig(raw, good.replace("resolve_s3 = true", "resolve_s3 = false"))
    assert check_samconfig(raw, good.replace("Architecture=", "Architecure="))


def test_every_memory_size_says_why():
    """Each function's MemorySize line carries its reason (from `make bench`) as a comment."""
    text = TEMPLATE.read_text()
    missing = []
    for lid in ALL_FUNCTIONS.values():
        block = re.search(rf"^  {lid}:\n((?:    .*\n|\s*\n)+)", text, re.M)
        line = block and re.search(r"^      MemorySize: \d+ *#.*\S", block.group(1), re.M)
        if not line:
            missing.append(lid)
    assert missing == [], f"MemorySize without a reason in a comment: {missing}"
