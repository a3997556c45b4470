public import FoundationEssentials

/// Configuration items read from what an inventory tool printed, for an import that keeps the
/// CMDB in line with the cloud and the hosts.
///
/// Guarantees: only a succeeded run of a tool it knows, with JSON output, is read (anything
/// else is `invalid` naming why); every item has a valid name (other characters become `-`,
/// and two resources with one display name keep both, the second named with the end of its
/// id); terminated instances are left out, so a refresh removes them.
public enum AssetInventory {
    /// The tools whose output it reads, and the import source each one feeds.
    public static let sources = ["oci.compute.instance.list": "oci-instances", "host.kernel": "host"]

    /// The import a run's output stands for.
    public static func batch(from run: ToolRun, removeMissing: Bool) throws -> AssetImport {
        guard let source = sources[run.tool] else {
            throw PortalError.invalid("runID: \(run.tool) is not an inventory tool; items are read from \(sources.keys.sorted().joined(separator: " and "))")
        }
        guard run.status == .succeeded, let output = run.output, output.succeeded else { throw PortalError.invalid("runID: the run has not succeeded") }
        guard !output.truncated else { throw PortalError.invalid("runID: the run's output was cut at the tool's limit") }
        let items: [AssetImport.Item]
        if run.tool == "oci.compute.instance.list", output.json == nil, output.text.trimmed.isEmpty {
            items = []  // the OCI CLI prints nothing when a compartment has no instances
        } else {
            guard let json = output.json else { throw PortalError.invalid("runID: the run's output is not JSON") }
            items = run.tool == "host.kernel" ? try host(json) : try instances(json)
        }
        return AssetImport(source: source, items: items, relations: nil, removeMissing: removeMissing)
    }

    /// `oci compute instance list --output json`: `{"data": [instance…]}` (kebab-case keys).
    static func instances(_ json: JSONAny) throws -> [AssetImport.Item] {
        guard let list = json["data"]?.array else { throw PortalError.invalid("runID: no instance list (data) in the output") }
        var items: [AssetImport.Item] = []
        var taken: Set<String> = []
        for instance in list {
            guard let id = instance["id"]?.string, instance["lifecycle-state"]?.string != "TERMINATED" else { continue }
            var name = itemName(instance["display-name"]?.string ?? "", fallback: id)
            if taken.contains(name) { name = itemName(String(name.prefix(100)) + "-" + String(id.suffix(12)), fallback: id) }
            taken.insert(name)
            var attributes = ["ocid": id]
            for (key, attribute) in [("shape", "shape"), ("lifecycle-state", "state"), ("availability-domain", "availability-domain"),
                                     ("compartment-id", "compartment"), ("region", "region"), ("time-created", "created")] {
                if let value = instance[key]?.string { attributes[attribute] = String(value.prefix(1000)) }
            }
            if case let .object(tags)? = instance["freeform-tags"] {
                for (key, value) in tags.sorted(by: { $0.key < $1.key }).prefix(64 - attributes.count) {
                    if let text = value.string { attributes["tag:\(key.prefix(60))"] = String(text.prefix(1000)) }
                }
            }
            let owner = instance["freeform-tags"]?["owner"]?.string
            items.append(AssetImport.Item(name: name, type: .instance, description: "OCI instance" + (attributes["shape"].map { " (\($0))" } ?? ""),
                                          owner: owner.map { String($0.prefix(128)) }, attributes: attributes))
        }
        return items
    }

    /// `host.kernel`: the host the portal runs on.
    static func host(_ json: JSONAny) throws -> [AssetImport.Item] {
        guard let hostname = json["hostname"]?.string, !hostname.isEmpty else { throw PortalError.invalid("runID: no host name in the output") }
        var attributes: [String: String] = [:]
        for key in ["system", "release", "machine"] { if let value = json[key]?.string { attributes[key] = String(value.prefix(1000)) } }
        return [AssetImport.Item(name: itemName(hostname, fallback: "host"), type: .host, description: "Host", attributes: attributes)]
    }

    /// `text` as an item name: characters an item name may not hold become `-`, at most 128
    /// bytes, starting with a letter or digit; `fallback` when nothing is left.
    static func itemName(_ text: String, fallback: String) -> String {
        let allowed = text.unicodeScalars.map { $0.isASCIILetterOrDigit || ".-_:".unicodeScalars.contains($0) ? Character($0) : "-" }
        let name = String(String(allowed).drop { !($0.isASCII && ($0.isLetter || $0.isNumber)) }.prefix(128))
        return name.isEmpty ? (fallback == text ? "item" : itemName(fallback, fallback: fallback)) : name
    }
}
