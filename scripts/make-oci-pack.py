#!/usr/bin/env python3
"""Writes Sources/Portal/Tools/Packs/oci.json, the `oci` tool pack: tools over the OCI
command-line client, one per line of TOOLS below. Run again after editing TOOLS.

Every tool acts as the caller's organization's own OCI identity (the portal sets
OCI_CLI_PROFILE to the organization's cloudProfile for every run of `oci`, a profile whose
IAM policy reaches only that organization's compartments, so a resource OCID of another
organization is refused by OCI itself), and in its compartment ({{org.cloudScope}}) unless it takes a resource OCID. Risk follows what the
command does: list/get are `read`, start/stop/resize `medium` or `high`, delete/terminate
`destructive`.
"""
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parents[1] / "Sources/Portal/Tools/Packs/oci.json"

OCID = {"type": "string", "format": "ocid"}
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9._-]+$"}
AD = {"type": "string", "title": "Availability domain", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9:._-]+$"}
TIME = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+Z)?$", "description": "RFC 3339 date or time, UTC"}
COMPARTMENT = ["--compartment-id", "{{org.cloudScope}}"]

# (name, title, category, risk, command words, inputs [(name, schema, flag, required)], fixed trailing
# arguments, whether it acts in the organization's compartment, description)
TOOLS = []


def tool(name, title, category, risk, words, inputs=(), extra=(), compartment=True, description=None):
    TOOLS.append((name, title, category, risk, words, list(inputs), list(extra), compartment, description))


def ocid(name, flag, title):
    return (name, dict(OCID, title=title), flag, True)


def opt(name, schema, flag, title):
    return (name, dict(schema, title=title), flag, False)


def req(name, schema, flag, title):
    return (name, dict(schema, title=title), flag, True)


STATE = {"type": "string", "enum": ["PROVISIONING", "RUNNING", "STARTING", "STOPPING", "STOPPED", "TERMINATING", "TERMINATED", "AVAILABLE"]}

# Compute
tool("compute.instance.list", "List instances", "Compute", "read", "compute instance list", [opt("lifecycleState", STATE, "--lifecycle-state", "State"), opt("displayName", NAME, "--display-name", "Name")], ["--all"])
tool("compute.instance.get", "Get an instance", "Compute", "read", "compute instance get", [ocid("instanceId", "--instance-id", "Instance")], compartment=False)
tool("compute.instance.list-vnics", "List an instance's VNICs", "Compute", "read", "compute instance list-vnics", [ocid("instanceId", "--instance-id", "Instance")], compartment=False)
for action, risk in [("start", "medium"), ("stop", "high"), ("softstop", "medium"), ("reset", "high"), ("softreset", "medium")]:
    tool(f"compute.instance.{action}", f"{action.capitalize()} an instance", "Compute", risk, "compute instance action", [ocid("instanceId", "--instance-id", "Instance")], ["--action", action.upper()], compartment=False)
tool("compute.instance.resize", "Resize a flexible instance", "Compute", "high", "compute instance update",
     [ocid("instanceId", "--instance-id", "Instance")], ["--shape-config", '{"ocpus": {{input.ocpus}}, "memoryInGBs": {{input.memoryInGBs}}}', "--force"], compartment=False)
tool("compute.instance.terminate", "Terminate an instance", "Compute", "destructive", "compute instance terminate", [ocid("instanceId", "--instance-id", "Instance")], ["--preserve-boot-volume", "true", "--force"], compartment=False)
tool("compute.shape.list", "List shapes", "Compute", "read", "compute shape list", [], ["--all"])
tool("compute.image.list", "List images", "Compute", "read", "compute image list", [opt("operatingSystem", NAME, "--operating-system", "Operating system")], ["--all"])
tool("compute.vnic-attachment.list", "List VNIC attachments", "Compute", "read", "compute vnic-attachment list", [opt("instanceId", OCID, "--instance-id", "Instance")], ["--all"])
tool("compute.boot-volume-attachment.list", "List boot volume attachments", "Compute", "read", "compute boot-volume-attachment list", [req("availabilityDomain", AD, "--availability-domain", "Availability domain")], ["--all"])
tool("compute.volume-attachment.list", "List volume attachments", "Compute", "read", "compute volume-attachment list", [opt("instanceId", OCID, "--instance-id", "Instance")], ["--all"])
tool("compute.console-connection.list", "List console connections", "Compute", "read", "compute instance-console-connection list", [], ["--all"])

# Block storage
tool("storage.volume.list", "List block volumes", "Block storage", "read", "bv volume list", [], ["--all"])
tool("storage.volume.get", "Get a block volume", "Block storage", "read", "bv volume get", [ocid("volumeId", "--volume-id", "Volume")], compartment=False)
tool("storage.volume.create", "Create a block volume", "Block storage", "medium", "bv volume create",
     [req("availabilityDomain", AD, "--availability-domain", "Availability domain"), req("sizeInGBs", {"type": "integer", "minimum": 50, "maximum": 32768}, "--size-in-gbs", "Size (GB)"), req("displayName", NAME, "--display-name", "Name")])
tool("storage.volume.resize", "Grow a block volume", "Block storage", "high", "bv volume update", [ocid("volumeId", "--volume-id", "Volume"), req("sizeInGBs", {"type": "integer", "minimum": 50, "maximum": 32768}, "--size-in-gbs", "New size (GB)")], ["--force"], compartment=False)
tool("storage.volume.delete", "Delete a block volume", "Block storage", "destructive", "bv volume delete", [ocid("volumeId", "--volume-id", "Volume")], ["--force"], compartment=False)
tool("storage.boot-volume.list", "List boot volumes", "Block storage", "read", "bv boot-volume list", [req("availabilityDomain", AD, "--availability-domain", "Availability domain")], ["--all"])
tool("storage.boot-volume.get", "Get a boot volume", "Block storage", "read", "bv boot-volume get", [ocid("bootVolumeId", "--boot-volume-id", "Boot volume")], compartment=False)
tool("storage.boot-volume.delete", "Delete a boot volume", "Block storage", "destructive", "bv boot-volume delete", [ocid("bootVolumeId", "--boot-volume-id", "Boot volume")], ["--force"], compartment=False)
tool("storage.backup.list", "List volume backups", "Block storage", "read", "bv backup list", [], ["--all"])
tool("storage.backup.create", "Back up a block volume", "Block storage", "low", "bv backup create", [ocid("volumeId", "--volume-id", "Volume"), opt("displayName", NAME, "--display-name", "Name")], compartment=False)
tool("storage.backup.delete", "Delete a volume backup", "Block storage", "destructive", "bv backup delete", [ocid("volumeBackupId", "--volume-backup-id", "Backup")], ["--force"], compartment=False)
tool("storage.volume-group.list", "List volume groups", "Block storage", "read", "bv volume-group list", [], ["--all"])

# Object storage
tool("objectstorage.namespace.get", "Get the Object Storage namespace", "Object storage", "read", "os ns get", compartment=False)
tool("objectstorage.bucket.list", "List buckets", "Object storage", "read", "os bucket list", [], ["--all"])
tool("objectstorage.bucket.get", "Get a bucket", "Object storage", "read", "os bucket get", [req("bucketName", NAME, "--bucket-name", "Bucket")], compartment=False)
tool("objectstorage.bucket.create", "Create a bucket", "Object storage", "low", "os bucket create", [req("name", NAME, "--name", "Bucket name")])
tool("objectstorage.bucket.delete", "Delete a bucket", "Object storage", "destructive", "os bucket delete", [req("bucketName", NAME, "--bucket-name", "Bucket")], ["--force"], compartment=False)
tool("objectstorage.object.list", "List objects", "Object storage", "read", "os object list", [req("bucketName", NAME, "--bucket-name", "Bucket"), opt("prefix", {"type": "string", "maxLength": 1024}, "--prefix", "Prefix")], ["--all"], compartment=False)
tool("objectstorage.object.head", "Get an object's metadata", "Object storage", "read", "os object head", [req("bucketName", NAME, "--bucket-name", "Bucket"), req("objectName", {"type": "string", "minLength": 1, "maxLength": 1024}, "--name", "Object")], compartment=False)
tool("objectstorage.object.delete", "Delete an object", "Object storage", "destructive", "os object delete", [req("bucketName", NAME, "--bucket-name", "Bucket"), req("objectName", {"type": "string", "minLength": 1, "maxLength": 1024}, "--object-name", "Object")], ["--force"], compartment=False)
tool("objectstorage.preauth-request.list", "List pre-authenticated requests", "Object storage", "read", "os preauth-request list", [req("bucketName", NAME, "--bucket-name", "Bucket")], compartment=False)

# Networking
tool("network.vcn.list", "List VCNs", "Networking", "read", "network vcn list", [], ["--all"])
tool("network.vcn.get", "Get a VCN", "Networking", "read", "network vcn get", [ocid("vcnId", "--vcn-id", "VCN")], compartment=False)
tool("network.vcn.delete", "Delete a VCN", "Networking", "destructive", "network vcn delete", [ocid("vcnId", "--vcn-id", "VCN")], ["--force"], compartment=False)
tool("network.subnet.list", "List subnets", "Networking", "read", "network subnet list", [opt("vcnId", OCID, "--vcn-id", "VCN")], ["--all"])
tool("network.subnet.get", "Get a subnet", "Networking", "read", "network subnet get", [ocid("subnetId", "--subnet-id", "Subnet")], compartment=False)
tool("network.subnet.delete", "Delete a subnet", "Networking", "destructive", "network subnet delete", [ocid("subnetId", "--subnet-id", "Subnet")], ["--force"], compartment=False)
tool("network.security-list.list", "List security lists", "Networking", "read", "network security-list list", [opt("vcnId", OCID, "--vcn-id", "VCN")], ["--all"])
tool("network.security-list.get", "Get a security list", "Networking", "read", "network security-list get", [ocid("securityListId", "--security-list-id", "Security list")], compartment=False)
tool("network.route-table.list", "List route tables", "Networking", "read", "network route-table list", [opt("vcnId", OCID, "--vcn-id", "VCN")], ["--all"])
tool("network.nsg.list", "List network security groups", "Networking", "read", "network nsg list", [], ["--all"])
tool("network.nsg.rules", "List a network security group's rules", "Networking", "read", "network nsg rules list", [ocid("nsgId", "--nsg-id", "Network security group")], ["--all"], compartment=False)
tool("network.internet-gateway.list", "List internet gateways", "Networking", "read", "network internet-gateway list", [], ["--all"])
tool("network.nat-gateway.list", "List NAT gateways", "Networking", "read", "network nat-gateway list", [], ["--all"])
tool("network.public-ip.list", "List reserved public IPs", "Networking", "read", "network public-ip list", [], ["--scope", "REGION", "--lifetime", "RESERVED", "--all"])
tool("network.load-balancer.list", "List load balancers", "Networking", "read", "lb load-balancer list", [], ["--all"])
tool("network.load-balancer.get", "Get a load balancer", "Networking", "read", "lb load-balancer get", [ocid("loadBalancerId", "--load-balancer-id", "Load balancer")], compartment=False)
tool("network.load-balancer.backend-health", "Get a backend set's health", "Networking", "read", "lb backend-set-health get", [ocid("loadBalancerId", "--load-balancer-id", "Load balancer"), req("backendSetName", NAME, "--backend-set-name", "Backend set")], compartment=False)

# Databases
tool("database.autonomous.list", "List Autonomous Databases", "Databases", "read", "db autonomous-database list", [], ["--all"])
tool("database.autonomous.get", "Get an Autonomous Database", "Databases", "read", "db autonomous-database get", [ocid("autonomousDatabaseId", "--autonomous-database-id", "Autonomous Database")], compartment=False)
tool("database.autonomous.start", "Start an Autonomous Database", "Databases", "medium", "db autonomous-database start", [ocid("autonomousDatabaseId", "--autonomous-database-id", "Autonomous Database")], compartment=False)
tool("database.autonomous.stop", "Stop an Autonomous Database", "Databases", "high", "db autonomous-database stop", [ocid("autonomousDatabaseId", "--autonomous-database-id", "Autonomous Database")], compartment=False)
tool("database.autonomous.scale", "Scale an Autonomous Database", "Databases", "high", "db autonomous-database update", [ocid("autonomousDatabaseId", "--autonomous-database-id", "Autonomous Database"), req("computeCount", {"type": "number", "minimum": 1, "maximum": 512}, "--compute-count", "ECPUs")], ["--force"], compartment=False)
tool("database.autonomous.delete", "Delete an Autonomous Database", "Databases", "destructive", "db autonomous-database delete", [ocid("autonomousDatabaseId", "--autonomous-database-id", "Autonomous Database")], ["--force"], compartment=False)
tool("database.db-system.list", "List DB systems", "Databases", "read", "db system list", [], ["--all"])
tool("database.db-system.get", "Get a DB system", "Databases", "read", "db system get", [ocid("dbSystemId", "--db-system-id", "DB system")], compartment=False)
tool("database.mysql.list", "List MySQL DB systems", "Databases", "read", "mysql db-system list", [], ["--all"])
tool("database.mysql.get", "Get a MySQL DB system", "Databases", "read", "mysql db-system get", [ocid("dbSystemId", "--db-system-id", "MySQL DB system")], compartment=False)
tool("database.mysql.start", "Start a MySQL DB system", "Databases", "medium", "mysql db-system start", [ocid("dbSystemId", "--db-system-id", "MySQL DB system")], compartment=False)
tool("database.mysql.stop", "Stop a MySQL DB system", "Databases", "high", "mysql db-system stop", [ocid("dbSystemId", "--db-system-id", "MySQL DB system")], ["--shutdown-type", "SLOW"], compartment=False)

# Identity
tool("identity.compartment.list", "List compartments", "Identity", "read", "iam compartment list", [], ["--all"])
tool("identity.compartment.get", "Get this organization's compartment", "Identity", "read", "iam compartment get", [], compartment=True)
tool("identity.user.list", "List users", "Identity", "read", "iam user list", [], ["--all"])
tool("identity.group.list", "List groups", "Identity", "read", "iam group list", [], ["--all"])
tool("identity.policy.list", "List policies", "Identity", "read", "iam policy list", [], ["--all"])
tool("identity.availability-domain.list", "List availability domains", "Identity", "read", "iam availability-domain list", [])
tool("identity.region.list", "List regions", "Identity", "read", "iam region list", compartment=False)
tool("identity.user.api-keys", "List a user's API keys", "Identity", "read", "iam user api-key list", [ocid("userId", "--user-id", "User")], compartment=False)

# Monitoring and logging
tool("monitoring.metric.list", "List metrics", "Monitoring", "read", "monitoring metric list", [opt("namespace", NAME, "--namespace", "Namespace")])
tool("monitoring.metric.summarize", "Query metric data", "Monitoring", "read", "monitoring metric-data summarize-metrics-data",
     [req("namespace", NAME, "--namespace", "Namespace"), req("query", {"type": "string", "minLength": 1, "maxLength": 2048}, "--query-text", "MQL query"),
      opt("startTime", TIME, "--start-time", "From"), opt("endTime", TIME, "--end-time", "To")])
tool("monitoring.alarm.list", "List alarms", "Monitoring", "read", "monitoring alarm list", [], ["--all"])
tool("monitoring.alarm.get", "Get an alarm", "Monitoring", "read", "monitoring alarm get", [ocid("alarmId", "--alarm-id", "Alarm")], compartment=False)
tool("monitoring.alarm.status", "Alarm status", "Monitoring", "read", "monitoring alarm-status list-alarms-status", [], ["--all"])
tool("logging.log-group.list", "List log groups", "Monitoring", "read", "logging log-group list", [], ["--all"])
tool("audit.event.list", "List audit events", "Monitoring", "read", "audit event list", [req("startTime", TIME, "--start-time", "From"), req("endTime", TIME, "--end-time", "To")], ["--all"])
tool("events.rule.list", "List event rules", "Monitoring", "read", "events rule list", [], ["--all"])

# Cost
tool("cost.usage.summary", "Summarize usage and cost", "Cost", "read", "usage-api usage-summary request-summarized-usages",
     [req("startTime", TIME, "--time-usage-started", "From"), req("endTime", TIME, "--time-usage-ended", "To"),
      opt("granularity", {"type": "string", "enum": ["DAILY", "MONTHLY"], "default": "DAILY"}, "--granularity", "Granularity")], compartment=False,
     description="Usage and cost of the tenancy between two dates (the organization's cloud scope is the tenancy OCID).")
tool("cost.budget.list", "List budgets", "Cost", "read", "budgets budget list", [], ["--all"])

# Other services
tool("containers.cluster.list", "List Kubernetes clusters", "Containers", "read", "ce cluster list", [], ["--all"])
tool("functions.application.list", "List Functions applications", "Containers", "read", "fn application list", [], ["--all"])
tool("filestorage.file-system.list", "List file systems", "File storage", "read", "fs file-system list", [req("availabilityDomain", AD, "--availability-domain", "Availability domain")], ["--all"])
tool("security.vault.list", "List vaults", "Security", "read", "kms management vault list", [], ["--all"])
tool("security.secret.list", "List secrets (metadata only)", "Security", "read", "vault secret list", [], ["--all"])
tool("limits.value.list", "List service limits", "Governance", "read", "limits value list", [req("serviceName", NAME, "--service-name", "Service")], ["--all"])


def build(spec):
    name, title, category, risk, words, inputs, extra, compartment, description = spec
    properties, required, arguments = {}, [], words.split()
    if compartment:
        arguments += COMPARTMENT
    for input_name, schema, flag, is_required in inputs:
        properties[input_name] = schema
        if is_required:
            required.append(input_name)
            arguments += [flag, "{{input.%s}}" % input_name]
        else:
            arguments.append({"if": input_name, "arguments": [flag, "{{input.%s}}" % input_name]})
    if name == "compute.instance.resize":
        properties["ocpus"] = {"type": "number", "title": "OCPUs", "minimum": 1, "maximum": 128}
        properties["memoryInGBs"] = {"type": "number", "title": "Memory (GB)", "minimum": 1, "maximum": 2048}
        required += ["ocpus", "memoryInGBs"]
    arguments += extra + ["--output", "json"]
    return {
        "name": "oci." + name, "title": title, "category": category, "risk": risk,
        "description": description or f"{title} {'in the organization' + chr(39) + 's compartment' if compartment else 'by OCID'} (oci {words}).",
        "inputSchema": {"type": "object", "properties": properties, "required": required, "additionalProperties": False},
        "executor": {"type": "command", "executable": "oci", "arguments": arguments},
        "limits": {"timeoutSeconds": 120, "maxOutputBytes": 4 * 1024 * 1024},
    }


pack = {
    "name": "oci", "title": "Oracle Cloud Infrastructure", "version": "1.0.0",
    "description": "Compute, storage, networking, databases, identity, monitoring and cost through the OCI CLI, as each organization's own OCI identity, in its compartment.",
    "tools": [build(spec) for spec in TOOLS],
}
OUT.write_text(json.dumps(pack, indent=1) + "\n")
risks = {}
for spec in TOOLS:
    risks[spec[3]] = risks.get(spec[3], 0) + 1
print(f"wrote {OUT}: {len(TOOLS)} tools, {risks}")
