import Foundation
import KV
@testable import Portal
import TestSupport
import Testing

/// The CMDB kept in line with the cloud and the host: items read from inventory tools' runs,
/// a refresh removing what the cloud no longer lists, and nothing read from a run that did
/// not succeed or from a tool that is not an inventory.
@Suite struct AssetInventoryTests {
    typealias Setup = CloudIsolationTests.Setup

    static func instance(_ name: String, _ id: String, state: String = "RUNNING", tags: [String: String] = [:]) -> [String: Any] {
        ["display-name": name, "id": id, "lifecycle-state": state, "shape": "VM.Standard.E4.Flex", "availability-domain": "Uocm:PHX-AD-1",
         "compartment-id": "ocid1.compartment.oc1..south", "freeform-tags": tags]
    }

    static func list(_ instances: [[String: Any]], _ setup: Setup) throws {
        let data = try JSONSerialization.data(withJSONObject: ["data": instances])
        try data.write(to: URL(fileURLWithPath: setup.directory + "/tool-runs/instances-south.json"))
    }

    @Test func instancesAndTheHostComeFromTheirToolsRunsAndARefreshRemovesTheGone() async throws {
        let setup = try await Setup()
        let assets = setup.core.assets
        let operator_ = setup.southOperator
        try FileManager.default.createDirectory(atPath: setup.directory + "/tool-runs", withIntermediateDirectories: true)
        try Self.list([
            Self.instance("web 1", "ocid1.instance.oc1.phx.south-aaa111", tags: ["owner": "web-team", "env": "prod"]),
            Self.instance("web 1", "ocid1.instance.oc1.phx.south-bbb222"),
            Self.instance("old-batch", "ocid1.instance.oc1.phx.south-ccc333", state: "TERMINATED"),
            Self.instance("db-7", "ocid1.instance.oc1.phx.south-ddd444"),
        ], setup)
        let first = try await setup.run("oci.compute.instance.list", .object([:]), as: operator_)
        #expect(first.status == .succeeded && first.output?.text.contains("web 1") == true, "\(first.output?.error ?? "") \(first.output?.text ?? "")")
        let imported = try await assets.importItems(try AssetInventory.batch(from: first, removeMissing: true), by: operator_)
        #expect(imported == AssetImportResult(created: 3, updated: 0, unchanged: 0, removed: 0, relations: 0))
        let web = try #require(try assets.asset("web-1", in: setup.south.id))
        #expect(web.type == .instance && web.owner == "web-team" && web.source == "oci-instances")
        #expect(web.attributes["ocid"] == "ocid1.instance.oc1.phx.south-aaa111" && web.attributes["tag:env"] == "prod" && web.attributes["state"] == "RUNNING")
        #expect(try assets.asset("web-1-south-bbb222", in: setup.south.id)?.attributes["ocid"] == "ocid1.instance.oc1.phx.south-bbb222", "one display name, both kept")
        #expect(try assets.asset("old-batch", in: setup.south.id) == nil, "terminated instances are not items")

        // The refresh: db-7, which the cloud no longer lists, is removed; the stopped one is updated.
        try Self.list([Self.instance("web 1", "ocid1.instance.oc1.phx.south-aaa111", tags: ["owner": "web-team", "env": "prod"]),
                       Self.instance("web 1", "ocid1.instance.oc1.phx.south-bbb222", state: "STOPPED")], setup)
        let second = try await setup.run("oci.compute.instance.list", .object([:]), as: operator_)
        let refreshed = try await assets.importItems(try AssetInventory.batch(from: second, removeMissing: true), by: operator_)
        #expect(refreshed == AssetImportResult(created: 0, updated: 1, unchanged: 1, removed: 1, relations: 0))
        #expect(try assets.asset("db-7", in: setup.south.id) == nil)
        #expect(try assets.asset("web-1", in: setup.south.id) != nil && (try assets.asset("web-1", in: setup.north.id)) == nil, "North's CMDB is untouched")

        // The host the portal runs on, from host.kernel.
        try await setup.core.tools.setAvailability(pack: "host", to: [setup.south.id], by: setup.root)
        try await setup.core.tools.setEnabled(true, pack: "host", by: setup.southAdmin)
        let kernel = try await setup.run("host.kernel", .object([:]), as: operator_)
        let hostname = try #require(kernel.output?.json?["hostname"]?.string)
        _ = try await assets.importItems(try AssetInventory.batch(from: kernel, removeMissing: false), by: operator_)
        let host = try #require(try assets.asset(AssetInventory.itemName(hostname, fallback: "host"), in: setup.south.id))
        #expect(host.type == .host && host.attributes["system"] == "Linux" && host.source == "host")

        // Not an inventory; not succeeded.
        let load = try await setup.run("host.load", .object([:]), as: operator_)
        #expect(throws: PortalError.invalid("runID: host.load is not an inventory tool; items are read from host.kernel and oci.compute.instance.list")) {
            try AssetInventory.batch(from: load, removeMissing: false)
        }
        var failed = second
        failed.status = .failed
        #expect(throws: PortalError.invalid("runID: the run has not succeeded")) { try AssetInventory.batch(from: failed, removeMissing: true) }
    }

    @Test func namesAreMadeValid() {
        #expect(AssetInventory.itemName("web 1/blue", fallback: "x") == "web-1-blue")
        #expect(AssetInventory.itemName("--émile", fallback: "x") == "mile")
        #expect(AssetInventory.itemName("***", fallback: "ocid1.instance") == "ocid1.instance")
        #expect(AssetInventory.itemName("", fallback: "") == "item")
        #expect(AssetInventory.itemName(String(repeating: "a", count: 300), fallback: "x").count == 128)
        #expect(Assets.isValidName(AssetInventory.itemName("ß∂ƒ host 7", fallback: "x")))
    }
}
