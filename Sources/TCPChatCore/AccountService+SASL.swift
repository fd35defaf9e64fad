// Accounts for IRC's SASL (branch acct-irc): the session's input waits while its password is
// checked (AccountService.authenticate answers later), so that CAP END and the registration
// cannot overtake the answer.
//
// Loop thread only.

extension ChatCore {
    /// The session's next lines wait (its connection stops reading) until `releaseInput`.
    package func holdInput(of session: ChatSession) {
        session.waitingForCluster = true
    }

    package func releaseInput(of session: ChatSession) {
        guard session.waitingForCluster else { return }
        session.waitingForCluster = false
        session.output.resumeInput()
    }
}
