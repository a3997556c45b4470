/// What a password must be, for every way one is set (account creation, a change, the first
/// administrator's configured password is exempt: the operator chose it).
///
/// Length over composition, as NIST SP 800-63B advises: 10–1024 characters, at least five
/// different characters, not the user name, and not one of the passwords attackers try first.
public enum PasswordRules {
    public static let minimumLength = 10
    public static let maximumLength = 1024

    /// Throws `PortalError.invalid` saying what is wrong.
    public static func check(_ password: String, username: String) throws {
        guard (minimumLength...maximumLength).contains(password.count) else {
            throw PortalError.invalid("passwords are \(minimumLength)–\(maximumLength) characters")
        }
        guard Set(password).count >= 5 else { throw PortalError.invalid("a password needs at least five different characters") }
        let lowered = password.lowercased()
        guard lowered != username.lowercased() else { throw PortalError.invalid("a password cannot be the user name") }
        guard !common.contains(lowered) else { throw PortalError.invalid("this password is among the most common ones; choose another") }
    }

    /// Passwords of ten characters or more found at the top of public breach lists.
    static let common: Set<String> = [
        "1234567890", "0123456789", "12345678910", "qwertyuiop", "1q2w3e4r5t", "1qaz2wsx3edc", "password1!", "password12",
        "password123", "password1234", "passw0rd123", "administrator", "admin12345", "admin123456", "adminadmin", "letmein123",
        "welcome123", "welcome1234", "iloveyou123", "qwerty12345", "qwerty123456", "abc1234567", "abcdefghij", "changeme123",
        "p@ssw0rd123", "football123", "baseball123", "superman123", "trustno1234", "sunshine123", "princess123", "monkey12345",
        "dragon12345", "master12345", "starwars123", "whatever123", "zaq12wsxcde", "asdfghjkl1", "asdfghjkl;", "1111111111",
        "q1w2e3r4t5", "q1w2e3r4t5y6", "7777777777", "1234554321", "0987654321", "9876543210", "computer123", "internet123",
    ]
}
