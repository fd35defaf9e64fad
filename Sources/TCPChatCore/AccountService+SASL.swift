// Accounts, branch acct-irc's additions to the core: for IRC's SASL, the session's input waits
// while its password is checked (AccountService.authenticate answers later), so that CAP END
// and the registration cannot overtake the answer; in a cluster, the nicks taken while Redis
// was out of reach are checked once it is back.
//
// Loop thread only.

extension AccountService {
    /// The cluster link is back: every nick here that is not identified is looked up again
    /// (taken while the accounts were out of reach, it was let be then), and its holder told
    /// and given the grace period when it is registered. One lookup per such session,
    /// pipelined to Redis.
    package func recheckNicks() {
        for session in core.nicks.values where session.isRegistered && account(of: session) == nil {
            nickTaken(by: session)
        }
    }
}

extension ChatCore {
    /// The session's next lines wait (its connection stops reading) until `releaseInput`.
    package func holdInput(of session: ChatSession) {
        session.waitingForCluster = true
    }

    package func releaseInput(of session: ChatSession) {
        guard session.waitingForCluster else { return }
        session.waitingForCluster = false
        session.resumeInput()
    }
}
