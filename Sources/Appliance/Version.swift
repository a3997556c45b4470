/// The release this binary is. The Makefile reads `number` to name packages.
enum PortalVersion {
    static let number = "0.1.0"
}
