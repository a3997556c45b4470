import Hummingbird
import FoundationEssentials
import Logging

extension PortalRoutes {
    /// Receives the browser's Content-Security-Policy violation reports and logs them, so that a
    /// broken or attacked page shows up in the operator's logs.
    func addCSPReportRoutes() {
        post("/api/csp-report", .public, .doc("reportCSPViolation", "Browsers report Content-Security-Policy violations here (logged).", status: 204)) { request, context in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: Self.cspReportLimit)
            } catch {
                throw ProblemDetails(.contentTooLarge, detail: "A CSP report may be at most \(Self.cspReportLimit) bytes.")
            }
            guard let report = try? JSONDecoder().decode(CSPReportEnvelope.self, from: Data(buffer: body)) else {
                throw ProblemDetails(.badRequest, detail: "Expected a JSON object with a \"csp-report\" member.")
            }
            context.logger.warning("content security policy violation", metadata: [
                "directive": .string(String(report.report.violatedDirective?.prefix(200) ?? "")),
                "blocked": .string(String(report.report.blockedURI?.prefix(200) ?? "")),
            ])
            return Response(status: .noContent)
        }
    }

    static var cspReportLimit: Int { 16 << 10 }
}

/// The `application/csp-report` body browsers send for `report-uri`.
struct CSPReportEnvelope: Decodable {
    struct Report: Decodable {
        let violatedDirective: String?
        let blockedURI: String?
        enum CodingKeys: String, CodingKey {
            case violatedDirective = "violated-directive"
            case blockedURI = "blocked-uri"
        }
    }
    let report: Report
    enum CodingKeys: String, CodingKey { case report = "csp-report" }
}

extension Data {
    init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
