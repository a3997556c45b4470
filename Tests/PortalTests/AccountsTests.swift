import Foundation
import KV
import Testing
@testable import Portal

@Suite struct AccountsTests {
    func makeCore() async throws -> PortalCore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-core-\(UUID().uuidString)").path
        return try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000))
    }

    @Test func theFirstAdministratorIsCreatedExactlyOnceEvenWhenRacing() async throws {
        let core = try await makeCore()
        let created = try await withThrowingTaskGroup(of: Accounts.FirstAdministrator?.self) { group in
            for _ in 0..<8 {
                group.addTask { try await core.accounts.bootstrapFirstAdministrator(username: "admin", password: nil) }
            }
            return try await group.reduce(into: [Accounts.FirstAdministrator]()) { if let admin = $1 { $0.append(admin) } }
        }
        #expect(created.count == 1)
        let password = try #require(created.first?.oneTimePassword)
        #expect(password.count == 20)
        let user = try #require(try core.accounts.user(named: "admin"))
        #expect(user.isAdministrator)
        #expect(user.mustChangePassword)
        #expect(user.passwordHash != password)
        #expect(try core.accounts.verifyPassword(username: "admin", password: password))
        #expect(try !core.accounts.verifyPassword(username: "admin", password: "wrong"))
        #expect(try !core.accounts.verifyPassword(username: "nobody", password: password))
    }

    /// The user, the membership and the event are one write: when any part is refused,
    /// nothing of it is stored.
    @Test func creatingAMemberIsAllOrNothing() async throws {
        let core = try await makeCore()
        _ = try await core.bootstrap(adminUsername: "admin", adminPassword: "admin-password-1")
        let admin = try #require(try core.accounts.user(named: "admin"))
        let actor = Principal(user: admin, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil)
        let organization = try #require(try core.organizations.organization(slug: "default"))
        let eventsBefore = try core.securityEvents.recent().count

        await #expect(throws: PortalError.notFound("organization")) {
            try await core.organizations.createMember(username: "nora", displayName: "Nora", password: "nora-password-1", role: .viewer, in: UUID(), by: actor)
        }
        #expect(try core.accounts.user(named: "nora") == nil, "no user without its membership")
        await #expect(throws: PortalError.conflict("the user name 'admin' is taken")) {
            try await core.organizations.createMember(username: "admin", displayName: "Again", password: "other-password-1", role: .viewer, in: organization.id, by: actor)
        }
        #expect(try core.securityEvents.recent().count == eventsBefore)

        let nora = try await core.organizations.createMember(username: "nora", displayName: "Nora", password: "nora-password-1", role: .operator, in: organization.id, by: actor)
        #expect(try core.organizations.role(of: nora.id, in: organization.id) == .operator)
        let event = try #require(try core.securityEvents.recent().first { $0.kind == .userCreated })
        #expect(event.detail.contains("nora") && event.userID == admin.id)
    }

    @Test func aConfiguredPasswordIsUsedAndNotEchoed() async throws {
        let core = try await makeCore()
        let admin = try #require(try await core.accounts.bootstrapFirstAdministrator(username: "root", password: "s3cret-from-config"))
        #expect(admin.oneTimePassword == nil)
        #expect(try core.accounts.verifyPassword(username: "root", password: "s3cret-from-config"))
        #expect(try core.accounts.user(named: "root")?.mustChangePassword == false)
    }

    @Test func generatedPasswordsUseTheUnambiguousAlphabet() {
        for _ in 0..<50 {
            let password = Accounts.generatePassword()
            #expect(password.count == 20)
            #expect(password.allSatisfy { !"0O1lI".contains($0) && ($0.isLetter || $0.isNumber) })
        }
    }
}
